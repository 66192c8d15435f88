/// Computes FETCH response items (RFC 9051 §6.4.5, §7.5.2) from a stored message: index data from the
/// metadata, everything else from the message octets parsed by `MailMIME`. Pure, so an adapter may run it
/// off the event loop if it wants to.
import MailCore
import MailMIME

public enum IMAPFetchRenderer {
    public struct Output: Sendable {
        public var values: [IMAPFetchValue]
        /// A BINARY item met a Content-Transfer-Encoding the server cannot decode (RFC 3516 §4.3).
        public var unknownCTE: Bool
    }

    /// The values for `items`, in request order (duplicates dropped), then FLAGS when `addFlags` (an
    /// implicit \Seen changed them) and MODSEQ when `addModSeq`.
    public static func render(
        _ message: IMAPStoredMessage, items: [IMAPFetchAttribute], addFlags: Bool = false,
        addModSeq: Bool = false
    ) -> Output {
        var values: [IMAPFetchValue] = []
        let unknownCTE = render(message, uniqueItems: unique(items), addFlags: addFlags, addModSeq: addModSeq) {
            values.append($0)
        }
        return Output(values: values, unknownCTE: unknownCTE)
    }

    /// `items` without duplicates, in order: what `render(_:uniqueItems:…)` takes (a FETCH does this once,
    /// not once per message).
    public static func unique(_ items: [IMAPFetchAttribute]) -> [IMAPFetchAttribute] {
        // A FETCH names a handful of items, so a linear look back is cheaper than hashing each of them (a long
        // list, which only a hostile client sends, is hashed).
        if items.count > 16 {
            var seen = Set<IMAPFetchAttribute>()
            return items.filter { seen.insert($0).inserted }
        }
        return items.enumerated().filter { !items[..<$0.offset].contains($0.element) }.map(\.element)
    }

    /// The values for `items` (no duplicates: `unique`), handed to `emit` one at a time in request order
    /// (no array of them), then FLAGS when `addFlags` and MODSEQ when `addModSeq`. Returns whether a
    /// BINARY item met a Content-Transfer-Encoding the server cannot decode.
    public static func render(
        _ message: IMAPStoredMessage, uniqueItems items: [IMAPFetchAttribute], addFlags: Bool = false,
        addModSeq: Bool = false, emit: (IMAPFetchValue) -> Void
    ) -> Bool {
        let m = message.metadata
        var parsed: MIMEMessage? = nil
        func mime() -> MIMEMessage {
            if let parsed { return parsed }
            let p = MIMEMessage(message.content ?? [])
            parsed = p
            return p
        }
        func text(_ octets: [UInt8]) -> IMAPMessageText { IMAPMessageText(octets, form: message.form) }
        var unknownCTE = false
        var hasFlags = false
        var hasModSeq = false
        for item in items {
            switch item {
            case .flags:
                hasFlags = true
                emit(.flags(m.flags))
            case .uid: emit(.uid(m.uid))
            case .internalDate: emit(.internalDate(m.internalDate))
            case .rfc822Size: emit(.rfc822Size(m.size))
            case .modSeq:
                hasModSeq = true
                emit(.modSeq(m.modSeq))
            case .envelope: emit(.envelope(mime().envelope))
            case .body: emit(.body(IMAPBodyStructure(mime())))
            case .bodyStructure: emit(.bodyStructure(IMAPBodyStructure(mime())))
            case .rfc822: emit(.rfc822(text(message.content ?? [])))
            case .rfc822Header: emit(.rfc822Header(text(mime().section(MIMESectionSpec(text: .header)) ?? [])))
            case .rfc822Text: emit(.rfc822Text(text(mime().section(MIMESectionSpec(text: .text)) ?? [])))
            case .bodySection(let spec, let partial, _):
                // The whole message (BODY[], the usual download) is the stored octets: no MIME parse.
                let data = spec.part.isEmpty && spec.text == nil ? (message.content ?? []) : mime().section(spec)
                if let partial {
                    emit(.bodySection(spec, origin: partial.offset, data.map { text(partial.apply($0)) }))
                } else {
                    emit(.bodySection(spec, origin: nil, data.map(text)))
                }
            case .binary(let part, let partial, _):
                switch mime().binary(part) {
                case .success(let data):
                    emit(.binary(part: part, origin: partial?.offset, partial.map { $0.apply(data) } ?? data))
                case .failure(.noSuchPart):
                    emit(.binary(part: part, origin: partial?.offset, nil))
                case .failure(.unknownTransferEncoding):
                    unknownCTE = true
                }
            case .binarySize(let part):
                switch mime().binary(part) {
                case .success(let data): emit(.binarySize(part: part, UInt64(data.count)))
                case .failure(.noSuchPart): emit(.binarySize(part: part, 0))
                case .failure(.unknownTransferEncoding): unknownCTE = true
                }
            }
        }
        if addFlags, !hasFlags { emit(.flags(m.flags)) }
        if addModSeq, !hasModSeq { emit(.modSeq(m.modSeq)) }
        return unknownCTE
    }

    /// The content the items need from the store.
    public static func contentNeeded(_ items: [IMAPFetchAttribute]) -> IMAPFetchContent {
        var content = IMAPFetchContent.none
        for item in items where item.needsContent {
            content = max(content, item.needsHeaderOnly ? .header : .full)
        }
        return content
    }
}
