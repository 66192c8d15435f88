/// Runs IMAP dialog transcripts (chasquid `.cmy` / OpenSMTPD `smtpscript` in spirit) against sessions on
/// an `InMemoryIMAPStore`. The same files can later run against the real listener.
///
/// Format, one directive per line (`#` starts a comment line, blank lines are ignored):
/// ```
/// @user alice secret [nofolders]      create a user (INBOX + special-use folders unless nofolders)
/// @quota alice 10 5                   STORAGE limit in KiB, MESSAGE limit ("-" for none)
/// @message alice INBOX [\Seen …] [date="17-Jul-1996 02:44:25 -0700"]
/// M: From: a@example.test             the message, one line per "M:" (CRLF-joined, final CRLF added)
/// @deliver alice INBOX [flags…]       like @message, but during the dialog (IDLE sessions get notified)
/// @config starttls                    options for connections opened later: starttls, nologinplain, compress
/// C: a LOGIN alice secret             client line on connection 1 (CRLF added); "C2:" for connection 2 …
/// S: a OK Logged in                   the next server line on that connection, exactly
/// S~ ^a OK .*$                        the next server line must match this regular expression
/// @timeout                            the inactivity timer fires on connection 1 (`@timeout 2`)
/// @closed                             connection 1 must be closed (`@closed 2`)
/// ```
/// After each client line, sessions in IDLE on other connections are notified when their mailbox changed
/// (as the store's notifications will do). Every server line must be expected: before each client line and at the end, no unread output may
/// remain on that connection.
import Foundation
import IMAPCore
import MailCore

public struct IMAPTranscriptFailure: Error, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { "line \(line): \(message)" }
}

public final class IMAPTranscript {
    public let store: InMemoryIMAPStore
    var connections: [Int: IMAPTestConnection] = [:]
    var pendingLines: [Int: [String]] = [:]
    var configuration = IMAPServerConfiguration(hostname: "imap.example.test")

    public init(store: InMemoryIMAPStore = InMemoryIMAPStore(firstUIDValidity: 1_000)) {
        self.store = store
    }

    /// Runs a transcript; throws the first mismatch.
    public func run(_ text: String) async throws {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        }
        var i = 0
        func fail(_ message: String) -> IMAPTranscriptFailure { IMAPTranscriptFailure(line: i + 1, message: message) }
        while i < lines.count {
            let line = lines[i]
            if line.isEmpty || line.hasPrefix("#") { i += 1; continue }
            if line.hasPrefix("@") {
                let words = IMAPTranscript.words(String(line.dropFirst()))
                guard let verb = words.first else { throw fail("empty directive") }
                switch verb {
                case "user":
                    guard words.count >= 3 else { throw fail("@user NAME PASSWORD") }
                    await store.addUser(words[1], password: words[2], defaultFolders: !words.contains("nofolders"))
                case "quota":
                    guard words.count == 4 else { throw fail("@quota USER KIB MESSAGES") }
                    await store.setQuota(words[1], storageKiB: UInt64(words[2]), messages: UInt64(words[3]))
                case "message", "deliver":
                    guard words.count >= 3 else { throw fail("@\(verb) USER MAILBOX [flags] [date=…]") }
                    var body: [String] = []
                    while i + 1 < lines.count, lines[i + 1].hasPrefix("M:") {
                        i += 1
                        let m = lines[i].dropFirst(2)
                        body.append(String(m.hasPrefix(" ") ? m.dropFirst() : m))
                    }
                    var flags: [IMAPFlag] = []
                    var date: IMAPDateTime? = nil
                    for w in words.dropFirst(3) {
                        if w.hasPrefix("date=") {
                            date = IMAPTranscript.dateTime(String(w.dropFirst(5)))
                            if date == nil { throw fail("bad date \(w)") }
                        } else {
                            flags.append(IMAPFlag(w))
                        }
                    }
                    let bytes = Array((body.joined(separator: "\r\n") + "\r\n").utf8)
                    do {
                        try await store.deliver(to: words[1], mailbox: words[2], bytes, flags: flags, date: date)
                    } catch {
                        throw fail("delivery failed: \(error)")
                    }
                    if verb == "deliver" {
                        for c in connections.values { await c.notifyIfChanged() }
                        collectOutput()
                    }
                case "config":
                    for w in words.dropFirst() {
                        switch w {
                        case "starttls": configuration.tlsAvailable = true
                        case "nologinplain": configuration.allowPlaintextAuth = false
                        case "compress": configuration.compressionAvailable = true
                        case "literal-limit=16": configuration.limits.maxLiteralSize = 16
                        case "line-limit=64": configuration.limits.maxLineLength = 64
                        case "append-limit=100": configuration.limits.maxAppendSize = 100
                        default: throw fail("unknown config \(w)")
                        }
                    }
                case "timeout":
                    let n = words.count > 1 ? Int(words[1]) ?? 1 : 1
                    try await connection(n).timeout()
                    collectOutput()
                case "closed":
                    let n = words.count > 1 ? Int(words[1]) ?? 1 : 1
                    guard try await connection(n).isClosed else { throw fail("connection \(n) is open") }
                default:
                    throw fail("unknown directive @\(verb)")
                }
                i += 1
                continue
            }
            guard let (kind, n, rest) = IMAPTranscript.split(line) else { throw fail("cannot read: \(line)") }
            switch kind {
            case "C":
                if let left = pendingLines[n], !left.isEmpty { throw fail("unexpected server output on \(n): \(left)") }
                let c = try await connection(n)
                await c.send(line: rest)
                // The store's change notifications reach sessions in IDLE.
                for other in connections.values where other !== c { await other.notifyIfChanged() }
                collectOutput()
            case "S", "S~":
                _ = try await connection(n)
                guard var queue = pendingLines[n], !queue.isEmpty else { throw fail("expected \(rest), got nothing") }
                let got = queue.removeFirst()
                pendingLines[n] = queue
                if kind == "S" {
                    guard got == rest else { throw fail("expected\n  \(rest)\ngot\n  \(got)") }
                } else {
                    guard got.range(of: rest, options: .regularExpression) != nil else {
                        throw fail("expected /\(rest)/, got\n  \(got)")
                    }
                }
            default:
                throw fail("cannot read: \(line)")
            }
            i += 1
        }
        for (n, left) in pendingLines where !left.isEmpty {
            throw IMAPTranscriptFailure(line: lines.count, message: "unexpected server output on \(n): \(left)")
        }
    }

    func connection(_ n: Int) async throws -> IMAPTestConnection {
        if let c = connections[n] { return c }
        let c = IMAPTestConnection(store: store, configuration: configuration)
        connections[n] = c
        await c.connect()
        collectOutput()
        return c
    }

    func collectOutput() {
        for (n, c) in connections {
            let text = c.takeOutput()
            guard !text.isEmpty else { continue }
            var parts = text.components(separatedBy: "\r\n")
            if parts.last == "" { parts.removeLast() }
            pendingLines[n, default: []] += parts
        }
    }

    /// "C:", "C2:", "S:", "S3~" → (kind, connection, rest)
    static func split(_ line: String) -> (String, Int, String)? {
        guard let first = line.first, first == "C" || first == "S" else { return nil }
        var idx = line.index(after: line.startIndex)
        var digits = ""
        while idx < line.endIndex, line[idx].isNumber { digits.append(line[idx]); idx = line.index(after: idx) }
        guard idx < line.endIndex else { return nil }
        let sep = line[idx]
        guard sep == ":" || (sep == "~" && first == "S") else { return nil }
        var rest = line[line.index(after: idx)...]
        if rest.hasPrefix(" ") { rest = rest.dropFirst() }
        return (sep == "~" ? "S~" : String(first), Int(digits) ?? 1, String(rest))
    }

    /// Splits on spaces, keeping `key="a b"` together (quotes removed).
    static func words(_ text: String) -> [String] {
        var out: [String] = []
        var current = ""
        var quoted = false
        for ch in text {
            if ch == "\"" { quoted.toggle(); continue }
            if ch == " ", !quoted {
                if !current.isEmpty { out.append(current); current = "" }
            } else {
                current.append(ch)
            }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    /// `17-Jul-1996 02:44:25 -0700` through the IMAP date-time grammar.
    static func dateTime(_ text: String) -> IMAPDateTime? {
        guard case .success(let c) = IMAPCommandParser.parse(Array("x APPEND INBOX \"\(text)\" {1}\r\nx".utf8)),
            case .append(let a) = c.command
        else { return nil }
        return a.date
    }
}
