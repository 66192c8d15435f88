/// libFuzzer target: `DataDecoder` (RFC 5321 §4.1.1.4 end of data, §4.5.2 dot-unstuffing, §4.5.3.1.6
/// line length). The first input byte picks a split size; the rest is fed in pieces of that size and the
/// result must equal feeding it in one piece (the decoder promises every split gives the same result;
/// the body bytes are compared only when no error was found, since an erroneous body is discarded).
import SMTPCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDataDecoder(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data, size > 0 else { return 0 }
    let all = UnsafeBufferPointer(start: data, count: size)
    let step = Int(all[0] % 17) + 1
    let body = Array(all.dropFirst())

    func run(step: Int) -> (output: [UInt8], consumed: Int, finished: Bool, error: String) {
        var decoder = DataDecoder(maxMessageSize: 4096, maxLineLength: 1000)
        var output: [UInt8] = []
        var offset = 0
        var finished = false
        while offset < body.count, !finished {
            let end = min(body.count, offset + step)
            let chunk = end - offset
            let r = body[offset..<end].withUnsafeBytes { decoder.decode($0, into: &output) }
            precondition(r.consumed >= 0 && r.consumed <= chunk, "consumed out of range")
            precondition(r.finished || r.consumed == chunk, "left bytes unconsumed without finishing")
            offset += r.consumed
            finished = r.finished
        }
        return (output, offset, finished, String(describing: decoder.error))
    }
    let whole = run(step: max(1, body.count))
    let split = run(step: step)
    // After an error the body is discarded by the caller, and the decoder stops appending from the chunk
    // where the error was found (earlier chunks stay appended), so only error-free output must match.
    if whole.error == "nil" { precondition(whole.output == split.output, "split changed the output") }
    precondition(whole.consumed == split.consumed, "split changed the consumed count")
    precondition(whole.finished == split.finished, "split changed completion")
    precondition(whole.error == split.error, "split changed the error")
    if whole.error == "nil" { precondition(whole.output.count <= 4096, "output over maxMessageSize") }
    return 0
}
