/// The production configuration `petrel init` writes: the standard ports on all IPv4 addresses (25 MX,
/// 587 submission with STARTTLS, 465 submission over TLS, 110 POP3 with STLS, 995 POP3 over TLS, 143 IMAP with STARTTLS, 993 IMAP over TLS), the
/// admin endpoint on 127.0.0.1:8025, passwords only over TLS, and the data directory given.
public enum ProductionConfig {
    /// The admin endpoint of a production install (the development default is 127.0.0.1:2026).
    public static let adminListen = "127.0.0.1:8025"

    /// TOML text; `hostname` and `dataDirectory` must already be valid (they are written quoted as given).
    public static func render(hostname: String, dataDirectory: String) -> String {
        """
        # Petrel production configuration, written by 'petrel init'.
        # Every key is described in docs/CONFIGURATION.md; check changes with
        #   petrel config check --config THIS_FILE
        # and apply them with 'systemctl reload petrel' (SIGHUP: log.level and server.shutdown_deadline
        # apply at once; other changes are logged as "… changed; restart to apply").

        [server]
        hostname = \(tomlString(hostname))
        data_dir = \(tomlString(dataDirectory))
        shutdown_deadline = 30

        [smtp]
        # Mail from other servers (MX). For IPv6 as well, add "[::]:25" — or use it alone where
        # net.ipv6.bindv6only = 0, since it then also accepts IPv4.
        listen = ["0.0.0.0:25"]
        max_message_size = 52428800
        max_connections_per_ip = 50

        [submission]
        # Mail from your users' programs: 587 with STARTTLS, 465 with implicit TLS (RFC 8314).
        listen = ["0.0.0.0:587"]
        tls_listen = ["0.0.0.0:465"]
        require_sender_match = true

        [pop3]
        listen = ["0.0.0.0:110"]
        tls_listen = ["0.0.0.0:995"]

        [imap]
        # IMAP with STARTTLS (logins only after it) and with implicit TLS (RFC 8314).
        listen = ["0.0.0.0:143"]
        tls_listen = ["0.0.0.0:993"]

        [tls]
        # Without these, a self-signed certificate is generated in data_dir/tls/ (clients will warn).
        # certificate = "/etc/letsencrypt/live/\(hostname)/fullchain.pem"
        # private_key = "/etc/letsencrypt/live/\(hostname)/privkey.pem"

        [auth]
        allow_plaintext = false

        [log]
        level = "info"
        format = "text"

        [admin]
        # /metrics (Prometheus) and /status ('petrel status'); loopback only; "" disables it.
        listen = "\(adminListen)"

        """
    }

    /// A TOML basic string (TOML v1.0.0 §String): `"` and `\` escaped, control characters as \uXXXX.
    static func tomlString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
