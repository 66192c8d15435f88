/// libFuzzer target: `POP3CommandParser.parse` (RFC 1939 §3, RFC 2449 §4 command syntax, RFC 5034 AUTH)
/// on arbitrary lines: a command or a `POP3CommandError`, never a trap.
import POP3Core

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPOP3Command(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    do {
        let command = try POP3CommandParser.parse(bytes)
        _ = command.hashValue
    } catch {
        _ = error.description
    }
    return 0
}
