import Foundation
import MailCore
import MailDNS
import Testing
import Yams

@testable import MailAuthChecks

/// The OpenSPF RFC 7208 test suite (Fixtures/spf/rfc7208-tests.yml, release 2014.04, as shipped in
/// pyspf 2.0.14; licence in Fixtures/spf/rfc7208-tests.LICENSE), run against `SPFEvaluator` with the
/// suite's zone data served by `ZoneResolver`. The zone data is loaded the way the suite's own driver
/// (pyspf's test/testspf.py) loads it: SPF-type records are served as TXT records when the name has no
/// TXT records of its own ("TXT: NONE" means none), "TIMEOUT" entries time out, unknown names under
/// "error." time out. A test passes when Petrel's result is the suite's result or one of its listed
/// alternatives, and the explanation (when the test names one) matches with "DEFAULT" as the default.
@Suite struct SPFTestSuiteTests {
    struct Case: CustomStringConvertible {
        var scenario: String
        var name: String
        var helo: String
        var host: String
        var mailFrom: String
        var results: [String]
        var explanation: String?
        var zone: [String: [ZoneResolver.Record]]
        var description: String { "\(name) (\(scenario))" }
    }

    /// Tests Petrel does not pass, with the reason. Each is still run and must still fail as described, so
    /// a fix shows up as a test failure here that asks for the entry to be removed.
    static let knownFailures: [String: String] = [:]

    static func fixtureURL(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/spf/\(name)")
    }

    static func loadCases() throws -> [Case] {
        let text = try String(contentsOf: fixtureURL("rfc7208-tests.yml"), encoding: .utf8)
        var cases: [Case] = []
        for document in try Yams.load_all(yaml: text) {
            guard let doc = document as? [String: Any], let tests = doc["tests"] as? [String: Any] else { continue }
            let scenario = doc["description"] as? String ?? "?"
            let zone = try loadZone(doc["zonedata"] as? [String: Any] ?? [:])
            for (name, value) in tests {
                guard let t = value as? [String: Any] else { continue }
                var results: [String] = []
                if let r = t["result"] as? String { results = [r] } else if let r = t["result"] as? [String] { results = r }
                cases.append(
                    Case(
                        scenario: scenario, name: name, helo: string(t["helo"]) ?? "",
                        host: string(t["host"]) ?? "", mailFrom: string(t["mailfrom"]) ?? "",
                        results: results, explanation: string(t["explanation"]), zone: zone))
            }
        }
        return cases.sorted { $0.name < $1.name }
    }

    static func string(_ v: Any?) -> String? {
        if let s = v as? String { return s }
        if let i = v as? Int { return String(i) }
        return nil
    }

    struct ZoneError: Error { var text: String }

    /// pyspf's testspf.getrdata, in Swift.
    static func loadZone(_ data: [String: Any]) throws -> [String: [ZoneResolver.Record]] {
        var zone: [String: [ZoneResolver.Record]] = [:]
        for (name, entries) in data {
            var records: [ZoneResolver.Record] = []
            var generated: [ZoneResolver.Record] = []
            var hasTXT = false
            for entry in entries as? [Any] ?? [] {
                if let s = entry as? String, s == "TIMEOUT" { records.append(.timeout(nil)); continue }
                guard let map = entry as? [String: Any], let (type, value) = map.first else {
                    throw ZoneError(text: "bad zone entry \(entry) for \(name)")
                }
                func strings() -> [String] {
                    if let s = value as? String { return [s] }
                    return (value as? [Any] ?? []).compactMap { string($0) }
                }
                if let s = value as? String, s == "TIMEOUT" { records.append(.timeout(type)); continue }
                switch type {
                case "A":
                    guard let s = value as? String, let ip = IPAddress(s) else { throw ZoneError(text: "bad A \(value)") }
                    records.append(.a(ip))
                case "AAAA":
                    guard let s = value as? String, let ip = IPAddress(s) else { throw ZoneError(text: "bad AAAA \(value)") }
                    records.append(.aaaa(ip))
                case "MX":
                    guard let pair = value as? [Any], pair.count == 2, let pref = pair[0] as? Int else {
                        throw ZoneError(text: "bad MX \(value)")
                    }
                    records.append(.mx(pref, string(pair[1]) ?? ""))
                case "PTR": records.append(.ptr(string(value) ?? ""))
                case "CNAME": records.append(.cname(string(value) ?? ""))
                case "TXT":
                    hasTXT = true
                    let parts = strings()
                    if parts != ["NONE"] { records.append(.txt(parts.joined())) }
                case "SPF":
                    let parts = strings()
                    if parts != ["NONE"] { generated.append(.txt(parts.joined())) }
                default:
                    throw ZoneError(text: "unknown record type \(type)")
                }
            }
            if !hasTXT { records += generated }
            zone[name, default: []] += records
        }
        return zone
    }

    static func run(_ c: Case) async -> (SPFOutcome, Bool) {
        var evaluator = SPFEvaluator(resolver: ZoneResolver(zone: c.zone), receivingHost: "unknown")
        evaluator.defaultExplanation = "DEFAULT"
        guard let ip = IPAddress(c.host) else {
            return (SPFOutcome(result: .permerror, domain: "", detail: "bad host \(c.host)"), false)
        }
        let outcome = await evaluator.checkMailFrom(ip: ip, mailFrom: c.mailFrom, helo: c.helo)
        var ok = c.results.contains(outcome.result.rawValue)
        if let exp = c.explanation, outcome.result == .fail, outcome.explanation != exp { ok = false }
        return (outcome, ok)
    }

    @Test func suiteLoads() throws {
        let cases = try Self.loadCases()
        // 2014.04 release: 16 scenarios; every test has a result.
        #expect(cases.count == 203)
        #expect(cases.allSatisfy { !$0.results.isEmpty })
        #expect(Set(cases.map(\.scenario)).count == 16)
    }

    @Test func everyTestOfTheSuite() async throws {
        var failures: [String] = []
        var passed = 0
        for c in try Self.loadCases() {
            let (outcome, ok) = await Self.run(c)
            if let reason = Self.knownFailures[c.name] {
                #expect(!ok, "\(c) is listed as a known failure (\(reason)) but now passes: remove it from the list")
                continue
            }
            if ok {
                passed += 1
            } else {
                failures.append(
                    "\(c): expected \(c.results) exp=\(c.explanation ?? "-"), got \(outcome.result) exp=\(outcome.explanation ?? "-") [\(outcome.detail)]"
                )
            }
        }
        #expect(failures.isEmpty, "\(failures.count) failed:\n\(failures.joined(separator: "\n"))")
        #expect(passed + Self.knownFailures.count == 203)
    }
}
