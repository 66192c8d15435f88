import MailCore
import SMTPCore
import Testing

@testable import MailQueue

/// Every mapping of `DeliveryOutcome`: recipient replies, session failures, routing and local failures.
/// Expected codes are written as text ("5.1.2"), so a wrong named constant fails here too.
@Suite struct DeliveryOutcomeTests {
    func code(_ text: String) -> EnhancedStatusCode {
        guard let parsed = EnhancedStatusCode(text) else {
            Issue.record("not a status code: \(text)")
            return .tempUndefined
        }
        return parsed
    }

    func result(_ status: SMTPRecipientResult.Status, _ reply: SMTPReply) -> SMTPRecipientResult {
        SMTPRecipientResult(recipient: SMTPClientRecipient(address: "bob@remote.test"), status: status, reply: reply, stage: .rcpt)
    }

    // MARK: Recipient replies

    @Test func deliveredKeepsTheReply() {
        let r = result(.delivered, SMTPReply(.ok, code("2.0.0"), "queued as X"))
        #expect(
            DeliveryOutcome.of(r, remoteMTA: "mx.remote.test", dsnOffered: true, notify: [.success])
                == .delivered(remoteMTA: "mx.remote.test", reply: "250 2.0.0 queued as X", relayedWithoutDSN: false))
    }

    @Test func deliveredWithoutDSNAndNotifySuccessIsRelayed() {
        let r = result(.delivered, SMTPReply(.ok, nil, "ok"))
        #expect(
            DeliveryOutcome.of(r, remoteMTA: "mx", dsnOffered: false, notify: [.success])
                == .delivered(remoteMTA: "mx", reply: "250 ok", relayedWithoutDSN: true))
        // No NOTIFY=SUCCESS asked: nothing to report.
        #expect(
            DeliveryOutcome.of(r, remoteMTA: "mx", dsnOffered: false, notify: [.failure])
                == .delivered(remoteMTA: "mx", reply: "250 ok", relayedWithoutDSN: false))
    }

    @Test func temporaryReplyUsesItsCodeOr400() {
        let with = result(.temporaryFailure, SMTPReply(.mailboxUnavailableTemp, code("4.2.2"), "full"))
        #expect(
            DeliveryOutcome.of(with, remoteMTA: "mx", dsnOffered: true, notify: [])
                == .temporary(status: code("4.2.2"), diagnostic: "450 4.2.2 full", remoteMTA: "mx"))
        let without = result(.temporaryFailure, SMTPReply(.localError, nil, "try later"))
        #expect(
            DeliveryOutcome.of(without, remoteMTA: "mx", dsnOffered: true, notify: [])
                == .temporary(status: code("4.0.0"), diagnostic: "451 try later", remoteMTA: "mx"))
    }

    @Test func permanentReplyUsesItsCodeOr500() {
        let with = result(.permanentFailure, SMTPReply(.mailboxUnavailable, code("5.1.1"), "no such user"))
        #expect(
            DeliveryOutcome.of(with, remoteMTA: "mx", dsnOffered: true, notify: [])
                == .permanent(status: code("5.1.1"), diagnostic: "550 5.1.1 no such user", remoteMTA: "mx"))
        let without = result(.permanentFailure, SMTPReply(.transactionFailed, nil, "no"))
        #expect(
            DeliveryOutcome.of(without, remoteMTA: "mx", dsnOffered: true, notify: [])
                == .permanent(status: code("5.0.0"), diagnostic: "554 no", remoteMTA: "mx"))
    }

    // MARK: Session failures

    func sessionStatus(_ error: SMTPClientError) -> (permanent: Bool, status: EnhancedStatusCode, diagnostic: String?, mta: String?) {
        switch DeliveryOutcome.of(.session(error), remoteMTA: "mx") {
        case .permanent(let status, let diagnostic, let mta): return (true, status, diagnostic, mta)
        case .temporary(let status, let diagnostic, let mta): return (false, status, diagnostic, mta)
        case .delivered: Issue.record("a failure mapped to delivered"); return (false, .ok, nil, nil)
        }
    }

    @Test func permanentGreetingHelloAndAuthRepliesBounce() {
        let cases: [SMTPClientError] = [
            .greetingRejected(SMTPReply(.transactionFailed, code("5.3.2"), "no service")),
            .helloRejected(SMTPReply(.mailboxUnavailable, nil, "go away")),
            .authFailed(SMTPReply(.authCredentialsInvalid, code("5.7.8"), "bad"))
        ]
        let expected = [code("5.3.2"), code("5.0.0"), code("5.7.8")]
        for (error, status) in zip(cases, expected) {
            let got = sessionStatus(error)
            #expect(got.permanent, "\(error)")
            #expect(got.status == status)
            #expect(got.mta == "mx")
        }
    }

    @Test func temporaryGreetingHelloAndAuthRepliesDefer() {
        #expect(
            sessionStatus(.greetingRejected(SMTPReply(.serviceNotAvailable, nil, "busy"))) == (
                false, code("4.0.0"),
                "greeting rejected: 421 busy", "mx"
            ))
        #expect(sessionStatus(.authFailed(SMTPReply(.tempAuthFailure, code("4.7.0"), "later"))).status == code("4.7.0"))
        #expect(!sessionStatus(.helloRejected(SMTPReply(.localError, nil, "x"))).permanent)
    }

    @Test func connectionFailuresDeferWithTheirCodes() {
        let table: [(SMTPClientError, String)] = [
            (.connectFailed("refused"), "4.4.1"),
            (.timeout("the greeting"), "4.4.2"),
            (.connectionLost("the reply to RCPT"), "4.4.2"),
            (.startTLSNotOffered, "4.7.0"),
            (.startTLSRejected(SMTPReply(.tempAuthFailure, nil, "no")), "4.7.0"),
            (.tlsHandshakeFailed("bad certificate"), "4.7.0"),
            (.malformedReply(.malformedLine("xx")), "4.0.0"),
            (.authRequiresTLS, "4.0.0"),
            (.authNotOffered(offered: []), "4.0.0"),
            (.unexpectedReply(SMTPReply(.ok, nil, "?"), expected: "nothing"), "4.0.0"),
            (.localFailure("disk"), "4.0.0"),
            (.invalidState("closed"), "4.0.0")
        ]
        for (error, status) in table {
            let got = sessionStatus(error)
            #expect(!got.permanent, "\(error)")
            #expect(got.status == code(status), "\(error)")
            #expect(got.diagnostic == error.description)
        }
    }

    // MARK: Routing and local failures

    @Test func routingAndLocalFailures() {
        let table: [(DeliveryFailure, RecipientOutcome)] = [
            (
                .messageUnreadable("EIO"),
                .temporary(status: code("4.3.0"), diagnostic: "local error reading the message: EIO", remoteMTA: nil)
            ),
            (
                .mailLoop(limit: 30),
                .permanent(status: code("5.4.6"), diagnostic: "mail loop: more than 30 Received: header fields", remoteMTA: nil)
            ),
            (
                .unroutable("malformed address literal [x"),
                .permanent(status: code("5.1.2"), diagnostic: "malformed address literal [x", remoteMTA: nil)
            ),
            (
                .unusableLiteral("192.0.2.1"),
                .permanent(status: code("5.1.2"), diagnostic: "cannot use address 192.0.2.1", remoteMTA: nil)
            ),
            (
                .nextHopUnresolved(hop: "relay.test:25", reason: "host not found"),
                .temporary(status: code("4.4.3"), diagnostic: "cannot resolve next hop relay.test:25: host not found", remoteMTA: nil)
            ),
            (
                .nullMX(domain: "none.test"),
                .permanent(status: code("5.1.10"), diagnostic: "none.test does not accept mail (null MX, RFC 7505)", remoteMTA: nil)
            ),
            (
                .noSuchDomain(domain: "gone.test"),
                .permanent(status: code("5.1.2"), diagnostic: "domain gone.test does not exist", remoteMTA: nil)
            ),
            (
                .noMailHost(domain: "self.test"),
                .permanent(
                    status: code("5.4.4"),
                    diagnostic: "no mail host for self.test (no usable MX or address, or the MX is this host)", remoteMTA: nil)
            ),
            (
                .dnsFailed(domain: "slow.test", reason: "SERVFAIL"),
                .temporary(status: code("4.4.3"), diagnostic: "DNS lookup of slow.test failed: SERVFAIL", remoteMTA: nil)
            ),
            (
                .noMXAddress(domain: "mx.test", problems: ["a.mx.test: host not found", "b.mx.test: no A/AAAA record"]),
                .temporary(
                    status: code("4.4.3"),
                    diagnostic: "no address for the MX hosts of mx.test: a.mx.test: host not found; b.mx.test: no A/AAAA record",
                    remoteMTA: nil)
            )
        ]
        for (failure, expected) in table {
            #expect(DeliveryOutcome.of(failure, remoteMTA: "ignored.test") == expected, "\(failure)")
        }
        #expect(
            DeliveryOutcome.of(.noRecipientResult, remoteMTA: "mx")
                == .temporary(status: code("4.3.0"), diagnostic: "no result for this recipient", remoteMTA: "mx"))
    }
}
