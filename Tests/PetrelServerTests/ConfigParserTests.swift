// Tests for ConfigParser.swift: every key applied, every key's bad value reported with its line and key,
// unknown sections/keys, syntax errors, several errors at once, and load(path:).
import Foundation
import Logging
import MailTestSupport
import Testing

@testable import PetrelConfig
@testable import PetrelServer

@Suite struct ConfigParserTests {
    static let base = PetrelConfiguration.developmentDefaults(hostname: "base.test")

    static func errors(_ text: String) -> [ConfigError] {
        switch PetrelConfiguration.parse(text, base: base) {
        case .success: return []
        case .failure(let e): return e.errors
        }
    }

    @Test func everyKeyIsApplied() throws {
        let text = """
            [server]
            hostname = "MX1.Example.ORG"
            data_dir = "/var/lib/petrel"
            shutdown_deadline = 5

            [smtp]
            listen = ["0.0.0.0:25", "[::]:25"]
            max_message_size = 10485760
            max_recipients = 500
            max_messages_per_connection = 20
            max_errors = 3
            max_command_line_length = 1024
            max_text_line_length = 2000
            max_session_bytes = 0
            max_connections = 500
            max_connections_per_ip = 7
            command_timeout = 600
            data_timeout = 240

            [submission]
            listen = ["0.0.0.0:587"]
            tls_listen = ["0.0.0.0:465", "[::]:465"]
            require_sender_match = false

            [pop3]
            listen = ["[::1]:110", "127.0.0.1:110"]
            tls_listen = ["[::1]:995"]
            idle_timeout = 900
            max_connections = 50
            max_connections_per_ip = 3
            max_session_bytes = 65536

            [tls]
            certificate = "/etc/petrel/fullchain.pem"
            private_key = "/etc/petrel/privkey.pem"

            [auth]
            allow_plaintext = true
            max_failures = 5
            failure_delay = 250
            max_failure_delay = 8000

            [log]
            level = "Debug"
            format = "json"

            [admin]
            listen = "[::1]:8025"
            """
        let c = try PetrelConfiguration.parse(text, base: Self.base).get()
        #expect(c.server == .init(hostname: "mx1.example.org", dataDirectory: "/var/lib/petrel", shutdownDeadline: 5))
        #expect(
            c.smtp
                == .init(
                    listen: [.init(host: "0.0.0.0", port: 25), .init(host: "::", port: 25)],
                    maxMessageSize: 10_485_760, maxRecipients: 500, maxMessagesPerConnection: 20, maxErrors: 3,
                    maxCommandLineLength: 1024, maxTextLineLength: 2000, maxSessionBytes: 0, maxConnections: 500,
                    commandTimeout: 600, dataTimeout: 240, maxConnectionsPerIP: 7))
        #expect(
            c.submission
                == .init(
                    listen: [.init(host: "0.0.0.0", port: 587)],
                    tlsListen: [.init(host: "0.0.0.0", port: 465), .init(host: "::", port: 465)],
                    requireSenderMatch: false))
        var pop3 = PetrelConfiguration.POP3(
            listen: [.init(host: "::1", port: 110), .init(host: "127.0.0.1", port: 110)],
            idleTimeout: 900, maxConnections: 50, maxConnectionsPerIP: 3)
        pop3.tlsListen = [.init(host: "::1", port: 995)]
        pop3.maxSessionBytes = 65536
        #expect(c.pop3 == pop3)
        #expect(Self.base.pop3.maxSessionBytes == 10_485_760, "the default")
        #expect(c.tls == .init(certificate: "/etc/petrel/fullchain.pem", privateKey: "/etc/petrel/privkey.pem"))
        #expect(c.auth == .init(allowPlaintext: true, maxFailures: 5, failureDelay: 250, maxFailureDelay: 8000))
        #expect(c.log == .init(level: .debug, format: .json))
        #expect(c.admin == .init(listen: .init(host: "::1", port: 8025)))
    }

    /// Issue 13: the bound of logins in flight, safe defaults (8 per IP, 4 per account), 0 = no bound.
    @Test func concurrentLoginBounds() throws {
        let defaults = try PetrelConfiguration.parse("", base: Self.base).get()
        #expect(defaults.auth.maxConcurrentLoginsPerIP == 8)
        #expect(defaults.auth.maxConcurrentLoginsPerAccount == 4)
        let c = try PetrelConfiguration.parse(
            "[auth]\nmax_concurrent_logins_per_ip = 2\nmax_concurrent_logins_per_account = 0\n",
            base: Self.base
        ).get()
        #expect(c.auth.maxConcurrentLoginsPerIP == 2)
        #expect(c.auth.maxConcurrentLoginsPerAccount == 0)
    }

    /// Issue 16: the node id and the queue lease (docs/QUEUE.md "Leases").
    @Test func nodeIDAndLease() throws {
        let defaults = try PetrelConfiguration.parse("", base: Self.base).get()
        #expect(defaults.server.nodeID == nil, "generated at start")
        #expect(defaults.queue.leaseSeconds == 300)
        let c = try PetrelConfiguration.parse("[server]\nnode_id = \"mx1.example_2\"\n[queue]\nlease_seconds = 30\n", base: Self.base).get()
        #expect(c.server.nodeID == "mx1.example_2")
        #expect(c.queue.leaseSeconds == 30)
    }

    /// The event loops: automatic (half the cores, at least one) unless set; 1–256.
    @Test func eventLoops() throws {
        let defaults = try PetrelConfiguration.parse("", base: Self.base).get()
        #expect(defaults.server.eventLoops == nil)
        #expect([1, 2, 3, 4, 16, 64].map { defaults.server.eventLoopCount(cores: $0) } == [1, 1, 1, 2, 8, 32])
        let c = try PetrelConfiguration.parse("[server]\nevent_loops = 3\n", base: Self.base).get()
        #expect(c.server.eventLoops == 3)
        #expect(c.server.eventLoopCount(cores: 2) == 3)
        #expect(c.server.eventLoopCount(cores: 64) == 3)
    }

    @Test func absentKeysKeepTheBase() throws {
        let c = try PetrelConfiguration.parse("[smtp]\nmax_errors = 4\n", base: Self.base).get()
        var expected = Self.base
        expected.smtp.maxErrors = 4
        #expect(c == expected)
    }

    @Test func dottedKeysAndInlineTablesWork() throws {
        let c = try PetrelConfiguration.parse(
            "smtp.max_errors = 5\nlog = { level = \"error\" }\n", base: Self.base
        ).get()
        #expect(c.smtp.maxErrors == 5)
        #expect(c.log.level == .error)
    }

    /// `[imap]`: every key, the development defaults (2143 / 2993, 30 minutes) and the production template.
    @Test func imapKeys() throws {
        #expect(Self.base.imap.listen == [.init(host: "127.0.0.1", port: 2143)])
        #expect(Self.base.imap.tlsListen == [.init(host: "127.0.0.1", port: 2993)])
        #expect(Self.base.imap.idleTimeout == 1800)
        #expect(Self.base.imap.compress)
        let text = """
            [imap]
            listen = ["0.0.0.0:143"]
            tls_listen = ["[::]:993"]
            plaintext_auth_listen = ["10.0.0.1:143"]
            idle_timeout = 2400
            max_connections = 20
            max_connections_per_ip = 4
            compress = false
            """
        let c = try PetrelConfiguration.parse(text, base: Self.base).get()
        var imap = PetrelConfiguration.IMAP(listen: [.init(host: "0.0.0.0", port: 143)], tlsListen: [.init(host: "::", port: 993)])
        imap.plaintextAuthListen = [.init(host: "10.0.0.1", port: 143)]
        imap.idleTimeout = 2400
        imap.maxConnections = 20
        imap.maxConnectionsPerIP = 4
        imap.compress = false
        #expect(c.imap == imap)
        let production = try PetrelConfiguration.parse(
            ProductionConfig.render(hostname: "mail.example.test", dataDirectory: "/var/lib/petrel"), base: Self.base
        ).get()
        #expect(production.imap.listen == [.init(host: "0.0.0.0", port: 143)])
        #expect(production.imap.tlsListen == [.init(host: "0.0.0.0", port: 993)])
        // One address, one key: an IMAP port may not repeat a POP3 one.
        let clash = Self.errors("[pop3]\nlisten = [\"127.0.0.1:2143\"]\n")
        #expect(clash.contains { $0.message.contains("127.0.0.1:2143 is listed more than once") }, "\(clash)")
    }

    @Test func emptyListenDisablesAService() throws {
        let c = try PetrelConfiguration.parse("[submission]\nlisten = []\n", base: Self.base).get()
        #expect(c.submission.listen.isEmpty)
    }

    /// (section, key, bad TOML value, expected message fragment)
    static let badValues: [(String, String, String, String)] = [
        ("server", "hostname", "\"bad host!\"", "must be a domain name"),
        ("server", "hostname", "\"\"", "must be a domain name"),
        ("server", "hostname", "42", "must be a string, got 42"),
        ("server", "data_dir", "\"\"", "non-empty"),
        ("server", "data_dir", "[\"a\"]", "must be a string, got an array"),
        ("server", "shutdown_deadline", "3601", "between 0 and 3600, got 3601"),
        ("server", "node_id", "\"mx 1\"", "must be 1 to 64 letters, digits, '.', '_' or '-' (unique per node), got \"mx 1\""),
        ("server", "node_id", "\"\"", "must be 1 to 64 letters, digits, '.', '_' or '-'"),
        ("server", "node_id", "7", "must be a string, got 7"),
        ("server", "event_loops", "0", "must be an integer between 1 and 256, got 0"),
        ("server", "event_loops", "257", "must be an integer between 1 and 256, got 257"),
        ("server", "event_loops", "\"auto\"", "must be an integer between 1 and 256, got \"auto\""),
        (
            "queue", "lease_seconds", "2",
            "must be an integer of seconds between 3 and 86400 (how long a node owns the queue entries it claimed), got 2"
        ),
        ("queue", "lease_seconds", "\"5m\"", "between 3 and 86400"),
        ("queue", "lease_seconds", "86401", "between 3 and 86400"),
        ("smtp", "listen", "[\"127.0.0.1\"]", "missing \":port\""),
        ("smtp", "listen", "[\"127.0.0.1:70000\"]", "port must be a number between 0 and 65535"),
        ("smtp", "listen", "[\"::1:25\"]", "IPv6 addresses must be in brackets"),
        ("smtp", "listen", "[25]", "item 1 must be a \"host:port\" string, got 25"),
        ("smtp", "listen", "25", "must be an array of \"host:port\" strings, got 25"),
        ("smtp", "max_message_size", "\"abc\"", "must be an integer between 1024 and 2147483647, got \"abc\""),
        ("smtp", "max_message_size", "1023", "must be an integer between 1024 and 2147483647, got 1023"),
        ("smtp", "max_message_size", "1.5", "must be an integer between 1024 and 2147483647, got 1.5"),
        ("smtp", "max_recipients", "0", "between 1 and 100000, got 0"),
        ("smtp", "max_messages_per_connection", "-1", "between 1 and 1000000, got -1"),
        ("smtp", "max_errors", "true", "between 1 and 1000, got true"),
        ("smtp", "max_command_line_length", "511", "between 512 and 65536, got 511"),
        ("smtp", "max_text_line_length", "999", "between 1000 and 1048576, got 999"),
        ("smtp", "max_session_bytes", "-5", "must be an integer of at least 0, got -5"),
        ("smtp", "max_connections", "0", "between 1 and 1000000, got 0"),
        ("smtp", "max_connections_per_ip", "0", "between 1 and 1000000, got 0"),
        ("smtp", "command_timeout", "0", "between 1 and 86400, got 0"),
        ("smtp", "data_timeout", "86401", "between 1 and 86400, got 86401"),
        ("submission", "listen", "[\"[::1]\"]", "missing \":port\" after \"]\""),
        ("pop3", "listen", "[\"host name:110\"]", "without spaces"),
        ("imap", "listen", "[\"127.0.0.1\"]", "missing \":port\""),
        ("imap", "tls_listen", "993", "must be an array of \"host:port\" strings, got 993"),
        ("imap", "idle_timeout", "0", "between 1 and 86400, got 0"),
        ("imap", "max_connections", "0", "between 1 and 1000000, got 0"),
        ("imap", "max_connections_per_ip", "1000001", "between 1 and 1000000, got 1000001"),
        ("pop3", "idle_timeout", "\"10m\"", "between 1 and 86400, got \"10m\""),
        ("pop3", "max_connections", "1000001", "between 1 and 1000000, got 1000001"),
        ("pop3", "max_connections_per_ip", "-3", "between 1 and 1000000, got -3"),
        ("pop3", "max_session_bytes", "100", "must be 0 (unlimited) or an integer of at least 4096, got 100"),
        ("pop3", "max_session_bytes", "\"10M\"", "must be 0 (unlimited) or an integer of at least 4096, got \"10M\""),
        ("submission", "tls_listen", "[\"127.0.0.1\"]", "missing \":port\" (write \"host:port\")"),
        ("submission", "tls_listen", "[\"127.0.0.1:465\", \"127.0.0.1:465\"]", "\"127.0.0.1:465\" is listed twice"),
        ("submission", "tls_listen", "465", "must be an array of \"host:port\" strings, got 465"),
        ("submission", "require_sender_match", "\"yes\"", "must be true or false, got \"yes\""),
        ("submission", "require_sender_match", "\"true\"", "must be true or false, got \"true\""),
        ("submission", "require_sender_match", "1", "must be true or false, got 1"),
        ("pop3", "tls_listen", "[\"[::1]:99999\"]", "port must be a number between 0 and 65535, got \"99999\""),
        ("pop3", "tls_listen", "[\"::1:995\"]", "IPv6 addresses must be in brackets"),
        ("pop3", "tls_listen", "[995]", "item 1 must be a \"host:port\" string, got 995"),
        ("tls", "certificate", "\"\"", "must be a non-empty file path"),
        ("tls", "certificate", "42", "must be a string, got 42"),
        ("tls", "certificate", "true", "must be a string, got true"),
        ("tls", "private_key", "\"key\\tfile.pem\"", "must not contain control characters, got \"key\\tfile.pem\""),
        ("tls", "private_key", "[\"k.pem\"]", "must be a string, got an array"),
        ("auth", "allow_plaintext", "\"false\"", "must be true or false, got \"false\""),
        ("auth", "allow_plaintext", "0", "must be true or false, got 0"),
        ("auth", "max_failures", "0", "must be an integer between 1 and 100, got 0"),
        ("auth", "max_failures", "101", "must be an integer between 1 and 100, got 101"),
        ("auth", "max_failures", "true", "must be an integer between 1 and 100, got true"),
        ("auth", "failure_delay", "-1", "must be an integer between 0 and 60000, got -1"),
        ("auth", "failure_delay", "60001", "must be an integer between 0 and 60000, got 60001"),
        ("auth", "failure_delay", "\"1s\"", "must be an integer between 0 and 60000, got \"1s\""),
        ("auth", "max_failure_delay", "-1", "must be an integer between 0 and 600000, got -1"),
        ("auth", "max_failure_delay", "600001", "must be an integer between 0 and 600000, got 600001"),
        ("auth", "failure_delay", "0.5", "must be an integer between 0 and 60000, got 0.5"),
        ("auth", "max_concurrent_logins_per_ip", "-1", "must be an integer between 0 and 10000, got -1"),
        ("auth", "max_concurrent_logins_per_ip", "10001", "must be an integer between 0 and 10000, got 10001"),
        ("auth", "max_concurrent_logins_per_account", "\"4\"", "must be an integer between 0 and 10000, got \"4\""),
        ("log", "level", "\"verbose\"", "must be one of \"trace\""),
        ("log", "level", "3", "must be one of"),
        ("log", "format", "\"xml\"", "must be \"text\" or \"json\", got \"xml\"")
    ]

    @Test(arguments: badValues)
    func badValueIsReportedWithLineAndKey(_ bad: (String, String, String, String)) {
        let (section, key, value, fragment) = bad
        // Line 1 comment, 2 blank, 3 header, 4 comment, 5 the key.
        let text = "# test\n\n[\(section)]\n# the bad key follows\n\(key) = \(value)\n"
        let errors = Self.errors(text)
        #expect(errors.count == 1, "\(errors)")
        guard let error = errors.first else { return }
        #expect(error.line == 5)
        #expect(error.key == "\(section).\(key)")
        #expect(error.description.contains(fragment) || error.message.contains(fragment), "\(error)")
        #expect(error.description.hasPrefix("line 5: \(section).\(key): "))
    }

    @Test func unknownSectionIsAnErrorWithItsLine() {
        let errors = Self.errors("[server]\nhostname = \"a.test\"\n\n[smtpp]\nmax_errors = 3\n")
        #expect(
            errors == [
                ConfigError(
                    line: 4, key: "smtpp",
                    message: "unknown section [smtpp] (known sections: \(ConfigReader.sectionOrder.joined(separator: ", ")))")
            ])
    }

    @Test func unknownKeyIsAnErrorWithItsLine() {
        let errors = Self.errors("[smtp]\nmax_errors = 3\nmax_eror = 4\n")
        #expect(errors.count == 1)
        #expect(errors.first?.line == 3)
        #expect(errors.first?.key == "smtp.max_eror")
        #expect(errors.first?.message.hasPrefix("unknown key \"max_eror\" in [smtp]") == true)
    }

    @Test func unknownTopLevelKeyAndSubtableAreErrors() {
        let errors = Self.errors("hostname = \"x\"\n[smtp.tls]\ncert = \"a\"\n[pop3]\nlisten = []\n")
        #expect(errors.map(\.key) == ["hostname", "smtp.tls"])
        #expect(errors.map(\.line) == [1, 2])
    }

    @Test func sectionGivenAsAValueIsAnError() {
        let errors = Self.errors("log = \"debug\"\n")
        #expect(errors == [ConfigError(line: 1, key: "log", message: "must be a section ([log]), got \"debug\"")])
    }

    @Test(arguments: [
        ("[smtp]\nmax_errors = \n", 2),
        ("[server]\nhostname = \"unterminated\n", 2),
        ("[smtp\n", 1),
        ("[log]\nlevel = \"info\"\nlevel = \"debug\"\n", 3),
        ("\n\n\n[pop3]\nlisten = [\"a:1\",\n  \"b:2\"\n  idle = 3\n", 7)
    ])
    func syntaxErrorCarriesItsLine(_ text: String, _ line: Int) {
        let errors = Self.errors(text)
        #expect(errors.count == 1)
        #expect(errors.first?.line == line, "\(errors)")
        #expect(errors.first?.key == nil)
        #expect(errors.first?.message.hasPrefix("TOML syntax error: ") == true)
    }

    @Test func nulCharacterIsRejectedWithItsLine() {
        let errors = Self.errors("[smtp]\nmax_errors = 3\u{0}\n")
        #expect(errors == [ConfigError(line: 2, key: nil, message: "NUL character in file")])
    }

    @Test func severalErrorsAreReportedAtOnceInLineOrder() {
        let text = """
            [smtp]
            max_recipients = 0
            bogus = 1
            listen = ["127.0.0.1:99999"]
            [pop3]
            idle_timeout = "x"
            [log]
            format = "yaml"
            """
        let errors = Self.errors(text)
        #expect(errors.map(\.line) == [2, 3, 4, 6, 8])
        #expect(errors.map(\.key) == ["smtp.max_recipients", "smtp.bogus", "smtp.listen", "pop3.idle_timeout", "log.format"])
    }

    @Test func sessionBytesBelowMessageSizeIsAnError() {
        let errors = Self.errors("[smtp]\nmax_message_size = 2048\nmax_session_bytes = 1024\n")
        #expect(errors.count == 1)
        #expect(errors.first?.key == "smtp.max_session_bytes")
        #expect(errors.first?.line == 3)
    }

    @Test func certificateWithoutPrivateKeyIsAnErrorOnItsLine() {
        let errors = Self.errors("[server]\nhostname = \"a.test\"\n\n[tls]\n# only half\ncertificate = \"/etc/petrel/cert.pem\"\n")
        #expect(
            errors == [
                ConfigError(
                    line: 6, key: "tls.certificate",
                    message: "tls.certificate and tls.private_key must be set together")
            ])
    }

    @Test func privateKeyWithoutCertificateIsAnErrorOnItsLine() {
        let errors = Self.errors("[tls]\n\nprivate_key = \"/etc/petrel/key.pem\"\n")
        #expect(
            errors == [
                ConfigError(
                    line: 3, key: "tls.private_key",
                    message: "tls.certificate and tls.private_key must be set together")
            ])
    }

    @Test func certificateAndPrivateKeyTogetherAreAccepted() throws {
        let c = try PetrelConfiguration.parse("[tls]\ncertificate = \"c.pem\"\nprivate_key = \"k.pem\"\n", base: Self.base).get()
        #expect(c.tls == .init(certificate: "c.pem", privateKey: "k.pem"))
    }

    @Test func invalidTLSPathIsReportedAloneNotAlsoAsAMissingPair() {
        // The bad certificate is not applied, but that must not also report "set together" for the key.
        let errors = Self.errors("[tls]\ncertificate = \"\"\nprivate_key = \"k.pem\"\n")
        #expect(errors.map(\.key) == ["tls.certificate"])
        #expect(errors.map(\.line) == [2])
    }

    @Test func maxFailureDelayBelowFailureDelayIsAnErrorOnItsLine() {
        let errors = Self.errors("[auth]\nfailure_delay = 5000\n# the cap\nmax_failure_delay = 4000\n")
        #expect(
            errors == [
                ConfigError(
                    line: 4, key: "auth.max_failure_delay",
                    message: "auth.max_failure_delay (4000) must be at least auth.failure_delay (5000)")
            ])
    }

    @Test func failureDelayAboveTheDefaultCapIsReportedOnTheKeyThatWasSet() {
        // Only failure_delay is in the file: the error points at it, not at the absent max_failure_delay.
        let raised = Self.errors("[auth]\n\nfailure_delay = 40000\n")
        #expect(
            raised == [
                ConfigError(
                    line: 3, key: "auth.failure_delay",
                    message: "auth.max_failure_delay (30000) must be at least auth.failure_delay (40000)")
            ])
        let lowered = Self.errors("[auth]\nmax_failure_delay = 999\n")
        #expect(
            lowered == [
                ConfigError(
                    line: 2, key: "auth.max_failure_delay",
                    message: "auth.max_failure_delay (999) must be at least auth.failure_delay (1000)")
            ])
    }

    @Test func equalOrZeroFailureDelaysAreAccepted() throws {
        let equal = try PetrelConfiguration.parse("[auth]\nfailure_delay = 2000\nmax_failure_delay = 2000\n", base: Self.base).get()
        #expect((equal.auth.failureDelay, equal.auth.maxFailureDelay) == (2000, 2000))
        let zero = try PetrelConfiguration.parse("[auth]\nfailure_delay = 0\nmax_failure_delay = 0\n", base: Self.base).get()
        #expect((zero.auth.failureDelay, zero.auth.maxFailureDelay) == (0, 0))
    }

    @Test func invalidFailureDelayIsReportedAloneNotAlsoAgainstTheCap() {
        let errors = Self.errors("[auth]\nfailure_delay = -1\nmax_failure_delay = 10\n")
        #expect(errors.map(\.key) == ["auth.failure_delay"])
        #expect(errors.first?.message == "must be an integer between 0 and 60000, got -1")
    }

    @Test func sameListenerTwiceIsAnError() {
        let inOneList = Self.errors("[smtp]\nlisten = [\"127.0.0.1:25\", \"127.0.0.1:25\"]\n")
        #expect(inOneList.first?.key == "smtp.listen")
        #expect(inOneList.first?.message.contains("listed twice") == true)
        let across = Self.errors("[smtp]\nlisten = [\"127.0.0.1:25\"]\n[pop3]\nlisten = [\"127.0.0.1:25\"]\n")
        #expect(across.count == 1)
        #expect(across.first?.key == "pop3.listen")
        #expect(across.first?.line == 4)
        #expect(across.first?.message.contains("also in smtp.listen") == true)
    }

    @Test func sameListenerOnTheSTARTTLSAndTheImplicitTLSPortIsAnError() {
        let errors = Self.errors("[submission]\nlisten = [\"127.0.0.1:465\"]\ntls_listen = [\"127.0.0.1:465\"]\n")
        #expect(
            errors == [
                ConfigError(
                    line: 3, key: "submission.tls_listen",
                    message: "127.0.0.1:465 is listed more than once (also in submission.listen)")
            ])
    }

    @Test func tlsListenClashingWithADefaultIsReportedOnTheKeyInTheFile() {
        // pop3.tls_listen takes the default submission.tls_listen address: the error is on pop3.tls_listen.
        let later = Self.errors("[pop3]\ntls_listen = [\"127.0.0.1:2465\"]\n")
        #expect(
            later == [
                ConfigError(
                    line: 2, key: "pop3.tls_listen",
                    message: "127.0.0.1:2465 is listed more than once (also in submission.tls_listen)")
            ])
        // submission.tls_listen (checked first) takes the default pop3.tls_listen address: still on the key in the file.
        let earlier = Self.errors("[submission]\n\ntls_listen = [\"127.0.0.1:2995\"]\n")
        #expect(earlier.count == 1)
        #expect(earlier.first?.key == "submission.tls_listen")
        #expect(earlier.first?.line == 3)
        // The message names the other key, not the one the error is reported on.
        #expect(earlier.first?.message == "127.0.0.1:2995 is listed more than once (also in pop3.tls_listen)")
    }

    @Test func portZeroMayBeListedMoreThanOnce() throws {
        let any = PetrelConfiguration.Listener(host: "127.0.0.1", port: 0)
        let inOneList = try PetrelConfiguration.parse("[smtp]\nlisten = [\"127.0.0.1:0\", \"127.0.0.1:0\"]\n", base: Self.base).get()
        #expect(inOneList.smtp.listen == [any, any])

        let text = """
            [smtp]
            listen = ["127.0.0.1:0"]
            [submission]
            listen = ["127.0.0.1:0"]
            tls_listen = ["127.0.0.1:0", "127.0.0.1:0"]
            [pop3]
            listen = ["127.0.0.1:0"]
            tls_listen = ["127.0.0.1:0"]
            """
        let across = try PetrelConfiguration.parse(text, base: Self.base).get()
        #expect(across.smtp.listen == [any])
        #expect(across.submission.listen == [any])
        #expect(across.submission.tlsListen == [any, any])
        #expect(across.pop3.listen == [any])
        #expect(across.pop3.tlsListen == [any])
    }

    @Test func configErrorsDescriptionNamesTheFile() {
        let errors = ConfigErrors(
            errors: [
                ConfigError(line: 12, key: "smtp.max_message_size", message: "must be an integer"),
                ConfigError(line: nil, key: nil, message: "no such file")
            ], file: "/etc/petrel.toml")
        #expect(
            errors.description == """
                /etc/petrel.toml: line 12: smtp.max_message_size: must be an integer
                /etc/petrel.toml: no such file
                """)
    }

    @Test func loadReportsAMissingFile() {
        let path = "/nonexistent-\(UUID().uuidString)/petrel.toml"
        guard case .failure(let errors) = PetrelConfiguration.load(path: path) else {
            Issue.record("expected failure")
            return
        }
        #expect(errors.file == path)
        #expect(errors.errors == [ConfigError(line: nil, key: nil, message: "no such file")])
    }

    @Test func loadReadsAFileAndTagsErrorsWithIt() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("good.toml").path
        try "[smtp]\nmax_errors = 7\n".write(toFile: good, atomically: true, encoding: .utf8)
        #expect(try PetrelConfiguration.load(path: good, base: Self.base).get().smtp.maxErrors == 7)

        let bad = dir.appendingPathComponent("bad.toml").path
        try "[smtp]\nmax_errors = 0\n".write(toFile: bad, atomically: true, encoding: .utf8)
        guard case .failure(let errors) = PetrelConfiguration.load(path: bad) else {
            Issue.record("expected failure")
            return
        }
        #expect(errors.file == bad)
        #expect(errors.errors.first?.line == 2)
        #expect(errors.description.hasPrefix("\(bad): line 2: smtp.max_errors: "))

        let binary = dir.appendingPathComponent("binary.toml").path
        try Data([0xFF, 0xFE, 0x00]).write(to: URL(fileURLWithPath: binary))
        guard case .failure(let binaryErrors) = PetrelConfiguration.load(path: binary) else {
            Issue.record("expected failure")
            return
        }
        #expect(binaryErrors.errors.first?.message == "file is not valid UTF-8")

        guard case .failure(let directoryErrors) = PetrelConfiguration.load(path: dir.path) else {
            Issue.record("expected failure for a directory")
            return
        }
        #expect(directoryErrors.errors.count == 1)
        #expect(directoryErrors.errors.first?.line == nil)

        let big = dir.appendingPathComponent("big.toml").path
        try Data(repeating: UInt8(ascii: "#"), count: PetrelConfiguration.maxConfigFileSize + 1).write(to: URL(fileURLWithPath: big))
        guard case .failure(let bigErrors) = PetrelConfiguration.load(path: big) else {
            Issue.record("expected failure for a big file")
            return
        }
        #expect(bigErrors.errors.first?.message == "file is larger than 1048576 bytes")
    }
}

@Suite struct ConfigParserHostileInputTests {
    @Test(arguments: [
        String(repeating: "[", count: 100_000),
        "a = " + String(repeating: "[", count: 100_000),
        "a = " + String(repeating: "{b=", count: 50_000),
        String(repeating: "[smtp]\n", count: 1000),
        "\u{FEFF}[smtp]\nmax_errors = 3\n",
        String(repeating: "x", count: 100_000),
        // Inputs found by fuzzing toml++ 3.4 (TOMLKit 0.6.0): each one trips an assertion in parse_key.
        "[=[ae n \":1\"]\nx = {a=0}\n",
        "[%sm[tml",
        "[# Pp",
        "[\u{8}]\nlistne confexa.]\n",
        "[/t`p]",
        "[[[",
        "[ [a]]",
        "[[ #x]]",
        "\u{FEFF}[=]",
        "[smtp]\nmax_errors = 3\n[.]\n",
        "a = [1, }",
        "a = [\u{2028}1]",
        "a = [\u{85}]",
        "a = [\u{2029}",
        "a = [ {b = [ } ] } ]"
    ])
    func hostileTextGivesErrorsOrAConfigNotACrash(_ text: String) {
        switch PetrelConfiguration.parse(text, base: .developmentDefaults(hostname: "h.test")) {
        case .success(let config): #expect(config.server.hostname == "h.test")
        case .failure(let errors): #expect(!errors.errors.isEmpty)
        }
    }
}

@Suite struct ConfigParserSyntaxTests {
    @Test func malformedHeaderIsASyntaxErrorWithItsLine() {
        let errors = ConfigParserTests.errors("[smtp]\nmax_errors = 3\n\n[=oops]\n")
        #expect(
            errors == [
                ConfigError(
                    line: 4, key: nil,
                    message: "TOML syntax error: a table header must start with a key, e.g. [smtp]")
            ])
    }

    @Test func closingBraceInAnArrayIsASyntaxErrorWithItsLine() {
        let errors = ConfigParserTests.errors("[smtp]\nlisten = [\n  \"a:1\",\n  }\n]\n")
        #expect(errors == [ConfigError(line: 4, key: nil, message: "TOML syntax error: expected a value, saw \"}\"")])
    }

    @Test func unicodeLineBreaksAreRejectedWithTheirLine() {
        let errors = ConfigParserTests.errors("[server]\n\ndata_dir = \"a\u{2028}b\"\n")
        #expect(errors == [ConfigError(line: 3, key: nil, message: "character U+2028 (a Unicode line break) is not allowed")])
    }

    @Test func anEarlierSyntaxErrorIsReportedFirst() {
        let errors = ConfigParserTests.errors("[smtp]\nmax_errors = = 3\n[#]\n")
        #expect(errors.count == 1)
        #expect(errors.first?.line == 2)
    }

    /// Random byte mutations of the example file must give a configuration or errors, never a crash
    /// (a toml++ assertion would abort the test process).
    @Test func randomMutationsNeverCrash() throws {
        let seedText = try String(contentsOfFile: ConfigurationTests.exampleFilePath, encoding: .utf8)
        // From the first section header on, so the seed is TOML keys and values rather than the header comment.
        let firstSection = seedText.range(of: "\n[")?.upperBound ?? seedText.startIndex
        let seed = Array(seedText[seedText.index(before: firstSection)...].utf8.prefix(1500))
        let alphabet = Array("[]{}=\"'#.,\n \t\\abc019-_:".utf8)
        var rng = SplitMix64(seed: 0x5EED)
        var parsedOK = 0
        for _ in 0..<3000 {
            var bytes = seed
            for _ in 0..<Int(rng.next() % 8 + 1) {
                guard !bytes.isEmpty else { break }
                let position = Int(rng.next() % UInt64(bytes.count))
                let byte = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                switch rng.next() % 3 {
                case 0: bytes[position] = byte
                case 1: bytes.insert(byte, at: position)
                default: bytes.remove(at: position)
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            if case .success = PetrelConfiguration.parse(text, base: .developmentDefaults(hostname: "h.test")) { parsedOK += 1 }
        }
        #expect(parsedOK < 3000)
    }
}
