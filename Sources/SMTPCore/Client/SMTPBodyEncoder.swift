/// Encodes a message body for DATA (RFC 5321 §4.1.1.4, §4.5.2 transparency): every line that starts
/// with "." gets another "."; line ends are CRLF only (§2.3.8: a bare LF or bare CR becomes CRLF); the
/// body is ended with CRLF if it does not end with one, then "." CRLF.
///
/// Incremental: feed chunks of any size with `encode`, then call `finish` once. Memory use is one
/// chunk; the state across chunks is two flags.

public struct SMTPBodyEncoder: Sendable {
    /// The next octet starts a line (true at the start: a leading "." is stuffed too).
    private var atLineStart = true
    /// The previous octet was a CR whose LF has not been seen yet.
    private var pendingCR = false
    /// Octets of input seen so far.
    public private(set) var inputCount: Int64 = 0

    public init() {}

    /// Encodes the next chunk of the body.
    public mutating func encode(_ chunk: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(chunk.count + chunk.count / 64 + 8)
        encode(chunk, into: &out)
        return out
    }

    /// Encodes the next chunk, appending to `out`.
    public mutating func encode(_ chunk: some Collection<UInt8>, into out: inout [UInt8]) {
        inputCount += Int64(chunk.count)
        for byte in chunk {
            if pendingCR {
                pendingCR = false
                out.append(0x0A)
                atLineStart = true
                if byte == 0x0A { continue }
            }
            switch byte {
            case 0x0D:
                out.append(0x0D)
                pendingCR = true
            case 0x0A:
                // A bare LF: the CR was missing.
                out.append(0x0D)
                out.append(0x0A)
                atLineStart = true
            case UInt8(ascii: "."):
                if atLineStart { out.append(UInt8(ascii: ".")) }
                out.append(byte)
                atLineStart = false
            default:
                out.append(byte)
                atLineStart = false
            }
        }
    }

    /// The end: a missing final CRLF, then "." CRLF.
    public mutating func finish() -> [UInt8] {
        var out: [UInt8] = []
        if pendingCR {
            pendingCR = false
            out.append(0x0A)
            atLineStart = true
        }
        if !atLineStart { out += [0x0D, 0x0A] }
        out += [UInt8(ascii: "."), 0x0D, 0x0A]
        atLineStart = true
        return out
    }

    /// Encodes a whole body at once (tests, small messages).
    public static func encodeAll(_ body: some Collection<UInt8>) -> [UInt8] {
        var encoder = SMTPBodyEncoder()
        var out = encoder.encode(body)
        out += encoder.finish()
        return out
    }
}
