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

/// A reverse-path written without brackets as the SMTP client takes it: "" is `<>`.
func sender(_ text: String) -> MailPath {
    text.isEmpty ? .null : .mailbox(address(text))
}
