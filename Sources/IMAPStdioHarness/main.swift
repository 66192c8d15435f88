/// Test harness, not a server: one IMAP session on stdin/stdout against a fresh in-memory store, so real
/// IMAP clients can drive the protocol core before the network listener exists (Python's
/// `imaplib.IMAP4_stream`, `IMAPClient(..., stream=True)`; Dovecot's `imap` binary runs the same way).
///
///     IMAPStdioHarness USER PASSWORD [MESSAGE-DIR]
///
/// Every `*.eml` file in MESSAGE-DIR (sorted by name) is delivered to INBOX first. With the environment
/// variable `IMAP_HARNESS_PUSH_ON_IDLE=1`, entering IDLE with a mailbox selected delivers one message to
/// that mailbox from "another session", so a client sees the untagged EXISTS arrive during IDLE.
import Foundation
import IMAPCore
import IMAPTestSupport

@main
enum IMAPStdioHarness {
    static func main() async {
        let args = CommandLine.arguments
        guard args.count >= 3 else {
            FileHandle.standardError.write(Data("usage: IMAPStdioHarness USER PASSWORD [MESSAGE-DIR]\n".utf8))
            exit(2)
        }
        let store = InMemoryIMAPStore(firstUIDValidity: 1)
        await store.addUser(args[1], password: args[2])
        if args.count >= 4 {
            let dir = URL(fileURLWithPath: args[3])
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".eml") }.sorted()
            for file in files {
                if let data = try? Data(contentsOf: dir.appendingPathComponent(file)) {
                    _ = try? await store.deliver(to: args[1], Array(data))
                }
            }
        }
        let push = ProcessInfo.processInfo.environment["IMAP_HARNESS_PUSH_ON_IDLE"] == "1"
        var configuration = IMAPServerConfiguration(hostname: "harness.petrel.test")
        configuration.compressionAvailable = false
        let connection = IMAPTestConnection(store: store, configuration: configuration)
        await connection.connect()
        flush(connection)
        var pushed = false
        while !connection.isClosed {
            let data = FileHandle.standardInput.availableData
            if data.isEmpty { break }
            await connection.send(Array(data))
            flush(connection)
            if push, !pushed, case .some(.some(let id)) = connection.watching,
                let name = connection.session.selectedMailbox?.name, connection.session.selectedMailbox?.id == id
            {
                pushed = true
                _ = try? await store.deliver(to: args[1], mailbox: name, Array("Subject: pushed during IDLE\r\n\r\nhello\r\n".utf8))
                await connection.notifyIfChanged()
                flush(connection)
            }
        }
    }

    static func flush(_ connection: IMAPTestConnection) {
        let out = connection.takeOutputBytes()
        if !out.isEmpty { FileHandle.standardOutput.write(Data(out)) }
    }
}
