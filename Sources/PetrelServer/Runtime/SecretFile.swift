import Foundation

/// A secret the configuration names by file (`[ldap] bind_password_file`, `[store] password_file`): read at
/// start-up, at most 4 KiB (a longer file, `/dev/zero` or a FIFO that never ends is refused after 4 KiB, never
/// read whole), UTF-8, trailing CR/LF removed, not empty. `key` names the setting in the error.
enum SecretFile {
    static let maxBytes = 4096

    static func read(_ path: String, key: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ServerStartError(message: "\(key) \(path) cannot be read")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.read(upToCount: maxBytes + 1) ?? Data()
        } catch {
            throw ServerStartError(message: "\(key) \(path) cannot be read: \(error.localizedDescription)")
        }
        guard data.count <= maxBytes else { throw ServerStartError(message: "\(key) \(path) is over 4 KiB") }
        guard let decoded = String(data: data, encoding: .utf8) else { throw ServerStartError(message: "\(key) \(path) is not UTF-8") }
        // By scalar: "\r\n" is one Character, so a Character-wise trim would leave a CRLF-ended file's line end.
        var scalars = decoded.unicodeScalars
        while let last = scalars.last, last == "\n" || last == "\r" { scalars.removeLast() }
        let text = String(scalars)
        guard !text.isEmpty else { throw ServerStartError(message: "\(key) \(path) is empty") }
        return text
    }
}
