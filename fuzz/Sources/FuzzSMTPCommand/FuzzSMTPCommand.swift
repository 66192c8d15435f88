/// libFuzzer target: `SMTPCommandParser.parse` (RFC 5321 §4.1.1 command syntax, §4.1.2 paths,
/// RFC 1869/1870/6152/6531/3030 parameters) on arbitrary command lines. Any input must yield a command or
/// an error reply — never a trap.
import SMTPCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSMTPCommand(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    switch SMTPCommandParser.parse(bytes) {
    case .success(let command): _ = command.hashValue
    case .failure(let reply): _ = reply
    }
    return 0
}
