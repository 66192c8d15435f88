/// The values that cross `IMAPMailboxAccess`.
import MailCore

/// A mailbox's identity in the store (stable across renames).
public struct IMAPMailboxID: Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }
}

/// One mailbox for LIST (RFC 9051 §6.3.9).
public struct IMAPMailboxInfo: Hashable, Sendable {
    public var name: String
    /// RFC 6154 attributes: `\Sent`, `\Drafts`, `\Trash`, `\Junk`, `\Archive`, `\All`, `\Flagged`.
    public var specialUse: [String]
    public var isSubscribed: Bool
    /// False for a subscription to a name that does not exist (RFC 9051 §6.3.7 allows it; LIST reports
    /// it as \NonExistent when subscriptions are asked for).
    public var exists: Bool

    public init(name: String, specialUse: [String] = [], isSubscribed: Bool = false, exists: Bool = true) {
        self.name = name
        self.specialUse = specialUse
        self.isSubscribed = isSubscribed
        self.exists = exists
    }
}

/// STATUS counts (RFC 9051 §6.3.11, RFC 7162 §3.1.6).
public struct IMAPMailboxStatus: Hashable, Sendable {
    public var messages: UInt32
    public var uidNext: UInt32
    public var uidValidity: UInt32
    public var unseen: UInt32
    public var deleted: UInt32
    /// The total size of the messages in octets (STATUS SIZE).
    public var size: UInt64
    public var highestModSeq: UInt64
    /// Messages with UID ≥ the mailbox's first recent UID: \Recent for the next session that selects it
    /// (STATUS RECENT, RFC 3501 §6.3.10).
    public var recent: UInt32

    public init(
        messages: UInt32, uidNext: UInt32, uidValidity: UInt32, unseen: UInt32, deleted: UInt32,
        size: UInt64, highestModSeq: UInt64, recent: UInt32 = 0
    ) {
        self.recent = recent
        self.messages = messages
        self.uidNext = uidNext
        self.uidValidity = uidValidity
        self.unseen = unseen
        self.deleted = deleted
        self.size = size
        self.highestModSeq = highestModSeq
    }
}

/// What SELECT needs: identity, counters, the UIDs (ascending) and the keywords in use.
public struct IMAPMailboxSnapshot: Hashable, Sendable {
    public var id: IMAPMailboxID
    public var name: String
    public var uidValidity: UInt32
    public var uidNext: UInt32
    public var highestModSeq: UInt64
    public var uids: [UInt32]
    /// Keywords used or defined in the mailbox (for the FLAGS response).
    public var keywords: [IMAPFlag]
    /// The UID of the first message without \Seen (IMAP4rev1 `[UNSEEN n]`).
    public var firstUnseenUID: UInt32?
    /// The UIDs this session claimed as \Recent (`IMAPMailboxAccess.claimRecent`); empty unless asked.
    public var recent: Range<UInt32> = 0..<0

    public init(
        id: IMAPMailboxID, name: String, uidValidity: UInt32, uidNext: UInt32, highestModSeq: UInt64,
        uids: [UInt32], keywords: [IMAPFlag] = [], firstUnseenUID: UInt32? = nil
    ) {
        self.id = id
        self.name = name
        self.uidValidity = uidValidity
        self.uidNext = uidNext
        self.highestModSeq = highestModSeq
        self.uids = uids
        self.keywords = keywords
        self.firstUnseenUID = firstUnseenUID
    }
}

/// A message's flags after a change, and the MODSEQ of that change.
public struct IMAPFlagChange: Hashable, Sendable {
    public var uid: UInt32
    public var flags: [IMAPFlag]
    public var modSeq: UInt64

    public init(uid: UInt32, flags: [IMAPFlag], modSeq: UInt64) {
        self.uid = uid
        self.flags = flags
        self.modSeq = modSeq
    }
}

/// Expunged messages since a MODSEQ: known from tombstones, or (when they were purged) the current UIDs
/// below the session's UIDNEXT, from which the core works out what went away.
public enum IMAPExpungedUIDs: Hashable, Sendable {
    case uids([UInt32])
    case unknown(currentUIDs: [UInt32])
}

public struct IMAPMailboxChanges: Hashable, Sendable {
    public var uidValidity: UInt32
    public var uidNext: UInt32
    public var highestModSeq: UInt64
    /// UIDs ≥ the known UIDNEXT now in the mailbox, ascending.
    public var newUIDs: [UInt32]
    /// Messages below the known UIDNEXT whose flags changed after the given MODSEQ.
    public var flagChanges: [IMAPFlagChange]
    public var expunged: IMAPExpungedUIDs
    /// The UIDs this session claimed as \Recent with the new messages; empty unless asked.
    public var recent: Range<UInt32> = 0..<0

    public init(
        uidValidity: UInt32, uidNext: UInt32, highestModSeq: UInt64, newUIDs: [UInt32] = [],
        flagChanges: [IMAPFlagChange] = [], expunged: IMAPExpungedUIDs = .uids([])
    ) {
        self.uidValidity = uidValidity
        self.uidNext = uidNext
        self.highestModSeq = highestModSeq
        self.newUIDs = newUIDs
        self.flagChanges = flagChanges
        self.expunged = expunged
    }
}

/// How much of a message FETCH or SEARCH needs.
public enum IMAPFetchContent: Int, Hashable, Sendable, Comparable {
    /// Index data only (UID, flags, internal date, size, MODSEQ).
    case none = 0
    /// The header section (up to and including the empty line).
    case header = 1
    /// The whole message.
    case full = 2

    public static func < (a: IMAPFetchContent, b: IMAPFetchContent) -> Bool { a.rawValue < b.rawValue }
}

/// The index data of one message.
public struct IMAPMessageMetadata: Hashable, Sendable {
    public var uid: UInt32
    public var flags: [IMAPFlag]
    public var internalDate: IMAPDateTime
    /// RFC822.SIZE: the exact octet count of the stored message.
    public var size: UInt64
    public var modSeq: UInt64

    public init(uid: UInt32, flags: [IMAPFlag], internalDate: IMAPDateTime, size: UInt64, modSeq: UInt64) {
        self.uid = uid
        self.flags = flags
        self.internalDate = internalDate
        self.size = size
        self.modSeq = modSeq
    }
}

/// A message as `fetch` returns it.
public struct IMAPStoredMessage: Hashable, Sendable {
    public var metadata: IMAPMessageMetadata
    /// The header or the whole message, as asked; nil for `.none`.
    public var content: [UInt8]?
    /// What the store knows about the whole stored message's octets (`IncomingMessage.storedForm` at
    /// delivery; empty when nothing is known, as for APPEND): FETCH skips the NUL scan when it says `.noNUL`.
    public var form: BodyForm

    public init(metadata: IMAPMessageMetadata, content: [UInt8]?, form: BodyForm = []) {
        self.metadata = metadata
        self.content = content
        self.form = form
    }
}

public enum IMAPFlagOperation: Hashable, Sendable {
    case add([IMAPFlag])
    case remove([IMAPFlag])
    case replace([IMAPFlag])
}

public struct IMAPStoreResult: Hashable, Sendable {
    /// Every targeted message that exists, with its flags after the operation and its MODSEQ.
    public var messages: [IMAPFlagChange]
    /// The UIDs whose flags actually changed (their MODSEQ is new).
    public var changed: [UInt32]
    /// UIDs not changed because their MODSEQ was greater than UNCHANGEDSINCE (RFC 7162 MODIFIED).
    public var failed: [UInt32]

    public init(messages: [IMAPFlagChange], changed: [UInt32], failed: [UInt32] = []) {
        self.messages = messages
        self.changed = changed
        self.failed = failed
    }
}

/// A message to store.
public struct IMAPAppendMessage: Hashable, Sendable {
    public var bytes: [UInt8]
    public var flags: [IMAPFlag]
    /// nil: now.
    public var internalDate: IMAPDateTime?

    public init(bytes: [UInt8], flags: [IMAPFlag] = [], internalDate: IMAPDateTime? = nil) {
        self.bytes = bytes
        self.flags = flags
        self.internalDate = internalDate
    }
}

public struct IMAPAppendResult: Hashable, Sendable {
    public var uidValidity: UInt32
    public var uid: UInt32

    public init(uidValidity: UInt32, uid: UInt32) {
        self.uidValidity = uidValidity
        self.uid = uid
    }
}

/// COPY/MOVE result: destination UIDVALIDITY and the UIDs pairwise (RFC 4315 COPYUID).
public struct IMAPCopyResult: Hashable, Sendable {
    public var uidValidity: UInt32
    public var sourceUIDs: [UInt32]
    public var destinationUIDs: [UInt32]

    public init(uidValidity: UInt32, sourceUIDs: [UInt32], destinationUIDs: [UInt32]) {
        self.uidValidity = uidValidity
        self.sourceUIDs = sourceUIDs
        self.destinationUIDs = destinationUIDs
    }
}

/// Why the store refused; each maps to a NO with a response code (RFC 5530).
public enum IMAPBackendError: Error, Hashable, Sendable {
    /// `[NONEXISTENT]` (or `[TRYCREATE]` for APPEND/COPY/MOVE targets)
    case nonexistent
    case alreadyExists
    case hasChildren
    /// `[CANNOT]` with a reason safe to show.
    case cannot(String)
    case overQuota
    case tooBig
    case noPerm
    case inUse
    case limit
    /// The selected mailbox was deleted or its UIDVALIDITY changed: the session ends (BYE).
    case mailboxGone
    /// `[UNAVAILABLE]`: try again later.
    case unavailable
    /// `[SERVERBUG]`: the store failed unexpectedly (details go to the log, not the client).
    case serverBug(String)
}
