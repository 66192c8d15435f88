// Tests for Configuration+Delivery.swift and ConfigParser+Delivery.swift: defaults, every [delivery] key,
// durations, next hops, routes, and the errors for bad values.
import Foundation
import Testing

@testable import PetrelConfig

@Suite struct DeliveryConfigTests {
    static let base = PetrelConfiguration.developmentDefaults(hostname: "base.test")

    static func errors(_ text: String) -> [ConfigError] {
        switch PetrelConfiguration.parse(text, base: base) {
        case .success: return []
        case .failure(let e): return e.errors
        }
    }

    @Test func defaults() {
        let d = Self.base.delivery
        #expect(d.retryIntervals == [300, 900, 1800, 3600, 7200, 14400])
        #expect(d.expire == 432_000)
        #expect(d.delayWarning == 14_400)
        #expect(d.remotePort == 25)
        #expect(d.tls == .opportunistic)
        #expect(d.smarthost == nil && d.routes.isEmpty && d.bounceCopyTo == nil)
        #expect(d.badmailPath(dataDirectory: "/var/lib/petrel") == "/var/lib/petrel/badmail")
        #expect(d.badmailPath(dataDirectory: "/data/") == "/data/badmail")
    }

    @Test func everyKeyIsApplied() throws {
        let text = """
            [delivery]
            retry_intervals = ["1s", 30, "2m"]
            expire = "2d"
            delay_warning = "0"
            max_connections = 7
            max_connections_per_domain = 2
            remote_port = 2526
            tls = "required"
            hop_limit = 12
            bounce_copy_to = "Postmaster@Example.test"
            max_returned_size = 1000
            badmail_dir = "/srv/badmail"
            badmail_max_size = 5000
            poll_interval = "2s"
            connect_timeout = 5
            command_timeout = "1m"
            data_timeout = "3m"
            smarthost = "[::1]:587"
            smarthost_username = "relay-user"
            smarthost_password = "secret"
            smarthost_tls = "opportunistic"
            smarthost_tls_verify = false
            routes = { "Example.NET" = "127.0.0.1:2600", "[192.0.2.1]" = "mx.example.org:25" }
            """
        let d = try PetrelConfiguration.parse(text, base: Self.base).get().delivery
        #expect(d.retryIntervals == [1, 30, 120])
        #expect(d.expire == 172_800)
        #expect(d.delayWarning == 0)
        #expect(d.maxConnections == 7 && d.maxConnectionsPerDomain == 2)
        #expect(d.remotePort == 2526)
        #expect(d.tls == .required)
        #expect(d.hopLimit == 12)
        #expect(d.bounceCopyTo == "Postmaster@example.test")
        #expect(d.maxReturnedSize == 1000)
        #expect(d.badmailDirectory == "/srv/badmail" && d.badmailMaxBytes == 5000)
        #expect(d.pollInterval == 2 && d.connectTimeout == 5 && d.commandTimeout == 60 && d.dataTimeout == 180)
        #expect(d.smarthost == .init(host: "::1", port: 587))
        #expect(d.smarthostUsername == "relay-user" && d.smarthostPassword == "secret")
        #expect(d.smarthostTLS == .opportunistic && d.smarthostTLSVerify == false)
        #expect(d.routes == ["example.net": .init(host: "127.0.0.1", port: 2600), "[192.0.2.1]": .init(host: "mx.example.org", port: 25)])
    }

    @Test(arguments: [
        ("retry_intervals = []", "non-empty array of durations"),
        ("retry_intervals = [\"5x\"]", "must be a duration"),
        ("retry_intervals = [\"0s\"]", "must be a duration"),
        ("expire = \"10s\"", "between 60s"),
        ("expire = \"5 d\"", "must be a duration"),
        ("delay_warning = -1", "must be a duration"),
        ("tls = \"sometimes\"", "must be one of \"none\", \"opportunistic\", \"required\""),
        ("bounce_copy_to = \"not an address\"", "must be an e-mail address"),
        ("smarthost = \"relay.example\"", "port"),
        ("smarthost = \"relay.example:0\"", "needs a port between 1 and 65535"),
        ("routes = \"x\"", "must be a table"),
        ("routes = { \"bad..domain\" = \"a:25\" }", "is not a domain name"),
        ("routes = { \"example.net\" = 25 }", "must be a \"host:port\" string"),
        ("remote_port = 0", "between 1 and 65535"),
        ("hop_limit = 0", "between 1 and 1000"),
        ("no_such_key = 1", "unknown key \"no_such_key\" in [delivery]")
    ])
    func badValuesAreReported(line: String, message: String) {
        let errors = Self.errors("[delivery]\n\(line)\n")
        #expect(errors.count == 1, "\(errors)")
        guard let error = errors.first else { return }
        #expect(error.line == 2, "\(error)")
        #expect(error.message.contains(message), "\(error.message)")
    }

    @Test func smarthostCredentialsComeInPairs() {
        let errors = Self.errors("[delivery]\nsmarthost = \"relay.example:587\"\nsmarthost_username = \"u\"\n")
        #expect(errors.count == 1)
        #expect(errors.first?.key == "delivery.smarthost_username")
        #expect(errors.first?.message.contains("must be set together") == true)
    }

    /// The grammar itself is tested in MailCoreTests/DurationTextTests; here: config keys use it (with
    /// weeks and upper-case units) and say what is wrong.
    @Test(
        arguments: [
            ("\"90\"", 90), ("90", 90), ("\"30s\"", 30), ("\"15m\"", 900), ("\"4h\"", 14_400),
            ("\"5d\"", 432_000), ("\"2w\"", 1_209_600), ("\"1W\"", 604_800), ("\"3H\"", 10_800)
        ] as [(String, Int)])
    func durations(text: String, seconds: Int) throws {
        let config = try PetrelConfiguration.parse("[delivery]\ndelay_warning = \(text)\n", base: Self.base).get()
        #expect(config.delivery.delayWarning == seconds)
    }

    @Test(arguments: [
        ("expire = \"5x\"", "unknown unit 'x'"),
        ("expire = \"9999999999d\"", "too large"),
        ("expire = \"1.5h\"", "expected a whole number"),
        ("expire = \"h\"", "expected a number"),
        ("expire = \"53w\"", "between 60s and 31536000s, got \"53w\""),
        ("retry_intervals = [\"2w\"]", "between 1s and 604800s, got \"2w\""),
        ("poll_interval = 1.5", "must be a duration such as \"30s\", \"15m\", \"4h\", \"5d\" or \"2w\"")
    ])
    func badDurations(line: String, message: String) {
        let errors = Self.errors("[delivery]\n\(line)\n")
        #expect(errors.count == 1, "\(errors)")
        #expect(errors.first?.message.contains(message) == true, "\(errors)")
        #expect(errors.first?.key?.hasPrefix("delivery.") == true, "\(errors)")
    }
}
