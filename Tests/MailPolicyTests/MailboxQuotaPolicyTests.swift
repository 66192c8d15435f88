/// `MailboxQuotaPolicy`: the RCPT decision for a local mailbox with a quota, from a table of cases.
import MailPolicy
import MailStore
import Testing

@Suite struct MailboxQuotaPolicyTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let quota: MailboxQuota
        let usage: MailboxUsage
        let declared: Int64?
        let expected: MailboxQuotaDecision
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "unlimited", quota: .unlimited, usage: MailboxUsage(messages: 1_000_000, storage: 1 << 40), declared: 1 << 30, expected: .accept),
        Case(
            name: "room, no SIZE", quota: MailboxQuota(storageLimit: 1000), usage: MailboxUsage(messages: 1, storage: 999), declared: nil,
            expected: .accept),
        Case(
            name: "exactly full, no SIZE", quota: MailboxQuota(storageLimit: 1000), usage: MailboxUsage(messages: 1, storage: 1000), declared: nil,
            expected: .mailboxFull),
        Case(
            name: "over (limit lowered)", quota: MailboxQuota(storageLimit: 10), usage: MailboxUsage(messages: 1, storage: 1000), declared: nil,
            expected: .mailboxFull),
        Case(
            name: "SIZE fits", quota: MailboxQuota(storageLimit: 1000), usage: MailboxUsage(messages: 1, storage: 500), declared: 500,
            expected: .accept),
        Case(
            name: "SIZE does not fit", quota: MailboxQuota(storageLimit: 1000), usage: MailboxUsage(messages: 1, storage: 500), declared: 501,
            expected: .mailboxFull),
        Case(
            name: "SIZE=0 counts one octet", quota: MailboxQuota(storageLimit: 1000), usage: MailboxUsage(messages: 1, storage: 1000), declared: 0,
            expected: .mailboxFull),
        Case(
            name: "message limit reached", quota: MailboxQuota(messageLimit: 3), usage: MailboxUsage(messages: 3, storage: 0), declared: nil,
            expected: .mailboxFull),
        Case(
            name: "message limit not reached", quota: MailboxQuota(messageLimit: 3), usage: MailboxUsage(messages: 2, storage: 1 << 40),
            declared: 1 << 30, expected: .accept),
        Case(
            name: "huge SIZE does not overflow", quota: MailboxQuota(storageLimit: Int64.max),
            usage: MailboxUsage(messages: 0, storage: Int64.max - 5), declared: Int64.max, expected: .mailboxFull)
    ]

    @Test(arguments: cases)
    func decision(_ c: Case) {
        #expect(MailboxQuotaPolicy.decide(MailboxQuotaStatus(quota: c.quota, usage: c.usage), declaredSize: c.declared) == c.expected)
    }

    @Test func aMailboxThatVanishedIsLeftToTheStore() {
        #expect(MailboxQuotaPolicy.decide(nil, declaredSize: 10) == .accept)
    }
}
