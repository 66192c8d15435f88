// Tests for the operability pieces that need no network: the [admin] key (ConfigParser.swift),
// ConfigReload.swift, ProductionConfig.swift and the live log level (LoggingHandler.swift).
import Foundation
import Logging
import Testing

@testable import PetrelConfig
@testable import PetrelServer

@Suite struct AdminConfigTests {
    @Test func defaultIsLoopback2026() {
        #expect(PetrelConfiguration.developmentDefaults(hostname: "h.test").admin.listen == .init(host: "127.0.0.1", port: 2026))
    }

    @Test func emptyStringDisables() throws {
        let c = try PetrelConfiguration.parse("[admin]\nlisten = \"\"\n", base: .developmentDefaults(hostname: "h.test")).get()
        #expect(c.admin.listen == nil)
    }

    @Test func acceptsLoopbackForms() throws {
        for (text, host) in [("127.0.0.1:8025", "127.0.0.1"), ("[::1]:8025", "::1"), ("localhost:9", "localhost"), ("127.3.4.5:0", "127.3.4.5")] {
            let c = try PetrelConfiguration.parse("[admin]\nlisten = \"\(text)\"\n", base: .developmentDefaults(hostname: "h.test")).get()
            #expect(c.admin.listen?.host == host)
        }
    }

    @Test func refusesOtherAddressesWithLineAndKey() throws {
        for text in ["0.0.0.0:8025", "[::]:8025", "192.0.2.1:80", "mail.example.com:80"] {
            let result = PetrelConfiguration.parse("[admin]\nlisten = \"\(text)\"\n", base: .developmentDefaults(hostname: "h.test"))
            guard case .failure(let errors) = result else { Issue.record("\(text) accepted"); continue }
            #expect(errors.errors.first?.key == "admin.listen")
            #expect(errors.errors.first?.line == 2)
            #expect(errors.errors.first?.message.contains("loopback") == true)
        }
        guard case .failure(let e) = PetrelConfiguration.parse("[admin]\nlisten = 8025\n", base: .developmentDefaults(hostname: "h.test")) else {
            Issue.record("integer accepted"); return
        }
        #expect(e.errors.first?.message.contains("must be a string") == true)
    }

    @Test func sameAddressAsAMailListenerIsAnError() {
        let text = "[smtp]\nlisten = [\"127.0.0.1:2026\"]\n"
        guard case .failure(let e) = PetrelConfiguration.parse(text, base: .developmentDefaults(hostname: "h.test")) else {
            Issue.record("duplicate accepted"); return
        }
        #expect(e.errors.contains { $0.message.contains("listed more than once") })
    }
}

@Suite struct ConfigReloadTests {
    @Test func nothingChanged() {
        let c = PetrelConfiguration.developmentDefaults(hostname: "h.test")
        #expect(ConfigReloadPlan.compare(running: c, new: c) == ConfigReloadPlan(applied: [], needsRestart: []))
    }

    @Test func liveAndRestartKeysAreSeparated() {
        let old = PetrelConfiguration.developmentDefaults(hostname: "h.test")
        var new = old
        new.log.level = .debug
        new.server.shutdownDeadline = 5
        new.smtp.listen = [.init(host: "127.0.0.1", port: 2626)]
        new.server.dataDirectory = "/elsewhere"
        new.smtp.maxMessageSize = 1024
        new.admin.listen = nil
        new.log.format = .json
        let plan = ConfigReloadPlan.compare(running: old, new: new)
        #expect(plan.applied == ["log.level", "server.shutdown_deadline"])
        #expect(plan.needsRestart == ["server.data_dir", "smtp.listen", "smtp.max_message_size", "log.format", "admin.listen"])
    }

    @Test func everyConfigKeyIsClassified() {
        let classified = Set(ConfigReloadPlan.restartKeys.map(\.0)).union(["log.level", "server.shutdown_deadline"])
        for (section, keys) in ConfigReader.sections {
            for key in keys.keys { #expect(classified.contains("\(section).\(key)"), "\(section).\(key) is not classified") }
        }
    }

    @Test func planIsLoggedAsRestartToApply() {
        let recorder = LogLineRecorder()
        let logger = Logger(label: "petrel") { PetrelLogHandler(label: $0, level: .info, sink: { recorder.append($0) }) }
        ConfigReloadPlan(applied: ["log.level"], needsRestart: ["smtp.listen"]).log(to: logger)
        #expect(recorder.lines.contains { $0.contains("warning petrel: smtp.listen changed; restart to apply") })
        #expect(recorder.lines.contains { $0.contains("log.level changed; applied") })
    }
}

@Suite struct LiveLogLevelTests {
    @Test func handlersFollowTheControlUnlessPinned() {
        let control = LogLevelControl(level: .info)
        let recorder = LogLineRecorder()
        var logger = Logger(label: "x") { PetrelLogHandler(label: $0, level: .info, levelControl: control, sink: { recorder.append($0) }) }
        logger.debug("hidden")
        control.level = .debug
        logger.debug("shown")
        #expect(recorder.lines.count == 1 && recorder.lines[0].contains("shown"))
        logger.logLevel = .error
        control.level = .trace
        logger.info("pinned away")
        #expect(recorder.lines.count == 1)
    }
}

@Suite struct ProductionConfigTests {
    @Test func rendersAValidProductionFile() throws {
        let text = ProductionConfig.render(hostname: "mail.example.com", dataDirectory: "/var/lib/petrel")
        let c = try PetrelConfiguration.parse(text, base: .developmentDefaults(hostname: "other.test")).get()
        #expect(c.server.hostname == "mail.example.com")
        #expect(c.server.dataDirectory == "/var/lib/petrel")
        #expect(c.smtp.listen.map(\.port) == [25])
        #expect(c.submission.listen.map(\.port) == [587])
        #expect(c.submission.tlsListen.map(\.port) == [465])
        #expect(c.pop3.listen.map(\.port) == [110])
        #expect(c.pop3.tlsListen.map(\.port) == [995])
        #expect(c.admin.listen == .init(host: "127.0.0.1", port: 8025))
        #expect(c.auth.allowPlaintext == false)
    }

    @Test func quotesPathsSafely() throws {
        let text = ProductionConfig.render(hostname: "mail.example.com", dataDirectory: "/srv/odd \"dir\"\\x")
        let c = try PetrelConfiguration.parse(text, base: .developmentDefaults(hostname: "other.test")).get()
        #expect(c.server.dataDirectory == "/srv/odd \"dir\"\\x")
    }
}
