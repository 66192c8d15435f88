/// libFuzzer target: the MIME parser (MailMIME) and everything IMAP computes from it — ENVELOPE,
/// BODYSTRUCTURE encoding, BODY[section] for a set of section specs, BINARY decoding, SEARCH matching.
///
/// Checks besides "no trap": the root part covers the whole input; every part's ranges lie inside the
/// message and the parent's; the tree is no deeper than `MIMELimits.maxDepth`; an encoded BODYSTRUCTURE
/// has balanced parentheses outside strings.
import IMAPCore
import MailMIME

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMIMEParser(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let message = MIMEMessage(bytes)
    if message.root.range != 0..<bytes.count { fatalError("root does not cover the message") }
    check(message.root, within: 0..<bytes.count, depth: 0)
    _ = message.envelope
    let structure = IMAPBodyStructure(message)
    let out = IMAPResponse.data(.fetch(1, [.bodyStructure(structure), .envelope(message.envelope)]))
        .encoded(utf8: bytes.first.map { $0 & 1 == 1 } ?? false)
    var depth = 0
    var inQuote = false
    var escaped = false
    var i = 0
    while i < out.count {
        let b = out[i]
        if inQuote {
            if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inQuote = false }
        } else if b == UInt8(ascii: "\"") {
            inQuote = true
        } else if b == UInt8(ascii: "{") {
            // A literal: skip "{n}\r\n" and n octets.
            var n = 0
            var j = i + 1
            while j < out.count, out[j] >= 0x30, out[j] <= 0x39 { n = n * 10 + Int(out[j] - 0x30); j += 1 }
            i = j + 3 + n
            continue
        } else if b == UInt8(ascii: "(") {
            depth += 1
        } else if b == UInt8(ascii: ")") {
            depth -= 1
            if depth < 0 { fatalError("unbalanced BODYSTRUCTURE") }
        }
        i += 1
    }
    if depth != 0 || inQuote { fatalError("unbalanced BODYSTRUCTURE") }
    let paths: [[Int]] = [[], [1], [2], [1, 1], [1, 2], [2, 1], [3, 1, 2], [1, 1, 1, 1]]
    for path in paths {
        for text: MIMESectionText? in [nil, .header, .text, .mime, .headerFields(["From", "subject"]), .headerFieldsNot(["Received"])] {
            _ = message.section(MIMESectionSpec(part: path, text: text))
        }
        _ = message.binary(path)
    }
    _ = message.textMatches(MIMESearchNeedle("ab"))
    _ = message.headerMatches("Subject", MIMESearchNeedle("é"))
    return 0
}

func check(_ part: MIMEPart, within parent: Range<Int>, depth: Int) {
    if depth > MIMELimits.maxDepth + 1 { fatalError("too deep") }
    if part.range.lowerBound < parent.lowerBound || part.range.upperBound > parent.upperBound { fatalError("part outside parent") }
    if part.bodyRange.lowerBound < part.header.range.upperBound { fatalError("body before header end") }
    for child in part.children { check(child, within: part.bodyRange, depth: depth + 1) }
}
