/// POP3 server responses as values, and their wire encoding: RFC 1939 §3 (status indicators,
/// multi-line responses with byte-stuffing), RFC 2449 §8 (extended response codes), RFC 3206
/// (the SYS and AUTH codes) and RFC 5034 §4 (the `+ ` continuation of AUTH).

/// An extended response code (RFC 2449 §8), sent in brackets after `-ERR`.
public enum POP3ResponseCode: String, Hashable, Sendable {
    /// RFC 2449 §8.1.1: the maildrop is locked by another session.
    case inUse = "IN-USE"
    /// RFC 2449 §8.1.2: logged in too soon after the last login.
    case loginDelay = "LOGIN-DELAY"
    /// RFC 3206 §4: a temporary system problem; the client may retry later.
    case sysTemp = "SYS/TEMP"
    /// RFC 3206 §4: a permanent system problem.
    case sysPerm = "SYS/PERM"
    /// RFC 3206 §5: the failure is related to the credentials (or the user may not log in).
    case auth = "AUTH"
}

/// One server response.
public enum POP3Response: Hashable, Sendable {
    /// `+OK text`, optionally followed by a multi-line body (RFC 1939 §3).
    case ok(String, lines: [String]? = nil)
    /// `-ERR [code] text`.
    case err(POP3ResponseCode?, String)
    /// `+ base64` — a SASL continuation request (RFC 5034 §4: `continue-req = "+" SP [base64] CRLF`).
    case continuation(String)

    /// Shorthand for `-ERR text` without a code.
    public static func err(_ text: String) -> POP3Response { .err(nil, text) }

    // MARK: - Encoding

    /// The response as bytes ready to send, including the final CRLF (and the terminating
    /// `.` line for multi-line responses).
    ///
    /// RFC 2449 §3:
    /// ```
    /// single-line  = status [SP text] CRLF        ; status = "+OK" / "-ERR"
    /// multi-line   = single-line *dot-stuffed "." CRLF
    /// resp-code    = "[" resp-level *("/" resp-level) "]"
    /// ```
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    public func encode(into out: inout [UInt8]) {
        switch self {
        case .ok(let text, let lines):
            out += Array("+OK".utf8)
            Self.appendText(text, into: &out)
            out += [0x0D, 0x0A]
            if let lines {
                for line in lines {
                    let bytes = Self.sanitized(line)
                    if bytes.first == UInt8(ascii: ".") { out.append(UInt8(ascii: ".")) }
                    out += bytes
                    out += [0x0D, 0x0A]
                }
                out += Array(".\r\n".utf8)
            }
        case .err(let code, let text):
            out += Array("-ERR".utf8)
            if let code {
                out += Array(" [\(code.rawValue)]".utf8)
            }
            Self.appendText(text, into: &out)
            out += [0x0D, 0x0A]
        case .continuation(let data):
            out += Array("+ ".utf8)
            out += Self.sanitized(data)
            out += [0x0D, 0x0A]
        }
    }

    private static func appendText(_ text: String, into out: inout [UInt8]) {
        guard !text.isEmpty else { return }
        out.append(0x20)
        out += sanitized(text)
    }

    /// Response text never carries CR, LF or NUL (they would split or corrupt the response).
    private static func sanitized(_ text: String) -> [UInt8] {
        text.utf8.map { ($0 == 0x0D || $0 == 0x0A || $0 == 0) ? 0x20 : $0 }
    }
}
