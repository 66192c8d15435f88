/// Server responses (RFC 9051 §7) as typed values, and their encoding. Every byte the session sends is
/// produced here (through `IMAPWireWriter`).
///
/// ```
/// response-tagged = tag SP resp-cond-state CRLF
/// resp-cond-state = ("OK" / "NO" / "BAD") SP resp-text
/// resp-cond-bye   = "BYE" SP resp-text
/// resp-cond-auth  = ("OK" / "PREAUTH") SP resp-text
/// continue-req    = "+" SP (resp-text / base64) CRLF
/// response-data   = "*" SP (resp-cond-state / resp-cond-bye / mailbox-data / message-data /
///                   capability-data / enable-data) CRLF
/// ```
import MailCore
import MailMIME

public enum IMAPCondition: String, Hashable, Sendable {
    case ok = "OK"
    case no = "NO"
    case bad = "BAD"
    case bye = "BYE"
    case preauth = "PREAUTH"
}

/// A LIST or LSUB reply (RFC 9051 §7.3.1, RFC 5258 §3.4, RFC 6154 §2).
public struct IMAPListItem: Hashable, Sendable {
    public var attributes: [String]
    public var name: String
    /// RFC 5258 CHILDINFO (`("CHILDINFO" ("SUBSCRIBED"))`), when a match came from a subscribed child.
    public var childInfoSubscribed = false
    /// RFC 9051 §6.3.9.7 OLDNAME after a rename, when UTF-8 names differ from the rev1 ones (unused).
    public var oldName: String?

    public init(attributes: [String], name: String, childInfoSubscribed: Bool = false) {
        self.attributes = attributes
        self.name = name
        self.childInfoSubscribed = childInfoSubscribed
    }
}

/// One STATUS value (RFC 9051 §7.3.2).
public struct IMAPStatusValue: Hashable, Sendable {
    public var item: IMAPStatusItem
    public var value: UInt64

    public init(_ item: IMAPStatusItem, _ value: UInt64) {
        self.item = item
        self.value = value
    }
}

/// ESEARCH data (RFC 9051 §7.3.4, RFC 4731 §3.1, RFC 7162 §3.1.5).
public struct IMAPESearch: Hashable, Sendable {
    public var tag: String?
    public var uid: Bool
    public var min: UInt32?
    public var max: UInt32?
    public var all: IMAPSequenceSet?
    public var count: Int?
    public var modSeq: UInt64?

    public init(
        tag: String?, uid: Bool, min: UInt32? = nil, max: UInt32? = nil, all: IMAPSequenceSet? = nil,
        count: Int? = nil, modSeq: UInt64? = nil
    ) {
        self.tag = tag
        self.uid = uid
        self.min = min
        self.max = max
        self.all = all
        self.count = count
        self.modSeq = modSeq
    }
}

/// One quota resource (RFC 9208 §5.1): usage and limit (STORAGE in units of 1024 octets).
public struct IMAPQuotaResource: Hashable, Sendable {
    public var name: String
    public var usage: UInt64
    public var limit: UInt64

    public init(_ name: String, usage: UInt64, limit: UInt64) {
        self.name = name
        self.usage = usage
        self.limit = limit
    }
}

public enum IMAPResponseData: Hashable, Sendable {
    case capability([String])
    case enabled([String])
    case id([IMAPIDField]?)
    case list(IMAPListItem)
    case lsub(IMAPListItem)
    /// Personal namespaces (prefix, delimiter); other users' and shared are NIL.
    case namespace(personal: [(String, Character)])
    case status(mailbox: String, [IMAPStatusValue])
    case flags([IMAPFlag])
    case exists(UInt32)
    case recent(UInt32)
    case expunge(UInt32)
    /// RFC 7162 §3.2.10
    case vanished(earlier: Bool, IMAPSequenceSet)
    case fetch(UInt32, [IMAPFetchValue])
    case search([UInt32], modSeq: UInt64?)
    case esearch(IMAPESearch)
    case quota(root: String, [IMAPQuotaResource])
    case quotaRoot(mailbox: String, roots: [String])

    public static func == (a: IMAPResponseData, b: IMAPResponseData) -> Bool {
        a.encodedForComparison == b.encodedForComparison
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(encodedForComparison) }

    var encodedForComparison: [UInt8] { IMAPResponse.data(self).encoded(utf8: true) }
}

public enum IMAPResponse: Hashable, Sendable {
    case tagged(tag: String, IMAPCondition, IMAPResponseCode?, String)
    case untagged(IMAPCondition, IMAPResponseCode?, String)
    case data(IMAPResponseData)
    case continuation(String)
    /// `+ base64` (a SASL challenge).
    case continuationData([UInt8])

    /// The wire bytes, CRLF included.
    public func encoded(utf8: Bool) -> [UInt8] {
        var w = IMAPWireWriter(utf8: utf8)
        encode(into: &w)
        return w.bytes
    }

    public func encode(into w: inout IMAPWireWriter) {
        switch self {
        case .tagged(let tag, let condition, let code, let text):
            w.raw(tag)
            w.space()
            IMAPResponse.condition(condition, code, text, into: &w)
        case .untagged(let condition, let code, let text):
            w.raw("* ")
            IMAPResponse.condition(condition, code, text, into: &w)
        case .data(let data):
            w.raw("* ")
            data.encode(into: &w)
        case .continuation(let text):
            w.raw("+ ")
            w.raw(IMAPResponse.safeText(text))
        case .continuationData(let bytes):
            w.raw("+ ")
            w.raw(Base64.encode(bytes))
        }
        w.crlf()
    }

    /// `* seq FETCH (values)` CRLF, as `.data(.fetch(seq, values))` encodes it, with the values written as
    /// `values` hands them over (FETCH of many messages renders straight into the writer).
    static func encodeFetch(_ seq: UInt32, into w: inout IMAPWireWriter, _ values: ((IMAPFetchValue) -> Void) -> Void) {
        w.raw("* ")
        IMAPResponseData.fetch(seq, into: &w, values)
        w.crlf()
    }

    /// `resp-text = ["[" resp-text-code "]" SP] [text]`
    static func condition(_ c: IMAPCondition, _ code: IMAPResponseCode?, _ text: String, into w: inout IMAPWireWriter) {
        w.raw(c.rawValue)
        w.space()
        if let code {
            w.raw("[")
            code.encode(into: &w)
            w.raw("]")
            w.space()
        }
        w.raw(safeText(text.isEmpty ? "Done" : text))
    }

    /// `text = 1*TEXT-CHAR`: no CR or LF (replaced by spaces), no NUL.
    static func safeText(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0 == "\r" || $0 == "\n" || $0 == "\0" ? " " : $0 }))
    }
}

extension IMAPResponseData {
    /// `seq FETCH (values)`, the values written as `values` hands them over (no array of them needed).
    static func fetch(_ seq: UInt32, into w: inout IMAPWireWriter, _ values: ((IMAPFetchValue) -> Void) -> Void) {
        w.number(seq)
        w.raw(" FETCH (")
        var first = true
        values { value in
            if !first { w.space() }
            first = false
            value.encode(into: &w)
        }
        w.raw(")")
    }

    func encode(into w: inout IMAPWireWriter) {
        switch self {
        case .capability(let caps):
            w.raw("CAPABILITY " + caps.joined(separator: " "))
        case .enabled(let caps):
            w.raw("ENABLED")
            for c in caps { w.space(); w.raw(c) }
        case .id(let fields):
            // RFC 2971: id-response = "ID" SP id-params-list
            w.raw("ID ")
            guard let fields, !fields.isEmpty else { w.raw("NIL"); return }
            w.raw("(")
            for (i, f) in fields.enumerated() {
                if i > 0 { w.space() }
                w.string(f.name)
                w.space()
                w.nstring(f.value)
            }
            w.raw(")")
        case .list(let item):
            w.raw("LIST ")
            IMAPResponseData.listItem(item, into: &w)
        case .lsub(let item):
            w.raw("LSUB ")
            IMAPResponseData.listItem(item, into: &w)
        case .namespace(let personal):
            // RFC 2342 §5: Namespace = nil / "(" 1*( "(" string SP (<"> QUOTED_CHAR <"> / nil) ")" ) ")"
            w.raw("NAMESPACE ")
            if personal.isEmpty {
                w.raw("NIL")
            } else {
                w.raw("(")
                for (prefix, delimiter) in personal {
                    w.raw("(")
                    w.string(IMAPMailboxName.wire(prefix, utf8: w.utf8))
                    w.space()
                    w.quoted(Array(String(delimiter).utf8))
                    w.raw(")")
                }
                w.raw(")")
            }
            w.raw(" NIL NIL")
        case .status(let mailbox, let values):
            // status-att-list = status-att-val *(SP status-att-val)
            w.raw("STATUS ")
            w.mailbox(mailbox)
            w.raw(" (")
            w.raw(values.map { "\($0.item.rawValue) \($0.value)" }.joined(separator: " "))
            w.raw(")")
        case .flags(let flags):
            w.raw("FLAGS (")
            w.raw(flags.map(\.name).joined(separator: " "))
            w.raw(")")
        case .exists(let n): w.raw("\(n) EXISTS")
        case .recent(let n): w.raw("\(n) RECENT")
        case .expunge(let n): w.raw("\(n) EXPUNGE")
        case .vanished(let earlier, let set):
            w.raw(earlier ? "VANISHED (EARLIER) " : "VANISHED ")
            w.raw(set.encoded)
        case .fetch(let seq, let values):
            Self.fetch(seq, into: &w) { emit in
                for v in values { emit(v) }
            }
        case .search(let numbers, let modSeq):
            // mailbox-data =/ "SEARCH" *(SP nz-number) [SP search-sort-mod-seq]  (RFC 7162)
            w.raw("SEARCH")
            for n in numbers { w.space(); w.number(n) }
            if let modSeq { w.raw(" (MODSEQ \(modSeq))") }
        case .esearch(let e):
            // esearch-response = "ESEARCH" [search-correlator] [SP "UID"] *(SP search-return-data)
            w.raw("ESEARCH")
            if let tag = e.tag {
                w.raw(" (TAG ")
                w.string(tag)
                w.raw(")")
            }
            if e.uid { w.raw(" UID") }
            if let v = e.min { w.raw(" MIN \(v)") }
            if let v = e.max { w.raw(" MAX \(v)") }
            if let set = e.all { w.raw(" ALL \(set.encoded)") }
            if let c = e.count { w.raw(" COUNT \(c)") }
            if let m = e.modSeq { w.raw(" MODSEQ \(m)") }
        case .quota(let root, let resources):
            // quota-response = "QUOTA" SP quota-root-name SP quota-list
            w.raw("QUOTA ")
            w.string(root)
            w.raw(" (")
            w.raw(resources.map { "\($0.name) \($0.usage) \($0.limit)" }.joined(separator: " "))
            w.raw(")")
        case .quotaRoot(let mailbox, let roots):
            // quotaroot-response = "QUOTAROOT" SP mailbox *(SP quota-root-name)
            w.raw("QUOTAROOT ")
            w.mailbox(mailbox)
            for r in roots { w.space(); w.string(r) }
        }
    }

    /// `mailbox-list = "(" [mbx-list-flags] ")" SP (DQUOTE QUOTED-CHAR DQUOTE / nil) SP mailbox
    ///                 [SP mbox-list-extended]`
    static func listItem(_ item: IMAPListItem, into w: inout IMAPWireWriter) {
        w.raw("(")
        w.raw(item.attributes.joined(separator: " "))
        w.raw(") \"/\" ")
        w.mailbox(item.name)
        if item.childInfoSubscribed || item.oldName != nil {
            w.raw(" (")
            if item.childInfoSubscribed { w.raw("\"CHILDINFO\" (\"SUBSCRIBED\")") }
            if let old = item.oldName {
                if item.childInfoSubscribed { w.space() }
                w.raw("\"OLDNAME\" (")
                w.mailbox(old)
                w.raw(")")
            }
            w.raw(")")
        }
    }
}
