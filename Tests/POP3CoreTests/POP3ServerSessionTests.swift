import POP3Core
import Testing

/// The outcome class of one command, for the state × command table.
enum Outcome: Hashable, Sendable {
    case ok, err, continuation, authenticate, commit
}

func outcome(_ actions: [POP3ServerAction]) -> Outcome? {
    guard let first = actions.first else { return nil }
    switch first {
    case .send(let bytes):
        if bytes.starts(with: Array("+OK".utf8)) { return .ok }
        if bytes.starts(with: Array("-ERR".utf8)) { return .err }
        if bytes.starts(with: Array("+ ".utf8)) { return .continuation }
        return nil
    case .authenticate: return .authenticate
    case .commitDeletions: return .commit
    default: return nil
    }
}

@Suite struct POP3ServerSessionTests {
    // MARK: - State × command table

    static let authorizationTable: [(String, Outcome)] = [
        ("USER alice@example.test", .ok), ("PASS secret", .err), ("QUIT", .ok), ("CAPA", .ok),
        ("STAT", .err), ("LIST", .err), ("LIST 1", .err), ("RETR 1", .err), ("DELE 1", .err), ("NOOP", .err),
        ("RSET", .err), ("TOP 1 0", .err), ("UIDL", .err), ("UIDL 1", .err),
        ("AUTH", .err), ("AUTH PLAIN", .continuation), ("AUTH CRAM-MD5", .err),
        ("AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm", .authenticate), ("AUTH PLAIN !!!!", .err),
        ("APOP mrose c4c9334bac560ecc979e58001b3e22fb", .err), ("STLS", .err), ("XYZZ", .err), ("", .err)
    ]

    @Test(arguments: authorizationTable)
    func authorizationState(line: String, expected: Outcome) {
        var harness = SessionHarness()
        #expect(outcome(harness.line(line)) == expected)
    }

    static let afterUserTable: [(String, Outcome)] = [
        ("PASS secret", .authenticate), ("PASS pass with spaces", .authenticate), ("USER bob@example.test", .ok),
        ("QUIT", .ok), ("STAT", .err), ("CAPA", .ok)
    ]

    @Test(arguments: afterUserTable)
    func authorizationStateAfterUser(line: String, expected: Outcome) {
        var harness = SessionHarness()
        _ = harness.line("USER alice@example.test")
        #expect(outcome(harness.line(line)) == expected)
    }

    static let transactionTable: [(String, Outcome)] = [
        ("USER alice@example.test", .err), ("PASS secret", .err), ("AUTH PLAIN", .err), ("AUTH", .err),
        ("APOP a b", .err), ("STLS", .err), ("XYZZ", .err),
        ("STAT", .ok), ("LIST", .ok), ("LIST 1", .ok), ("LIST 3", .ok), ("LIST 4", .err), ("LIST 0", .err),
        ("RETR 1", .ok), ("RETR 4", .err), ("RETR x", .err), ("DELE 1", .ok), ("DELE 9", .err),
        ("NOOP", .ok), ("RSET", .ok), ("TOP 1 0", .ok), ("TOP 4 0", .err), ("UIDL", .ok), ("UIDL 2", .ok),
        ("UIDL 0", .err), ("CAPA", .ok), ("QUIT", .commit)
    ]

    @Test(arguments: transactionTable)
    func transactionState(line: String, expected: Outcome) {
        var harness = SessionHarness.loggedIn()
        #expect(harness.session.state == .transaction)
        #expect(outcome(harness.line(line)) == expected)
    }

    @Test(arguments: ["STAT", "LIST", "RETR 1", "QUIT", "USER a", "CAPA", "NOOP"])
    func updateStateReadsNoLines(line: String) {
        var harness = SessionHarness.loggedIn()
        _ = harness.line("QUIT")
        #expect(harness.session.state == .update)
        #expect(harness.line(line).isEmpty)
    }

    // MARK: - Full dialogs

    @Test func fullDialog() {
        var h = SessionHarness()
        // Greeting was sent by the harness; a second .connected is ignored.
        #expect(h.handle(.connected).isEmpty)
        #expect(steps(h.line("USER alice@example.test")) == [.send("+OK Send PASS\r\n")])
        #expect(steps(h.line("PASS secret")) == [.authenticate("alice@example.test", "secret")])
        #expect(h.session.isAwaitingAnswer)
        #expect(
            steps(h.handle(.authenticated(.success(mailboxID: 7, maildrop: SessionHarness.entries))))
                == [.send("+OK Logged in, maildrop has 3 messages (600 octets)\r\n")])
        #expect(h.session.state == .transaction)
        #expect(h.session.mailboxID == 7)
        #expect(h.session.username == "alice@example.test")
        #expect(wire(h.line("STAT")) == "+OK 3 600\r\n")
        #expect(wire(h.line("LIST")) == "+OK 3 messages (600 octets)\r\n1 100\r\n2 200\r\n3 300\r\n.\r\n")
        #expect(wire(h.line("UIDL")) == "+OK Unique-ID listing follows\r\n1 10\r\n2 11\r\n3 15\r\n.\r\n")

        // RETR: +OK, then the adapter streams the message through the encoder.
        #expect(steps(h.line("RETR 1")) == [.send("+OK 100 octets\r\n"), .sendMessage(10, nil)])
        #expect(h.session.isAwaitingAnswer)
        #expect(h.line("NOOP").isEmpty) // adapter must buffer; a stray line is ignored
        #expect(h.handle(.messageSent(true)).isEmpty)
        #expect(!h.session.isAwaitingAnswer)

        #expect(steps(h.line("TOP 2 5")) == [.send("+OK Top of message follows\r\n"), .sendMessage(11, 5)])
        _ = h.handle(.messageSent(true))

        #expect(wire(h.line("DELE 1")) == "+OK Message 1 deleted\r\n")
        #expect(wire(h.line("DELE 1")) == "-ERR Message 1 already deleted\r\n")
        #expect(wire(h.line("RETR 1")) == "-ERR No such message\r\n")
        #expect(wire(h.line("TOP 1 0")) == "-ERR No such message\r\n")
        #expect(wire(h.line("LIST 1")) == "-ERR No such message\r\n")
        #expect(wire(h.line("UIDL 1")) == "-ERR No such message\r\n")
        #expect(wire(h.line("STAT")) == "+OK 2 500\r\n")
        #expect(wire(h.line("LIST")) == "+OK 2 messages (500 octets)\r\n2 200\r\n3 300\r\n.\r\n")
        #expect(wire(h.line("UIDL")) == "+OK Unique-ID listing follows\r\n2 11\r\n3 15\r\n.\r\n")
        #expect(wire(h.line("LIST 3")) == "+OK 3 300\r\n")
        #expect(wire(h.line("UIDL 3")) == "+OK 3 15\r\n")

        #expect(wire(h.line("RSET")) == "+OK Maildrop has 3 messages (600 octets)\r\n")
        #expect(wire(h.line("STAT")) == "+OK 3 600\r\n")
        #expect(wire(h.line("NOOP")) == "+OK\r\n")

        _ = h.line("DELE 3")
        _ = h.line("DELE 2")
        #expect(steps(h.line("QUIT")) == [.commit([11, 15])])
        #expect(h.session.state == .update)
        #expect(h.session.isAwaitingAnswer)
        #expect(!h.session.isClosed)
        #expect(
            steps(h.handle(.updateFinished(true)))
                == [.send("+OK Petrel POP3 server signing off (1 messages left)\r\n"), .release, .close])
        #expect(h.session.isClosed)
        #expect(h.line("STAT").isEmpty)
        #expect(h.handle(.timeout).isEmpty)
    }

    @Test func greeting() {
        var session = POP3ServerSession(configuration: SessionHarness.configuration())
        #expect(session.state == .authorization)
        #expect(!session.isClosed)
        #expect(steps(session.handle(.connected)) == [.send("+OK Petrel POP3 server ready\r\n")])
    }

    @Test func quitWithoutDeletionsCommitsEmptyList() {
        var h = SessionHarness.loggedIn()
        #expect(steps(h.line("QUIT")) == [.commit([])])
        #expect(
            steps(h.handle(.updateFinished(true)))
                == [.send("+OK Petrel POP3 server signing off (3 messages left)\r\n"), .release, .close])
    }

    @Test func failedUpdateReportsAndCloses() {
        var h = SessionHarness.loggedIn()
        _ = h.line("DELE 1")
        #expect(steps(h.line("QUIT")) == [.commit([10])])
        #expect(
            steps(h.handle(.updateFinished(false)))
                == [.send("-ERR [SYS/TEMP] Some deleted messages not removed\r\n"), .release, .close])
    }

    @Test func quitInAuthorizationClosesWithoutUpdate() {
        var h = SessionHarness()
        _ = h.line("USER alice@example.test")
        #expect(steps(h.line("QUIT")) == [.send("+OK Petrel POP3 server signing off\r\n"), .close])
        #expect(h.session.isClosed)
        #expect(h.session.state == .authorization)
    }

    @Test func droppedSessionNeverCommits() {
        // The adapter just stops calling the session: nothing it returned asked for a commit.
        var h = SessionHarness.loggedIn()
        var all: [POP3ServerAction] = []
        all += h.line("DELE 1")
        all += h.line("DELE 2")
        all += h.line("RETR 3")
        all += h.handle(.messageSent(true))
        #expect(!all.contains { if case .commitDeletions = $0 { return true } else { return false } })
        #expect(!h.session.isClosed)
    }

    @Test func timeoutInTransactionReleasesWithoutCommit() {
        var h = SessionHarness.loggedIn()
        _ = h.line("DELE 1")
        #expect(
            steps(h.handle(.timeout))
                == [.send("-ERR Autologout timer expired, closing connection\r\n"), .release, .close])
        #expect(h.handle(.updateFinished(true)).isEmpty)
    }

    @Test func timeoutInAuthorizationCloses() {
        var h = SessionHarness()
        #expect(steps(h.handle(.timeout)) == [.send("-ERR Autologout timer expired, closing connection\r\n"), .close])
    }

    @Test func timeoutDuringMessageClosesWithoutWriting() {
        var h = SessionHarness.loggedIn()
        _ = h.line("RETR 1")
        #expect(steps(h.handle(.timeout)) == [.release, .close])
    }

    @Test func timeoutDuringUpdateWaitsForTheCommit() {
        var h = SessionHarness.loggedIn()
        _ = h.line("QUIT")
        #expect(h.handle(.timeout).isEmpty)
        #expect(steps(h.handle(.updateFinished(true))).last == .close)
    }

    @Test func lateSuccessAfterCloseReleasesTheLock() {
        var h = SessionHarness()
        _ = h.line("USER alice@example.test")
        _ = h.line("PASS secret")
        #expect(steps(h.handle(.timeout)).last == .close)
        #expect(steps(h.handle(.authenticated(.success(mailboxID: 1, maildrop: [])))) == [.release])
        #expect(h.handle(.authenticated(.invalidCredentials)).isEmpty)
    }

    @Test func failedMessageReadReleasesAndCloses() {
        var h = SessionHarness.loggedIn()
        _ = h.line("DELE 2")
        _ = h.line("RETR 1")
        #expect(steps(h.handle(.messageSent(false))) == [.release, .close])
        #expect(h.session.isClosed)
    }

    @Test func unexpectedAnswersAreIgnored() {
        var h = SessionHarness()
        #expect(h.handle(.authenticated(.success(mailboxID: 1, maildrop: []))).isEmpty)
        #expect(h.handle(.messageSent(true)).isEmpty)
        #expect(h.handle(.updateFinished(true)).isEmpty)
        #expect(h.session.state == .authorization)
        var t = SessionHarness.loggedIn()
        #expect(t.handle(.authenticated(.invalidCredentials)).isEmpty)
        #expect(t.handle(.messageSent(false)).isEmpty)
        #expect(t.handle(.updateFinished(false)).isEmpty)
        #expect(!t.session.isClosed)
        #expect(wire(t.line("STAT")) == "+OK 3 600\r\n")
    }

    @Test func lineTooLongClosesTheSession() {
        var h = SessionHarness()
        #expect(h.handle(.lineTooLong) == [.send(Array("-ERR Line too long, closing connection\r\n".utf8)), .close])
        #expect(h.session.isClosed)
    }

    @Test func lineTooLongInTransactionReleasesTheMaildrop() {
        var t = SessionHarness.loggedIn()
        #expect(t.handle(.lineTooLong) == [.send(Array("-ERR Line too long, closing connection\r\n".utf8)), .releaseMaildrop, .close])
    }

    @Test func sessionByteLimitCloses() {
        var h = SessionHarness()
        #expect(h.handle(.sessionByteLimitExceeded) == [.send(Array("-ERR Session byte limit exceeded, closing connection\r\n".utf8)), .close])
        #expect(h.session.isClosed)
        var t = SessionHarness.loggedIn()
        #expect(t.handle(.sessionByteLimitExceeded).suffix(2) == [.releaseMaildrop, .close])
    }

    @Test func lineLimitAccessors() {
        var h = SessionHarness()
        #expect(h.session.mayAuthenticate && !h.session.isAwaitingSASLResponse && !h.session.isAwaitingTLS)
        _ = h.line("AUTH PLAIN")
        #expect(h.session.isAwaitingSASLResponse)
        let t = SessionHarness.loggedIn()
        #expect(!t.session.mayAuthenticate)
    }

    @Test func tooManyErrorsCloses() {
        var configuration = SessionHarness.configuration()
        configuration.maxErrors = 3
        var h = SessionHarness.loggedIn(SessionHarness.entries, configuration)
        #expect(wire(h.line("BOGUS")) == "-ERR Unknown command\r\n")
        #expect(wire(h.line("RETR")) == "-ERR RETR requires a message number\r\n")
        // "No such message" is an answer, not a protocol error.
        _ = h.line("RETR 99")
        #expect(steps(h.line("USER x")) == [.send("-ERR Too many errors, closing connection\r\n"), .release, .close])
        #expect(h.session.isClosed)
    }

    @Test func emptyMaildrop() {
        var h = SessionHarness.loggedIn([])
        #expect(wire(h.line("STAT")) == "+OK 0 0\r\n")
        #expect(wire(h.line("LIST")) == "+OK 0 messages (0 octets)\r\n.\r\n")
        #expect(wire(h.line("UIDL")) == "+OK Unique-ID listing follows\r\n.\r\n")
        #expect(wire(h.line("RETR 1")) == "-ERR No such message\r\n")
        #expect(steps(h.line("QUIT")) == [.commit([])])
        #expect(wire(h.handle(.updateFinished(true))) == "+OK Petrel POP3 server signing off (0 messages left)\r\n")
    }

    @Test func capabilities() {
        var h = SessionHarness()
        let expected =
            "+OK Capability list follows\r\nTOP\r\nUIDL\r\nUSER\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nSASL PLAIN LOGIN\r\nIMPLEMENTATION Petrel\r\n.\r\n"
        #expect(wire(h.line("CAPA")) == expected)
        var t = SessionHarness.loggedIn()
        #expect(wire(t.line("capa")) == expected) // RFC 2449 §5: same list in both states
    }

    @Test func capabilitiesWithoutPlaintextAndWithTLS() {
        var h = SessionHarness(SessionHarness.configuration(plaintext: false, tls: true))
        #expect(
            wire(h.line("CAPA"))
                == "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nSTLS\r\nIMPLEMENTATION Petrel\r\n.\r\n"
        )
    }

    @Test func configurationDefaults() {
        let configuration = POP3ServerConfiguration(hostname: "h")
        #expect(configuration.hostname == "h")
        #expect(configuration.maxCommandLineLength == 255)
        #expect(configuration.maxAuthLineLength == 12288)
        #expect(configuration.allowPlaintextAuth)
        #expect(!configuration.tlsAvailable)
        #expect(!configuration.implicitTLS)
        #expect(configuration.maxAuthFailures == 3)
        #expect(configuration.maxErrors == 10)
    }

    /// Random lines and events in every state never crash the session.
    @Test func randomInputNeverCrashes() {
        var rng = SplitMix(seed: 0x5EED)
        let words = [
            "USER", "PASS", "QUIT", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL", "CAPA",
            "AUTH", "PLAIN", "STLS", "APOP", "*", "=", "0", "1", "2", "3", "-1", "99999999999999999999", "."
        ]
        for _ in 0..<300 {
            var h = rng.next() % 2 == 0 ? SessionHarness() : SessionHarness.loggedIn()
            for _ in 0..<30 {
                switch rng.next() % 10 {
                case 0:
                    let bytes = (0..<Int(rng.next() % 12)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                    _ = h.handle(.line(bytes))
                case 1:
                    let events: [POP3ServerEvent] = [
                        .lineTooLong, .timeout, .messageSent(true), .messageSent(false), .updateFinished(true),
                        .updateFinished(false), .authenticated(.success(mailboxID: 1, maildrop: SessionHarness.entries)),
                        .authenticated(.invalidCredentials), .authenticated(.inUse), .connected
                    ]
                    _ = h.handle(events[Int(rng.next() % UInt64(events.count))])
                default:
                    let count = Int(rng.next() % 4)
                    let line = (0..<count).map { _ in words[Int(rng.next() % UInt64(words.count))] }.joined(separator: " ")
                    _ = h.line(line)
                }
                if h.session.isClosed {
                    // Once closed, nothing but a late lock release ever comes out.
                    let after = steps(h.handle(.line(Array("STAT".utf8))) + h.handle(.timeout) + h.handle(.lineTooLong))
                    #expect(after.isEmpty)
                    break
                }
            }
        }
    }
}

/// A small deterministic generator (SplitMix64) for the random-input tests of this target.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
