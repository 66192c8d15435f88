/// The ENVELOPE of a message (RFC 9051 §7.5.2): ten fields taken from the top-level header (or from the
/// header of an encapsulated message/rfc822 for BODYSTRUCTURE), raw octets as sent.
///
/// "If the Sender or Reply-To header lines are absent in the [RFC5322] header, or are present but empty,
/// the server sets the corresponding member of the envelope to be the same value as the from member."
public struct MIMEEnvelope: Sendable, Hashable {
    public var date: [UInt8]?
    public var subject: [UInt8]?
    public var from: [MIMEAddressItem]
    public var sender: [MIMEAddressItem]
    public var replyTo: [MIMEAddressItem]
    public var to: [MIMEAddressItem]
    public var cc: [MIMEAddressItem]
    public var bcc: [MIMEAddressItem]
    public var inReplyTo: [UInt8]?
    public var messageID: [UInt8]?

    /// The envelope of the message whose header is `header` in `bytes`.
    public init(header: MIMEHeader, in bytes: [UInt8]) {
        func value(_ name: String) -> [UInt8]? { header.value(name, in: bytes) }
        func addresses(_ name: String) -> [MIMEAddressItem] {
            // Several fields of one name (broken, but seen): their lists are concatenated.
            header.fields(named: name).flatMap { MIMEAddressList.parse(MIMEHeader.unfolded(bytes[$0.valueRange])) }
        }
        date = value("Date")
        subject = value("Subject")
        from = addresses("From")
        let s = addresses("Sender")
        sender = s.isEmpty ? from : s
        let r = addresses("Reply-To")
        replyTo = r.isEmpty ? from : r
        to = addresses("To")
        cc = addresses("Cc")
        bcc = addresses("Bcc")
        inReplyTo = value("In-Reply-To")
        messageID = value("Message-ID")
    }
}

extension MIMEMessage {
    /// The message's ENVELOPE.
    public var envelope: MIMEEnvelope { MIMEEnvelope(header: root.header, in: bytes) }
}
