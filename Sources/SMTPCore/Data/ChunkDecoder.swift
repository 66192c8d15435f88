/// Checker for BDAT chunks (RFC 3030 §2, CHUNKING): the same strict CRLF, line-length and size checks
/// as `DataDecoder`, across chunk boundaries, without dot-unstuffing or an end marker. The adapter
/// counts the chunk size and feeds every octet of every kept chunk here.
///
/// - A bare CR or LF sets `.bareLineEnding` (the session fails the transaction, the connection stays).
/// - A NUL octet sets `.nulCharacter` (RFC 5322 §2.1, RFC 6152 §3; 554 5.6.0, the connection stays).
/// - Lines over `maxLineLength` (incl. CRLF) set `.lineTooLong`; more than `maxMessageSize` octets set
///   `.tooLarge`. After an error nothing more is appended.
/// - `finish` after the LAST chunk: a CR left dangling is `.bareLineEnding`; a last line without CRLF
///   gets CRLF appended (lenient, as Postfix does for a missing final newline).
/// - The kept octets pass through a `ReceivedFieldCounter` (`receivedFields`) across chunks, for the
///   mail-loop check after BDAT LAST (`HopCount`, RFC 5321 §6.3).
import MailCore

public struct ChunkDecoder: Sendable {
    public let maxMessageSize: Int
    public let maxLineLength: Int
    private var lineLength = 0
    private var sawCR = false
    public private(set) var error: BodyOutcome?
    public private(set) var octetsDecoded: Int64 = 0
    private var receivedCounter: ReceivedFieldCounter

    public init(maxMessageSize: Int, maxLineLength: Int, hopCount: HopCount = HopCount()) {
        self.maxMessageSize = maxMessageSize
        self.maxLineLength = maxLineLength
        self.receivedCounter = hopCount.makeCounter()
    }

    /// `Received:` header fields in the message so far (header section only, within the scan limit).
    public var receivedFields: Int { receivedCounter.count }

    /// Checks and appends `input`; all of it belongs to the body.
    public mutating func decode(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) {
        let maxContent = max(0, maxLineLength - 2)
        for byte in input {
            if error != nil { break }
            if sawCR {
                guard byte == 0x0A else { error = .bareLineEnding; break }
                sawCR = false
                lineLength = 0
            } else if byte == 0x0D {
                sawCR = true
            } else if byte == 0x0A {
                error = .bareLineEnding
                break
            } else if byte == 0 {
                error = .nulCharacter
                break
            } else {
                lineLength += 1
                if lineLength > maxContent { error = .lineTooLong; break }
            }
            octetsDecoded += 1
            if octetsDecoded > Int64(maxMessageSize) { error = .tooLarge; break }
        }
        if error == nil {
            output.append(contentsOf: input)
            receivedCounter.feed(input)
        }
    }

    /// Call after the LAST chunk. Appends CRLF when the message does not end with one.
    public mutating func finish(into output: inout [UInt8]) {
        guard error == nil else { return }
        if sawCR {
            error = .bareLineEnding
        } else if lineLength > 0 {
            output.append(contentsOf: [0x0D, 0x0A])
            receivedCounter.feed([0x0D, 0x0A])
            octetsDecoded += 2
            lineLength = 0
        }
    }
}
