/// The Pickup directory: RFC 5322 files dropped into a directory are queued like submitted mail and
/// removed. A file is taken only when it has not changed for `settleTime` (a writer that is still
/// writing is left alone) and after it was claimed by an atomic rename to `.petrel-<name>` (so two
/// scans or two processes never take the same file). Writers should still write under a name starting
/// with "." and rename into place when done: dot-files are never picked up.
///
/// Files that cannot be read as a message go to `rejected/` with a `.reason` file next to them. A
/// crash after the message is stored but before the file is removed picks the file up again at the
/// next start (at least once). Envelope rules: PickupMessage.swift.
import Foundation
import Logging
import MailCore
import MailPolicy
import MailQueue
import MailStore

public struct PickupConfiguration: Sendable {
    public var directory: String
    public var hostname: String
    public var maxMessageSize: Int
    /// A file must be unchanged this long before it is taken.
    public var settleTime: TimeInterval
    public var pollInterval: Duration
    /// The relay rules in force (relay domains' valid-recipient lists apply to pickup files too). The
    /// composition root passes the live rules.
    public var relayRules: @Sendable () -> RelayRules = { .closed }
    /// Who exists in a local domain: the domain's account backend (MailAccounts: builtin, system, ldap),
    /// as for SMTP RCPT; nil asks the store directly. The composition root passes the account router.
    public var resolveRecipient: (@Sendable (EmailAddress) async throws -> RecipientResolution)? = nil

    public init(
        directory: String, hostname: String, maxMessageSize: Int, settleTime: TimeInterval = 2,
        pollInterval: Duration = .seconds(2)
    ) {
        self.directory = directory
        self.hostname = hostname
        self.maxMessageSize = maxMessageSize
        self.settleTime = settleTime
        self.pollInterval = pollInterval
    }
}

public actor PickupDirectory {
    let store: any MailStore
    let configuration: PickupConfiguration
    let logger: Logger
    let queued: @Sendable () -> Void
    /// File ages, arrival times and the poll sleep (`WallClock` in the server, a manual clock in tests).
    let clock: any MailClock
    static let claimPrefix = ".petrel-"

    public init(
        store: any MailStore, configuration: PickupConfiguration, logger: Logger,
        queued: @escaping @Sendable () -> Void = {}, clock: any MailClock = WallClock()
    ) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
        self.queued = queued
        self.clock = clock
    }

    /// Scans every `pollInterval` until cancelled.
    public func run() async {
        recoverClaims()
        logger.info("pickup directory watched", metadata: ["dir": "\(configuration.directory)"])
        while !Task.isCancelled {
            await scanOnce()
            try? await clock.sleep(for: configuration.pollInterval)
        }
    }

    /// Files claimed by a previous run that stopped before finishing are put back.
    func recoverClaims() {
        let fm = FileManager.default
        try? fm.createDirectory(atPath: configuration.directory, withIntermediateDirectories: true)
        for name in (try? fm.contentsOfDirectory(atPath: configuration.directory)) ?? [] where name.hasPrefix(Self.claimPrefix) {
            let original = String(name.dropFirst(Self.claimPrefix.count))
            try? fm.moveItem(atPath: path(name), toPath: path(original))
        }
    }

    /// Takes every settled file once; returns how many messages were queued.
    @discardableResult
    public func scanOnce() async -> Int {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: configuration.directory) else {
            logger.error("cannot read the pickup directory", metadata: ["dir": "\(configuration.directory)"])
            return 0
        }
        var count = 0
        for name in names.sorted() where !name.hasPrefix(".") {
            guard let attributes = try? fm.attributesOfItem(atPath: path(name)),
                attributes[.type] as? FileAttributeType == .typeRegular,
                let modified = attributes[.modificationDate] as? Date,
                clock.now.timeIntervalSince(modified) >= configuration.settleTime
            else { continue }
            let claimed = Self.claimPrefix + name
            guard rename(path(name), path(claimed)) == 0 else { continue } // taken by someone else
            if await take(claimed, original: name) { count += 1 }
        }
        return count
    }

    /// Reads, parses and stores one claimed file. True when a message was queued.
    private func take(_ claimed: String, original: String) async -> Bool {
        let file = path(claimed)
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        guard size <= configuration.maxMessageSize else {
            reject(claimed, original: original, reason: "larger than smtp.max_message_size (\(size) octets)")
            return false
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            reject(claimed, original: original, reason: "cannot be read")
            return false
        }
        let parsed: PickupMessage
        do {
            parsed = try PickupMessage.parse(Array(data))
        } catch {
            reject(claimed, original: original, reason: "\(error)")
            return false
        }
        var local: [Int64] = []
        var remote: [OutboundRecipient] = []
        var skipped: [String] = []
        let rules = configuration.relayRules()
        let store = self.store
        let resolve = configuration.resolveRecipient ?? { try await store.resolveRecipient($0) }
        for recipient in parsed.recipients {
            // THE recipient decision (MailPolicy), as for SMTP and reports; a file dropped here is this
            // server's own mail, so it may relay to any routable domain.
            do {
                switch try await RecipientRouting.route(recipient, origin: .local, rules: rules, resolve: resolve) {
                case .local(let id): if !local.contains(id) { local.append(id) }
                case .relay: remote.append(OutboundRecipient(address: recipient))
                case .refuse(let refusal): skipped.append("<\(recipient)>: \(refusal)")
                }
            } catch {
                // The store is unavailable: put the file back and try again at the next scan.
                _ = rename(file, path(original))
                logger.error("pickup lookup failed; will retry", metadata: ["file": "\(original)", "error": "\(error)"])
                return false
            }
        }
        guard !local.isEmpty || !remote.isEmpty else {
            reject(claimed, original: original, reason: "no deliverable recipient: \(skipped.joined(separator: "; "))")
            return false
        }
        let now = clock.now
        let queueID = QueueID.generate(date: now)
        let trace =
            "Return-Path: \(parsed.sender)\r\n"
            + "Received: from pickup directory by \(configuration.hostname) (Petrel) with local id \(queueID);\r\n"
            + "\t\(RFC5322Date.format(now))\r\n"
        let message = IncomingMessage(
            queueID: queueID, sender: parsed.sender, localRecipients: local, receivedAt: now,
            traceHeaders: Array(trace.utf8), body: .bytes(parsed.message), remoteRecipients: remote,
            envelope: OutboundEnvelope(eightBitMIME: parsed.message.contains { $0 >= 0x80 }))
        do {
            _ = try await store.deliver(message)
        } catch {
            _ = rename(file, path(original))
            logger.error("pickup store failed; will retry", metadata: ["file": "\(original)", "error": "\(error)"])
            return false
        }
        if unlink(file) != 0 {
            logger.error(
                "pickup file could not be removed after queuing (it may be queued again)",
                metadata: ["id": "\(queueID)", "file": "\(original)"])
        }
        logger.info(
            "pickup message queued",
            metadata: [
                "id": "\(queueID)", "file": "\(original)", "from": "\(parsed.sender)",
                "to": "\(parsed.recipients.map { "<\($0)>" }.joined(separator: ","))", "size": "\(parsed.message.count)"
            ])
        if !skipped.isEmpty {
            logger.warning("pickup recipients skipped", metadata: ["id": "\(queueID)", "reason": "\(skipped.joined(separator: "; "))"])
        }
        if !remote.isEmpty { queued() }
        return true
    }

    private func reject(_ claimed: String, original: String, reason: String) {
        let fm = FileManager.default
        let folder = path("rejected")
        try? fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let target = folder + "/" + original
        _ = rename(path(claimed), target)
        try? Data((reason + "\n").utf8).write(to: URL(fileURLWithPath: target + ".reason"))
        logger.warning("pickup file rejected", metadata: ["file": "\(original)", "reason": "\(reason)", "moved_to": "\(target)"])
    }

    private func path(_ name: String) -> String {
        configuration.directory.hasSuffix("/") ? configuration.directory + name : configuration.directory + "/" + name
    }
}
