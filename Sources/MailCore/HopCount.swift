/// Mail loop detection by counting `Received:` trace fields (RFC 5321 §6.3, RFC 5322 §3.6.7). One rule
/// for both places that apply it: the SMTP server at the end of DATA / BDAT LAST (refuses with
/// 554 5.4.6, nothing stored) and the outbound queue before each delivery attempt (returns the message
/// with status 5.4.6).
///
/// RFC 5321 §6.3 suggests a large threshold ("normally at least 100"); common MTAs use less (Postfix
/// `hopcount_limit` = 50, Exim `received_headers_max` = 30). Petrel's default is 30 like Exim's, and
/// the rule is Exim's too: a message with MORE than `limit` `Received:` fields is a loop (5.4.6).
/// A real message crosses a handful of hops; 30 leaves ample room while stopping a loop between two
/// servers long before it costs much.
///
/// What counts: a line of the header section (up to the first empty line) whose field name is
/// `Received` in any case, optionally followed by spaces or tabs before the colon (obs-optional,
/// RFC 5322 §4.5). Folded continuation lines (starting with a space or tab) are not fields. Lines may
/// end in CRLF or a bare LF. The work is bounded: at most `scanLimit` octets are looked at
/// (`ReceivedFieldCounter` keeps a few integers of state, never the message).

/// Counts `Received:` header fields.
public struct HopCount: Hashable, Sendable {
    /// The default limit (see the file comment).
    public static let defaultLimit = 30
    /// The default number of octets scanned (a header section larger than this is cut short).
    public static let defaultScanLimit = 256 * 1024

    /// A message with more `Received:` fields than this is a loop. >= 1.
    public let limit: Int
    /// Octets of the message prefix looked at.
    public let scanLimit: Int

    /// `limit` and `scanLimit` below 1 are raised to 1.
    public init(limit: Int = HopCount.defaultLimit, scanLimit: Int = HopCount.defaultScanLimit) {
        self.limit = max(1, limit)
        self.scanLimit = max(1, scanLimit)
    }

    /// True when the message prefix has more than `limit` `Received:` fields.
    public func isLoop(_ message: some Collection<UInt8>) -> Bool {
        isLoop(count: Self.count(in: message, stopAfter: limit + 1, scanLimit: scanLimit))
    }

    /// True when a message with `count` `Received:` fields is a loop (more than `limit`).
    public func isLoop(count: Int) -> Bool { count > limit }

    /// A counter for a message that arrives in pieces, with this rule's scan limit.
    public func makeCounter() -> ReceivedFieldCounter { ReceivedFieldCounter(scanLimit: scanLimit) }

    /// The number of `Received:` fields in the header section of `message` (a prefix is enough),
    /// stopping once `stopAfter` have been seen or `scanLimit` octets were looked at.
    public static func count(
        in message: some Collection<UInt8>, stopAfter: Int = .max,
        scanLimit: Int = HopCount.defaultScanLimit
    ) -> Int {
        var counter = ReceivedFieldCounter(scanLimit: scanLimit, stopAfter: stopAfter)
        counter.feed(message)
        return counter.count
    }
}

/// header-section = *( field-name *WSP ":" ... CRLF / obs-continuation ) CRLF
/// field-name = 1*ftext ; compared case-insensitively with "Received"
///
/// Counts `Received:` fields in a message fed in any number of pieces: every split of the same bytes
/// gives the same count. State is a handful of integers; nothing is buffered. Counting ends at the end
/// of the header section (the first empty line), after `scanLimit` octets, or once `stopAfter` fields
/// were seen; later input is ignored (`isFinished`).
public struct ReceivedFieldCounter: Hashable, Sendable {
    private static let name: [UInt8] = Array("received".utf8)

    /// `Received:` fields seen so far.
    public private(set) var count = 0
    /// True once the end of the header section, the scan limit or `stopAfter` was reached.
    public private(set) var isFinished = false
    private let scanLimit: Int
    private let stopAfter: Int
    private var scanned = 0
    // Per line: position within the line; whether the line still matches "received" *WSP.
    private var column = 0
    private var matching = true // line so far equals a prefix of the pattern
    private var afterName = false // the 8 letters matched; now only WSP then ":" may follow
    private var lineDone = false // this line is already decided (counted or not a match)

    public init(scanLimit: Int = HopCount.defaultScanLimit, stopAfter: Int = .max) {
        self.scanLimit = max(0, scanLimit)
        self.stopAfter = stopAfter
        if scanLimit <= 0 || stopAfter <= 0 { isFinished = true }
    }

    /// Feeds the next octets of the message.
    public mutating func feed(_ bytes: some Sequence<UInt8>) {
        guard !isFinished else { return }
        // Arrays and slices: one pass over their storage. (Iterating a sequence through this generic
        // function, unspecialized across modules, allocated about once per octet.)
        let done: Void? = bytes.withContiguousStorageIfAvailable { feed(UnsafeRawBufferPointer($0)) }
        if done != nil { return }
        for byte in bytes {
            feed(byte)
            if isFinished { return }
        }
    }

    /// Feeds the next octets of the message.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes {
            guard !isFinished else { return }
            feed(byte)
        }
    }

    /// Feeds one octet.
    public mutating func feed(_ byte: UInt8) {
        guard !isFinished else { return }
        scanned += 1
        defer { if scanned >= scanLimit || count >= stopAfter { isFinished = true } }
        if byte == 0x0A { // LF ends the line (CRLF or bare LF)
            // An empty line (only LF or CR LF) ends the header section.
            if column == 0 {
                isFinished = true
                return
            }
            column = 0
            matching = true
            afterName = false
            lineDone = false
            return
        }
        if byte == 0x0D {
            // A CR belongs to the line ending; a line made of only CR LF is empty.
            if column == 0 { return }
            lineDone = true
            column += 1
            return
        }
        defer { column += 1 }
        if lineDone { return }
        if column == 0 && (byte == 0x20 || byte == 0x09) {
            lineDone = true // a folded continuation, not a field
            return
        }
        if afterName {
            if byte == 0x3A { // ":"
                count += 1
                lineDone = true
            } else if byte != 0x20 && byte != 0x09 {
                lineDone = true // e.g. "Received-SPF:"
            }
            return
        }
        if matching, column < Self.name.count, (byte | 0x20) == Self.name[column] {
            if column == Self.name.count - 1 { afterName = true }
        } else {
            matching = false
            lineDone = true
        }
    }
}
