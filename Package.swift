// swift-tools-version:6.1
// Petrel — a mail server (SMTP + POP3) in Swift. See docs/ARCHITECTURE.md.
import PackageDescription

let package = Package(
    name: "Petrel",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "petrel", targets: ["petrel"]),
        // Libraries for the separate fuzz/ package (libFuzzer targets that depend on this package by path).
        .library(name: "PetrelCore", targets: ["MailCore", "SMTPCore", "POP3Core"]),
        .library(name: "PetrelServer", targets: ["PetrelServer"]),
        .library(name: "PetrelConfig", targets: ["PetrelConfig"]),
        // The connection handlers with the in-memory store, for the fuzz/ whole-session targets.
        .library(name: "PetrelNIO", targets: ["MailServerNIO", "MailStore", "MailAuth", "MailQueue", "MailPolicy"]),
        // The IMAP core and the MIME parser, for the fuzz/ package (FuzzIMAPCommand, FuzzMIMEParser).
        .library(name: "PetrelIMAP", targets: ["MailMIME", "IMAPCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // Test-only: reads the OpenSPF RFC 7208 test suite (YAML) in MailAuthChecksTests.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // zlib (raw DEFLATE) with ByteBuffer streaming, for IMAP COMPRESS=DEFLATE (RFC 4978).
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
    ],
    targets: [
        // Pure value types shared by every protocol: addresses, reply codes. No dependencies.
        .target(name: "MailCore"),
        // SMTP protocol core (RFC 5321 and extensions): parsers, replies, DATA decoder, session state machine.
        .target(name: "SMTPCore", dependencies: ["MailCore"]),
        // POP3 protocol core (RFC 1939, 2449, 5034): parser, responses, session state machine.
        .target(name: "POP3Core", dependencies: ["MailCore"]),
        // Relay and recipient decisions: pure functions of (client, auth, address, directory answer).
        .target(name: "MailPolicy", dependencies: ["MailCore", "MailStore"]),
        // Lenient MIME parser for IMAP: structure, ENVELOPE fields, sections, encoded words, transfer and
        // charset decoding, search matching. No dependencies.
        .target(name: "MailMIME"),
        // IMAP4rev2/rev1 protocol core (RFC 9051, RFC 3501 and extensions): framing with literals, command
        // parser, response encoder, session state machine, sequence tracker, the mailbox-access protocol.
        .target(name: "IMAPCore", dependencies: ["MailCore", "MailMIME"]),
        // The in-memory reference IMAPMailboxAccess and the transcript driver, for tests of the core and,
        // later, of the NIO adapter and the store backends.
        .target(name: "IMAPTestSupport", dependencies: ["IMAPCore", "MailMIME", "MailCore"]),
        // Test harness, not a server: one IMAP session on stdin/stdout over the in-memory store, so real
        // clients (imaplib.IMAP4_stream, IMAPClient stream=True) can drive the core (e2e/interop).
        .executableTarget(name: "IMAPStdioHarness", dependencies: ["IMAPCore", "IMAPTestSupport"]),
        // Storage protocols, models and an in-memory backend.
        .target(name: "MailStore", dependencies: ["MailCore", .product(name: "NIOCore", package: "swift-nio")]),
        // Slow salted password hashes (scrypt) and constant-time verification.
        .target(name: "MailAuth", dependencies: [
            "MailCore",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "CryptoExtras", package: "swift-crypto"),
        ]),
        // The embedded default store: SQLite through GRDB, with group commit.
        .target(name: "MailStoreSQLite", dependencies: [
            "MailStore", "MailCore", "IMAPCore", "MailMIME",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // The store for several nodes: PostgreSQL through postgres-nio (PostgresClient), with group commit.
        .target(name: "MailStorePostgres", dependencies: [
            "MailStore", "MailCore", "IMAPCore", "MailMIME",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // glibc libresolv wrapper: one query to one given nameserver, answer decoding (ns_parserr/dn_expand).
        .target(name: "CPetrelResolv", linkerSettings: [.linkedLibrary("resolv")]),
        // DNS for mail: DNSResolver protocol, LibresolvResolver, StaticResolver, MX selection, FCrDNS.
        .target(name: "MailDNS", dependencies: [
            "MailCore", "CPetrelResolv", .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // Message authentication: SPF (RFC 7208), DKIM signing and verification (RFC 6376, RFC 8463),
        // DMARC (RFC 9989), Authentication-Results (RFC 8601). Pure: DNS through the DNSResolver protocol.
        .target(name: "MailAuthChecks", dependencies: [
            "MailCore", "MailDNS",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "CryptoExtras", package: "swift-crypto"),
        ]),
        // The outbound queue's pure rules: retry schedule, RFC 3464 reports, hop count, routes, attempt
        // decisions, delivery outcomes, and the Badmail directory's rules (names, cap, pruning order).
        .target(name: "MailQueue", dependencies: ["MailCore", "MailStore", "SMTPCore"]),
        // The Badmail directory on disk: temporary files, fsync, rename, flock, symlink-safe reads.
        .target(name: "BadmailStore", dependencies: ["MailQueue", "MailCore"]),
        // Outbound delivery over SwiftNIO: the SMTP client connection and the delivery agent (scheduler).
        .target(name: "MailDelivery", dependencies: [
            "MailCore", "MailStore", "MailQueue", "MailDNS", "SMTPCore", "PetrelTLSSupport", "MailPolicy",
            "BadmailStore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),
        // Two BoringSSL switches swift-nio-ssl does not expose (session tickets off, cipher name).
        .target(name: "CPetrelTLS"),
        // The NIOSSL reflection both TLS sides share (session tickets off, negotiated cipher name).
        .target(name: "PetrelTLSSupport", dependencies: [
            "MailCore", "CPetrelTLS",
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        // SwiftNIO adapters: framing, connection handlers (SMTP, POP3, IMAP) that run the sessions' actions, listeners.
        .target(name: "MailServerNIO", dependencies: [
            "MailCore", "SMTPCore", "POP3Core", "MailPolicy", "MailStore", "MailAuth", "PetrelTLSSupport", "MailAccounts",
            "MailQueue", "IMAPCore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "CompressNIO", package: "compress-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),
        // Configuration (TOML, with line/key errors) and the structured log handler.
        .target(name: "PetrelConfig", dependencies: [
            "MailCore",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "TOMLKit", package: "TOMLKit"),
        ]),
        // OpenLDAP's libldap (Debian libldap-dev): connect, StartTLS/LDAPS with CA checks, bind, search.
        .target(name: "CPetrelLDAP", linkerSettings: [.linkedLibrary("ldap"), .linkedLibrary("lber")]),
        // Linux-PAM (Debian libpam0g-dev): one authentication with a fixed password conversation.
        .target(name: "CPetrelPAM", linkerSettings: [.linkedLibrary("pam")]),
        // Account backends: where a login is verified and whether a mailbox exists (builtin, system, ldap).
        .target(name: "MailAccounts", dependencies: [
            "MailCore", "MailStore", "MailAuth", "CPetrelLDAP", "CPetrelPAM",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Mail-client set-up over HTTPS: Thunderbird autoconfig, Outlook Autodiscover, Apple .mobileconfig.
        .target(name: "PetrelAutoconfig", dependencies: [
            "MailCore",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The composition root: server runtime, admin endpoint, doctor.
        .target(name: "PetrelServer", dependencies: [
            "PetrelConfig",
            "MailCore", "MailServerNIO", "MailStore", "MailStoreSQLite", "MailStorePostgres", "MailAuth", "SMTPCore", "POP3Core",
            "IMAPCore",
            "MailDelivery", "MailQueue", "MailDNS", "MailPolicy", "MailAuthChecks", "MailAccounts", "PetrelAutoconfig",
            "BadmailStore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "TOMLKit", package: "TOMLKit"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "X509", package: "swift-certificates"),
        ]),
        // The CLI: serve, domain, mailbox, config, status, init, doctor. It reaches the data only through
        // PetrelServer's administration API (PetrelAdmin).
        .executableTarget(name: "petrel", dependencies: [
            "PetrelServer",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Test support the test targets share (not linked into petrel): the SplitMix64 generator, the
        // loopback DNS server, the dialog transcripts, log capture, the SMTP/POP3 handler harnesses, a SQLite
        // store fixture, a real PostgreSQL cluster, the scripted SMTP server (outbound client tests).
        .target(name: "MailTestSupport", dependencies: [
            "MailCore", "SMTPCore", "POP3Core", "MailStore", "MailStoreSQLite", "MailServerNIO",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),

        .testTarget(name: "MailCoreTests", dependencies: ["MailCore"]),
        .testTarget(name: "SMTPCoreTests", dependencies: ["SMTPCore", "MailCore", "MailTestSupport"]),
        .testTarget(name: "MailQueueTests", dependencies: ["MailQueue", "MailStore", "MailCore", "SMTPCore"]),
        .testTarget(name: "BadmailStoreTests", dependencies: ["BadmailStore", "MailQueue"]),
        .testTarget(name: "MailDeliveryTests", dependencies: [
            "MailTestSupport", "MailDelivery", "MailQueue", "MailDNS", "SMTPCore", "MailStore", "MailCore", "MailPolicy", "MailStoreSQLite",
            "BadmailStore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .testTarget(name: "PetrelTLSSupportTests", dependencies: [
            "PetrelTLSSupport", "MailCore",
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .testTarget(name: "POP3CoreTests", dependencies: ["POP3Core", "MailCore", "MailTestSupport"]),
        .testTarget(name: "MailPolicyTests", dependencies: ["MailPolicy", "MailCore", "MailStore", "SMTPCore"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "MailAuthTests", dependencies: ["MailAuth", "MailCore"]),
        .testTarget(name: "MailAccountsTests", dependencies: [
            "MailAccounts", "MailStore", "MailAuth", "MailCore",
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "PetrelAutoconfigTests", dependencies: ["PetrelAutoconfig", "MailCore"]),
        .testTarget(name: "MailMIMETests", dependencies: ["MailTestSupport", "MailMIME"]),
        .testTarget(name: "IMAPCoreTests", dependencies: ["MailTestSupport", "IMAPCore", "IMAPTestSupport", "MailMIME", "MailCore"]),
        .testTarget(name: "MailDNSTests", dependencies: [
            "MailTestSupport", "MailDNS", "MailCore", .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .testTarget(name: "MailAuthChecksTests", dependencies: [
            "MailTestSupport", "MailAuthChecks", "MailDNS", "MailCore",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "CryptoExtras", package: "swift-crypto"),
        ], exclude: ["Fixtures"]),
        .testTarget(name: "MailStoreTests", dependencies: [
            "MailStore", "MailStoreSQLite", "MailStorePostgres", "MailCore", "MailTestSupport", "IMAPCore", "IMAPTestSupport",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "MailServerNIOTests", dependencies: [
            "MailTestSupport", "MailServerNIO", "MailStore", "SMTPCore", "POP3Core", "MailCore", "MailQueue",
            "IMAPCore", "IMAPTestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "CompressNIO", package: "compress-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .testTarget(name: "PetrelServerTests", dependencies: [
            "MailTestSupport", "PetrelServer", "PetrelConfig", "MailStore", "MailCore", "MailServerNIO", "MailAuth",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
    ]
)
