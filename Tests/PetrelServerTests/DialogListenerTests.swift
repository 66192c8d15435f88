// The SMTP and POP3 dialog transcripts (Tests/Fixtures/smtp, Tests/Fixtures/pop3) played over a socket
// against a real MailServer on 127.0.0.1:0: the NIO adapters, line framing and store answer them (the
// same files run against the pure sessions in SMTPCoreTests/POP3CoreTests and through smtplib/poplib in
// e2e/interop/test_transcripts.py).
import Foundation
import Logging
import MailAuth
import MailCore
import MailStore
import MailTestSupport
import Testing

@testable import PetrelConfig
@testable import PetrelServer

@Suite(.serialized) struct DialogListenerTests {
    /// The interop suite's configuration (e2e/interop/conftest.py), on loopback ports chosen by the kernel.
    static func configuration(dataDir: String) throws -> PetrelConfiguration {
        let text = """
            [server]
            hostname = "\(DialogFixture.hostname)"
            data_dir = "\(dataDir)"

            [smtp]
            listen = ["127.0.0.1:0"]
            max_message_size = \(DialogFixture.maxMessageSize)

            [submission]
            listen = []
            tls_listen = []

            [pop3]
            listen = ["127.0.0.1:0"]
            tls_listen = []

            [imap]
            listen = []
            tls_listen = []

            [auth]
            allow_plaintext = true

            [admin]
            listen = ""

            [dns]
            nameserver = "127.0.0.1:9"
            timeout = 1
            """
        switch PetrelConfiguration.parse(text) {
        case .success(let c): return c
        case .failure(let errors): throw errors
        }
    }

    /// Starts a server whose store has the fixture's domain and mailboxes, runs `body`, stops the server.
    static func withServer(_ body: (MailServer) async throws -> Void) async throws {
        let store = InMemoryMailStore()
        _ = try await store.addDomain(DialogFixture.domain)
        for (address, password) in DialogFixture.users {
            let email = try #require(EmailAddress(address))
            _ = try await store.addMailbox(email, passwordHash: try PasswordHasher.fastForTests.hash(password), isAdmin: false)
        }
        let dir = NSTemporaryDirectory() + "petrel-dialog-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try await MailServer.start(
            configuration: try configuration(dataDir: dir), store: store,
            logger: Logger(label: "dialog"))
        do {
            try await body(server)
        } catch {
            await server.shutdown(deadline: .seconds(2))
            throw error
        }
        await server.shutdown(deadline: .seconds(2))
    }

    static func connect(_ port: Int) throws -> SocketDialog {
        SocketDialog(fd: try AdminClient.connect(host: "127.0.0.1", port: port, timeoutSeconds: 15))
    }

    /// The `@message` set-up: each message delivered over SMTP from the fixture's sender, as the interop
    /// suite does with smtplib.
    static func deliver(_ transcript: DialogTranscript, smtpPort: Int) async throws {
        for (recipient, bytes) in transcript.messages {
            let c = try connect(smtpPort)
            var lines = String(decoding: bytes, as: UTF8.self).components(separatedBy: "\r\n")
            if lines.last == "" { lines.removeLast() }
            let body = lines.map { $0.hasPrefix(".") ? "." + $0 : $0 }
            var script = "S~ ^220 \nC: HELO client.example.org\nS~ ^250 \n"
            script += "C: MAIL FROM:<\(DialogFixture.setUpSender)>\nS~ ^250 \nC: RCPT TO:<\(recipient)>\nS~ ^250 \n"
            script += "C: DATA\nS~ ^354 \n" + body.map { "C: \($0)\n" }.joined() + "C: .\nS~ ^250 \nC: QUIT\nS~ ^221 \n"
            try await DialogTranscript(name: "set-up", text: script).play { c }
        }
    }

    @Test(arguments: DialogFixture.files("smtp").map(\.lastPathComponent))
    func smtpDialog(_ name: String) async throws {
        let url = try #require(DialogFixture.files("smtp").first { $0.lastPathComponent == name })
        let transcript = try DialogTranscript(contentsOf: url)
        try await Self.withServer { server in
            let port = try #require(server.port(.smtp))
            try await transcript.play { try Self.connect(port) }
        }
    }

    @Test(arguments: DialogFixture.files("pop3").map(\.lastPathComponent))
    func pop3Dialog(_ name: String) async throws {
        let url = try #require(DialogFixture.files("pop3").first { $0.lastPathComponent == name })
        let transcript = try DialogTranscript(contentsOf: url)
        try await Self.withServer { server in
            try await Self.deliver(transcript, smtpPort: try #require(server.port(.smtp)))
            let port = try #require(server.port(.pop3))
            try await transcript.play { try Self.connect(port) }
        }
    }
}
