import Foundation
import MailCore
import Testing

@testable import MailQueue

/// A tiny MIME reader for checking the generated reports.
struct ParsedMessage {
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    init(_ bytes: [UInt8]) {
        let text = bytes
        var end = text.count
        var bodyStart = text.count
        for i in 0..<max(0, text.count - 3) where text[i] == 13 && text[i + 1] == 10 && text[i + 2] == 13 && text[i + 3] == 10 {
            end = i + 2
            bodyStart = i + 4
            break
        }
        if text.starts(with: [13, 10]) { end = 0; bodyStart = 2 }
        let head = String(decoding: text[0..<end], as: UTF8.self)
        var fields: [(String, String)] = []
        for line in head.components(separatedBy: "\r\n") where !line.isEmpty {
            if line.first == " " || line.first == "\t", let last = fields.popLast() {
                fields.append((last.0, last.1 + " " + line.trimmingCharacters(in: .whitespaces)))
            } else if let colon = line.firstIndex(of: ":") {
                fields.append((String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
            }
        }
        headers = fields
        body = Array(text[min(bodyStart, text.count)...])
    }

    func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
    func all(_ name: String) -> [String] { headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value) }
    var bodyText: String { String(decoding: body, as: UTF8.self) }
    /// The body with wrapped / folded lines joined (CRLF + indentation → one space).
    var unwrappedText: String {
        bodyText.replacingOccurrences(of: "\r\n[ \t]+", with: " ", options: .regularExpression)
            .replacingOccurrences(of: "\r\n(?=[^\r\n])", with: " ", options: .regularExpression)
    }

    /// The parts of a multipart body (RFC 2046 §5.1.1: delimiter = CRLF "--" boundary).
    func parts() -> [ParsedMessage] {
        guard let type = header("Content-Type"), let range = type.range(of: "boundary=\"") else { return [] }
        let boundary = String(type[range.upperBound...].prefix { $0 != "\"" })
        let pieces = ("\r\n" + bodyText).components(separatedBy: "\r\n--" + boundary)
        guard pieces.count >= 3, pieces.last?.hasPrefix("--") == true else { return [] }
        return pieces.dropFirst().dropLast().map { piece in
            var p = piece
            if p.hasPrefix("\r\n") { p.removeFirst(1) } // "\r\n" is one Character
            return ParsedMessage(Array(p.utf8))
        }
    }
}

func checkLines(_ bytes: [UInt8]) {
    var length = 0
    for (i, b) in bytes.enumerated() {
        if b == 10 {
            #expect(i > 0 && bytes[i - 1] == 13, "bare LF at \(i)"); #expect(length <= 999, "line over 998 octets"); length = 0
        } else {
            if b == 13 { #expect(i + 1 < bytes.count && bytes[i + 1] == 10, "bare CR at \(i)") }
            length += 1
        }
    }
    #expect(bytes.suffix(2) == [13, 10])
}

@Suite struct DeliveryReportTests {
    let arrival = Date(timeIntervalSince1970: 1_800_000_000)
    let now = Date(timeIntervalSince1970: 1_800_003_600)
    let original = Array(
        "Received: from x\r\nFrom: alice@example.org\r\nTo: bob@remote.example\r\nSubject: hello\r\nMessage-ID: <m1@example.org>\r\n\r\nHello Bob.\r\n"
            .utf8)

    func failure(_ recipients: [DeliveryReport.Recipient]? = nil, ret: DSNReturn? = nil, limit: Int = 256 * 1024) -> DeliveryReport {
        DeliveryReport(
            reportingMTA: "mail.example.org", originalSender: path("<alice@example.org>"), envelopeID: "QQ314159",
            arrivalDate: arrival, queueID: "0R2X8K4M9T3ABCDE",
            recipients: recipients ?? [
                .init(
                    address: address("bob@remote.example"), originalRecipient: "rfc822;Bob@Remote.example", action: .failed,
                    status: .badDestinationMailbox, remoteMTA: "mx.remote.example",
                    diagnostic: "550 5.1.1 <bob@remote.example>: Recipient address rejected", lastAttempt: now),
                .init(
                    address: address("carol@remote.example"), action: .failed, status: EnhancedStatusCode(.permanentFailure, 4, 7),
                    diagnostic: "delivery time expired")
            ],
            dsnReturn: ret, returnSizeLimit: limit)
    }

    @Test func failureReportStructure() throws {
        let r = failure().render(original: original, originalSize: Int64(original.count), date: now, uniqueID: "U1")
        checkLines(r.bytes)
        #expect(r.returnedContent == .full)
        #expect(!r.needs8BitMIME && !r.needsSMTPUTF8)
        #expect(r.messageID == "U1@mail.example.org")
        let m = ParsedMessage(r.bytes)
        #expect(m.header("From") == "\"Mail Delivery System\" <MAILER-DAEMON@mail.example.org>")
        #expect(m.header("To") == "<alice@example.org>")
        #expect(m.header("Subject") == "Undelivered Mail Returned to Sender")
        #expect(m.header("Date") == RFC5322Date.format(now))
        #expect(m.header("Message-ID") == "<U1@mail.example.org>")
        #expect(m.header("Auto-Submitted") == "auto-replied")
        #expect(m.header("MIME-Version") == "1.0")
        #expect(m.header("Content-Type")?.hasPrefix("multipart/report; report-type=delivery-status; boundary=\"") == true)
        let parts = m.parts()
        try #require(parts.count == 3)
        #expect(parts[0].header("Content-Type") == "text/plain; charset=us-ascii")
        #expect(parts[0].unwrappedText.contains("550 5.1.1 <bob@remote.example>: Recipient address rejected"))
        #expect(parts[0].bodyText.contains("mx.remote.example"))
        #expect(parts[0].bodyText.contains("The original message is attached."))
        #expect(parts[1].header("Content-Type") == "message/delivery-status")
        let status = parts[1].bodyText
        let blocks = status.components(separatedBy: "\r\n\r\n").filter { !$0.isEmpty }
        try #require(blocks.count == 3)
        let perMessage = ParsedMessage(Array((blocks[0] + "\r\n\r\n").utf8))
        #expect(perMessage.header("Reporting-MTA") == "dns; mail.example.org")
        #expect(perMessage.header("Original-Envelope-Id") == "QQ314159")
        #expect(perMessage.header("Arrival-Date") == RFC5322Date.format(arrival))
        let bob = ParsedMessage(Array((blocks[1] + "\r\n\r\n").utf8))
        #expect(bob.header("Original-Recipient") == "rfc822;Bob@Remote.example")
        #expect(bob.header("Final-Recipient") == "rfc822; bob@remote.example")
        #expect(bob.header("Action") == "failed")
        #expect(bob.header("Status") == "5.1.1")
        #expect(bob.header("Remote-MTA") == "dns; mx.remote.example")
        #expect(bob.header("Diagnostic-Code") == "smtp; 550 5.1.1 <bob@remote.example>: Recipient address rejected")
        #expect(bob.header("Last-Attempt-Date") == RFC5322Date.format(now))
        #expect(bob.header("Will-Retry-Until") == nil)
        let carol = ParsedMessage(Array((blocks[2] + "\r\n\r\n").utf8))
        #expect(carol.header("Final-Recipient") == "rfc822; carol@remote.example")
        #expect(carol.header("Status") == "5.4.7")
        #expect(carol.header("Original-Recipient") == nil && carol.header("Remote-MTA") == nil)
        #expect(parts[2].header("Content-Type") == "message/rfc822")
        #expect(parts[2].body == original + [13, 10] || parts[2].body == original)
    }

    @Test func headersOnlyWhenAskedOrTooLarge() throws {
        let hdrs = failure(ret: .headers).render(original: original, originalSize: Int64(original.count), date: now)
        #expect(hdrs.returnedContent == .headersRequested)
        let p = ParsedMessage(hdrs.bytes).parts()
        try #require(p.count == 3)
        #expect(p[2].header("Content-Type") == "text/rfc822-headers")
        #expect(!p[2].bodyText.contains("Hello Bob."))
        #expect(p[2].bodyText.contains("Subject: hello\r\n"))
        #expect(p[0].bodyText.contains("RET=HDRS"))

        let big = failure(limit: 40).render(original: original, originalSize: Int64(original.count), date: now)
        #expect(big.returnedContent == .headersTooLarge)
        let q = ParsedMessage(big.bytes).parts()
        try #require(q.count == 3)
        #expect(q[2].header("Content-Type") == "text/rfc822-headers")
        #expect(q[0].bodyText.contains("too large"))
        // Only a prefix available (the caller read cap+1 octets): headers only.
        let prefix = failure().render(original: Array(original.prefix(60)), originalSize: 10_000_000, date: now)
        #expect(prefix.returnedContent == .headersTooLarge)
        checkLines(prefix.bytes)
    }

    @Test func delayReport() throws {
        let until = arrival.addingTimeInterval(5 * 86_400)
        let report = failure([
            .init(
                address: address("bob@remote.example"), action: .delayed, status: .tempNetwork,
                remoteMTA: "mx.remote.example", diagnostic: "451 4.4.0 try later", lastAttempt: now,
                willRetryUntil: until)
        ])
        #expect(report.kind == .delay)
        let r = report.render(original: original, originalSize: Int64(original.count), date: now)
        checkLines(r.bytes)
        let m = ParsedMessage(r.bytes)
        #expect(m.header("Subject") == "Delayed Mail (still being retried)")
        let parts = m.parts()
        try #require(parts.count == 3)
        #expect(parts[0].unwrappedText.contains(RFC5322Date.format(until)))
        // The quoted reply and the next sentence do not run together.
        #expect(parts[0].unwrappedText.contains("451 4.4.0 try later. Petrel will keep trying until"))
        #expect(parts[1].bodyText.contains("Action: delayed\r\n"))
        #expect(parts[1].bodyText.contains("Will-Retry-Until: \(RFC5322Date.format(until))\r\n"))
        // RET applies to failure reports only: a delay report returns the headers.
        #expect(r.returnedContent == .headersRequested)
    }

    @Test func successReport() {
        let report = failure([.init(address: address("bob@remote.example"), action: .relayed, status: .ok)])
        #expect(report.kind == .success)
        let m = ParsedMessage(report.render(original: original, originalSize: Int64(original.count), date: now).bytes)
        #expect(m.header("Subject") == "Successful Mail Delivery Report")
        #expect(m.parts().count == 3)
    }

    @Test func remoteTextIsSanitisedAndFolded() throws {
        let hostile =
            "550 5.1.1 bad\r\nBcc: victim@example.com\r\n\r\n--evil\u{0}\u{7}" + String(repeating: "x", count: 3000)
            + " " + String(repeating: "word ", count: 400)
        let report = failure([
            .init(
                address: address("bob@remote.example"), action: .failed, status: .badDestinationMailbox,
                remoteMTA: "mx\r\nX-Injected: 1", diagnostic: hostile)
        ])
        let r = report.render(original: original, originalSize: Int64(original.count), date: now)
        checkLines(r.bytes)
        let text = String(decoding: r.bytes, as: UTF8.self)
        #expect(!text.contains("\r\nBcc:"))
        #expect(!text.contains("\r\nX-Injected"))
        #expect(!text.contains("\u{0}") && !text.contains("\u{7}"))
        let status = try #require(ParsedMessage(r.bytes).parts().dropFirst().first)
        let diag = try #require(status.bodyText.components(separatedBy: "\r\n\r\n").dropFirst().first)
            .replacingOccurrences(of: "\r\n ", with: " ")
        #expect(diag.contains("Diagnostic-Code: smtp; 550 5.1.1 bad Bcc: victim@example.com --evil??"))
        #expect(diag.utf8.count < DeliveryReport.maxDiagnosticOctets + 400)
        #expect(DeliveryReport.sanitize(" a\r\n\tb\u{85}c\u{7F} ", allowUTF8: false) == "a b?c?")
        #expect(DeliveryReport.sanitize("dé", allowUTF8: false) == "d?")
        #expect(DeliveryReport.sanitize("dé", allowUTF8: true) == "dé")
    }

    @Test func internationalisedUsesGlobalTypes() throws {
        let report = DeliveryReport(
            reportingMTA: "mail.example.org", originalSender: path("<josé@example.org>"),
            arrivalDate: arrival,
            recipients: [
                .init(
                    address: address("用户@例子.example"), action: .failed, status: .badDestinationMailbox,
                    diagnostic: "550 5.1.1 unknown")
            ],
            smtpUTF8: true)
        let utf8Original = Array("From: josé@example.org\r\nSubject: héllo\r\n\r\nBody é\r\n".utf8)
        let r = report.render(original: utf8Original, originalSize: Int64(utf8Original.count), date: now)
        checkLines(r.bytes)
        #expect(r.needs8BitMIME && r.needsSMTPUTF8)
        let m = ParsedMessage(r.bytes)
        #expect(m.header("Content-Type")?.contains("report-type=global-delivery-status") == true)
        #expect(m.header("Content-Transfer-Encoding") == "8bit")
        let parts = m.parts()
        try #require(parts.count == 3)
        #expect(parts[1].header("Content-Type") == "message/global-delivery-status")
        #expect(parts[1].bodyText.contains("Final-Recipient: utf-8; 用户@例子.example\r\n"))
        #expect(parts[2].header("Content-Type") == "message/global")
        #expect(parts[2].header("Content-Transfer-Encoding") == "8bit")
    }

    @Test func eightBitBodyOnlyNeeds8BitMIME() {
        let body = Array("Subject: x\r\n\r\nCaf\u{E9}\r\n".utf8)
        let r = failure().render(original: body, originalSize: Int64(body.count), date: now)
        #expect(r.needs8BitMIME && !r.needsSMTPUTF8)
        #expect(ParsedMessage(r.bytes).parts().last?.header("Content-Type") == "message/rfc822")
    }

    @Test func boundaryNeverAppearsInOriginal() throws {
        let tricky = Array("Subject: x\r\n\r\n--=_petrel_U2_report\r\n".utf8)
        let r = failure().render(original: tricky, originalSize: Int64(tricky.count), date: now, uniqueID: "U2")
        let m = ParsedMessage(r.bytes)
        let type = try #require(m.header("Content-Type"))
        #expect(!type.contains("boundary=\"=_petrel_U2_report\""))
        #expect(m.parts().count == 3)
    }

    @Test func longLinesInOriginalAreNotEmbedded() {
        let long = Array(("Subject: x\r\n\r\n" + String(repeating: "a", count: 1200) + "\r\n").utf8)
        let r = failure().render(original: long, originalSize: Int64(long.count), date: now)
        #expect(r.returnedContent == .headersTooLarge)
        checkLines(r.bytes)
    }

    @Test func bounceRule() {
        let cases: [(String, DSNNotify, DeliveryReport.Kind, Bool)] = [
            ("<>", .default, .failure, false),
            ("<a@b.example>", .default, .failure, true),
            ("<a@b.example>", .default, .delay, true),
            ("<a@b.example>", .default, .success, false),
            ("<a@b.example>", .never, .failure, false),
            ("<a@b.example>", [.success], .success, true),
            ("<a@b.example>", [.success], .failure, false)
        ]
        for (sender, notify, kind, expected) in cases {
            #expect(BounceAddress.shouldNotify(sender: path(sender), notify: notify, kind: kind) == expected, "\(sender) \(notify) \(kind)")
        }
    }

    @Test func foldingKeepsEveryLineShort() {
        let folded = DeliveryReport.fold(name: "Diagnostic-Code", value: "smtp; " + String(repeating: "y", count: 2500))
        for line in folded.components(separatedBy: "\r\n") { #expect(line.utf8.count <= 998) }
        #expect(folded.components(separatedBy: "\r\n").count == 4)
        #expect(DeliveryReport.fold(name: "A", value: "b c") == "A: b c")
    }

    /// Cross-check with Python's `email` package (as the integration tests do), when python3 is present.
    @Test func pythonEmailPackageParsesTheReport() throws {
        let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let python else { return }
        let r = failure().render(original: original, originalSize: Int64(original.count), date: now)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-dsn-\(UUID().uuidString).eml")
        try Data(r.bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let script = """
            import email, email.policy, sys
            m = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=email.policy.default)
            assert m.get_content_type() == 'multipart/report', m.get_content_type()
            assert m.get_param('report-type') == 'delivery-status'
            parts = list(m.iter_parts())
            assert [p.get_content_type() for p in parts] == ['text/plain', 'message/delivery-status', 'message/rfc822'], [p.get_content_type() for p in parts]
            blocks = parts[1].get_payload()
            assert blocks[0]['Reporting-MTA'] == 'dns; mail.example.org'
            assert len(blocks) == 3 and blocks[1]['Action'] == 'failed' and blocks[1]['Status'] == '5.1.1'
            inner = parts[2].get_payload()[0]
            assert inner['Subject'] == 'hello', inner['Subject']
            assert not m.defects and all(not p.defects for p in parts), (m.defects, [p.defects for p in parts])
            print('ok')
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script, file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        process.waitUntilExit()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(output)")
        #expect(output.contains("ok"))
    }
}

@Suite struct DeliveryReportEdgeTests {
    @Test func oddSizesAndEmptyInputsNeverCrash() {
        let report = DeliveryReport(
            reportingMTA: "", originalSender: path("<>"), arrivalDate: Date(timeIntervalSince1970: 0),
            recipients: [.init(address: EmailAddress(localPart: "", domain: ""), action: .failed, status: .badDestinationMailbox)],
            returnSizeLimit: -1)
        for (bytes, size) in [([UInt8](), Int64(-5)), ([UInt8](), 0), (Array("X: y".utf8), 4), (Array("\r\n\r\n".utf8), 1 << 40)] {
            let r = report.render(original: bytes, originalSize: size, date: Date(timeIntervalSince1970: 0), uniqueID: "")
            checkLines(r.bytes)
            #expect(ParsedMessage(r.bytes).header("To") == "<postmaster@localhost>")
            #expect(ParsedMessage(r.bytes).parts().count == 3)
        }
    }
}
