// Tests for the configuration keys of plaintext logins (`plaintext_auth_listen` in [smtp]/[submission]/
// [pop3], `[auth] plaintext_networks`): TLS required by default, values normalised, errors with their key.
import Foundation
import MailCore
import Testing

@testable import PetrelConfig
@testable import PetrelServer

@Suite struct ConfigPlaintextLoginTests {
    static let base = PetrelConfiguration.developmentDefaults(hostname: "base.test")

    static func parse(_ text: String) -> Result<PetrelConfiguration, ConfigErrors> {
        PetrelConfiguration.parse(text, base: base)
    }

    @Test func defaultsRequireTLSEverywhere() {
        let c = Self.base
        #expect(!c.auth.allowPlaintext && c.auth.plaintextNetworks.isEmpty)
        #expect(c.smtp.plaintextAuthListen.isEmpty && c.submission.plaintextAuthListen.isEmpty && c.pop3.plaintextAuthListen.isEmpty)
    }

    @Test func keysAreAppliedAndNormalised() throws {
        let c = try Self.parse(
            """
            [smtp]
            plaintext_auth_listen = ["10.0.0.1:25"]
            [submission]
            plaintext_auth_listen = ["10.0.0.1:587", "[fd00::1]:587"]
            [pop3]
            plaintext_auth_listen = "10.0.0.1:110"
            [auth]
            plaintext_networks = ["10.0.0.0/8", "FD00::/8", "192.0.2.7"]
            """
        ).get()
        #expect(c.smtp.plaintextAuthListen.map(\.description) == ["10.0.0.1:25"])
        #expect(c.submission.plaintextAuthListen.map(\.description) == ["10.0.0.1:587", "[fd00::1]:587"])
        #expect(c.pop3.plaintextAuthListen.map(\.description) == ["10.0.0.1:110"])
        #expect(c.auth.plaintextNetworks == ["10.0.0.0/8", "fd00::/8", "192.0.2.7/32"])
        // The other listen keys are untouched: a plaintext listener is an extra one.
        #expect(c.pop3.listen == Self.base.pop3.listen && c.submission.listen == Self.base.submission.listen)
    }

    @Test(arguments: [
        ("[auth]\nplaintext_networks = [\"10.0.0.1/8\"]", "auth.plaintext_networks", "host bits"),
        ("[auth]\nplaintext_networks = true", "auth.plaintext_networks", "array"),
        ("[pop3]\nplaintext_auth_listen = [\"::1:110\"]", "pop3.plaintext_auth_listen", "brackets"),
        (
            "[pop3]\nlisten = [\"10.0.0.1:110\"]\nplaintext_auth_listen = [\"10.0.0.1:110\"]", "pop3.plaintext_auth_listen",
            "listed more than once"
        ),
        ("[submission]\nplaintext_auth_listen = [\"127.0.0.1:2587\"]", "submission.plaintext_auth_listen", "listed more than once")
    ])
    func badValuesAreReportedWithTheirKey(text: String, key: String, message: String) {
        guard case .failure(let errors) = Self.parse(text) else { Issue.record("accepted: \(text)"); return }
        #expect(errors.errors.count == 1, "\(errors)")
        #expect(errors.errors.first?.key == key, "\(errors)")
        #expect(errors.errors.first?.message.contains(message) == true, "\(errors)")
        #expect(errors.errors.first?.line != nil)
    }

    @Test func reloadPlanNamesTheNewKeys() throws {
        let new = try Self.parse(
            """
            [pop3]
            plaintext_auth_listen = ["10.0.0.1:110"]
            [auth]
            plaintext_networks = ["10.0.0.0/8"]
            """
        ).get()
        let plan = ConfigReloadPlan.compare(running: Self.base, new: new)
        for key in ["pop3.plaintext_auth_listen", "auth.plaintext_networks"] {
            #expect(plan.needsRestart.contains(key), "\(key)")
        }
    }
}
