import MailCore
import Testing

@testable import SMTPCore

@Suite struct SMTPReplySecurityTests {
    private func text(_ reply: SMTPReply) -> String { String(decoding: reply.encoded, as: UTF8.self) }

    @Test func ehloWithStartTLSAndAuth() {
        #expect(
            text(.ehlo(hostname: "mx.example.test", maxMessageSize: 1000, startTLS: true, auth: true))
                == "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n"
                + "250-8BITMIME\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250 HELP\r\n")
    }

    /// RFC 4954 §4: `continue-req = "334" SP [base64] CRLF` — the space stays for an empty challenge.
    @Test func authChallengeEncoding() {
        #expect(text(.authChallenge([])) == "334 \r\n")
        #expect(text(.authChallenge(Array("Username:".utf8))) == "334 VXNlcm5hbWU6\r\n")
    }

    @Test(arguments: [
        (SMTPReply.readyToStartTLS, "220 2.0.0 Ready to start TLS\r\n"),
        (.tlsAlreadyActive, "503 5.5.1 Error: TLS already active\r\n"),
        (.tlsNotAvailable, "502 5.5.1 Error: command not implemented\r\n"),
        (.authSucceeded, "235 2.7.0 Authentication successful\r\n"),
        (.authInvalid, "535 5.7.8 Authentication credentials invalid\r\n"),
        (.authTemporaryFailure, "454 4.7.0 Temporary authentication failure\r\n"),
        (.authCancelled, "501 5.0.0 Authentication cancelled\r\n"),
        (.authMalformed("Invalid base64 data"), "501 5.5.2 Invalid base64 data\r\n"),
        (.encryptionRequired, "538 5.7.11 Encryption required for requested authentication mechanism\r\n"),
        (.unknownMechanism, "504 5.5.4 Unrecognized authentication type\r\n"),
        (.authRequired, "530 5.7.0 Authentication required\r\n"),
        (.senderNotOwned("a@b.test"), "553 5.7.1 <a@b.test>: Sender address rejected: not owned by user\r\n"),
        (.tooManyAuthFailures(hostname: "h"), "421 4.7.0 h Error: too many authentication failures\r\n"),
        (.httpNotSupported(hostname: "h"), "421 4.7.0 h Error: HTTP not supported\r\n")
    ])
    func replies(reply: SMTPReply, wire: String) {
        #expect(text(reply) == wire)
    }
}
