import Testing

@testable import SMTPCore

@Suite struct SMTPBodyEncoderTests {
    private func encoded(_ text: String) -> String {
        String(decoding: SMTPBodyEncoder.encodeAll(Array(text.utf8)), as: UTF8.self)
    }

    @Test(arguments: [
        ("Subject: x\r\n\r\nhello\r\n", "Subject: x\r\n\r\nhello\r\n.\r\n"),
        (".leading\r\n", "..leading\r\n.\r\n"),
        ("a\r\n.\r\n..b\r\n", "a\r\n..\r\n...b\r\n.\r\n"),
        ("no final newline", "no final newline\r\n.\r\n"),
        ("", ".\r\n"),
        ("bare\nlf\n.dot\n", "bare\r\nlf\r\n..dot\r\n.\r\n"),
        ("bare\rcr\r.x", "bare\r\ncr\r\n..x\r\n.\r\n"),
        ("ends with cr\r", "ends with cr\r\n.\r\n"),
        ("a.b\r\n x.\r\n", "a.b\r\n x.\r\n.\r\n")
    ])
    func encoding(_ input: String, _ expected: String) {
        #expect(encoded(input) == expected)
    }

    /// Chunk boundaries anywhere (inside CRLF, before a dot) give the same octets.
    @Test func everySplitGivesTheSameOutput() {
        let input = Array("x\r\n.a\r\n\r\n..\r\nb\nc\r.d".utf8)
        let whole = SMTPBodyEncoder.encodeAll(input)
        for split in 0...input.count {
            var encoder = SMTPBodyEncoder()
            var out = encoder.encode(input[..<split])
            out += encoder.encode(input[split...])
            out += encoder.finish()
            #expect(out == whole, "split at \(split)")
        }
        #expect(String(decoding: whole, as: UTF8.self) == "x\r\n..a\r\n\r\n...\r\nb\r\nc\r\n..d\r\n.\r\n")
    }
}
