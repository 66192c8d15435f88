/// Drives one `IMAPServerSession` against an `InMemoryIMAPStore` the way the network adapter will:
/// bytes in, actions run (authentication against the store's users, backend requests through
/// `IMAPBackendRunner`, TLS and compression acknowledged at once, IDLE watches recorded), bytes out.
import IMAPCore
import MailCore

public final class IMAPTestConnection: @unchecked Sendable {
    public private(set) var session: IMAPServerSession
    public let store: InMemoryIMAPStore
    public private(set) var access: InMemoryIMAPAccess?
    /// Everything the session sent and the test has not taken yet.
    public private(set) var output: [UInt8] = []
    public private(set) var isClosed = false
    public private(set) var tlsStarted = false
    public private(set) var compressionStarted = false
    /// The mailbox watched by IDLE (`.some(nil)`: IDLE without a selected mailbox).
    public private(set) var watching: IMAPMailboxID??
    var watchedCount: Int?
    /// Every backend request run, in order (for tests that check what the session asked).
    public private(set) var requests: [IMAPBackendRequest] = []

    public init(store: InMemoryIMAPStore, configuration: IMAPServerConfiguration = IMAPServerConfiguration(hostname: "imap.example.test")) {
        self.store = store
        self.session = IMAPServerSession(configuration: configuration)
    }

    /// Sends the greeting.
    public func connect() async {
        await feed(.connected)
    }

    /// Sends octets as the client.
    public func send(_ bytes: [UInt8]) async {
        await feed(.received(bytes))
    }

    /// Sends a line (CRLF appended).
    public func send(line: String) async {
        await send(Array((line + "\r\n").utf8))
    }

    /// Takes the output so far as octets.
    public func takeOutputBytes() -> [UInt8] {
        defer { output = [] }
        return output
    }

    /// Takes the output so far as text.
    public func takeOutput() -> String {
        defer { output = [] }
        return String(decoding: output, as: UTF8.self)
    }

    /// Feeds `.mailboxChanged` when the mailbox watched by IDLE changed since it was last checked
    /// (what the adapter does on a store notification).
    public func notifyIfChanged() async {
        guard case .some(.some(let id)) = watching, let user = session.username else { return }
        let count = await store.changeCount(user, id)
        if count != watchedCount {
            watchedCount = count
            await feed(.mailboxChanged)
        }
    }

    /// Feeds the inactivity timeout.
    public func timeout() async { await feed(.timeout) }

    public func feed(_ event: IMAPServerEvent) async {
        var queue = session.handle(event)
        while !queue.isEmpty {
            let action = queue.removeFirst()
            if let next = await run(action) {
                queue = session.handle(next) + queue
            }
        }
    }

    /// Runs one action; returns the event that answers it, if any.
    func run(_ action: IMAPServerAction) async -> IMAPServerEvent? {
        switch action {
        case .send(let bytes):
            output += bytes
            return nil
        case .authenticate(let username, let password):
            guard await store.verify(username, password: password) else { return .authenticated(.invalidCredentials) }
            access = await store.access(for: username)
            return .authenticated(.success(username: username))
        case .backend(let request):
            requests.append(request)
            guard let access else { return .backend(.failed(.unavailable)) }
            return .backend(await IMAPBackendRunner.run(request, on: access))
        case .startTLS:
            tlsStarted = true
            return .tlsEstablished(TLSInfo(version: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256"))
        case .startCompression:
            compressionStarted = true
            return .compressionStarted
        case .startWatching(let id):
            watching = .some(id)
            if let id, let user = session.username { watchedCount = await store.changeCount(user, id) }
            return nil
        case .stopWatching:
            watching = nil
            return nil
        case .close:
            isClosed = true
            return nil
        }
    }
}
