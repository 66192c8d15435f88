import Foundation
import MailMIME

/// The shared MIME corpus in Tests/Fixtures/mime (also used by the IMAP tests).
enum Corpus {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/mime")

    static func bytes(_ name: String) -> [UInt8] {
        (try? Array(Data(contentsOf: directory.appendingPathComponent(name)))) ?? []
    }

    static func message(_ name: String) -> MIMEMessage { MIMEMessage(bytes(name)) }

    static var all: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".eml") }.sorted()
    }
}

extension MIMEMessage {
    func text(_ range: Range<Int>) -> String { String(decoding: slice(range), as: UTF8.self) }
    func sectionText(_ spec: MIMESectionSpec) -> String? { section(spec).map { String(decoding: $0, as: UTF8.self) } }
}

func utf8(_ s: String) -> [UInt8] { Array(s.utf8) }
