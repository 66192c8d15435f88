import MailCore
import Testing

/// Addresses written in tests as text, parsed with the real grammar (a typo records a test failure).
func address(_ text: String) -> EmailAddress {
    guard let parsed = EmailAddress(text) else {
        Issue.record("not an address: \(text)")
        return EmailAddress(localPart: "invalid", domain: "invalid.test")
    }
    return parsed
}

/// A reverse-path (`<>` or `<a@b>`) written in tests as text.
func path(_ text: String) -> MailPath {
    guard let parsed = MailPath(text) else {
        Issue.record("not a path: \(text)")
        return .null
    }
    return parsed
}
