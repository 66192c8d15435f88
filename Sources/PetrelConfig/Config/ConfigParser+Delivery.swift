/// The `[delivery]` keys (see Configuration+Delivery.swift) and their value readers: durations
/// (MailCore's `DurationText`: "30s", "15m", "4h", "5d", "2w" or an integer of seconds), next hops
/// ("host:port"), TLS policies, routes.
import MailCore
import TOMLKit

extension ConfigReader {
    static let deliveryKeys: [String: Apply] = [
        "retry_intervals": { c, v in assign(durations(v)) { c.delivery.retryIntervals = $0 } },
        "expire": { c, v in assign(duration(v, 60...(365 * 86400))) { c.delivery.expire = $0 } },
        "delay_warning": { c, v in assign(duration(v, 0...(365 * 86400))) { c.delivery.delayWarning = $0 } },
        "max_connections": { c, v in assign(integer(v, 1...10_000)) { c.delivery.maxConnections = $0 } },
        "max_connections_per_domain": { c, v in assign(integer(v, 1...1000)) { c.delivery.maxConnectionsPerDomain = $0 } },
        "remote_port": { c, v in assign(integer(v, 1...65535)) { c.delivery.remotePort = $0 } },
        "tls": { c, v in assign(outboundTLS(v)) { c.delivery.tls = $0 } },
        "hop_limit": { c, v in assign(integer(v, 1...1000)) { c.delivery.hopLimit = $0 } },
        "bounce_copy_to": { c, v in assign(optionalAddress(v)) { c.delivery.bounceCopyTo = $0 } },
        "max_returned_size": { c, v in assign(integer(v, 0...1_073_741_824)) { c.delivery.maxReturnedSize = $0 } },
        "badmail_dir": { c, v in assign(directory(v)) { c.delivery.badmailDirectory = $0 } },
        "badmail_max_size": { c, v in assign(integer(v, 0...Int.max)) { c.delivery.badmailMaxBytes = Int64($0) } },
        "poll_interval": { c, v in assign(duration(v, 1...3600)) { c.delivery.pollInterval = $0 } },
        "connect_timeout": { c, v in assign(duration(v, 1...3600)) { c.delivery.connectTimeout = $0 } },
        "command_timeout": { c, v in assign(duration(v, 1...3600)) { c.delivery.commandTimeout = $0 } },
        "data_timeout": { c, v in assign(duration(v, 1...7200)) { c.delivery.dataTimeout = $0 } },
        "smarthost": { c, v in assign(optionalNextHop(v)) { c.delivery.smarthost = $0 } },
        "smarthost_username": { c, v in assign(string(v)) { c.delivery.smarthostUsername = $0.isEmpty ? nil : $0 } },
        "smarthost_password": { c, v in assign(string(v)) { c.delivery.smarthostPassword = $0.isEmpty ? nil : $0 } },
        "smarthost_tls": { c, v in assign(outboundTLS(v)) { c.delivery.smarthostTLS = $0 } },
        "smarthost_tls_verify": { c, v in assign(boolean(v)) { c.delivery.smarthostTLSVerify = $0 } },
        "routes": { c, v in assign(routes(v)) { c.delivery.routes = $0 } },
        "pickup_dir": { c, v in assign(string(v)) { c.delivery.pickupDirectory = $0.isEmpty ? nil : $0 } }
    ]

    /// A duration: a string in the `DurationText` grammar of MailCore
    /// (duration = 1*18DIGIT [ "s" / "m" / "h" / "d" / "w" ], unit case-insensitive, no spaces), or a
    /// TOML integer of seconds; then checked against `range`. The message says what is wrong.
    static func duration(_ value: any TOMLValueConvertible, _ range: ClosedRange<Int>) -> Result<Int, ValueError> {
        let expected = "must be a duration such as \(DurationText.examples) (or seconds) between \(range.lowerBound)s and \(range.upperBound)s"
        let seconds: Int
        if value.type == .int, let int = value.int {
            seconds = int
        } else if let text = value.string {
            do {
                seconds = try DurationText.parse(text)
            } catch {
                return .failure(ValueError(message: "\(expected), got \(describe(value)): \(error.reason)"))
            }
        } else {
            return .failure(ValueError(message: "\(expected), got \(describe(value))"))
        }
        guard range.contains(seconds) else {
            return .failure(ValueError(message: "\(expected), got \(describe(value))"))
        }
        return .success(seconds)
    }

    /// retry_intervals = non-empty array of durations (each 1 s to 7 days).
    static func durations(_ value: any TOMLValueConvertible) -> Result<[Int], ValueError> {
        guard let array = value.array, !array.isEmpty, array.count <= 100 else {
            return .failure(ValueError(message: "must be a non-empty array of durations such as [\"5m\", \"30m\", \"4h\"], got \(describe(value))"))
        }
        var result: [Int] = []
        for item in array {
            switch duration(item, 1...(7 * 86400)) {
            case .success(let seconds): result.append(seconds)
            case .failure(let error): return .failure(error)
            }
        }
        return .success(result)
    }

    static func outboundTLS(_ value: any TOMLValueConvertible) -> Result<PetrelConfiguration.OutboundTLS, ValueError> {
        let names = PetrelConfiguration.OutboundTLS.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
        guard let text = value.string, let policy = PetrelConfiguration.OutboundTLS(rawValue: text) else {
            return .failure(ValueError(message: "must be one of \(names), got \(describe(value))"))
        }
        return .success(policy)
    }

    /// A mailbox (RFC 5321 Mailbox) or "" for none.
    static func optionalAddress(_ value: any TOMLValueConvertible) -> Result<String?, ValueError> {
        string(value).flatMap { text in
            if text.isEmpty { return .success(nil) }
            guard let address = EmailAddress(text) else {
                return .failure(ValueError(message: "must be an e-mail address such as \"postmaster@example.com\" or \"\", got \(quoted(text))"))
            }
            return .success(address.description)
        }
    }

    /// next-hop = host-port (MailCore `HostPort.parse`: host:port, IPv6 in brackets), port ≥ 1.
    static func nextHop(_ text: String) -> Result<PetrelConfiguration.NextHop, ValueError> {
        switch HostPort.parse(text) {
        case .success(let hop) where hop.port > 0:
            return .success(hop)
        case .success:
            return .failure(ValueError(message: "needs a port between 1 and 65535, got \(quoted(text))"))
        case .failure(let error):
            return .failure(ValueError(message: "\(error.reason)"))
        }
    }

    static func optionalNextHop(_ value: any TOMLValueConvertible) -> Result<PetrelConfiguration.NextHop?, ValueError> {
        string(value).flatMap { text in
            text.isEmpty ? .success(nil) : nextHop(text).map { Optional($0) }
        }
    }

    /// route-key = Domain / address-literal ("[192.0.2.1]", "[IPv6:2001:db8::1]"), kept as its routing
    /// domain (`EmailAddress.routingDomain(of:)`: lower case, A-labels, canonical literal), the key queue
    /// entries are routed by — so a route for "bücher.example" applies to mail for either spelling.
    static func routeKey(_ key: String) -> String? {
        EmailAddress.routingDomain(of: key)
    }

    /// routes = { "domain" = "host:port", ... }
    static func routes(_ value: any TOMLValueConvertible) -> Result<[String: PetrelConfiguration.NextHop], ValueError> {
        guard let table = value.table else {
            return .failure(ValueError(message: "must be a table such as { \"example.net\" = \"mx.example.net:25\" }, got \(describe(value))"))
        }
        var result: [String: PetrelConfiguration.NextHop] = [:]
        for (key, item) in table {
            guard let domain = routeKey(key) else {
                return .failure(ValueError(message: "route key \(quoted(key)) is not a domain name or address literal"))
            }
            guard let text = item.string else {
                return .failure(ValueError(message: "route for \(domain) must be a \"host:port\" string, got \(describe(item))"))
            }
            switch nextHop(text) {
            case .success(let hop): result[domain] = hop
            case .failure(let error): return .failure(ValueError(message: "route for \(domain): \(error.message)"))
            }
        }
        return .success(result)
    }
}
