/// Computes FETCH response items (RFC 9051 §6.4.5, §7.5.2) from a stored message: index data from the
/// metadata, everything else from the message octets parsed by `MailMIME`. Pure, so an adapter may run it
/// off the event loop if it wants to.
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
        let m = message.metadata
        var parsed: MIMEMessage? = nil
        func mime() -> MIMEMessage {
            if let parsed { return parsed }
            let p = MIMEMessage(message.content ?? [])
            parsed = p
            return p
        }
        var values: [IMAPFetchValue] = []
        var unknownCTE = false
        // Duplicates are dropped; a FETCH names a handful of items, so a linear look back is cheaper than
        // hashing each of them for every message (a long list, which only a hostile client sends, is hashed).
        var seen = Set<IMAPFetchAttribute>()
        let hashed = items.count > 16
        for (index, item) in items.enumerated() {
            if hashed ? !seen.insert(item).inserted : items[..<index].contains(item) { continue }
            switch item {
            case .flags: values.append(.flags(m.flags))
            case .uid: values.append(.uid(m.uid))
            case .internalDate: values.append(.internalDate(m.internalDate))
            case .rfc822Size: values.append(.rfc822Size(m.size))
            case .modSeq: values.append(.modSeq(m.modSeq))
            case .envelope: values.append(.envelope(mime().envelope))
            case .body: values.append(.body(IMAPBodyStructure(mime())))
            case .bodyStructure: values.append(.bodyStructure(IMAPBodyStructure(mime())))
            case .rfc822: values.append(.rfc822(message.content ?? []))
            case .rfc822Header: values.append(.rfc822Header(mime().section(MIMESectionSpec(text: .header)) ?? []))
            case .rfc822Text: values.append(.rfc822Text(mime().section(MIMESectionSpec(text: .text)) ?? []))
            case .bodySection(let spec, let partial, _):
                // The whole message (BODY[], the usual download) is the stored octets: no MIME parse.
                let data = spec.part.isEmpty && spec.text == nil ? (message.content ?? []) : mime().section(spec)
                if let partial {
                    values.append(.bodySection(spec, origin: partial.offset, data.map { partial.apply($0) }))
                } else {
                    values.append(.bodySection(spec, origin: nil, data))
                }
            case .binary(let part, let partial, _):
                switch mime().binary(part) {
                case .success(let data):
                    values.append(.binary(part: part, origin: partial?.offset, partial.map { $0.apply(data) } ?? data))
                case .failure(.noSuchPart):
                    values.append(.binary(part: part, origin: partial?.offset, nil))
                case .failure(.unknownTransferEncoding):
                    unknownCTE = true
                }
            case .binarySize(let part):
                switch mime().binary(part) {
                case .success(let data): values.append(.binarySize(part: part, UInt64(data.count)))
                case .failure(.noSuchPart): values.append(.binarySize(part: part, 0))
                case .failure(.unknownTransferEncoding): unknownCTE = true
                }
            }
        }
        if addFlags, !items.contains(.flags) { values.append(.flags(m.flags)) }
        if addModSeq, !items.contains(.modSeq) { values.append(.modSeq(m.modSeq)) }
        return Output(values: values, unknownCTE: unknownCTE)
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
