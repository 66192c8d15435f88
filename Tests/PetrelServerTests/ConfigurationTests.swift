// Tests for Configuration.swift: development defaults, and the example file in docs/ parsing to them.
import Foundation
import Logging
import Testing
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
        #expect(c.pop3 == .init(listen: [.init(host: "127.0.0.1", port: 2110)], idleTimeout: 600, maxConnections: 10_000,
                                maxConnectionsPerIP: 50))
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

    @Test func exampleFileMentionsEveryKey() throws {
        let text = try String(contentsOfFile: Self.exampleFilePath, encoding: .utf8)
        for (section, keys) in ConfigReader.sections {
            #expect(text.contains("[\(section)]"), "missing section \(section)")
            for key in keys.keys {
                #expect(text.contains("\n\(key) = "), "missing key \(section).\(key)")
            }
        }
    }

    @Test func configurationDocumentMentionsEveryKey() throws {
        let path = URL(fileURLWithPath: Self.exampleFilePath).deletingLastPathComponent()
            .appendingPathComponent("CONFIGURATION.md").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for (section, keys) in ConfigReader.sections {
            for key in keys.keys {
                #expect(text.contains("`\(section).\(key)`"), "CONFIGURATION.md lacks \(section).\(key)")
            }
        }
    }
}
