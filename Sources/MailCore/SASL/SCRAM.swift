/// SCRAM-SHA-256 (RFC 7677, the SCRAM framework of RFC 5802), server side, without channel binding.
///
/// The messages (RFC 5802 §7):
/// ```
/// client-first-message = gs2-header client-first-message-bare
/// gs2-header           = gs2-cbind-flag "," [ authzid ] ","
/// gs2-cbind-flag       = ("p=" cb-name) / "n" / "y"
/// client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
/// server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]
/// client-final-message-without-proof = channel-binding "," nonce ["," extensions]
/// client-final-message = client-final-message-without-proof "," proof
/// server-final-message = (server-error / verifier) ["," extensions]
/// ```
/// Verification (§3): ClientSignature = HMAC(StoredKey, AuthMessage); ClientKey = ClientProof XOR
/// ClientSignature; the proof is right when H(ClientKey) = StoredKey. ServerSignature =
/// HMAC(ServerKey, AuthMessage) goes back as `v=`.
///
/// Petrel offers only `SCRAM-SHA-256`, not `-PLUS`: swift-nio-ssl does not expose the TLS exporter
/// (RFC 9266 `tls-exporter`) a channel binding needs. A client that sends `p=` is refused; `y` (the
/// client could bind but thinks the server cannot) is accepted since the server offers no -PLUS
/// (RFC 5802 §6). The hash functions come from the adapter (`SCRAMHash`), so this file stays pure.

/// SHA-256 and HMAC-SHA-256, provided by the caller (MailAuth implements it with swift-crypto).
public protocol SCRAMHash: Sendable {
    func hash(_ data: [UInt8]) -> [UInt8]
    func hmac(key: [UInt8], data: [UInt8]) -> [UInt8]
}

/// What the server stores for one user (RFC 5802 §3): never the password.
public struct SCRAMStoredCredentials: Sendable, Hashable {
    public var salt: [UInt8]
    public var iterations: Int
    public var storedKey: [UInt8]
    public var serverKey: [UInt8]

    public init(salt: [UInt8], iterations: Int, storedKey: [UInt8], serverKey: [UInt8]) {
        self.salt = salt
        self.iterations = iterations
        self.storedKey = storedKey
        self.serverKey = serverKey
    }
}

/// The adapter's answer to `.lookupSCRAM`: the user's stored credentials (or made-up ones for an
/// unknown user, so the exchange looks the same), a fresh server nonce and the hash functions.
public struct SCRAMServerParameters: Sendable, Hashable {
    /// Equal when credentials and nonce are (the hash functions are not compared).
    public static func == (a: Self, b: Self) -> Bool { a.credentials == b.credentials && a.serverNonce == b.serverNonce }
    public func hash(into hasher: inout Hasher) { hasher.combine(serverNonce) }

    public var credentials: SCRAMStoredCredentials
    /// Printable ASCII without ',' (RFC 5802 §7 `c-nonce`), at least 16 characters.
    public var serverNonce: String
    public var hash: any SCRAMHash

    public init(credentials: SCRAMStoredCredentials, serverNonce: String, hash: any SCRAMHash) {
        self.credentials = credentials
        self.serverNonce = serverNonce
        self.hash = hash
    }
}

/// The parts of a client-first-message.
public struct SCRAMClientFirst: Sendable, Equatable {
    /// The gs2-header as sent ("n,," / "y,," / "n,a=user,"), echoed in the client-final `c=`.
    public var gs2Header: String
    public var authzid: String?
    public var username: String
    public var clientNonce: String
    public var bare: String

    /// Parses a client-first-message; nil when it does not fit the grammar or asks for channel binding.
    public static func parse(_ bytes: [UInt8]) -> SCRAMClientFirst? {
        guard bytes.count <= 4096, !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) else { return nil }
        let parts = text.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        // Channel binding: "p=…" is refused (no -PLUS offered).
        guard parts[0] == "n" || parts[0] == "y" else { return nil }
        var authzid: String?
        if !parts[1].isEmpty {
            guard parts[1].hasPrefix("a="), let decoded = decodeSaslName(parts[1].dropFirst(2)), !decoded.isEmpty else { return nil }
            authzid = decoded
        }
        let bare = String(parts[2])
        let attributes = bare.split(separator: ",", omittingEmptySubsequences: false)
        // reserved-mext "m=" must make the server fail (RFC 5802 §7: not supported).
        guard attributes.count >= 2, attributes[0].hasPrefix("n="), attributes[1].hasPrefix("r=") else { return nil }
        guard let username = decodeSaslName(attributes[0].dropFirst(2)), !username.isEmpty else { return nil }
        let nonce = String(attributes[1].dropFirst(2))
        guard isPrintableNonce(nonce) else { return nil }
        return SCRAMClientFirst(
            gs2Header: "\(parts[0]),\(parts[1]),", authzid: authzid, username: username,
            clientNonce: nonce, bare: bare)
    }

    /// saslname: "=2C" is ',', "=3D" is '='; any other '=' is an error (RFC 5802 §5.1).
    static func decodeSaslName(_ text: Substring) -> String? {
        var out = ""
        var index = text.startIndex
        while index < text.endIndex {
            let c = text[index]
            if c == "=" {
                let rest = text[index...]
                if rest.hasPrefix("=2C") { out.append(",") } else if rest.hasPrefix("=3D") { out.append("=") } else { return nil }
                index = text.index(index, offsetBy: 3)
            } else {
                out.append(c)
                index = text.index(after: index)
            }
        }
        return out
    }

    /// printable = %x21-2B / %x2D-7E (RFC 5802 §7), 1 to 1024 characters.
    static func isPrintableNonce(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 1024 && text.utf8.allSatisfy { (0x21...0x7E).contains($0) && $0 != 0x2C }
    }
}

/// The server's running SCRAM state, kept by `SASLServerExchange`.
struct SCRAMServerState: Sendable {
    var clientFirst: SCRAMClientFirst
    var parameters: SCRAMServerParameters?
    var serverFirst: String = ""
    var serverSignature: [UInt8] = []

    /// server-first-message: r=<client nonce + server nonce>,s=<salt>,i=<iterations>.
    mutating func serverFirstMessage(_ parameters: SCRAMServerParameters) -> String {
        self.parameters = parameters
        serverFirst =
            "r=\(clientFirst.clientNonce)\(parameters.serverNonce),s=\(Base64.encode(parameters.credentials.salt)),i=\(parameters.credentials.iterations)"
        return serverFirst
    }

    enum FinalResult: Equatable {
        case malformed
        case wrongProof
        case verified(serverFinal: String)
    }

    /// Checks a client-final-message.
    mutating func clientFinal(_ bytes: [UInt8]) -> FinalResult {
        guard let parameters, bytes.count <= 4096, let text = String(validating: bytes, as: UTF8.self),
            let proofRange = text.range(of: ",p=", options: .backwards)
        else { return .malformed }
        let withoutProof = String(text[..<proofRange.lowerBound])
        let attributes = withoutProof.split(separator: ",", omittingEmptySubsequences: false)
        guard attributes.count >= 2, attributes[0].hasPrefix("c="), attributes[1].hasPrefix("r="),
            let proof = Base64.decode(String(text[proofRange.upperBound...]))
        else { return .malformed }
        // c= must be the gs2-header we saw (no channel binding data); r= the whole nonce.
        guard Base64.decode(String(attributes[0].dropFirst(2))) == Array(clientFirst.gs2Header.utf8) else { return .malformed }
        guard attributes[1].dropFirst(2) == "\(clientFirst.clientNonce)\(parameters.serverNonce)" else { return .malformed }
        let credentials = parameters.credentials
        let hash = parameters.hash
        let authMessage = Array("\(clientFirst.bare),\(serverFirst),\(withoutProof)".utf8)
        let clientSignature = hash.hmac(key: credentials.storedKey, data: authMessage)
        guard proof.count == clientSignature.count, !proof.isEmpty else { return .wrongProof }
        let clientKey = zip(proof, clientSignature).map { $0 ^ $1 }
        let computed = hash.hash(clientKey)
        guard computed.count == credentials.storedKey.count else { return .wrongProof }
        // Constant-time comparison.
        var difference: UInt8 = 0
        for (a, b) in zip(computed, credentials.storedKey) { difference |= a ^ b }
        guard difference == 0 else { return .wrongProof }
        serverSignature = hash.hmac(key: credentials.serverKey, data: authMessage)
        return .verified(serverFinal: "v=\(Base64.encode(serverSignature))")
    }
}
