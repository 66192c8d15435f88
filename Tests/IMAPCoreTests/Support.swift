import Foundation
import IMAPCore
import IMAPTestSupport
import MailMIME

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func mime(_ name: String) -> [UInt8] {
        (try? Array(Data(contentsOf: root.appendingPathComponent("mime/\(name)")))) ?? []
    }

    static func transcript(_ name: String) -> String {
        (try? String(contentsOf: root.appendingPathComponent("imap/\(name)"), encoding: .utf8)) ?? ""
    }

    static var transcripts: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("imap").path)) ?? [])
            .filter { $0.hasSuffix(".txt") }.sorted()
    }
}

/// Parses one command line (CRLF-free), literals inline.
func parse(_ line: String) -> Result<IMAPTaggedCommand, IMAPCommandError> {
    IMAPCommandParser.parse(bytes(line))
}

func command(_ line: String) -> IMAPCommand? {
    if case .success(let c) = parse(line) { return c.command }
    return nil
}

func parseError(_ line: String) -> IMAPCommandError? {
    if case .failure(let e) = parse(line) { return e }
    return nil
}

/// Frames everything in `input` fed at once.
func frames(_ input: String, limits: IMAPFramingLimits = IMAPFramingLimits(), mode: IMAPCommandFramer.Mode = .command) -> [IMAPFrame] {
    var f = IMAPCommandFramer(limits: limits)
    f.mode = mode
    f.append(bytes(input))
    var out: [IMAPFrame] = []
    while let frame = f.next() { out.append(frame) }
    return out
}

/// Frames `input` fed in pieces of `size` octets.
func frames(_ input: [UInt8], pieceSize size: Int, limits: IMAPFramingLimits = IMAPFramingLimits()) -> [IMAPFrame] {
    var f = IMAPCommandFramer(limits: limits)
    var out: [IMAPFrame] = []
    var i = 0
    while i < input.count {
        f.append(input[i..<min(input.count, i + size)])
        i += size
        while let frame = f.next() { out.append(frame) }
    }
    return out
}
