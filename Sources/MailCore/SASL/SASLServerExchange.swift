/// The server side of a SASL authentication exchange (RFC 4422 §3–§5), shared by SMTP AUTH
/// (RFC 4954 §4) and POP3 AUTH (RFC 5034 §4), for the mechanisms Petrel offers:
///
/// - PLAIN (RFC 4616): one client message `[authzid] NUL authcid NUL passwd`, parsed by `SASLPlain`.
///   Without an initial response the server first sends an empty challenge.
/// - LOGIN (draft-murchison-sasl-login-00): the server challenges `Username:` then `Password:`;
///   each client response is the base64 of the plain value. An initial response, when sent, is the
///   user name (as Outlook / Thunderbird do).
///
/// The exchange is a value with no I/O: the protocol session feeds it the initial response and the
/// client's continuation lines, sends each `.challenge` (SMTP `334 …`, POP3 `+ …`), and on
/// `.credentials` asks its adapter to verify the password. Once a step other than `.challenge` was
/// returned, the exchange is finished; further input gives `.malformed`.
///
/// Authorization identities: Petrel does not let one user act as another. A PLAIN message whose
/// authzid is neither empty nor (case-insensitively) equal to the authcid ends with
/// `.authorizationDenied(authenticationID:)`; sessions answer it exactly as a wrong password
/// (SMTP 535 5.7.8, POP3 `-ERR [AUTH]`) and count it as a failed login (RFC 4616 §2 lets the server
/// refuse it).

/// The SASL mechanisms Petrel implements, by their registered names (RFC 4422 §3.1).
public enum SASLMechanism: String, Sendable, CaseIterable {
    case plain = "PLAIN"
    case login = "LOGIN"
    /// RFC 7677 (see SCRAM.swift); offered only when the server is configured for it.
    case scramSHA256 = "SCRAM-SHA-256"

    /// Looks a mechanism up by name, ASCII case-insensitively (RFC 4422 §3.1: names are
    /// upper case, but RFC 4954 §4 and RFC 5034 §4 compare them case-insensitively).
    public init?(name: some StringProtocol) {
        self.init(rawValue: name.uppercased())
    }

    /// The password mechanisms every server offers.
    public static let passwordMechanisms: [SASLMechanism] = [.plain, .login]

    /// The names as advertised: "PLAIN LOGIN" (EHLO `AUTH …`, CAPA `SASL …`).
    public static var advertised: String { advertised(scram: false) }

    /// "SCRAM-SHA-256 PLAIN LOGIN" when SCRAM is offered, else "PLAIN LOGIN".
    public static func advertised(scram: Bool) -> String {
        ((scram ? [SASLMechanism.scramSHA256] : []) + passwordMechanisms).map(\.rawValue).joined(separator: " ")
    }
}

public struct SASLServerExchange: Sendable {
    /// One step of the exchange: what the session does next.
    public enum Step: Equatable, Sendable {
        /// Send this challenge, base64-encoded ("334 …" / "+ …"), and wait for a continuation line.
        case challenge([UInt8])
        /// Done: verify these.
        case credentials(username: String, password: String)
        /// The client sent "*" (RFC 4422 §3.5, RFC 4954 §4, RFC 5034 §4).
        case cancelled
        /// Bad base64 or a message that does not fit the mechanism; the text is safe to show.
        case malformed(String)
        /// PLAIN with an authorization identity other than the authentication identity: not
        /// supported; answer as for wrong credentials (the user name is for logs only).
        case authorizationDenied(authenticationID: String)
        /// SCRAM: look up this user's stored credentials and answer with `provideSCRAM`.
        case lookupSCRAM(username: String)
        /// SCRAM: the proof was right and the client acknowledged the server's signature.
        case scramVerified(username: String)
        /// SCRAM: the proof was wrong; answer as for a wrong password.
        case scramFailed(username: String)
    }

    /// The LOGIN challenges (draft-murchison-sasl-login-00 §2).
    public static let usernameChallenge: [UInt8] = Array("Username:".utf8)
    public static let passwordChallenge: [UInt8] = Array("Password:".utf8)

    /// RFC 4616 §2: servers MUST accept up to 255 octets per field; Petrel refuses LOGIN values
    /// longer than this (PLAIN's whole line is limited by the framer).
    public static let maxFieldLength = 1024

    enum State: Sendable, Equatable {
        case notStarted
        case plainResponse
        case loginUsername
        case loginPassword(username: String)
        case scramClientFirst
        case scramAwaitingParameters
        case scramClientFinal
        case scramAcknowledgement
        case finished
    }

    public let mechanism: SASLMechanism
    /// The text after the mechanism on the AUTH line, nil when absent.
    public let initialResponse: String?
    var state: State = .notStarted
    var scram: SCRAMServerState?

    /// `initialResponse`: the base64 text after the mechanism on the AUTH line, if any ("=" means empty).
    public init(mechanism: SASLMechanism, initialResponse: String?) {
        self.mechanism = mechanism
        self.initialResponse = initialResponse
    }

    /// True once a final step (anything but `.challenge`) was returned.
    public var isFinished: Bool { state == .finished }

    /// The first step: uses the initial response when one was given, else the first challenge.
    /// Calling it again after the exchange started returns `.malformed`.
    public mutating func start() -> Step {
        guard state == .notStarted else { return finish(.malformed("Authentication exchange already started")) }
        switch mechanism {
        case .plain:
            guard let initialResponse else {
                state = .plainResponse
                return .challenge([])
            }
            state = .plainResponse
            return respond(Self.initialBytes(initialResponse))
        case .login:
            guard let initialResponse else {
                state = .loginUsername
                return .challenge(Self.usernameChallenge)
            }
            state = .loginUsername
            return respond(Self.initialBytes(initialResponse))
        case .scramSHA256:
            state = .scramClientFirst
            guard let initialResponse else { return .challenge([]) }
            return respond(Self.initialBytes(initialResponse))
        }
    }

    /// SCRAM: the answer to `.lookupSCRAM` — sends the server-first-message.
    public mutating func provideSCRAM(_ parameters: SCRAMServerParameters) -> Step {
        guard state == .scramAwaitingParameters, var scram else { return finish(.malformed("Unexpected SCRAM parameters")) }
        let message = scram.serverFirstMessage(parameters)
        self.scram = scram
        state = .scramClientFinal
        return .challenge(Array(message.utf8))
    }

    /// A client continuation line (CRLF removed): `*` cancels, anything else must be base64.
    public mutating func receive(_ line: [UInt8]) -> Step {
        if line == [UInt8(ascii: "*")], state != .finished, state != .notStarted {
            return finish(.cancelled)
        }
        return respond(line)
    }

    /// RFC 4954 §4 / RFC 5034 §4: `initial-response = base64 / "="`, where "=" is an empty response.
    static func initialBytes(_ text: String) -> [UInt8] {
        text == "=" ? [] : Array(text.utf8)
    }

    mutating func respond(_ base64: [UInt8]) -> Step {
        switch state {
        case .notStarted:
            return finish(.malformed("Authentication exchange not started"))
        case .finished:
            return .malformed("Authentication exchange already finished")
        case .scramAwaitingParameters:
            return finish(.malformed("SCRAM response before the challenge"))
        case .scramClientFirst:
            guard let decoded = Base64.decode(base64), let first = SCRAMClientFirst.parse(decoded) else {
                return finish(.malformed("Malformed SCRAM client-first-message"))
            }
            if let authz = first.authzid, authz.lowercased() != first.username.lowercased() {
                return finish(.authorizationDenied(authenticationID: first.username))
            }
            scram = SCRAMServerState(clientFirst: first)
            state = .scramAwaitingParameters
            return .lookupSCRAM(username: first.username)
        case .scramClientFinal:
            guard let decoded = Base64.decode(base64), var scram else { return finish(.malformed("Invalid base64 data")) }
            let result = scram.clientFinal(decoded)
            self.scram = scram
            switch result {
            case .malformed: return finish(.malformed("Malformed SCRAM client-final-message"))
            case .wrongProof: return finish(.scramFailed(username: scram.clientFirst.username))
            case .verified(let serverFinal):
                state = .scramAcknowledgement
                return .challenge(Array(serverFinal.utf8))
            }
        case .scramAcknowledgement:
            // The client's empty response to the server-final-message (RFC 4954 §4, RFC 5034 §4).
            guard let decoded = Base64.decode(base64), decoded.isEmpty, let scram else {
                return finish(.malformed("Expected an empty response after the SCRAM server signature"))
            }
            return finish(.scramVerified(username: scram.clientFirst.username))
        case .plainResponse:
            let credentials: SASLPlainCredentials
            do {
                credentials = try SASLPlain.decode(base64: base64)
            } catch {
                return finish(.malformed(error.description))
            }
            guard let username = credentials.effectiveUsername else {
                return finish(.authorizationDenied(authenticationID: credentials.authenticationID))
            }
            return finish(.credentials(username: username, password: credentials.password))
        case .loginUsername:
            switch Self.loginValue(base64) {
            case .failure(let error): return finish(error.step)
            case .success(let username):
                state = .loginPassword(username: username)
                return .challenge(Self.passwordChallenge)
            }
        case .loginPassword(let username):
            switch Self.loginValue(base64) {
            case .failure(let error): return finish(error.step)
            case .success(let password): return finish(.credentials(username: username, password: password))
            }
        }
    }

    /// One LOGIN response: `base64` of 1*(UTF-8 without NUL), at most `maxFieldLength` octets.
    static func loginValue(_ base64: [UInt8]) -> Result<String, StepError> {
        guard let decoded = Base64.decode(base64) else { return .failure(StepError(.malformed("Invalid base64 data"))) }
        guard !decoded.isEmpty, decoded.count <= maxFieldLength, !decoded.contains(0),
            let text = String(validating: decoded, as: UTF8.self)
        else {
            return .failure(StepError(.malformed("Malformed LOGIN response")))
        }
        return .success(text)
    }

    mutating func finish(_ step: Step) -> Step {
        state = .finished
        return step
    }
}

/// A final step carried as an error (internal to the exchange).
struct StepError: Error {
    let step: SASLServerExchange.Step
    init(_ step: SASLServerExchange.Step) { self.step = step }
}
