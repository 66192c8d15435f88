// Tests for Configuration.swift: development defaults, and the example file in docs/ parsing to them.
import Foundation
import Logging
import Testing

@testable import PetrelConfig
@testable import PetrelServer

@Suite struct ConfigurationTests {
    @Test func developmentDefaultsMatchTheBrief() {
        let c = PetrelConfiguration.developmentDefaults(hostname: "dev.test")
        #expect(c.server == .init(hostname: "dev.test", dataDirectory: "./petrel-data", shutdownDeadline: 30))
        #expect(c.smtp.listen == [.init(host: "127.0.0.1", port: 2525)])
        #expect(c.smtp.maxMessageSize == 52_428_800)
        #expect(c.smtp.maxRecipients == 100)
        #expect(c.smtp.maxMessagesPerConnection == 100)
        #expect(c.smtp.maxErrors == 10)
        #expect(c.smtp.maxCommandLineLength == 512)
        #expect(c.smtp.maxTextLineLength == 1000)
        #expect(c.smtp.maxSessionBytes == 1_073_741_824)
        #expect(c.smtp.maxConnections == 10_000)
        #expect(c.smtp.maxConnectionsPerIP == 50)
        #expect(c.smtp.commandTimeout == 300)
        #expect(c.smtp.dataTimeout == 180)
        #expect(c.submission.listen == [.init(host: "127.0.0.1", port: 2587)])
        #expect(c.submission.tlsListen == [.init(host: "127.0.0.1", port: 2465)])
        #expect(c.submission.requireSenderMatch == true)
        #expect(c.pop3.listen == [.init(host: "127.0.0.1", port: 2110)])
        #expect(c.pop3.tlsListen == [.init(host: "127.0.0.1", port: 2995)])
        #expect(c.pop3.idleTimeout == 600)
        #expect(c.pop3.maxConnections == 10_000)
        #expect(c.pop3.maxConnectionsPerIP == 50)
        #expect(c.tls.certificate == nil)
        #expect(c.tls.privateKey == nil)
        #expect(c.auth.allowPlaintext == false)
        #expect(c.auth.maxFailures == 3)
        #expect(c.auth.failureDelay == 1000)
        #expect(c.auth.maxFailureDelay == 30000)
        #expect(c.log == .init(level: .info, format: .text))
    }

    @Test func systemDefaultsHaveAValidHostname() {
        let hostname = PetrelConfiguration.developmentDefaults().server.hostname
        #expect(!hostname.isEmpty)
        #expect(hostname == hostname.lowercased())
        #expect(!hostname.hasSuffix("."))
    }

    @Test func emptyTextGivesTheBase() throws {
        let base = PetrelConfiguration.developmentDefaults(hostname: "base.test")
        let parsed = try PetrelConfiguration.parse("", base: base).get()
        #expect(parsed == base)
        let commentsOnly = try PetrelConfiguration.parse("# nothing\n\n   # here\n", base: base).get()
        #expect(commentsOnly == base)
    }

    static var exampleFilePath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/petrel.example.toml").path
    }

    @Test func exampleFileParsesToTheDefaults() throws {
        let result = PetrelConfiguration.load(
            path: Self.exampleFilePath, base: .developmentDefaults(hostname: "other.test"))
        let config = try result.get()
        #expect(config == .developmentDefaults(hostname: "mail.example.com"))
    }

    /// Keys without a default value: the example shows them commented out (it must parse to the defaults).
    static let exampleKeysWithoutDefault: Set<String> = [
        "server.node_id", "server.event_loops", "tls.certificate", "tls.private_key", "delivery.badmail_dir",
        "ldap.uri", "ldap.tls", "ldap.allow_plaintext", "ldap.ca_file", "ldap.bind_dn", "ldap.bind_password_file", "ldap.base",
        "ldap.flavor", "ldap.filter", "ldap.mail_attribute", "ldap.timeout", "ldap.cache_positive", "ldap.cache_negative",
        "autoconfig.mail_host", "store.password_file", "store.ca_file"
    ]

    /// The example file's sections in order, and each section's lines (the text before the first header is "").
    static func exampleSections() throws -> (order: [String], lines: [String: [Substring]]) {
        let text = try String(contentsOfFile: exampleFilePath, encoding: .utf8)
        var order: [String] = []
        var lines: [String: [Substring]] = [:]
        var current = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("["), line.hasSuffix("]") {
                current = String(line.dropFirst().dropLast())
                order.append(current)
            } else {
                lines[current, default: []].append(line)
            }
        }
        return (order, lines)
    }

    @Test func exampleFileMentionsEveryKey() throws {
        let (order, lines) = try Self.exampleSections()
        #expect(order == ConfigReader.sectionOrder)
        for (section, keys) in ConfigReader.sections {
            let body = lines[section] ?? []
            for key in keys.keys {
                let dotted = "\(section).\(key)"
                let written = Self.exampleKeysWithoutDefault.contains(dotted) ? "# \(key) = " : "\(key) = "
                let index = body.firstIndex { $0.hasPrefix(written) }
                #expect(index != nil, "missing key \(dotted) (as \"\(written)\") in [\(section)]")
                if let index {
                    #expect(index > 0 && body[index - 1].hasPrefix("# "), "\(dotted) has no comment above it")
                }
            }
        }
    }

    @Test func exampleFileKeysWithoutDefaultParseWhenUncommented() throws {
        let original = try String(contentsOfFile: Self.exampleFilePath, encoding: .utf8)
        var text = original
        for dotted in Self.exampleKeysWithoutDefault {
            let key = dotted.split(separator: ".").last.map(String.init) ?? dotted
            #expect(original.contains("\n# \(key) = "))
            text = text.replacingOccurrences(of: "\n# \(key) = ", with: "\n\(key) = ")
        }
        let config = try PetrelConfiguration.parse(text, base: .developmentDefaults(hostname: "other.test")).get()
        #expect(config.tls.certificate?.hasSuffix(".pem") == true)
        #expect(config.tls.privateKey?.hasSuffix(".pem") == true)
        #expect(config.delivery.badmailDirectory == "/var/lib/petrel/badmail")
        var expected = PetrelConfiguration.developmentDefaults(hostname: "mail.example.com")
        expected.tls = config.tls
        expected.delivery.badmailDirectory = config.delivery.badmailDirectory
        #expect(config.ldap?.uri == "ldap://dc1.corp.example:389" && config.autoconfig.mailHost == "mail.example.com")
        expected.ldap = config.ldap
        expected.autoconfig.mailHost = config.autoconfig.mailHost
        #expect(config.store.passwordFile == "/etc/petrel/store-password")
        expected.store.passwordFile = config.store.passwordFile
        #expect(config.store.caFile == "/etc/petrel/postgres-ca.pem")
        expected.store.caFile = config.store.caFile
        #expect(config.server.nodeID == "mx1")
        expected.server.nodeID = config.server.nodeID
        #expect(config.server.eventLoops == 2)
        expected.server.eventLoops = config.server.eventLoops
        #expect(config == expected)
    }

    @Test func configurationDocumentMentionsEveryKey() throws {
        let path = URL(fileURLWithPath: Self.exampleFilePath).deletingLastPathComponent()
            .appendingPathComponent("CONFIGURATION.md").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for (section, keys) in ConfigReader.sections {
            for key in keys.keys {
                #expect(text.contains("\n| `\(section).\(key)` | "), "CONFIGURATION.md has no reference row for \(section).\(key)")
            }
        }
    }
}
