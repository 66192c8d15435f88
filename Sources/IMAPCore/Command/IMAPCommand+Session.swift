/// Session-level commands: ID (RFC 2971), ENABLE (RFC 5161), LOGIN and AUTHENTICATE (RFC 9051 §6.2,
/// RFC 4959 SASL-IR), COMPRESS (RFC 4978). CAPABILITY, NOOP, LOGOUT, STARTTLS, IDLE, NAMESPACE, CHECK,
/// CLOSE, UNSELECT and EXPUNGE take no arguments and are handled in `IMAPCommandParser.parseCommand`.

/// One ID field: a name (at most 30 octets) and a value or NIL (at most 1024 octets).
public struct IMAPIDField: Hashable, Sendable {
    public var name: String
    public var value: String?

    public init(_ name: String, _ value: String?) {
        self.name = name
        self.value = value
    }
}

extension IMAPCommandParser {
    /// RFC 2971 §4:
    /// ```
    /// id             = "ID" SP id-params-list
    /// id-params-list = "(" *(string SP nstring) ")" / nil
    /// ```
    /// RFC 2971 §3.3: fields at most 30 octets, values at most 1024, at most 30 pairs.
    static func parseID(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPCommand {
        try p.space()
        if p.keyword("NIL") { return .id(nil) }
        try p.expect(UInt8(ascii: "("), "( or NIL")
        var fields: [IMAPIDField] = []
        if p.consume(UInt8(ascii: ")")) { return .id([]) }
        repeat {
            let name = try p.string()
            try p.space()
            let value = try p.nstring()
            guard name.count <= 30, (value?.count ?? 0) <= 1024, fields.count < 30 else {
                throw IMAPParseError("ID field too long or too many fields")
            }
            fields.append(IMAPIDField(String(decoding: name, as: UTF8.self), value.map { String(decoding: $0, as: UTF8.self) }))
        } while p.consume(0x20)
        try p.expect(UInt8(ascii: ")"), ")")
        return .id(fields)
    }

    /// RFC 5161 §4: `enable = "ENABLE" 1*(SP capability)`; `capability = ("AUTH=" auth-type) / atom`
    static func parseEnable(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPCommand {
        var names: [String] = []
        repeat {
            try p.space()
            names.append(try p.atom())
            guard names.count <= 100 else { throw IMAPParseError("Too many capabilities") }
        } while p.peek() == 0x20
        return .enable(names)
    }

    /// RFC 9051 §9: `login = "LOGIN" SP userid SP password`; `userid = astring`; `password = astring`
    static func parseLogin(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPCommand {
        try p.space()
        let user = try p.astring()
        try p.space()
        let password = try p.astring()
        return .login(username: user, password: password)
    }

    /// RFC 9051 §9:
    /// ```
    /// authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp] *(CRLF base64)
    /// auth-type    = atom
    /// initial-resp = (base64 / "=")        ; RFC 4959
    /// ```
    /// The continuation lines are not part of the command: the session reads them.
    static func parseAuthenticate(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPCommand {
        try p.space()
        let mechanism = try p.atom().uppercased()
        guard p.consume(0x20) else { return .authenticate(mechanism: mechanism, initialResponse: nil) }
        let start = p.index
        while let b = p.peek(), isBase64Char(b) || b == UInt8(ascii: "=") { p.index += 1 }
        guard p.index > start else { throw IMAPParseError("Invalid initial response") }
        return .authenticate(
            mechanism: mechanism,
            initialResponse: String(decoding: p.bytes[start..<p.index], as: UTF8.self))
    }

    static func isBase64Char(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
            || b == UInt8(ascii: "+") || b == UInt8(ascii: "/")
    }

    /// RFC 4978 §4: `compress = "COMPRESS" SP algorithm`; `algorithm = "DEFLATE"`
    static func parseCompress(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPCommand {
        try p.space()
        return .compress(algorithm: try p.atom().uppercased())
    }
}
