/// libFuzzer target: `MailboxSyntax.parsePath` (RFC 5321 §4.1.2 Path / Reverse-path / A-d-l / Mailbox,
/// address literals) with and without the null path allowed; a parsed path must re-parse to itself.
import MailCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMailPath(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    for allowNull in [true, false] {
        guard let (path, rest) = try? MailboxSyntax.parsePath(bytes[...], allowNull: allowNull) else { continue }
        precondition(rest.count < bytes.count, "parsePath consumed nothing")
        // Round trip: the canonical text of a parsed mailbox must parse again to the same path.
        if case .mailbox = path {
            let text = Array("<\(path)>".utf8)
            if let (again, tail) = try? MailboxSyntax.parsePath(text[...], allowNull: false) {
                precondition(tail.isEmpty, "round trip left bytes")
                precondition(again == path, "round trip changed the path")
            }
        }
    }
    return 0
}
