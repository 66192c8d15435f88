/// libFuzzer target: a whole POP3 session (random commands, random splits) through the real
/// `POP3ConnectionHandler` on an in-memory channel and store — see SessionFuzzing.swift for the input
/// format and the invariants checked.
import SessionFuzzing

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPOP3Session(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    SessionFuzzing.run(.pop3, data, size)
}
