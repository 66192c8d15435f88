import Foundation
import MailCore
import Testing

@testable import MailQueue

/// The Badmail directory's rules without a disk: names, the description, the cap, pruning and purge order,
/// free names.
@Suite struct BadmailRulesTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func entry(_ name: String, size: Int64) -> BadmailEntry {
        let parsed = BadmailRules.parseName(name)
        return BadmailEntry(name: name, date: parsed?.date ?? .distantPast, size: size, queueID: parsed?.queueID ?? "", reason: "")
    }

    @Test func nameRoundTrip() {
        let micros: Int64 = 1_800_000_000_123_456
        let name = BadmailRules.entryName(micros: micros, queueID: "Q1")
        #expect(name == "20270115T080000.123456Z-Q1")
        let parsed = BadmailRules.parseName(name)
        #expect(parsed?.queueID == "Q1")
        #expect(parsed.map { BadmailRules.micros($0.date) } == micros)
        #expect(BadmailRules.queueIDPart("../a b-9") == "ab9")
        #expect(BadmailRules.queueIDPart("///") == "unknown")
    }

    @Test(arguments: [
        "../etc/passwd", "a/b", "..", "", "20270115T080000.250000Z-", "20270115T080000.250000Z-A/B",
        "20271315T080000.250000Z-Q", "20270115T250000.250000Z-Q", "20270115T080000.250000Z-Q.tar"
    ])
    func invalidNamesAreRefused(_ name: String) {
        #expect(throws: BadmailError.invalidName(name)) { try BadmailRules.validatedBase(name) }
    }

    @Test func fileNamesMapToEntries() throws {
        #expect(try BadmailRules.validatedBase("20270115T080000.250000Z-Q1.eml") == "20270115T080000.250000Z-Q1")
        #expect(BadmailRules.entryBase(ofFile: "20270115T080000.250000Z-Q1.txt") == "20270115T080000.250000Z-Q1")
        #expect(BadmailRules.entryBase(ofFile: "20270115T080000.250000Z-Q1.eml") == "20270115T080000.250000Z-Q1")
        #expect(BadmailRules.entryBase(ofFile: ".tmp-ABC.eml") == nil)
        #expect(BadmailRules.entryBase(ofFile: "20270115T080000.250000Z-Q1") == nil)
        #expect(BadmailRules.entryBase(ofFile: "notes.txt") == nil)
    }

    @Test func wholeMessageFitsWithItsDescription() throws {
        let plan = BadmailRules.plan(
            queueID: "Q-1", reason: "550 5.1.1 no such user\nsecond line", sender: "<>",
            recipients: ["a@b.example"], arrivedAt: t0, messageSize: 1000, now: t0, maxBytes: 100_000)
        guard case .write(let p) = plan else { Issue.record("nothing to write: \(plan)"); return }
        #expect(p.queueID == "Q1")
        #expect(p.keep == 1000 && !p.truncated)
        #expect(p.entrySize == 1000 + Int64(p.infoBytes.count))
        let info = String(decoding: p.infoBytes, as: UTF8.self)
        #expect(info.contains("Queue-ID: Q1\n"))
        #expect(info.contains("Sender: <>\n"))
        #expect(info.contains("Message-Size: 1000\n"))
        #expect(!info.contains("Truncated"))
        #expect(BadmailRules.firstReasonLine(info) == "550 5.1.1 no such user")
    }

    @Test func oversizedMessageIsCutToTheCap() throws {
        let plan = BadmailRules.plan(
            queueID: "Q1", reason: "x", sender: "<a@b.example>", recipients: [], arrivedAt: nil,
            messageSize: 50_000, now: t0, maxBytes: 10_000)
        guard case .write(let p) = plan else { Issue.record("nothing to write: \(plan)"); return }
        #expect(p.truncated)
        #expect(p.entrySize <= 10_000)
        #expect(p.keep > 9_000) // everything but the description
        #expect(String(decoding: p.infoBytes, as: UTF8.self).contains("Truncated: yes: only the first \(p.keep) of 50000 octets"))
    }

    @Test func zeroOrTinyCapKeepsNothing() {
        #expect(
            BadmailRules.plan(
                queueID: "Q1", reason: "x", sender: "<>", recipients: [], arrivedAt: nil, messageSize: 10,
                now: t0, maxBytes: 0) == .skip("the badmail cap is 0: nothing is kept"))
        guard
            case .skip(let why) = BadmailRules.plan(
                queueID: "Q1", reason: "x", sender: "<>", recipients: [], arrivedAt: nil,
                messageSize: 10, now: t0, maxBytes: 20)
        else {
            Issue.record("a 20-octet cap wrote an entry")
            return
        }
        #expect(why.contains("smaller than the entry's description"))
    }

    @Test func pruningRemovesOldestFirstUntilTheNewEntryFits() {
        let entries = [
            entry("20270115T080002.000000Z-C", size: 300),
            entry("20270115T080000.000000Z-A", size: 300),
            entry("20270115T080001.000000Z-B", size: 300)
        ]
        #expect(BadmailRules.prune(entries, toFit: 100, maxBytes: 1000).isEmpty)
        #expect(BadmailRules.prune(entries, toFit: 200, maxBytes: 1000) == ["20270115T080000.000000Z-A"])
        #expect(
            BadmailRules.prune(entries, toFit: 500, maxBytes: 1000)
                == ["20270115T080000.000000Z-A", "20270115T080001.000000Z-B"])
        // Larger than the cap alone: everything goes (the plan has cut it to the cap already).
        #expect(BadmailRules.prune(entries, toFit: 2000, maxBytes: 1000).count == 3)
        #expect(BadmailRules.prune([], toFit: 2000, maxBytes: 1000).isEmpty)
    }

    @Test func purgeOrderAndScope() {
        let entries = [
            entry("20270115T080002.000000Z-C", size: 1), entry("20270115T080000.000000Z-A", size: 1),
            entry("20270115T080001.000000Z-B", size: 1)
        ]
        #expect(
            BadmailRules.purge(entries, scope: .all)
                == ["20270115T080000.000000Z-A", "20270115T080001.000000Z-B", "20270115T080002.000000Z-C"])
        let cut = BadmailRules.parseName("20270115T080001.000000Z-X")?.date ?? .distantPast
        #expect(BadmailRules.purge(entries, scope: .olderThan(cut)) == ["20270115T080000.000000Z-A"])
    }

    @Test func freeNameBumpsMicrosecondsWhileTaken() {
        let now = Date(timeIntervalSince1970: 1_800_000_000.25)
        var taken: Set<String> = ["20270115T080000.250000Z-Q", "20270115T080000.250001Z-Q"]
        #expect(BadmailRules.freeName(now: now, queueID: "Q", isTaken: { taken.contains($0) }) == "20270115T080000.250002Z-Q")
        taken = []
        #expect(BadmailRules.freeName(now: now, queueID: "Q", isTaken: { taken.contains($0) }) == "20270115T080000.250000Z-Q")
        #expect(BadmailRules.freeName(now: now, queueID: "Q", isTaken: { _ in true }) == nil)
    }
}
