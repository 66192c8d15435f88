/// libFuzzer target: `MailboxSyntax.parsePath` (RFC 5321 §4.1.2 Path / Reverse-path / A-d-l / Mailbox,
/// address literals) with and without the null path allowed; a parsed path must re-parse to itself.
import MailCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMailPath(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    for allowNull in [true, false] {
        guard let (path, rest) = try? MailboxSyntax.parsePath(bytes[...], allowNull: allowNull) else { continue }
        precondition(rest.count < bytes.count, "parsePath consumed nothing")
        // Round trip: a parsed path is stored as its `description` (queue entries) and must parse back,
        // through `MailPath(_:)` as the store reads it, to the same path. (`description` already has the
        // angle brackets: wrapping it in another pair, as this check once did, never parsed, so it never ran.)
        precondition(MailPath(path.description) == path, "round trip changed or lost the path")
    }
    return 0
}
