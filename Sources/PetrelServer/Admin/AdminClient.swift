import Foundation

/// A minimal blocking HTTP/1.0 GET over a loopback TCP socket, for `petrel status` (and `petrel doctor`'s
/// "is it petrel on this port?" probe). POSIX sockets with send/receive timeouts; no redirects, no TLS.
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

public enum AdminClient {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        /// True when nothing listens there (connection refused).
        public var refused: Bool
    }

    /// Connects to host:port (numeric IPv4/IPv6 or "localhost") and returns (status code, body).
    public static func get(host: String, port: Int, path: String, timeoutSeconds: Int = 5) throws -> (Int, String) {
        let fd = try connect(host: host, port: port, timeoutSeconds: timeoutSeconds)
        defer { close(fd) }
        let request = "GET \(path) HTTP/1.0\r\nHost: \(host)\r\nConnection: close\r\n\r\n"
        var bytes = Array(request.utf8) // mutable for withUnsafeMutableBytes
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return -1 }
                return send(fd, base + sent, raw.count - sent, 0)
            }
            if n <= 0 { throw Failure(description: "cannot send the request: \(String(cString: strerror(errno)))", refused: false) }
            sent += n
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while response.count < 8 << 20 {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "no answer within \(timeoutSeconds)s", refused: false)
            }
            response.append(contentsOf: chunk[0..<n])
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let headEnd = text.range(of: "\r\n\r\n"), text.hasPrefix("HTTP/"),
            let code = text.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap({ Int($0) })
        else { throw Failure(description: "not an HTTP answer (is this the petrel admin port?)", refused: false) }
        return (code, String(text[headEnd.upperBound...]))
    }

    /// A connected TCP socket with send/receive timeouts.
    public static func connect(host: String, port: Int, timeoutSeconds: Int) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = host == "localhost" ? 0 : AI_NUMERICHOST
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let info = result else {
            throw Failure(description: "bad address \(host): \(String(cString: gai_strerror(rc)))", refused: false)
        }
        defer { freeaddrinfo(info) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))", refused: false) }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard systemConnect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let err = errno
            close(fd)
            throw Failure(description: "cannot connect to \(host):\(port): \(String(cString: strerror(err)))", refused: err == ECONNREFUSED)
        }
        return fd
    }
}

/// `connect(2)` at file scope, where the name is not shadowed by `AdminClient.connect`.
private func systemConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
    connect(fd, address, length)
}
