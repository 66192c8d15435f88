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
                prefix = try await store.readQueuedMessage(
                    messageID: first.messageID, offset: 0,
                    maxLength: configuration.hopCount.scanLimit)
            } catch  where Self.isShutdown(error) {
                continue // stopping: the entries stay due as they are (no attempt counted)
            } catch {
                await complete(message, outcome: DeliveryOutcome.of(.messageUnreadable("\(error)")))
                continue
            }
            if configuration.hopCount.isLoop(prefix) {
                await complete(message, outcome: DeliveryOutcome.of(.mailLoop(limit: configuration.hopCount.limit)))
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
            for message in messages { await complete(message.entries, outcome: DeliveryOutcome.of(error)) }
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
                    connection = try await SMTPClientConnection.connect(
                        to: address, serverName: target.name, configuration: client,
                        group: group, logger: logger)
                    peer = "\(target.name)[\(address.ipAddress ?? "?")]:\(address.port ?? 0)"
                    break connect
                } catch let error as SMTPClientError {
                    lastError = error
                    logger.info(
                        "connection failed",
                        metadata: [
                            "relay": "\(target.name)[\(address.ipAddress ?? "?")]",
                            "error": "\(error)"
                        ])
                } catch {
                    lastError = .connectFailed("\(error)")
                }
            }
        }
        guard let connection else {
            let outcome = DeliveryOutcome.of(
                .session(lastError ?? .connectFailed("no address to connect to")),
                remoteMTA: targets.first?.name)
            for message in messages { await complete(message.entries, outcome: outcome) }
            return
        }
        let remoteName = peer.split(separator: "[").first.map(String.init) ?? peer
        var broken: SMTPClientError?
        for message in messages {
            if let broken {
                await complete(message.entries, outcome: DeliveryOutcome.of(.session(broken), remoteMTA: remoteName))
                continue
            }
            guard let first = message.entries.first else { continue }
            let store = self.store
            let messageID = first.messageID
            let skip = message.skip
            let transaction = OutboundTransaction(
                sender: first.sender, recipients: message.entries.map(\.recipient), envelope: first.envelope,
                size: max(0, first.size - skip)
            ) { offset, maxLength in
                try await store.readQueuedMessage(messageID: messageID, offset: offset + skip, maxLength: maxLength)
            }
            do {
                let result = try await connection.send(transaction)
                var outcomes: [Int64: RecipientOutcome] = [:]
                for entry in message.entries {
                    let address = entry.recipient.address.description
                    guard let r = result.recipients.first(where: { $0.recipient.address == address }) else {
                        outcomes[entry.id] = DeliveryOutcome.of(.noRecipientResult, remoteMTA: remoteName)
                        continue
                    }
                    outcomes[entry.id] = DeliveryOutcome.of(
                        r, remoteMTA: remoteName, dsnOffered: result.dsnOffered,
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
                await complete(message.entries, outcome: DeliveryOutcome.of(.session(clientError), remoteMTA: remoteName), peer: peer)
                broken = clientError
            }
        }
        if broken == nil { await connection.quit() } else { await connection.close() }
    }

    private func logTranscript(_ connection: SMTPClientConnection, peer: String, queueID: String) async {
        guard logger.logLevel <= .debug else { return }
        let transcript = await connection.transcript
        logger.debug(
            "outbound session transcript",
            metadata: [
                "id": "\(queueID)", "relay": "\(peer)",
                "transcript": "\(transcript.text)"
            ])
    }

    /// The hosts for a next-hop choice, or why there are none (the same outcome for every recipient).
    func resolveTargets(_ choice: NextHopChoice) async -> Result<[Target], DeliveryFailure> {
        switch choice {
        case .unroutable(let why):
            return .failure(.unroutable(why))
        case .literal(let ip, let port):
            guard let address = try? SocketAddress(ipAddress: ip.description, port: port) else {
                return .failure(.unusableLiteral(ip.description))
            }
            return .success([Target(name: "[\(ip)]", addresses: [address])])
        case .route(let hop), .smarthost(let hop):
            switch await addresses(of: hop.host, port: hop.port) {
            case .success(let list): return .success([Target(name: hop.host, addresses: list)])
            case .failure(let text): return .failure(.nextHopUnresolved(hop: "\(hop)", reason: "\(text)"))
            }
        case .mx(let domain, let port):
            let route = await MXResolution(resolver: resolver).targets(for: domain, localNames: [configuration.hostname])
            switch route {
            case .nullMX: return .failure(.nullMX(domain: domain))
            case .noSuchDomain: return .failure(.noSuchDomain(domain: domain))
            case .noMailHost: return .failure(.noMailHost(domain: domain))
            case .temporaryFailure(let text): return .failure(.dnsFailed(domain: domain, reason: text))
            case .targets(let mxTargets):
                var targets: [Target] = []
                var problems: [String] = []
                for mx in mxTargets {
                    switch await addresses(of: mx.host, port: port) {
                    case .success(let list): targets.append(Target(name: mx.host, addresses: list))
                    case .failure(let text): problems.append("\(mx.host): \(text)")
                    }
                }
                if targets.isEmpty { return .failure(.noMXAddress(domain: domain, problems: problems)) }
                return .success(targets)
            }
        }
    }

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

    /// Length of a leading `Return-Path:` field (with folded lines and CRLF), 0 when there is none.
    static func returnPathLength(_ prefix: [UInt8]) -> Int {
        let name = Array("return-path:".utf8)
        guard prefix.count > name.count,
            zip(prefix.prefix(name.count), name).allSatisfy({ ($0 | 0x20) == $1 || $0 == $1 })
        else { return 0 }
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
