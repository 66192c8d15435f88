/// How one delivery attempt ended for a recipient, as a value: the pure mapping from what the delivery
/// agent saw (a reply to a recipient, a session failure, a routing or local failure) to the
/// `RecipientOutcome` the queue decides on (`QueueAttempt`). Every status code is named
/// (RFC 3463 enhanced codes); the agent never builds one from raw numbers.
import MailCore
import SMTPCore

/// What the agent saw before any recipient got a reply of its own.
public enum DeliveryFailure: Error, Hashable, Sendable {
    /// The stored message could not be read (local trouble: try again).
    case messageUnreadable(String)
    /// More `Received:` fields than the hop limit (RFC 5321 §6.3).
    case mailLoop(limit: Int)
    /// The route table says the domain cannot be routed.
    case unroutable(String)
    /// An address literal that cannot be used as a socket address.
    case unusableLiteral(String)
    /// The route's or smarthost's host name did not resolve.
    case nextHopUnresolved(hop: String, reason: String)
    /// RFC 7505 null MX.
    case nullMX(domain: String)
    /// NXDOMAIN for the recipient domain.
    case noSuchDomain(domain: String)
    /// No usable MX or address, or the MX is this host.
    case noMailHost(domain: String)
    /// The MX lookup failed temporarily.
    case dnsFailed(domain: String, reason: String)
    /// MX hosts exist but none has an address.
    case noMXAddress(domain: String, problems: [String])
    /// The transaction finished without a result for this recipient.
    case noRecipientResult
    /// The SMTP session failed (connect, greeting, EHLO, TLS, AUTH, timeout, lost connection…).
    case session(SMTPClientError)
}

/// The named status codes of outbound delivery (RFC 3463 §3).
extension EnhancedStatusCode {
    /// 4.0.0 / 5.0.0: other or undefined status (a reply without an enhanced code).
    public static let tempUndefined = Self(.persistentTransientFailure, 0, 0)
    public static let permanentUndefined = Self(.permanentFailure, 0, 0)
    /// 5.1.2: bad destination system address (no such domain, unroutable, unusable literal).
    public static let badDestinationSystem = Self(.permanentFailure, 1, 2)
    /// 4.4.1: no answer from host (the TCP connection could not be made).
    public static let tempNoAnswer = Self(.persistentTransientFailure, 4, 1)
    /// 4.4.2: bad connection (timed out or dropped).
    public static let tempBadConnection = Self(.persistentTransientFailure, 4, 2)
    /// 4.4.3: directory server failure (DNS).
    public static let tempDirectoryFailure = Self(.persistentTransientFailure, 4, 3)
    /// 5.4.4: unable to route.
    public static let unableToRoute = Self(.permanentFailure, 4, 4)
}

public enum DeliveryOutcome {
    /// The outcome of a recipient the server answered (`reply`): 2yz delivered, 4yz temporary, 5yz permanent,
    /// with the reply's enhanced code or x.0.0. `relayedWithoutDSN` when the next hop offers no DSN and the
    /// sender asked NOTIFY=SUCCESS (RFC 3461 §4.1: we then report "relayed").
    public static func of(
        _ result: SMTPRecipientResult, remoteMTA: String, dsnOffered: Bool,
        notify: DSNNotify
    ) -> RecipientOutcome {
        let reply = result.reply
        switch result.status {
        case .delivered:
            return .delivered(
                remoteMTA: remoteMTA, reply: reply.description,
                relayedWithoutDSN: !dsnOffered && notify.contains(.success))
        case .temporaryFailure:
            return .temporary(status: reply.enhanced ?? .tempUndefined, diagnostic: reply.description, remoteMTA: remoteMTA)
        case .permanentFailure:
            return .permanent(status: reply.enhanced ?? .permanentUndefined, diagnostic: reply.description, remoteMTA: remoteMTA)
        }
    }

    /// The outcome of a failure that decides every recipient of a message alike.
    public static func of(_ failure: DeliveryFailure, remoteMTA: String? = nil) -> RecipientOutcome {
        switch failure {
        case .messageUnreadable(let text):
            return .temporary(status: .tempSystem, diagnostic: "local error reading the message: \(text)", remoteMTA: nil)
        case .mailLoop(let limit):
            return .permanent(
                status: .routingLoop, diagnostic: "mail loop: more than \(limit) Received: header fields",
                remoteMTA: nil)
        case .unroutable(let why):
            return .permanent(status: .badDestinationSystem, diagnostic: why, remoteMTA: nil)
        case .unusableLiteral(let ip):
            return .permanent(status: .badDestinationSystem, diagnostic: "cannot use address \(ip)", remoteMTA: nil)
        case .nextHopUnresolved(let hop, let reason):
            return .temporary(status: .tempDirectoryFailure, diagnostic: "cannot resolve next hop \(hop): \(reason)", remoteMTA: nil)
        case .nullMX(let domain):
            return .permanent(status: .nullMX, diagnostic: "\(domain) does not accept mail (null MX, RFC 7505)", remoteMTA: nil)
        case .noSuchDomain(let domain):
            return .permanent(status: .badDestinationSystem, diagnostic: "domain \(domain) does not exist", remoteMTA: nil)
        case .noMailHost(let domain):
            return .permanent(
                status: .unableToRoute,
                diagnostic: "no mail host for \(domain) (no usable MX or address, or the MX is this host)",
                remoteMTA: nil)
        case .dnsFailed(let domain, let reason):
            return .temporary(status: .tempDirectoryFailure, diagnostic: "DNS lookup of \(domain) failed: \(reason)", remoteMTA: nil)
        case .noMXAddress(let domain, let problems):
            return .temporary(
                status: .tempDirectoryFailure,
                diagnostic: "no address for the MX hosts of \(domain): \(problems.joined(separator: "; "))",
                remoteMTA: nil)
        case .noRecipientResult:
            return .temporary(status: .tempSystem, diagnostic: "no result for this recipient", remoteMTA: remoteMTA)
        case .session(let error):
            return of(error, remoteMTA: remoteMTA)
        }
    }

    /// A failed session: permanent only for a 5yz greeting, EHLO/HELO or AUTH reply (`SMTPClientError.isTemporary`),
    /// with the reply's enhanced code; everything else is retried with the code for its kind.
    static func of(_ error: SMTPClientError, remoteMTA: String?) -> RecipientOutcome {
        let status: EnhancedStatusCode
        switch error {
        case .greetingRejected(let reply), .helloRejected(let reply), .authFailed(let reply):
            if !error.isTemporary {
                return .permanent(
                    status: reply.enhanced ?? .permanentUndefined, diagnostic: reply.description,
                    remoteMTA: remoteMTA)
            }
            status = reply.enhanced ?? .tempUndefined
        case .connectFailed: status = .tempNoAnswer
        case .timeout, .connectionLost: status = .tempBadConnection
        case .startTLSNotOffered, .startTLSRejected, .tlsHandshakeFailed: status = .tempSecurity
        case .malformedReply, .authRequiresTLS, .authNotOffered, .unexpectedReply, .localFailure, .invalidState:
            status = .tempUndefined
        }
        return .temporary(status: status, diagnostic: error.description, remoteMTA: remoteMTA)
    }
}
