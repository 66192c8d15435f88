/// SMTP and POP3 dialog transcripts (`Tests/Fixtures/smtp`, `Tests/Fixtures/pop3`; format in
/// `Tests/Fixtures/README.md`), played three ways with the same files: against the pure sessions
/// (`SMTPSessionDialog`, `POP3SessionDialog`), against the real listener over a socket (`SocketDialog`),
/// and by `e2e/interop/test_transcripts.py` with smtplib/poplib.
///
/// One directive per line (`#` starts a comment, blank lines are ignored):
/// ```
/// C: EHLO client.example.org      a client line (CRLF added); unread server lines before it are an error
///                                 unless the line before was a client line too (a pipelined group)
/// B: Subject: x                   a line of BDAT chunk data (CRLF added; counts in the BDAT size)
/// S: 250 2.1.0 Ok                 the next server line, exactly
/// S~ ^250 2\.0\.0 Ok: queued as   the next server line must match this regular expression
/// S* ^250-                        zero or more server lines that match (e.g. trace fields, EHLO keywords)
/// @message alice@example.test     set-up: a message delivered before the dialog, one line per "M:"
/// M: Subject: first
/// @closed                         the server has closed the connection
/// @reconnect                      a new connection (its greeting is the next S: line)
/// ```
import Foundation

/// The fixed state every runner builds the same way (the interop suite's `server` fixture has the same).
public enum DialogFixture {
    public static let hostname = "mx.petrel.test"
    public static let domain = "example.test"
    /// Mailboxes and their passwords.
    public static let users: [(address: String, password: String)] = [
        ("alice@example.test", "alice-password"),
        ("bob@example.test", "bob-password")
    ]
    /// The SMTP size limit the interop suite's server runs with (SIZE keyword, 552 answers).
    public static let maxMessageSize = 10 * 1024 * 1024
    /// The sender the `@message` set-up deliveries use.
    public static let setUpSender = "sender@example.org"

    /// `Tests/Fixtures/<protocol>/*.txt`, sorted by name, found from this source file's location.
    public static func files(_ protocolName: String, file: String = #filePath) -> [URL] {
        let root = URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let directory = root.appendingPathComponent("Tests/Fixtures/\(protocolName)")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".txt") }.sorted().map { directory.appendingPathComponent($0) }
    }
}

public struct DialogFailure: Error, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String
    public var description: String { "\(file):\(line): \(message)" }
}

/// A parsed transcript.
public struct DialogTranscript: Sendable {
    public enum Step: Sendable, Equatable {
        case client(String)
        case expect(String)
        case match(String)
        case skip(String)
        case closed
        case reconnect
    }

    public var name: String
    public var steps: [(line: Int, step: Step)] = []
    /// The `@message` blocks: recipient and CRLF-joined bytes (final CRLF added).
    public var messages: [(recipient: String, bytes: [UInt8])] = []

    public init(name: String, text: String) throws {
        self.name = name
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        }
        var i = 0
        func fail(_ message: String) -> DialogFailure { DialogFailure(file: name, line: i + 1, message: message) }
        func rest(_ line: String, _ prefix: String) -> String {
            let r = line.dropFirst(prefix.count)
            return String(r.hasPrefix(" ") ? r.dropFirst() : r)
        }
        while i < lines.count {
            let line = lines[i]
            let number = i + 1
            if line.isEmpty || line.hasPrefix("#") {
            } else if line.hasPrefix("@message ") {
                let words = line.split(separator: " ")
                guard words.count == 2 else { throw fail("@message RECIPIENT") }
                var body: [String] = []
                while i + 1 < lines.count, lines[i + 1].hasPrefix("M:") {
                    i += 1
                    body.append(rest(lines[i], "M:"))
                }
                messages.append((String(words[1]), Array((body.joined(separator: "\r\n") + "\r\n").utf8)))
            } else if line == "@closed" {
                steps.append((number, .closed))
            } else if line == "@reconnect" {
                steps.append((number, .reconnect))
            } else if line.hasPrefix("C:") || line.hasPrefix("B:") {
                steps.append((number, .client(rest(line, "C:"))))
            } else if line.hasPrefix("S~ ") {
                steps.append((number, .match(String(line.dropFirst(3)))))
            } else if line.hasPrefix("S* ") {
                steps.append((number, .skip(String(line.dropFirst(3)))))
            } else if line.hasPrefix("S:") {
                steps.append((number, .expect(rest(line, "S:"))))
            } else {
                throw fail("cannot read: \(line)")
            }
            i += 1
        }
    }

    public init(contentsOf url: URL) throws {
        try self.init(name: url.lastPathComponent, text: String(contentsOf: url, encoding: .utf8))
    }
}

/// One connection a transcript talks to.
public protocol DialogConnection: AnyObject {
    /// Sends lines (the connection adds CRLF to each); consecutive client lines of a transcript come
    /// together, so a socket sends a pipelined group in one write.
    func send(lines: [String]) async throws
    /// The next server line without its CRLF; nil when the server has closed the connection.
    func readLine() async throws -> String?
    /// Lines the server has sent that nobody read yet (only a pure session can know; sockets return []).
    func unreadLines() -> [String]
    /// True when the server has closed the connection.
    func isClosed() async throws -> Bool
}

extension DialogTranscript {
    /// Plays the transcript; `connect` opens a connection (again after `@reconnect`).
    public func play(connect: () async throws -> any DialogConnection) async throws {
        var connection = try await connect()
        var peeked: String?
        var previous: Step?
        func fail(_ line: Int, _ message: String) -> DialogFailure { DialogFailure(file: name, line: line, message: message) }
        func next(_ line: Int) async throws -> String {
            if let p = peeked { peeked = nil; return p }
            guard let got = try await connection.readLine() else { throw fail(line, "the connection is closed") }
            return got
        }
        var group: [String] = []
        for (index, (line, step)) in steps.enumerated() {
            switch step {
            case .client(let text):
                // After reading replies, the client sends again only when it has read them all; consecutive
                // client lines are a pipelined group (RFC 2920, RFC 2449 §6.6) whose replies come later.
                if previous != nil, case .client = previous {
                } else {
                    let unread = (peeked.map { [$0] } ?? []) + connection.unreadLines()
                    if !unread.isEmpty { throw fail(line, "unexpected server output before the client line: \(unread)") }
                }
                group.append(text)
                if index + 1 < steps.count, case .client = steps[index + 1].step { break }
                try await connection.send(lines: group)
                group = []
            case .expect(let want):
                let got = try await next(line)
                if got != want { throw fail(line, "expected\n  \(want)\ngot\n  \(got)") }
            case .match(let pattern):
                let got = try await next(line)
                if got.range(of: pattern, options: .regularExpression) == nil {
                    throw fail(line, "expected /\(pattern)/, got\n  \(got)")
                }
            case .skip(let pattern):
                while true {
                    let got = try await next(line)
                    if got.range(of: pattern, options: .regularExpression) == nil { peeked = got; break }
                }
            case .closed:
                if let p = peeked { throw fail(line, "unexpected server output: \(p)") }
                if !(try await connection.isClosed()) { throw fail(line, "the connection is still open") }
            case .reconnect:
                peeked = nil
                connection = try await connect()
            }
            previous = step
        }
        let unread = (peeked.map { [$0] } ?? []) + connection.unreadLines()
        if !unread.isEmpty { throw fail(steps.last?.line ?? 0, "unexpected server output at the end: \(unread)") }
    }
}
