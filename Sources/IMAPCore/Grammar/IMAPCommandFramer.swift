#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Command framing (RFC 9051 §2.2, §4.3, §7.5; RFC 7888 LITERAL+): cuts the client's byte stream into
/// complete commands, with the octets of every literal inline, before anything is parsed.
///
/// A line ending in a literal header — `{n}` (synchronizing), `{n+}` (non-synchronizing, LITERAL+),
/// `~{n}` / `~{n+}` (literal8, RFC 3516) — is followed by exactly n octets and then the rest of the
/// command. For a synchronizing literal the framer returns `.continuationRequest` first: the server must
/// send `+ …` before the client sends the octets (RFC 9051 §7.5). There is no `{n-}` form: LITERAL-
/// (RFC 7888 §4) uses `{n+}` limited to 4096 octets; `{n-}` is not a literal header, so such a line
/// ends the command and fails to parse (BAD).
///
/// Limits are enforced while bytes arrive, never after buffering them (swift-nio-imap's framing parser
/// does the same): a line longer than `maxLineLength` is reported as soon as the count passes the limit
/// and the rest of it is discarded as it arrives; a literal larger than its limit is refused from its
/// header, before any of its octets are read; the total size of one command (lines and literals other
/// than APPEND's message) is bounded by `maxCommandSize`. CRLF or a bare LF ends a line.

public struct IMAPFramingLimits: Hashable, Sendable {
    /// One line of a command (between literals), line end included. RFC 7162 §4 asks servers to accept at
    /// least 8192 octets; Dovecot accepts 64 KiB.
    public var maxLineLength: Int = 64 * 1024
    /// A literal in any command other than APPEND (passwords, search strings, mailbox names).
    public var maxLiteralSize: Int = 64 * 1024
    /// The literals of APPEND (the message): the APPENDLIMIT (RFC 7889).
    public var maxAppendSize: Int = 50 * 1024 * 1024
    /// Lines and non-APPEND literals of one command together.
    public var maxCommandSize: Int = 1024 * 1024
    /// Octets of an over-long line dropped before the framer gives up on the connection: a client that
    /// keeps one line going for this long is not talking IMAP, and under COMPRESS a few KiB it sends would
    /// otherwise cost the server gigabytes of inflating and scanning.
    public var maxDiscardedLine: Int = 1024 * 1024

    public init() {}
}

public enum IMAPFramingError: Hashable, Sendable {
    /// A line passed `maxLineLength` (or the command passed `maxCommandSize`); the command is dropped and
    /// the rest of the line is discarded as it arrives. The tag, when the first line had one.
    case lineTooLong(tag: String?)
    /// A literal announced more octets than allowed. For a synchronizing literal the client waits for a
    /// continuation that never comes: the command is dropped and the framer reads the next command. A
    /// non-synchronizing literal's octets are already on their way: the connection must be closed.
    case literalTooLarge(tag: String?, size: UInt64, synchronizing: Bool, isAppend: Bool)
    /// An over-long line went on past `maxDiscardedLine` more octets: nothing more is framed (the
    /// connection must be closed).
    case endlessLine
}

public enum IMAPFrame: Hashable, Sendable {
    /// A complete command: the octets from the tag up to (not including) the final line end, literals inline.
    case command([UInt8])
    /// In `.line` mode: one line without its line end (an AUTHENTICATE response, IDLE's DONE).
    case line([UInt8])
    /// A synchronizing literal was announced and accepted: send a continuation request (`+ …`).
    case continuationRequest
    case error(IMAPFramingError)
}

public struct IMAPCommandFramer: Sendable {
    public enum Mode: Hashable, Sendable {
        /// Commands with literals.
        case command
        /// Plain lines (no literals): SASL responses and DONE.
        case line
    }

    enum State: Hashable, Sendable {
        case line
        case literal(remaining: Int)
        /// Dropping the rest of an over-long line; how many octets were dropped so far.
        case discardLine(dropped: Int)
        /// After a refused non-synchronizing literal: nothing more is framed.
        case stopped
    }

    public let limits: IMAPFramingLimits
    public var mode: Mode = .command
    var state: State = .line
    var buffer: [UInt8] = []
    var readIndex = 0
    /// The command being assembled.
    var command: [UInt8] = []
    /// Where the current line starts in `command`.
    var lineStart = 0
    /// Octets of APPEND literals in `command` (not counted against `maxCommandSize`).
    var appendOctets = 0
    var isAppend: Bool? = nil

    public init(limits: IMAPFramingLimits = IMAPFramingLimits()) {
        self.limits = limits
    }

    /// Octets received but not yet framed, plus the part of the current command already framed.
    public var bufferedByteCount: Int { buffer.count - readIndex + command.count }

    /// Whether a command is partly received.
    public var isInsideCommand: Bool { !command.isEmpty || state != .line }

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        guard state != .stopped else { return }
        buffer.append(contentsOf: bytes)
    }

    /// Drops everything buffered and any partial command (STARTTLS: RFC 9051 §6.2.1, the CVE-2011-0411
    /// class of bug; COMPRESS).
    public mutating func discardBuffered() {
        buffer = []
        readIndex = 0
        resetCommand()
        if state != .stopped { state = .line }
    }

    /// Takes the octets received after the last framed command and not yet framed (COMPRESS: they are
    /// compressed, so they go back to the adapter to be inflated), and resets like `discardBuffered`.
    public mutating func takeBuffered() -> [UInt8] {
        let rest = readIndex < buffer.count ? Array(buffer[readIndex...]) : []
        discardBuffered()
        return rest
    }

    /// The index of the first LF at or after `start`, found with memchr (an over-long line is scanned at
    /// memory speed, not octet by octet).
    static func firstLineFeed(in buffer: [UInt8], from start: Int) -> Int? {
        guard start < buffer.count else { return nil }
        return buffer.withUnsafeBufferPointer { b -> Int? in
            guard let base = b.baseAddress, let hit = memchr(base + start, 0x0A, b.count - start) else { return nil }
            return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        }
    }

    mutating func resetCommand() {
        command = []
        lineStart = 0
        appendOctets = 0
        isAppend = nil
    }

    /// The next frame, or nil when more bytes are needed.
    public mutating func next() -> IMAPFrame? {
        defer { compact() }
        while readIndex < buffer.count || state == .literal(remaining: 0) {
            switch state {
            case .stopped:
                buffer = []
                readIndex = 0
                return nil
            case .literal(let remaining):
                let n = min(remaining, buffer.count - readIndex)
                command.append(contentsOf: buffer[readIndex..<(readIndex + n)])
                if isAppend == true { appendOctets += n }
                readIndex += n
                if remaining - n == 0 {
                    state = .line
                    lineStart = command.count
                } else {
                    state = .literal(remaining: remaining - n)
                    return nil
                }
            case .discardLine(let dropped):
                if let lf = Self.firstLineFeed(in: buffer, from: readIndex) {
                    readIndex = lf + 1
                    state = .line
                } else {
                    let total = dropped + (buffer.count - readIndex)
                    readIndex = buffer.count
                    guard total <= limits.maxDiscardedLine else {
                        state = .stopped
                        return .error(.endlessLine)
                    }
                    state = .discardLine(dropped: total)
                    return nil
                }
            case .line:
                if let frame = scanLine() { return frame }
            }
        }
        return nil
    }

    /// Moves the bytes of the current line into `command`; returns a frame when the line ended (or
    /// became too long).
    mutating func scanLine() -> IMAPFrame? {
        let lf = buffer[readIndex...].firstIndex(of: 0x0A)
        let end = lf.map { $0 + 1 } ?? buffer.count
        let lineLength = command.count - lineStart + (end - readIndex)
        if lineLength > limits.maxLineLength || command.count - appendOctets + (end - readIndex) > limits.maxCommandSize {
            let tag = command.isEmpty ? IMAPCommandFramer.tag(of: buffer[readIndex..<end]) : currentTag()
            resetCommand()
            if let lf {
                readIndex = lf + 1
            } else {
                readIndex = buffer.count
                state = .discardLine(dropped: 0)
            }
            return .error(.lineTooLong(tag: tag))
        }
        command.append(contentsOf: buffer[readIndex..<end])
        readIndex = end
        guard lf != nil else { return nil }
        // A whole line is in `command` from lineStart.
        var contentEnd = command.count - 1
        if contentEnd > lineStart, command[contentEnd - 1] == 0x0D { contentEnd -= 1 }
        if mode == .line {
            let line = Array(command[lineStart..<contentEnd])
            resetCommand()
            return .line(line)
        }
        if isAppend == nil { isAppend = firstLineIsAppend(contentEnd) }
        if let header = literalHeader(endingAt: contentEnd) {
            let limit = isAppend == true ? limits.maxAppendSize : limits.maxLiteralSize
            let fits =
                header.size <= UInt64(limit)
                && (isAppend == true || command.count - appendOctets + Int(header.size) <= limits.maxCommandSize)
            guard fits else {
                let tag = currentTag()
                let append = isAppend == true
                resetCommand()
                if !header.synchronizing { state = .stopped }
                return .error(
                    .literalTooLarge(
                        tag: tag, size: header.size, synchronizing: header.synchronizing,
                        isAppend: append))
            }
            state = .literal(remaining: Int(header.size))
            if header.synchronizing { return .continuationRequest }
            if header.size == 0 {
                state = .line
                lineStart = command.count
            }
            return nil
        }
        let frame = Array(command[0..<contentEnd])
        resetCommand()
        return .command(frame)
    }

    /// `~{n}`, `{n}`, `{n+}`, `~{n+}` at the end of the line content.
    func literalHeader(endingAt end: Int) -> (size: UInt64, synchronizing: Bool)? {
        guard end > lineStart, command[end - 1] == UInt8(ascii: "}") else { return nil }
        var i = end - 2
        var synchronizing = true
        if i >= lineStart, command[i] == UInt8(ascii: "+") {
            synchronizing = false
            i -= 1
        }
        let digitsEnd = i + 1
        while i >= lineStart, command[i] >= 0x30, command[i] <= 0x39 { i -= 1 }
        guard i >= lineStart, command[i] == UInt8(ascii: "{"), digitsEnd - (i + 1) >= 1, digitsEnd - (i + 1) <= 19 else {
            return nil
        }
        var size: UInt64 = 0
        for k in (i + 1)..<digitsEnd { size = size * 10 + UInt64(command[k] - 0x30) }
        return (size, synchronizing)
    }

    /// The tag of the command being framed (the first word of its first line), if it is a valid tag.
    func currentTag() -> String? { IMAPCommandFramer.tag(of: command[...]) }

    static func tag(of line: ArraySlice<UInt8>) -> String? {
        var i = line.startIndex
        while i < line.endIndex, i - line.startIndex < 256, IMAPParser.isAStringChar(line[i]), line[i] != UInt8(ascii: "+") { i += 1 }
        guard i > line.startIndex, i < line.endIndex, line[i] == 0x20 else { return nil }
        return String(decoding: line[line.startIndex..<i], as: UTF8.self)
    }

    /// Whether the first line is `tag SP APPEND SP …` (APPEND literals have their own limit).
    func firstLineIsAppend(_ end: Int) -> Bool {
        guard lineStart == 0, currentTag() != nil, let sp = command[0..<end].firstIndex(of: 0x20) else { return false }
        let word = Array("APPEND ".utf8)
        guard sp + 1 + word.count <= end else { return false }
        for k in 0..<word.count where IMAPParser.upper(command[sp + 1 + k]) != word[k] { return false }
        return true
    }

    mutating func compact() {
        if readIndex >= buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 64 * 1024)
            readIndex = 0
        } else if readIndex > 64 * 1024 {
            buffer.removeFirst(readIndex)
            readIndex = 0
        }
    }
}
