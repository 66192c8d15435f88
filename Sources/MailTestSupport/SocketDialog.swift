/// The real-listener side of the dialog transcripts (see `DialogTranscript`): a connected blocking TCP
/// socket (the caller connects it to a server on 127.0.0.1:0 and sets its receive timeout).
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

public final class SocketDialog: DialogConnection {
    let fd: Int32
    var buffer: [UInt8] = []
    var eof = false

    /// Takes ownership of `fd` (closed by `close()` or on deinit).
    public init(fd: Int32) { self.fd = fd }

    deinit { close() }

    var open = true
    public func close() {
        if open { open = false; _ = systemClose(fd) }
    }

    public func send(lines: [String]) async throws {
        let bytes = Array(lines.map { $0 + "\r\n" }.joined().utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { systemSend(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw DialogFailure(file: "socket", line: 0, message: "send failed (errno \(errno))") }
            sent += n
        }
    }

    /// Reads more bytes; false at end of stream or on a timeout.
    func fill() -> Bool {
        guard !eof else { return false }
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { eof = true; return false }
        buffer += chunk[0..<n]
        return true
    }

    public func readLine() async throws -> String? {
        while true {
            if let lf = buffer.firstIndex(of: 0x0A) {
                var line = Array(buffer[..<lf])
                buffer.removeSubrange(...lf)
                if line.last == 0x0D { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            if !fill() { return nil }
        }
    }

    /// A socket cannot tell what the server will still send; the transcript's S: lines read it all.
    public func unreadLines() -> [String] { [] }

    /// True when the server closed the connection (EOF before the receive timeout) with nothing unread.
    public func isClosed() async throws -> Bool {
        guard buffer.isEmpty else { return false }
        var chunk = [UInt8](repeating: 0, count: 1)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 { buffer += chunk[0..<n] }
        // A reset (the server closed with input unread) is a close too; a timeout is not.
        return n == 0 || (n < 0 && errno == ECONNRESET)
    }
}

private func systemClose(_ fd: Int32) -> Int32 { close(fd) }

private func systemSend(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
        return send(fd, bytes, count, Int32(MSG_NOSIGNAL))
    #else
        return send(fd, bytes, count, 0)
    #endif
}
