import MailCore
import Testing

@testable import SMTPCore

/// Drives a client session with scripted server replies and records what it sends.
struct ClientScript {
    var session: SMTPClientSession
    /// Command lines sent so far (pipelined writes split into lines).
    var sent: [String] = []
    /// Number of separate writes.
    var writes = 0
    var actions: [SMTPClientAction] = []

    init(_ configuration: SMTPClientSessionConfiguration = SMTPClientSessionConfiguration(heloName: "client.example.test", tlsPolicy: .none)) {
        session = SMTPClientSession(configuration: configuration)
        _ = feed(.connected)
    }

    static func reply(_ text: String) -> SMTPReply {
        var parser = SMTPReplyParser()
        parser.feed(Array((text + "\r\n").utf8))
        guard let reply = try? parser.next() else { return SMTPReply(ReplyCode(599), nil, "unparsable test reply") }
        return reply
    }

    @discardableResult
    mutating func feed(_ event: SMTPClientEvent) -> [SMTPClientAction] {
        actions = session.receive(event)
        for action in actions {
            if case .send(let bytes) = action {
                writes += 1
                let text = String(decoding: bytes, as: UTF8.self)
                sent += text.components(separatedBy: "\r\n").filter { !$0.isEmpty }
            }
        }
        return actions
    }

    /// Feeds a reply given as wire text (lines separated by \r\n, without the last CRLF).
    @discardableResult
    mutating func reply(_ text: String) -> [SMTPClientAction] { feed(.reply(Self.reply(text))) }

    static let alice = SMTPClientRecipient(address: "alice@remote.example")
    static let bob = SMTPClientRecipient(address: "bob@remote.example")
    static let carol = SMTPClientRecipient(address: "carol@remote.example")

    /// The last line sent.
    var last: String? { sent.last }

    var result: SMTPTransactionResult? {
        for case .transactionComplete(let result) in actions { return result }
        return nil
    }

    var error: SMTPClientError? {
        for case .failed(let error) in actions { return error }
        return nil
    }

    /// Greeting and EHLO with the given extension lines, to `.ready`.
    mutating func establish(_ extensions: [String]) {
        reply("220 mx.example.test ESMTP")
        let lines = ["mx.example.test"] + extensions
        let text = lines.enumerated().map { index, line in "250" + (index == lines.count - 1 ? " " : "-") + line }
            .joined(separator: "\r\n")
        reply(text)
    }
}

@Suite struct SMTPClientSessionTests {
    @Test func happyPathWithoutPipelining() {
        var s = ClientScript()
        #expect(s.session.waitingFor == .greeting)
        s.reply("220 mx.example.test ESMTP")
        #expect(s.last == "EHLO client.example.test")
        s.reply("250-mx.example.test\r\n250-SIZE 1000\r\n250 8BITMIME")
        #expect(s.actions == [.ready])
        #expect(s.session.isReady)
        #expect(s.session.greeting?.code == .serviceReady)

        s.feed(
            .startTransaction(
                SMTPClientEnvelope(sender: "me@here.example", recipients: [ClientScript.alice, ClientScript.bob], size: 100, eightBitMIME: true)))
        #expect(s.last == "MAIL FROM:<me@here.example> SIZE=100 BODY=8BITMIME")
        s.reply("250 2.1.0 Ok")
        #expect(s.last == "RCPT TO:<alice@remote.example>")
        s.reply("250 2.1.5 Ok")
        #expect(s.last == "RCPT TO:<bob@remote.example>")
        s.reply("250 2.1.5 Ok")
        #expect(s.last == "DATA")
        #expect(s.session.waitingFor == .dataCommand)
        s.reply("354 End data with <CR><LF>.<CR><LF>")
        #expect(s.actions == [.sendBody])
        #expect(s.session.waitingFor == .finalDot)
        s.reply("250 2.0.0 Ok: queued as ABC")
        let result = s.result
        #expect(result?.recipients.map(\.status) == [.delivered, .delivered])
        #expect(result?.recipients.first?.reply.text == "Ok: queued as ABC")
        #expect(result?.recipients.first?.stage == .body)
        #expect(result?.connectionClosed == false)
        #expect(s.session.isReady)

        s.feed(.quit)
        #expect(s.last == "QUIT")
        s.reply("221 2.0.0 Bye")
        #expect(s.actions == [.close])
        #expect(s.session.isClosed)
    }

    @Test func pipelinedTransactionIsOneWrite() {
        var s = ClientScript()
        s.establish(["PIPELINING", "SIZE"])
        let writesBefore = s.writes
        s.feed(.startTransaction(SMTPClientEnvelope(sender: "", recipients: [ClientScript.alice, ClientScript.bob], size: 10)))
        #expect(s.writes == writesBefore + 1)
        #expect(
            Array(s.sent.suffix(4)) == [
                "MAIL FROM:<> SIZE=10", "RCPT TO:<alice@remote.example>",
                "RCPT TO:<bob@remote.example>", "DATA"
            ])
        s.reply("250 2.1.0 Ok")
        #expect(s.actions.isEmpty)
        s.reply("250 2.1.5 Ok")
        s.reply("250 2.1.5 Ok")
        s.reply("354 go ahead")
        #expect(s.actions == [.sendBody])
        s.reply("250 2.0.0 queued")
        #expect(s.result?.delivered.count == 2)
    }

    @Test func mixedRecipientResults() {
        var s = ClientScript()
        s.establish(["PIPELINING"])
        s.feed(
            .startTransaction(
                SMTPClientEnvelope(sender: "me@here.example", recipients: [ClientScript.alice, ClientScript.bob, ClientScript.carol], size: 10)))
        s.reply("250 Ok")
        s.reply("250 Ok")
        s.reply("450 4.2.1 try later")
        s.reply("550 5.1.1 unknown user")
        s.reply("354 go ahead")
        #expect(s.actions == [.sendBody])
        s.reply("250 2.0.0 queued")
        let results = s.result?.recipients ?? []
        #expect(results.map(\.status) == [.delivered, .temporaryFailure, .permanentFailure])
        #expect(results.map(\.stage) == [.body, .rcpt, .rcpt])
        #expect(results.dropFirst().first?.reply.enhanced == EnhancedStatusCode(.persistentTransientFailure, 2, 1))
        #expect(results.last?.reply.enhanced == .badDestinationMailbox)
    }

    @Test(arguments: [
        ("451 4.3.0 local error", SMTPRecipientResult.Status.temporaryFailure),
        ("554 5.5.1 no valid recipients", .permanentFailure)
    ])
    func dataRefused(_ reply: String, _ status: SMTPRecipientResult.Status) {
        var s = ClientScript()
        s.establish([])
        s.feed(.startTransaction(SMTPClientEnvelope(sender: "me@here.example", recipients: [ClientScript.alice], size: 10)))
        s.reply("250 Ok")
        s.reply("250 Ok")
        #expect(s.last == "DATA")
        s.reply(reply)
        #expect(s.result?.recipients.map(\.status) == [status])
        #expect(s.result?.recipients.first?.stage == .data)
        #expect(s.session.isReady)
    }

    @Test(arguments: [("452 4.3.1 full", SMTPRecipientResult.Status.temporaryFailure), ("552 5.3.4 too big", .permanentFailure)])
    func finalDotRefused(_ reply: String, _ status: SMTPRecipientResult.Status) {
        var s = ClientScript()
        s.establish([])
        s.feed(.startTransaction(SMTPClientEnvelope(sender: "me@here.example", recipients: [ClientScript.alice], size: 10)))
        s.reply("250 Ok")
        s.reply("250 Ok")
        s.reply("354 go")
        s.reply(reply)
        #expect(s.result?.recipients.map(\.status) == [status])
        #expect(s.result?.recipients.first?.stage == .body)
    }

    @Test func allRecipientsRejectedSendsNoData() {
        var s = ClientScript()
        s.establish([])
        s.feed(.startTransaction(SMTPClientEnvelope(sender: "me@here.example", recipients: [ClientScript.alice, ClientScript.bob], size: 10)))
        s.reply("250 Ok")
        s.reply("550 5.1.1 no")
        s.reply("450 4.1.1 later")
        #expect(!s.sent.contains("DATA"))
        #expect(s.result?.recipients.map(\.status) == [.permanentFailure, .temporaryFailure])
        #expect(s.session.isReady)
    }

    /// Pipelined: DATA went out already; a correct server refuses it; a broken one says 354 and the
    /// client closes without a body.
    @Test func allRecipientsRejectedPipelined() {
        var s = ClientScript()
        s.establish(["PIPELINING"])
        s.feed(.startTransaction(SMTPClientEnvelope(sender: "me@here.example", recipients: [ClientScript.alice], size: 10)))
        s.reply("250 Ok")
        s.reply("550 5.1.1 no")
        s.reply("503 5.5.1 no valid recipients")
        #expect(s.result?.recipients.map(\.status) == [.permanentFailure])
        #expect(s.result?.recipients.first?.stage == .rcpt)
        #expect(s.session.isReady)

        var broken = ClientScript()
        broken.establish(["PIPELINING"])
        broken.feed(.startTransaction(SMTPClientEnvelope(sender: "me@here.example", recipients: [ClientScript.alice], size: 10)))
        broken.reply("250 Ok")
        broken.reply("550 5.1.1 no")
        broken.reply("354 go ahead anyway")
        #expect(!broken.actions.contains(.sendBody))
        #expect(broken.actions.last == .close)
        #expect(broken.result?.connectionClosed == true)
        #expect(broken.result?.recipients.map(\.status) == [.permanentFailure])
        #expect(broken.session.isClosed)
    }

    @Test func mailRefusedFailsEveryone() {
        var s = ClientScript()
        s.establish([])
        s.feed(.startTransaction(SMTPClientEnvelope(sender: "me@here.example", recipients: [ClientScript.alice, ClientScript.bob], size: 10)))
        s.reply("451 4.7.1 greylisted")
        #expect(!s.sent.contains { $0.hasPrefix("RCPT") })
        #expect(s.result?.recipients.map(\.status) == [.temporaryFailure, .temporaryFailure])
        #expect(s.result?.recipients.map(\.stage) == [.mail, .mail])
    }

    @Test func secondTransactionStartsWithRset() {
        var s = ClientScript()
        s.establish([])
        for round in 0..<2 {
            s.feed(.startTransaction(SMTPClientEnvelope(sender: "me@here.example", recipients: [ClientScript.alice], size: 10)))
            if round == 1 {
                #expect(s.last == "RSET")
                s.reply("250 2.0.0 Ok")
            }
            #expect(s.last == "MAIL FROM:<me@here.example>")
            s.reply("250 Ok")
            s.reply("250 Ok")
            s.reply("354 go")
            s.reply("250 queued")
            #expect(s.result?.delivered.count == 1)
        }
        #expect(s.session.transactionsCompleted == 2)
    }

    @Test func rsetRefusedFailsSession() {
        var s = ClientScript()
        s.establish(["PIPELINING"])
        s.feed(.startTransaction(SMTPClientEnvelope(sender: "me@here.example", recipients: [ClientScript.alice], size: 10)))
        s.reply("250 Ok"); s.reply("250 Ok"); s.reply("354 go"); s.reply("250 queued")
        s.feed(.startTransaction(SMTPClientEnvelope(sender: "me@here.example", recipients: [ClientScript.alice], size: 10)))
        #expect(s.sent.suffix(4).first == "RSET")
        s.reply("500 what")
        #expect(s.error != nil)
        #expect(s.actions.last == .close)
    }

    @Test func sizeTooBigSendsNoMail() {
        var s = ClientScript()
        s.establish(["SIZE 1000"])
        let sentBefore = s.sent.count
        s.feed(.startTransaction(SMTPClientEnvelope(sender: "me@here.example", recipients: [ClientScript.alice, ClientScript.bob], size: 5000)))
        #expect(s.sent.count == sentBefore)
        let results = s.result?.recipients ?? []
        #expect(results.map(\.status) == [.permanentFailure, .permanentFailure])
        #expect(results.first?.reply.enhanced == .messageTooBig)
        #expect(results.first?.stage == .local)
        #expect(s.session.isReady)
        // Nothing was sent, so the next transaction needs no RSET.
        s.feed(.startTransaction(SMTPClientEnvelope(sender: "me@here.example", recipients: [ClientScript.alice], size: 10)))
        #expect(s.last == "MAIL FROM:<me@here.example> SIZE=10")
    }

    @Test func smtpUTF8NotOffered() {
        var s = ClientScript()
        s.establish(["8BITMIME"])
        s.feed(.startTransaction(SMTPClientEnvelope(sender: "jörg@here.example", recipients: [ClientScript.alice], size: 10, smtpUTF8: true)))
        #expect(!s.sent.contains { $0.hasPrefix("MAIL") })
        #expect(s.result?.recipients.first?.reply.enhanced == .nonASCIIAddress)
        #expect(s.result?.recipients.first?.status == .permanentFailure)
    }

    @Test func smtpUTF8Offered() {
        var s = ClientScript()
        s.establish(["SMTPUTF8", "8BITMIME"])
        s.feed(
            .startTransaction(
                SMTPClientEnvelope(
                    sender: "jörg@here.example", recipients: [ClientScript.alice], size: 10,
                    eightBitMIME: true, smtpUTF8: true)))
        #expect(s.last == "MAIL FROM:<jörg@here.example> BODY=8BITMIME SMTPUTF8")
    }

    @Test func dsnParametersOnlyWhenOffered() {
        let recipient = SMTPClientRecipient(
            address: "alice@remote.example", notify: [.success, .failure],
            originalRecipient: "rfc822;Alice+x@remote.example")
        let envelope = SMTPClientEnvelope(
            sender: "me@here.example", recipients: [recipient], size: 10,
            envelopeID: "id=1 2", dsnReturn: .headers)
        var with = ClientScript()
        with.establish(["PIPELINING", "DSN"])
        with.feed(.startTransaction(envelope))
        #expect(
            Array(with.sent.suffix(3)) == [
                "MAIL FROM:<me@here.example> RET=HDRS ENVID=id+3D1+202",
                "RCPT TO:<alice@remote.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Alice+2Bx@remote.example",
                "DATA"
            ])
        var without = ClientScript()
        without.establish(["PIPELINING"])
        without.feed(.startTransaction(envelope))
        #expect(Array(without.sent.suffix(3)) == ["MAIL FROM:<me@here.example>", "RCPT TO:<alice@remote.example>", "DATA"])
    }

    @Test func unsafeAddressesAreNeverSent() {
        var s = ClientScript()
        s.establish([])
        let evil = SMTPClientRecipient(address: "x@y>\r\nRCPT TO:<z@w")
        s.feed(.startTransaction(SMTPClientEnvelope(sender: "me@here.example", recipients: [evil, ClientScript.alice], size: 10)))
        #expect(s.last == "MAIL FROM:<me@here.example>")
        s.reply("250 Ok")
        #expect(s.last == "RCPT TO:<alice@remote.example>")
        s.reply("250 Ok")
        s.reply("354 go")
        s.reply("250 queued")
        #expect(s.result?.recipients.map(\.status) == [.permanentFailure, .delivered])
        #expect(s.result?.recipients.first?.stage == .local)

        var bad = ClientScript()
        bad.establish([])
        bad.feed(.startTransaction(SMTPClientEnvelope(sender: "a b@c", recipients: [ClientScript.alice], size: 10)))
        #expect(bad.result?.recipients.first?.reply.enhanced == .badSenderSyntax)
    }

    @Test func senderInAngleBracketsIsAccepted() {
        var s = ClientScript()
        s.establish([])
        s.feed(.startTransaction(SMTPClientEnvelope(sender: "<me@here.example>", recipients: [ClientScript.alice], size: 0)))
        #expect(s.last == "MAIL FROM:<me@here.example>")
        var null = ClientScript()
        null.establish([])
        null.feed(.startTransaction(SMTPClientEnvelope(sender: "<>", recipients: [ClientScript.alice], size: 0)))
        #expect(null.last == "MAIL FROM:<>")
    }

    @Test func serviceClosingMidTransaction() {
        var s = ClientScript()
        s.establish(["PIPELINING"])
        s.feed(.startTransaction(SMTPClientEnvelope(sender: "me@here.example", recipients: [ClientScript.alice, ClientScript.bob], size: 10)))
        s.reply("250 Ok")
        s.reply("250 Ok")
        s.reply("421 4.3.2 shutting down")
        #expect(s.result?.recipients.map(\.status) == [.temporaryFailure, .temporaryFailure])
        #expect(s.result?.connectionClosed == true)
        #expect(s.actions.last == .close)
    }
}
