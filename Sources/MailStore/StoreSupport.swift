/// Helpers every MailStore backend shares: name normalisation (so all backends accept and reject
/// the same domain names and keys), the byte ordering used for sorting, chunked reading of
/// spooled `.file` message bodies, and the outbound queue rules both backends share.
///
/// Domain names follow RFC 5321 §4.1.2 `Domain` (with RFC 6531 U-labels) and are kept in their canonical
/// form, `IDNA.canonicalDomain` (lower case, A-labels; RFC 5890 §2.3.2.1, RFC 5891 §5.4): a domain added as
/// `bücher.example` is stored as `xn--bcher-kva.example` and mail to either spelling finds it.
/// `postmaster` is matched case-insensitively (RFC 5321 §4.5.1).
import Foundation
import MailCore

public enum StoreNames {
    /// Validates an administrator-given domain name and returns its canonical key (lower case, A-labels);
    /// `.invalidDomain` for bad syntax or an invalid IDN (bad Punycode, over-long A-label).
    /// Domain = sub-domain *("." sub-domain)   (RFC 5321 §4.1.2; no address literals, no trailing dot)
    public static func domain(_ text: String) throws -> String {
        guard let name = MailboxSyntax.normalizeDomain(text), let key = IDNA.canonicalKey(name) else {
            throw StoreError.invalidDomain(text)
        }
        return key
    }

    /// The key under which an address's domain is stored: its routing domain (`EmailAddress.routingDomain`),
    /// or (not a valid IDN) the lower-cased domain, which matches no stored domain.
    public static func domainKey(of address: EmailAddress) -> String {
        address.routingDomain ?? address.domain
    }

    /// The lookup key for an administrator-given mailbox text: a parsed address's `lookupKey`,
    /// else the text lower-cased (so it still matches nothing rather than failing oddly).
    public static func mailboxKey(_ text: String) -> String {
        if let address = EmailAddress(text) { return address.lookupKey }
        return text.lowercased()
    }

    /// True when the local part is `postmaster` in any case (RFC 5321 §4.5.1).
    public static func isPostmaster(_ address: EmailAddress) -> Bool {
        address.localPart.lowercased() == "postmaster"
    }

    /// Orders strings by their UTF-8 octets, as SQLite's BINARY collation does, so that every backend
    /// sorts the same way.
    public static func octetOrder(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}

/// Reads a spooled message body in chunks (never the whole file at once).
public struct SpoolFileReader: ~Copyable {
    /// Largest chunk handed out by `read`.
    public static let chunkSize = 256 * 1024
    private let handle: FileHandle
    private var remaining: Int64

    /// Opens `path`, which must hold at least `size` octets (only `size` are read).
    public init(path: String, size: Int64) throws {
        guard size >= 0 else { throw StoreError.backend("negative body size for \(path)") }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw StoreError.backend("cannot open spool file \(path)")
        }
        self.handle = handle
        self.remaining = size
    }

    deinit { try? handle.close() }

    /// The next chunk (at most `chunkSize` octets), or nil at the end of the declared size.
    /// Throws `.backend` when the file is shorter than declared.
    public mutating func read() throws -> [UInt8]? {
        guard remaining > 0 else { return nil }
        let want = Int(min(remaining, Int64(Self.chunkSize)))
        let data: Data?
        do {
            data = try handle.read(upToCount: want)
        } catch {
            throw StoreError.backend("cannot read spool file: \(error)")
        }
        guard let data, !data.isEmpty else { throw StoreError.backend("spool file shorter than its declared size") }
        remaining -= Int64(data.count)
        return Array(data)
    }
}

/// Rules of the outbound queue every backend applies the same way (see Queue.swift).
public enum QueueRules {
    /// The remote recipients of a message, duplicates (the same `EmailAddress.lookupKey`: case-insensitive,
    /// either IDN spelling) removed, the first occurrence kept, in order.
    public static func distinctRemoteRecipients(_ recipients: [OutboundRecipient]) -> [OutboundRecipient] {
        var seen = Set<String>()
        return recipients.filter { seen.insert($0.address.lookupKey).inserted }
    }

    /// A queue entry's stored envelope, parsed once where it is read (the store wrote `MailPath.description`
    /// and `EmailAddress.description`). `.backend` names the entry when a value does not parse (a hand-edited
    /// or damaged row): `petrel queue delete ID` removes it.
    public static func storedSender(_ text: String, entryID: Int64) throws -> MailPath {
        guard let path = MailPath(text) else {
            throw StoreError.backend("queue entry \(entryID): stored sender '\(text.prefix(80))' is not a reverse-path")
        }
        return path
    }

    public static func storedRecipient(_ text: String, entryID: Int64) throws -> EmailAddress {
        guard let address = EmailAddress(text) else {
            throw StoreError.backend("queue entry \(entryID): stored recipient '\(text.prefix(80))' is not an address")
        }
        return address
    }

    /// What `queueEntries(matching:)` looks for: an entry id when `text` is a decimal number
    /// (1*DIGIT that fits an Int64), else a queue id (compared case-sensitively).
    public enum Selector: Hashable, Sendable {
        case entryID(Int64)
        case queueID(String)
    }

    /// entry-id = 1*DIGIT
    public static func selector(_ text: String) -> Selector {
        if !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let id = Int64(text) {
            return .entryID(id)
        }
        return .queueID(text)
    }
}
