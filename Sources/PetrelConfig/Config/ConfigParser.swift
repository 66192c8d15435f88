/// Reads Petrel's TOML configuration (TOML v1.0.0 through TOMLKit) into `PetrelConfiguration`.
/// Every key is validated (type, range, syntax); unknown sections and keys are errors so typos are never
/// silently ignored; all problems are collected with their line numbers (see ConfigKeyLocator.swift).
/// Range floors come from RFC 5321 §4.5.3.1.4 (command line ≥ 512 octets) and §4.5.3.1.6 (text line ≥ 1000).
import Foundation
import Logging
import MailCore
import TOMLKit

extension PetrelConfiguration {
    /// Largest configuration file `load(path:)` reads.
    public static let maxConfigFileSize = 1 << 20

    /// Parses TOML text on top of `base`: keys that are absent keep their `base` value.
    /// Unknown sections/keys are errors (typos must not be silently ignored); every error is collected.
    public static func parse(
        _ text: String, base: PetrelConfiguration = .developmentDefaults()
    ) -> Result<PetrelConfiguration, ConfigErrors> {
        // NUL would end the C string TOMLKit hands to toml++; NEL/LS/PS are line breaks to toml++'s value
        // scanner but not to its array scanner (it asserts on them), so neither is allowed anywhere.
        // Then ConfigKeyLocator checks the syntax strictly before TOMLKit sees the text (see that file).
        var line = 1
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x0A: line += 1
            case 0x00:
                return .failure(ConfigErrors(errors: [ConfigError(line: line, key: nil, message: "NUL character in file")]))
            case 0x85, 0x2028, 0x2029:
                let name = "U+" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 4)
                return .failure(
                    ConfigErrors(errors: [
                        ConfigError(
                            line: line, key: nil, message: "character \(name) (a Unicode line break) is not allowed")
                    ]))
            default: break
            }
        }
        let locator = ConfigKeyLocator(text: text)
        if let bad = locator.syntaxError {
            return .failure(ConfigErrors(errors: [ConfigError(line: bad.line, key: nil, message: "TOML syntax error: \(bad.message)")]))
        }
        let root: TOMLTable
        switch parseTOML(text) {
        case .success(let table): root = table
        case .failure(let error): return .failure(ConfigErrors(errors: [error]))
        }
        var reader = ConfigReader(locator: locator, config: base)
        reader.read(root)
        reader.checkCrossFieldRules()
        if reader.errors.isEmpty { return .success(reader.config) }
        let sorted = reader.errors.enumerated().sorted { a, b in
            let (la, lb) = (a.element.line ?? Int.max, b.element.line ?? Int.max)
            return la != lb ? la < lb : a.offset < b.offset
        }.map(\.element)
        return .failure(ConfigErrors(errors: sorted))
    }

    /// TOMLKit's parse, with its error turned into a `ConfigError` carrying the line.
    private static func parseTOML(_ text: String) -> Result<TOMLTable, ConfigError> {
        do {
            return .success(try TOMLTable(string: text))
        } catch let error as TOMLParseError {
            let line = error.source.begin.line > 0 ? error.source.begin.line : nil
            return .failure(ConfigError(line: line, key: nil, message: "TOML syntax error: \(error.description)"))
        } catch {
            return .failure(ConfigError(line: nil, key: nil, message: "TOML syntax error: \(error)"))
        }
    }

    /// Reads and parses a file on top of `base`; a missing/unreadable file is a ConfigErrors with one entry.
    public static func load(
        path: String, base: PetrelConfiguration = .developmentDefaults()
    ) -> Result<PetrelConfiguration, ConfigErrors> {
        func fail(_ message: String) -> Result<PetrelConfiguration, ConfigErrors> {
            .failure(ConfigErrors(errors: [ConfigError(line: nil, key: nil, message: message)], file: path))
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            return fail(FileManager.default.fileExists(atPath: path) ? "cannot open file for reading" : "no such file")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.read(upToCount: maxConfigFileSize + 1) ?? Data()
        } catch {
            return fail("cannot read file: \(error.localizedDescription)")
        }
        guard data.count <= maxConfigFileSize else { return fail("file is larger than \(maxConfigFileSize) bytes") }
        guard let text = String(data: data, encoding: .utf8) else { return fail("file is not valid UTF-8") }
        return parse(text, base: base).mapError { ConfigErrors(errors: $0.errors, file: path) }
    }
}

/// Walks the parsed TOML tables, applying and validating each known key.
struct ConfigReader {
    let locator: ConfigKeyLocator
    var config: PetrelConfiguration
    var errors: [ConfigError] = []
    /// Dotted keys that failed validation (cross-field rules skip them).
    private var failedKeys: Set<String> = []
    /// Dotted keys that were present in the text.
    private var seenKeys: Set<String> = []

    init(locator: ConfigKeyLocator, config: PetrelConfiguration) {
        self.locator = locator
        self.config = config
    }

    /// Sets a key from a TOML value: returns nil on success or the error message.
    typealias Apply = @Sendable (inout PetrelConfiguration, any TOMLValueConvertible) -> String?

    static let sections: [String: [String: Apply]] = [
        "server": [
            "hostname": { c, v in assign(hostname(v)) { c.server.hostname = $0 } },
            "data_dir": { c, v in assign(directory(v)) { c.server.dataDirectory = $0 } },
            "shutdown_deadline": { c, v in assign(integer(v, 0...3600)) { c.server.shutdownDeadline = $0 } },
            "node_id": { c, v in assign(nodeID(v)) { c.server.nodeID = $0 } },
            "event_loops": { c, v in assign(integer(v, 1...256)) { c.server.eventLoops = $0 } }
        ],
        "queue": [
            "lease_seconds": { c, v in assign(leaseSeconds(v)) { c.queue.leaseSeconds = $0 } }
        ],
        "smtp":
            ([
                "listen": { c, v in assign(listeners(v)) { c.smtp.listen = $0 } },
                "plaintext_auth_listen": { c, v in assign(listeners(v)) { c.smtp.plaintextAuthListen = $0 } },
                "max_message_size": { c, v in assign(integer(v, 1024...2_147_483_647)) { c.smtp.maxMessageSize = $0 } },
                "max_recipients": { c, v in assign(integer(v, 1...100_000)) { c.smtp.maxRecipients = $0 } },
                "max_messages_per_connection": { c, v in assign(integer(v, 1...1_000_000)) { c.smtp.maxMessagesPerConnection = $0 } },
                "max_errors": { c, v in assign(integer(v, 1...1000)) { c.smtp.maxErrors = $0 } },
                "max_command_line_length": { c, v in assign(integer(v, 512...65536)) { c.smtp.maxCommandLineLength = $0 } },
                "max_text_line_length": { c, v in assign(integer(v, 1000...1_048_576)) { c.smtp.maxTextLineLength = $0 } },
                "max_session_bytes": { c, v in assign(integer(v, 0...Int.max)) { c.smtp.maxSessionBytes = Int64($0) } },
                "max_connections": { c, v in assign(integer(v, 1...1_000_000)) { c.smtp.maxConnections = $0 } },
                "max_connections_per_ip": { c, v in assign(integer(v, 1...1_000_000)) { c.smtp.maxConnectionsPerIP = $0 } },
                "command_timeout": { c, v in assign(integer(v, 1...86400)) { c.smtp.commandTimeout = $0 } },
                "data_timeout": { c, v in assign(integer(v, 1...86400)) { c.smtp.dataTimeout = $0 } }
            ] as [String: Apply]).merging(accessSMTPKeys) { a, _ in a },
        "relay": relayKeys,
        "dns": dnsKeys,
        "submission": [
            "listen": { c, v in assign(listeners(v)) { c.submission.listen = $0 } },
            "tls_listen": { c, v in assign(listeners(v)) { c.submission.tlsListen = $0 } },
            "plaintext_auth_listen": { c, v in assign(listeners(v)) { c.submission.plaintextAuthListen = $0 } },
            "require_sender_match": { c, v in assign(boolean(v)) { c.submission.requireSenderMatch = $0 } }
        ],
        "pop3": [
            "listen": { c, v in assign(listeners(v)) { c.pop3.listen = $0 } },
            "tls_listen": { c, v in assign(listeners(v)) { c.pop3.tlsListen = $0 } },
            "plaintext_auth_listen": { c, v in assign(listeners(v)) { c.pop3.plaintextAuthListen = $0 } },
            "idle_timeout": { c, v in assign(integer(v, 1...86400)) { c.pop3.idleTimeout = $0 } },
            "lock_lease": { c, v in assign(integer(v, 3...3600)) { c.pop3.lockLease = $0 } },
            "max_connections": { c, v in assign(integer(v, 1...1_000_000)) { c.pop3.maxConnections = $0 } },
            "max_connections_per_ip": { c, v in assign(integer(v, 1...1_000_000)) { c.pop3.maxConnectionsPerIP = $0 } },
            "max_session_bytes": { c, v in assign(sessionByteCap(v)) { c.pop3.maxSessionBytes = Int64($0) } }
        ],
        "imap": [
            "listen": { c, v in assign(listeners(v)) { c.imap.listen = $0 } },
            "tls_listen": { c, v in assign(listeners(v)) { c.imap.tlsListen = $0 } },
            "plaintext_auth_listen": { c, v in assign(listeners(v)) { c.imap.plaintextAuthListen = $0 } },
            "idle_timeout": { c, v in assign(integer(v, 1...86400)) { c.imap.idleTimeout = $0 } },
            "max_connections": { c, v in assign(integer(v, 1...1_000_000)) { c.imap.maxConnections = $0 } },
            "compress": { c, v in assign(boolean(v)) { c.imap.compress = $0 } },
            "max_connections_per_ip": { c, v in assign(integer(v, 1...1_000_000)) { c.imap.maxConnectionsPerIP = $0 } }
        ],
        "tls": [
            "certificate": { c, v in assign(filePath(v)) { c.tls.certificate = $0 } },
            "private_key": { c, v in assign(filePath(v)) { c.tls.privateKey = $0 } }
        ],
        "auth": [
            "allow_plaintext": { c, v in assign(boolean(v)) { c.auth.allowPlaintext = $0 } },
            "plaintext_networks": { c, v in assign(networks(v)) { c.auth.plaintextNetworks = $0 } },
            "max_failures": { c, v in assign(integer(v, 1...100)) { c.auth.maxFailures = $0 } },
            "failure_delay": { c, v in assign(integer(v, 0...60_000)) { c.auth.failureDelay = $0 } },
            "max_failure_delay": { c, v in assign(integer(v, 0...600_000)) { c.auth.maxFailureDelay = $0 } },
            "max_concurrent_logins_per_ip": { c, v in assign(integer(v, 0...10_000)) { c.auth.maxConcurrentLoginsPerIP = $0 } },
            "max_concurrent_logins_per_account": { c, v in
                assign(integer(v, 0...10_000)) { c.auth.maxConcurrentLoginsPerAccount = $0 }
            }
        ],
        "admin": [
            "listen": { c, v in assign(adminListener(v)) { c.admin.listen = $0 } }
        ],
        "log": [
            "level": { c, v in assign(logLevel(v)) { c.log.level = $0 } },
            "format": { c, v in assign(logFormat(v)) { c.log.format = $0 } }
        ],
        "delivery": deliveryKeys,
        "authentication": authenticationKeys,
        "accounts": accountsKeys,
        "ldap": ldapKeys,
        "autoconfig": autoconfigKeys,
        "store": storeKeys
    ]

    static let sectionOrder = [
        "server", "smtp", "submission", "pop3", "imap", "tls", "auth", "relay", "dns", "log", "admin", "delivery", "queue", "authentication",
        "accounts",
        "ldap",
        "autoconfig", "store"
    ]

    mutating func read(_ root: TOMLTable) {
        for (name, value) in root {
            guard let keys = Self.sections[name] else {
                let known = Self.sectionOrder.joined(separator: ", ")
                if value.table != nil {
                    fail(name, "unknown section [\(name)] (known sections: \(known))")
                } else {
                    fail(name, "unknown key \"\(name)\" outside any section (known sections: \(known))")
                }
                continue
            }
            guard let table = value.table else {
                fail(name, "must be a section ([\(name)]), got \(Self.describe(value))")
                continue
            }
            for (key, keyValue) in table {
                let dotted = "\(name).\(key)"
                guard let apply = keys[key] else {
                    let known = keys.keys.sorted().joined(separator: ", ")
                    fail(dotted, "unknown key \"\(key)\" in [\(name)] (known keys: \(known))")
                    continue
                }
                seenKeys.insert(dotted)
                if let message = apply(&config, keyValue) { fail(dotted, message) }
            }
        }
    }

    /// Rules between keys, checked after each key's own validation.
    mutating func checkCrossFieldRules() {
        // [delivery]: smarthost credentials come in pairs.
        let delivery = config.delivery
        if (delivery.smarthostUsername == nil) != (delivery.smarthostPassword == nil),
            !failedKeys.contains("delivery.smarthost_username"), !failedKeys.contains("delivery.smarthost_password")
        {
            let key = delivery.smarthostUsername == nil ? "delivery.smarthost_password" : "delivery.smarthost_username"
            fail(key, "delivery.smarthost_username and delivery.smarthost_password must be set together")
        }
        let smtp = config.smtp
        if smtp.maxSessionBytes != 0, smtp.maxSessionBytes < Int64(smtp.maxMessageSize),
            !failedKeys.contains("smtp.max_session_bytes"), !failedKeys.contains("smtp.max_message_size")
        {
            let key = seenKeys.contains("smtp.max_session_bytes") ? "smtp.max_session_bytes" : "smtp.max_message_size"
            fail(
                key,
                "smtp.max_session_bytes (\(smtp.maxSessionBytes)) must be 0 (unlimited) or at least smtp.max_message_size (\(smtp.maxMessageSize))")
        }
        checkAccountRules(seen: seenKeys, failed: failedKeys)
        // A certificate needs its key and the other way round.
        if (config.tls.certificate == nil) != (config.tls.privateKey == nil),
            !failedKeys.contains("tls.certificate"), !failedKeys.contains("tls.private_key")
        {
            let key = config.tls.certificate == nil ? "tls.private_key" : "tls.certificate"
            fail(key, "tls.certificate and tls.private_key must be set together")
        }
        if config.auth.maxFailureDelay < config.auth.failureDelay,
            !failedKeys.contains("auth.failure_delay"), !failedKeys.contains("auth.max_failure_delay")
        {
            let key = seenKeys.contains("auth.max_failure_delay") ? "auth.max_failure_delay" : "auth.failure_delay"
            fail(key, "auth.max_failure_delay (\(config.auth.maxFailureDelay)) must be at least auth.failure_delay (\(config.auth.failureDelay))")
        }
        // The same address and port cannot be bound twice, within or across services.
        var owner: [PetrelConfiguration.Listener: String] = [:]
        for (key, list) in [
            ("smtp.listen", config.smtp.listen), ("submission.listen", config.submission.listen),
            ("submission.tls_listen", config.submission.tlsListen), ("pop3.listen", config.pop3.listen),
            ("pop3.tls_listen", config.pop3.tlsListen), ("admin.listen", config.admin.listen.map { [$0] } ?? []),
            ("smtp.plaintext_auth_listen", config.smtp.plaintextAuthListen),
            ("submission.plaintext_auth_listen", config.submission.plaintextAuthListen),
            ("pop3.plaintext_auth_listen", config.pop3.plaintextAuthListen),
            ("imap.listen", config.imap.listen), ("imap.tls_listen", config.imap.tlsListen),
            ("imap.plaintext_auth_listen", config.imap.plaintextAuthListen),
            ("autoconfig.listen", config.autoconfig.enabled ? config.autoconfig.listen : [])
        ]
        where !failedKeys.contains(key) {
            for listener in list where listener.port != 0 {
                if let other = owner[listener] {
                    let reportOn = seenKeys.contains(key) ? key : other
                    let alsoIn = reportOn == key ? other : key
                    fail(reportOn, "\(listener) is listed more than once (also in \(alsoIn))")
                } else {
                    owner[listener] = key
                }
            }
        }
    }

    mutating func fail(_ dottedKey: String, _ message: String) {
        failedKeys.insert(dottedKey)
        errors.append(ConfigError(line: locator.line(for: dottedKey), key: dottedKey, message: message))
    }

    // MARK: - Value readers (each returns the value or a message)

    static func assign<T>(_ result: Result<T, ValueError>, _ set: (T) -> Void) -> String? {
        switch result {
        case .success(let value): set(value); return nil
        case .failure(let error): return error.message
        }
    }

    struct ValueError: Error { var message: String }

    /// How a value appears in messages: strings quoted, everything else as TOML writes it.
    static func describe(_ value: any TOMLValueConvertible) -> String {
        if let s = value.string { return quoted(s) }
        switch value.type {
        case .table: return "a table"
        case .array: return "an array"
        default: return String(value.debugDescription.prefix(80))
        }
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars.prefix(200) {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + (s.unicodeScalars.count > 200 ? "…\"" : "\"")
    }

    static func integer(_ value: any TOMLValueConvertible, _ range: ClosedRange<Int>) -> Result<Int, ValueError> {
        let expected =
            range.upperBound == Int.max
            ? "must be an integer of at least \(range.lowerBound)"
            : "must be an integer between \(range.lowerBound) and \(range.upperBound)"
        guard value.type == .int, let n = value.int, range.contains(n) else {
            return .failure(ValueError(message: "\(expected), got \(describe(value))"))
        }
        return .success(n)
    }

    /// A per-session byte cap: 0 (unlimited) or at least 4096 octets (below that a normal session breaks).
    static func sessionByteCap(_ value: any TOMLValueConvertible) -> Result<Int, ValueError> {
        guard value.type == .int, let n = value.int, n == 0 || n >= 4096 else {
            return .failure(ValueError(message: "must be 0 (unlimited) or an integer of at least 4096, got \(describe(value))"))
        }
        return .success(n)
    }

    static func string(_ value: any TOMLValueConvertible) -> Result<String, ValueError> {
        guard let s = value.string else { return .failure(ValueError(message: "must be a string, got \(describe(value))")) }
        return .success(s)
    }

    /// node_id = 1*64( ALPHA / DIGIT / "." / "_" / "-" ) (MailCore `NodeID`).
    static func nodeID(_ value: any TOMLValueConvertible) -> Result<String, ValueError> {
        string(value).flatMap { s in
            guard NodeID.isValid(s) else {
                return .failure(
                    ValueError(
                        message: "must be 1 to \(NodeID.maxLength) letters, digits, '.', '_' or '-' (unique per node), got \(quoted(s))"))
            }
            return .success(s)
        }
    }

    /// lease_seconds: an integer of seconds in `Queue.leaseRange`.
    static func leaseSeconds(_ value: any TOMLValueConvertible) -> Result<Int, ValueError> {
        let range = PetrelConfiguration.Queue.leaseRange
        guard value.type == .int, let seconds = value.int, range.contains(seconds) else {
            return .failure(
                ValueError(
                    message: "must be an integer of seconds between \(range.lowerBound) and \(range.upperBound) "
                        + "(how long a node owns the queue entries it claimed), got \(describe(value))"))
        }
        return .success(seconds)
    }

    /// hostname = Domain (RFC 5321 §4.1.2), stored lower-cased.
    static func hostname(_ value: any TOMLValueConvertible) -> Result<String, ValueError> {
        string(value).flatMap { s in
            guard let name = MailboxSyntax.normalizeDomain(s) else {
                return .failure(ValueError(message: "must be a domain name such as \"mail.example.com\", got \(quoted(s))"))
            }
            return .success(name)
        }
    }

    static func directory(_ value: any TOMLValueConvertible) -> Result<String, ValueError> {
        string(value).flatMap { s in
            guard !s.isEmpty else { return .failure(ValueError(message: "must be a non-empty directory path")) }
            guard !s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                return .failure(ValueError(message: "must not contain control characters, got \(quoted(s))"))
            }
            return .success(s)
        }
    }

    static func boolean(_ value: any TOMLValueConvertible) -> Result<Bool, ValueError> {
        guard value.type == .bool, let b = value.bool else {
            return .failure(ValueError(message: "must be true or false, got \(describe(value))"))
        }
        return .success(b)
    }

    /// A file path (not checked for existence here: `serve` reports a missing file when it loads it).
    static func filePath(_ value: any TOMLValueConvertible) -> Result<String, ValueError> {
        directory(value).mapError { ValueError(message: $0.message.replacingOccurrences(of: "directory path", with: "file path")) }
    }

    /// listen = array of listen-address strings (see ConfigListener.swift); an empty array disables the service.
    static func listeners(_ value: any TOMLValueConvertible) -> Result<[PetrelConfiguration.Listener], ValueError> {
        let items: [any TOMLValueConvertible]
        if let array = value.array {
            items = Array(array)
        } else if value.string != nil {
            items = [value] // a single "host:port" is accepted as a one-element list
        } else {
            return .failure(ValueError(message: "must be an array of \"host:port\" strings, got \(describe(value))"))
        }
        var result: [PetrelConfiguration.Listener] = []
        var problems: [String] = []
        for (index, item) in items.enumerated() {
            guard let text = item.string else {
                problems.append("item \(index + 1) must be a \"host:port\" string, got \(describe(item))")
                continue
            }
            switch PetrelConfiguration.Listener.parse(text) {
            case .success(let listener):
                if listener.port != 0, result.contains(listener) {
                    problems.append("\(quoted(text)) is listed twice")
                } else {
                    result.append(listener)
                }
            case .failure(let error):
                problems.append("\(quoted(text)): \(error.reason)")
            }
        }
        guard problems.isEmpty else { return .failure(ValueError(message: problems.joined(separator: "; "))) }
        return .success(result)
    }

    /// admin.listen = "" (disabled) or one loopback "host:port": the endpoint has no authentication, so it
    /// must never be reachable from another host.
    static func adminListener(_ value: any TOMLValueConvertible) -> Result<PetrelConfiguration.Listener?, ValueError> {
        string(value).flatMap { s in
            if s.isEmpty { return .success(nil) }
            switch PetrelConfiguration.Listener.parse(s) {
            case .failure(let error): return .failure(ValueError(message: "\(quoted(s)): \(error.reason)"))
            case .success(let listener):
                guard listener.isLoopback else {
                    return .failure(
                        ValueError(
                            message:
                                "must be a loopback address (127.0.0.1, ::1 or localhost; the admin endpoint has no authentication) or \"\" to disable it, got \(quoted(s))"
                        ))
                }
                return .success(listener)
            }
        }
    }

    /// level = "trace" / "debug" / "info" / "notice" / "warning" / "error" / "critical" (case-insensitive)
    static func logLevel(_ value: any TOMLValueConvertible) -> Result<Logger.Level, ValueError> {
        let names = Logger.Level.allCases.map(\.rawValue)
        let expected = "must be one of " + names.map { "\"\($0)\"" }.joined(separator: ", ")
        guard let s = value.string else { return .failure(ValueError(message: "\(expected), got \(describe(value))")) }
        guard let level = Logger.Level(rawValue: s.lowercased()) else {
            return .failure(ValueError(message: "\(expected), got \(quoted(s))"))
        }
        return .success(level)
    }

    /// format = "text" / "json" (case-insensitive)
    static func logFormat(_ value: any TOMLValueConvertible) -> Result<PetrelConfiguration.Log.Format, ValueError> {
        let expected = "must be \"text\" or \"json\""
        guard let s = value.string else { return .failure(ValueError(message: "\(expected), got \(describe(value))")) }
        guard let format = PetrelConfiguration.Log.Format(rawValue: s.lowercased()) else {
            return .failure(ValueError(message: "\(expected), got \(quoted(s))"))
        }
        return .success(format)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
