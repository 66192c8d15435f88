/// libFuzzer target: a whole SMTP session (random commands, random splits) through the real
/// `SMTPConnectionHandler` on an in-memory channel and store — see SessionFuzzing.swift for the input
/// format and the invariants checked.
import SessionFuzzing

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSMTPSession(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    SessionFuzzing.run(.smtp, data, size)
}
