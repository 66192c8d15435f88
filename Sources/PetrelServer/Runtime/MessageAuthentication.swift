/// The end-of-DATA hook for message authentication (docs/AUTHENTICATION.md): DKIM signing of mail from
/// authenticated users and trusted relay clients, SPF/DKIM/DMARC checks with an Authentication-Results
/// field for other mail on the port-25 listener.
import Foundation
import Logging
import MailAuthChecks
import MailCore
import MailDNS
import MailPolicy
import MailServerNIO
import MailStore
import SMTPCore
import Synchronization

public final class MessageAuthentication: Sendable {
    let settings: PetrelConfiguration.Authentication
    let authservID: String
    let resolver: any DNSResolver
    let keyStore: DKIMKeyStore
    let store: any MailStore
    let access: AccessControl?
    let logger: Logger
    /// DKIM signatures' t=/x= and the inbound checks' time (the server's `MailClock`).
    let clock: any MailClock
    private let keyCache = Mutex<[String: (stamp: Date, keys: [DKIMSigner.Key])]>([:])

    public init(
        configuration: PetrelConfiguration, resolver: any DNSResolver, store: any MailStore,
        access: AccessControl?, logger: Logger, clock: any MailClock = WallClock()
    ) {
        self.clock = clock
        self.settings = configuration.authentication
        self.authservID =
            configuration.authentication.authservID.isEmpty
            ? configuration.server.hostname : configuration.authentication.authservID
        self.resolver = resolver
        self.keyStore = DKIMKeyStore(dataDirectory: configuration.server.dataDirectory)
        self.store = store
        self.access = access
        self.logger = logger
    }

    /// The hook for one listener; `inbound` is true for the port-25 listener.
    public func hook(inbound: Bool) -> MessageCheck? {
        guard settings.signOutbound || (inbound && settings.checkInbound) else { return nil }
        return MessageCheck(
            applies: { [self] request in self.work(for: request, inbound: inbound) != nil },
            run: { [self] request in await self.check(request, inbound: inbound) })
    }

    enum Work { case sign, check }

    /// What the hook does with a message: sign it (from an authenticated user, or from a client allowed
    /// to relay by network or verified name: an application on this host, a web server — a local
    /// sender), check it (port 25, inbound checks on), or nothing.
    func work(for request: MessageCheckRequest, inbound: Bool) -> Work? {
        let trusted: Bool
        if request.envelope.authenticatedUser != nil {
            trusted = true
        } else if let rules = access?.relayRules {
            trusted = RelayPolicy.permission(RelayContext(client: request.client, isAuthenticated: false), rules: rules) != nil
        } else {
            trusted = false
        }
        if trusted { return .sign }
        return inbound && settings.checkInbound && request.client.ip != nil ? .check : nil
    }

    /// Keys of a local domain, re-read when its keys.json changes (rotation takes effect at once).
    func signingKeys(_ domain: String) -> [DKIMSigner.Key] {
        guard let stamp = keyStore.stamp(domain) else { return [] }
        if let cached = keyCache.withLock({ $0[domain] }), cached.stamp == stamp { return cached.keys }
        do {
            let keys = try keyStore.signingKeys(domain)
            keyCache.withLock { $0[domain] = (stamp, keys) }
            return keys
        } catch {
            logger.error("dkim keys unreadable", metadata: ["domain": "\(domain)", "error": "\(error)"])
            return []
        }
    }

    static func messageData(_ body: MessageBody) -> MessageData {
        switch body {
        case .bytes(let b): return .bytes(b)
        case .file(let path, _): return .file(path: path)
        }
    }

    func check(_ request: MessageCheckRequest, inbound: Bool) async -> MessageCheckDecision {
        let envelope = request.envelope
        // The header is parsed only when there is something to do with it (signing or checking).
        guard let work = work(for: request, inbound: inbound) else { return .accept(prepend: [], body: request.body) }
        let message = Self.messageData(request.body)
        guard let header = try? message.header() else { return .accept(prepend: [], body: request.body) }
        if work == .sign {
            return .accept(prepend: await sign(message, header: header, queueID: envelope.queueID), body: request.body)
        }
        guard let ip = request.client.ip else { return .accept(prepend: [], body: request.body) }
        let recipientDomains = Set(envelope.recipients.map { $0.domain.lowercased() })
        if !recipientDomains.isEmpty, recipientDomains.isSubset(of: Set(settings.uncheckedDomains)) {
            return .accept(prepend: [], body: request.body)
        }
        var checker = InboundAuthenticator(resolver: resolver, authservID: authservID)
        checker.clock = clock
        checker.spfTimeBudget = .seconds(settings.spfTimeout)
        let noReject = !settings.dmarcReject || !recipientDomains.isDisjoint(with: Set(settings.noRejectDomains))
        checker.maximumDisposition["*"] = noReject ? .quarantine : .reject
        // SPF works on A-labels (RFC 8616 §4), and the Authentication-Results field of a message that is
        // not SMTPUTF8 must stay 7-bit: a UTF-8 EHLO name or sender domain goes in as its A-label form.
        let mailFrom = envelope.sender.address.map { "\($0.localPart)@\($0.routingDomain ?? $0.domain)" } ?? ""
        let helo = envelope.heloName.map { IDNA.toASCII($0) ?? $0 } ?? ""
        let verdict = await checker.check(
            message, header: header,
            transaction: InboundTransaction(
                clientIP: ip, helo: helo, mailFrom: mailFrom))
        var body = request.body
        if !verdict.forgedFields.isEmpty {
            do {
                body = try Self.obscure(verdict.forgedFields, in: body)
            } catch {
                // The message still gets our own field on top; the forged one stays readable below it.
                logger.error(
                    "forged Authentication-Results not obscured",
                    metadata: ["id": "\(envelope.queueID)", "fields": "\(verdict.forgedFields.count)", "error": "\(error)"])
            }
        }
        let deciding = verdict.deciding
        logger.info(
            "message authentication",
            metadata: [
                "id": "\(envelope.queueID)",
                "spf": "\(verdict.spf.result.rawValue)",
                "dkim": "\(verdict.dkim.map { "\($0.status.rawValue):\($0.domain)" }.joined(separator: ","))",
                "dmarc": "\(verdict.dmarc.map { "\($0.result.rawValue):\($0.authorDomain)" }.joined(separator: ","))",
                "disposition": "\(verdict.disposition.rawValue)"
            ])
        if verdict.disposition == .reject, let d = deciding {
            return .reject(
                SMTPReply(
                    .mailboxUnavailable, EnhancedStatusCode(.permanentFailure, 7, 1),
                    "Message refused: it fails the DMARC policy (p=reject) of \(d.authorDomain)"))
        }
        var prepend = verdict.authenticationResults
        if verdict.disposition == .quarantine, let d = deciding {
            // Until mailboxes have folders: mark it for the user's client (and filters).
            prepend += "X-Petrel-Quarantine: dmarc=fail (p=\(d.requestedPolicy.rawValue)) header.from=\(d.authorDomain)\r\n"
            prepend += "X-Spam-Flag: YES\r\n"
        }
        return .accept(prepend: Array(prepend.utf8), body: body)
    }

    func sign(_ message: MessageData, header: MessageHeader, queueID: String) async -> [UInt8] {
        guard settings.signOutbound else { return [] }
        let authors = AuthorDomains.from(header)
        guard authors.count == 1, let domain = authors.first, !settings.unsignedDomains.contains(domain),
            (try? await store.isLocalDomain(domain)) == true
        else { return [] }
        let keys = signingKeys(domain)
        guard !keys.isEmpty else { return [] }
        do {
            let fields = try DKIMSigner().sign(message, keys: keys, now: Int(clock.now.timeIntervalSince1970))
            logger.debug(
                "dkim signed",
                metadata: [
                    "id": "\(queueID)", "domain": "\(domain)",
                    "selectors": "\(keys.map(\.selector).joined(separator: ","))"
                ])
            return fields
        } catch {
            logger.error("dkim signing failed", metadata: ["id": "\(queueID)", "error": "\(error)"])
            return []
        }
    }

    /// RFC 8601 §5: an Authentication-Results field claiming our authserv-id that came from outside is
    /// obscured in place — its name becomes "X-Removed-Auth-Results" (the same length, so a spooled file
    /// is edited where it is, without a copy; letters over letters at a line start, so the body's `BodyForm`
    /// holds). Throws when the spool file cannot be opened, written or
    /// synced (the caller logs it with the queue id).
    static func obscure(_ fields: [HeaderField], in body: MessageBody) throws -> MessageBody {
        let replacement = Array("X-Removed-Auth-Results".utf8)
        switch body {
        case .bytes(var bytes):
            for f in fields where f.range.lowerBound + replacement.count <= bytes.count {
                bytes.replaceSubrange(f.range.lowerBound..<(f.range.lowerBound + replacement.count), with: replacement)
            }
            return .bytes(bytes)
        case .file(let path, _):
            guard let handle = FileHandle(forUpdatingAtPath: path) else { throw ObscureFailure(path: path) }
            do {
                for f in fields {
                    try handle.seek(toOffset: UInt64(f.range.lowerBound))
                    try handle.write(contentsOf: Data(replacement))
                }
                try handle.synchronize()
            } catch {
                try? handle.close()
                throw error
            }
            try handle.close()
            return body
        }
    }
}

/// The spool file of a message with a forged Authentication-Results field could not be opened.
struct ObscureFailure: Error, CustomStringConvertible {
    let path: String
    var description: String { "cannot open the spool file \(path) for update" }
}
