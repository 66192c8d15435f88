/// One delivery task: hop-count check, next-hop resolution (routes, smarthost, literals, MX per
/// RFC 5321 §5.1 with null MX RFC 7505), connecting to the hosts in order, one transaction per message
/// over the reused connection, and recording each message's results.
import Foundation
import Logging
import MailCore
import MailDNS
import MailQueue
import MailStore
import NIOCore
import SMTPCore

extension DeliveryAgent {
    /// A host to connect to, with its addresses.
    struct Target: Sendable {
        var name: String
        var addresses: [SocketAddress]
    }

    /// A message ready to send.
    struct Prepared: Sendable {
        var entries: [QueueEntry]
        /// Octets of our own `Return-Path:` line at the start of the stored message: not sent
        /// (RFC 5321 §4.4: only the final delivery adds Return-Path).
        var skip: Int64
    }

    func deliver(_ batch: Batch) async {
        var prepared: [Prepared] = []
        for message in batch.messages {
            guard let first = message.first else { continue }
            let prefix: [UInt8]
            do {
                prefix = try await store.readQueuedMessage(messageID: first.messageID, offset: 0,
                                                           maxLength: configuration.hopCount.scanLimit)
            } catch where Self.isShutdown(error) {
                continue   // stopping: the entries stay due as they are (no attempt counted)
            } catch {
                await complete(message, outcome: .temporary(status: .tempSystem, diagnostic: "local error reading the message: \(error)",
                                                            remoteMTA: nil))
                continue
            }
            if configuration.hopCount.isLoop(prefix) {
                let text = "mail loop: more than \(configuration.hopCount.limit) Received: header fields"
                await complete(message, outcome: .permanent(status: EnhancedStatusCode(.permanentFailure, 4, 6), diagnostic: text,
                                                            remoteMTA: nil))
                continue
            }
            prepared.append(Prepared(entries: message, skip: Int64(Self.returnPathLength(prefix))))
        }
        if !prepared.isEmpty {
            await send(prepared, batch: batch)
        }
        finished(batch)
    }

    private func send(_ messages: [Prepared], batch: Batch) async {
        let choice = configuration.routes.choose(domain: batch.domain)
        let client: SMTPClientConfiguration
        if case .smarthost = choice { client = configuration.smarthostClient } else { client = configuration.client }
        let targets: [Target]
        switch await resolveTargets(choice) {
        case .failure(let error):
            for message in messages { await complete(message.entries, outcome: error.outcome) }
            return
        case .success(let found):
            targets = found
        }
        var connection: SMTPClientConnection?
        var peer = ""
        var lastError: SMTPClientError?
        connect: for target in targets {
            for address in target.addresses {
                do {
                    connection = try await SMTPClientConnection.connect(to: address, serverName: target.name, configuration: client,
                                                                        group: group, logger: logger)
                    peer = "\(target.name)[\(address.ipAddress ?? "?")]:\(address.port ?? 0)"
                    break connect
                } catch let error as SMTPClientError {
                    lastError = error
                    logger.info("connection failed", metadata: ["relay": "\(target.name)[\(address.ipAddress ?? "?")]",
                                                                "error": "\(error)"])
                } catch {
                    lastError = .connectFailed("\(error)")
                }
            }
        }
        guard let connection else {
            let outcome = Self.outcome(for: lastError ?? .connectFailed("no address to connect to"), remoteMTA: targets.first?.name)
            for message in messages { await complete(message.entries, outcome: outcome) }
            return
        }
        let remoteName = peer.split(separator: "[").first.map(String.init) ?? peer
        var broken: SMTPClientError?
        for message in messages {
            if let broken {
                await complete(message.entries, outcome: Self.outcome(for: broken, remoteMTA: remoteName))
                continue
            }
            guard let first = message.entries.first else { continue }
            let store = self.store
            let messageID = first.messageID
            let skip = message.skip
            let transaction = OutboundTransaction(
                sender: first.sender, recipients: message.entries.map(\.recipient), envelope: first.envelope,
                size: max(0, first.size - skip)) { offset, maxLength in
                    try await store.readQueuedMessage(messageID: messageID, offset: offset + skip, maxLength: maxLength)
                }
            do {
                let result = try await connection.send(transaction)
                var outcomes: [Int64: RecipientOutcome] = [:]
                for entry in message.entries {
                    let address = entry.recipient.address.description
                    guard let r = result.recipients.first(where: { $0.recipient.address == address }) else {
                        outcomes[entry.id] = .temporary(status: .tempSystem, diagnostic: "no result for this recipient", remoteMTA: remoteName)
                        continue
                    }
                    outcomes[entry.id] = Self.outcome(for: r, remoteMTA: remoteName, dsnOffered: result.dsnOffered,
                                                      notify: entry.recipient.effectiveNotify)
                }
                if outcomes.values.contains(where: { if case .delivered = $0 { return false } else { return true } }) {
                    await logTranscript(connection, peer: peer, queueID: first.queueID)
                }
                await complete(message.entries, outcomes: outcomes, peer: peer)
                if result.connectionClosed { broken = .connectionLost("the server closed the connection") }
            } catch {
                let clientError = (error as? SMTPClientError) ?? .localFailure("\(error)")
                await logTranscript(connection, peer: peer, queueID: first.queueID)
                await complete(message.entries, outcome: Self.outcome(for: clientError, remoteMTA: remoteName), peer: peer)
                broken = clientError
            }
        }
        if broken == nil { await connection.quit() } else { await connection.close() }
    }

    private func logTranscript(_ connection: SMTPClientConnection, peer: String, queueID: String) async {
        guard logger.logLevel <= .debug else { return }
        let transcript = await connection.transcript
        logger.debug("outbound session transcript", metadata: ["id": "\(queueID)", "relay": "\(peer)",
                                                               "transcript": "\(transcript.text)"])
    }

    /// The hosts for a next-hop choice, or the outcome for every recipient when there are none.
    func resolveTargets(_ choice: NextHopChoice) async -> Result<[Target], OutcomeError> {
        switch choice {
        case .unroutable(let why):
            return .failure(OutcomeError(.permanent(status: EnhancedStatusCode(.permanentFailure, 1, 2), diagnostic: why, remoteMTA: nil)))
        case .literal(let ip, let port):
            guard let address = try? SocketAddress(ipAddress: ip.description, port: port) else {
                return .failure(OutcomeError(.permanent(status: EnhancedStatusCode(.permanentFailure, 1, 2),
                                                        diagnostic: "cannot use address \(ip)", remoteMTA: nil)))
            }
            return .success([Target(name: "[\(ip)]", addresses: [address])])
        case .route(let hop), .smarthost(let hop):
            switch await addresses(of: hop.host, port: hop.port) {
            case .success(let list): return .success([Target(name: hop.host, addresses: list)])
            case .failure(let text):
                return .failure(OutcomeError(.temporary(status: EnhancedStatusCode(.persistentTransientFailure, 4, 3),
                                                        diagnostic: "cannot resolve next hop \(hop): \(text)", remoteMTA: nil)))
            }
        case .mx(let domain, let port):
            let route = await MXResolution(resolver: resolver).targets(for: domain, localNames: [configuration.hostname])
            switch route {
            case .nullMX:
                return .failure(OutcomeError(.permanent(status: EnhancedStatusCode(.permanentFailure, 1, 10),
                                                        diagnostic: "\(domain) does not accept mail (null MX, RFC 7505)", remoteMTA: nil)))
            case .noSuchDomain:
                return .failure(OutcomeError(.permanent(status: EnhancedStatusCode(.permanentFailure, 1, 2),
                                                        diagnostic: "domain \(domain) does not exist", remoteMTA: nil)))
            case .noMailHost:
                return .failure(OutcomeError(.permanent(status: EnhancedStatusCode(.permanentFailure, 4, 4),
                                                        diagnostic: "no mail host for \(domain) (no usable MX or address, or the MX is this host)",
                                                        remoteMTA: nil)))
            case .temporaryFailure(let text):
                return .failure(OutcomeError(.temporary(status: EnhancedStatusCode(.persistentTransientFailure, 4, 3),
                                                        diagnostic: "DNS lookup of \(domain) failed: \(text)", remoteMTA: nil)))
            case .targets(let mxTargets):
                var targets: [Target] = []
                var problems: [String] = []
                for mx in mxTargets {
                    switch await addresses(of: mx.host, port: port) {
                    case .success(let list): targets.append(Target(name: mx.host, addresses: list))
                    case .failure(let text): problems.append("\(mx.host): \(text)")
                    }
                }
                if targets.isEmpty {
                    return .failure(OutcomeError(.temporary(status: EnhancedStatusCode(.persistentTransientFailure, 4, 3),
                                                            diagnostic: "no address for the MX hosts of \(domain): \(problems.joined(separator: "; "))",
                                                            remoteMTA: nil)))
                }
                return .success(targets)
            }
        }
    }

    struct OutcomeError: Error { var outcome: RecipientOutcome; init(_ outcome: RecipientOutcome) { self.outcome = outcome } }

    /// Socket addresses of a host name or IP literal.
    private func addresses(of host: String, port: Int) async -> Result<[SocketAddress], TextError> {
        if let ip = IPAddress(host) {
            guard let address = try? SocketAddress(ipAddress: ip.description, port: port) else {
                return .failure(TextError("bad address \(host)"))
            }
            return .success([address])
        }
        switch await resolver.addresses(host) {
        case .records(let ips):
            let list = ips.compactMap { try? SocketAddress(ipAddress: $0.description, port: port) }
            return list.isEmpty ? .failure(TextError("no usable address")) : .success(list)
        case .noData: return .failure(TextError("no A/AAAA record"))
        case .nxDomain: return .failure(TextError("host not found"))
        case .temporaryFailure(let text): return .failure(TextError(text))
        }
    }

    struct TextError: Error, CustomStringConvertible {
        var description: String
        init(_ text: String) { description = text }
    }

    /// Records the same outcome for every entry of a message.
    func complete(_ entries: [QueueEntry], outcome: RecipientOutcome, peer: String? = nil) async {
        var outcomes: [Int64: RecipientOutcome] = [:]
        for entry in entries { outcomes[entry.id] = outcome }
        await complete(entries, outcomes: outcomes, peer: peer)
    }

    // MARK: - Mapping client results to outcomes

    static func outcome(for result: SMTPRecipientResult, remoteMTA: String, dsnOffered: Bool, notify: DSNNotify) -> RecipientOutcome {
        let reply = result.reply
        switch result.status {
        case .delivered:
            return .delivered(remoteMTA: remoteMTA, reply: reply.description,
                              relayedWithoutDSN: !dsnOffered && notify.contains(.success))
        case .temporaryFailure:
            return .temporary(status: reply.enhanced ?? EnhancedStatusCode(.persistentTransientFailure, 0, 0),
                              diagnostic: reply.description, remoteMTA: remoteMTA)
        case .permanentFailure:
            return .permanent(status: reply.enhanced ?? EnhancedStatusCode(.permanentFailure, 0, 0),
                              diagnostic: reply.description, remoteMTA: remoteMTA)
        }
    }

    static func outcome(for error: SMTPClientError, remoteMTA: String?) -> RecipientOutcome {
        let status: EnhancedStatusCode
        switch error {
        case .greetingRejected(let reply), .helloRejected(let reply), .authFailed(let reply):
            if !error.isTemporary {
                return .permanent(status: reply.enhanced ?? EnhancedStatusCode(.permanentFailure, 0, 0),
                                  diagnostic: reply.description, remoteMTA: remoteMTA)
            }
            status = reply.enhanced ?? EnhancedStatusCode(.persistentTransientFailure, 0, 0)
        case .connectFailed: status = EnhancedStatusCode(.persistentTransientFailure, 4, 1)
        case .timeout: status = EnhancedStatusCode(.persistentTransientFailure, 4, 2)
        case .connectionLost: status = EnhancedStatusCode(.persistentTransientFailure, 4, 2)
        case .startTLSNotOffered, .startTLSRejected, .tlsHandshakeFailed: status = EnhancedStatusCode(.persistentTransientFailure, 7, 0)
        default: status = EnhancedStatusCode(.persistentTransientFailure, 0, 0)
        }
        return .temporary(status: status, diagnostic: error.description, remoteMTA: remoteMTA)
    }

    /// Length of a leading `Return-Path:` field (with folded lines and CRLF), 0 when there is none.
    static func returnPathLength(_ prefix: [UInt8]) -> Int {
        let name = Array("return-path:".utf8)
        guard prefix.count > name.count,
              zip(prefix.prefix(name.count), name).allSatisfy({ ($0 | 0x20) == $1 || $0 == $1 }) else { return 0 }
        var i = name.count
        while i + 1 < prefix.count {
            if prefix[i] == 0x0D, prefix[i + 1] == 0x0A {
                let next = i + 2
                if next < prefix.count, prefix[next] == 0x20 || prefix[next] == 0x09 { i = next; continue }
                return next
            }
            i += 1
        }
        return 0
    }
}
