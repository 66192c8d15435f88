/// Enhanced mail system status codes (RFC 3463), as carried in SMTP replies (RFC 2034)
/// and delivery status notifications (RFC 3464).
public struct EnhancedStatusCode: Hashable, Sendable, CustomStringConvertible {
    public enum Class: Int, Sendable { case success = 2, persistentTransientFailure = 4, permanentFailure = 5 }

    public var statusClass: Class
    public var subject: Int
    public var detail: Int

    public init(_ statusClass: Class, _ subject: Int, _ detail: Int) {
        self.statusClass = statusClass
        self.subject = subject
        self.detail = detail
    }

    public var description: String { "\(statusClass.rawValue).\(subject).\(detail)" }

    /// Parses "x.y.z" (RFC 3463 §2: class "." subject "." detail, subject and detail 1*3digit).
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
            let c = Int(parts[0]), let statusClass = Class(rawValue: c),
            parts[1].count <= 3, parts[2].count <= 3,
            let s = Int(parts[1]), let d = Int(parts[2]), s >= 0, d >= 0
        else { return nil }
        self.init(statusClass, s, d)
    }
}

extension EnhancedStatusCode {
    // 2.x.x
    public static let ok = Self(.success, 0, 0) // 2.0.0
    public static let senderOK = Self(.success, 1, 0) // 2.1.0
    public static let destinationOK = Self(.success, 1, 5) // 2.1.5
    public static let otherStatusOK = Self(.success, 5, 0) // 2.5.0
    public static let securityOK = Self(.success, 7, 0) // 2.7.0
    // 4.x.x
    public static let tempMailboxFull = Self(.persistentTransientFailure, 2, 2) // 4.2.2 (over quota)
    public static let tempSystem = Self(.persistentTransientFailure, 3, 0) // 4.3.0
    public static let tempSystemFull = Self(.persistentTransientFailure, 3, 1) // 4.3.1
    public static let tempNotAccepting = Self(.persistentTransientFailure, 3, 2) // 4.3.2
    public static let tempNetwork = Self(.persistentTransientFailure, 4, 0) // 4.4.0
    public static let tempTimeout = Self(.persistentTransientFailure, 4, 2) // 4.4.2
    public static let tempTooManyRecipients = Self(.persistentTransientFailure, 5, 3) // 4.5.3
    public static let tempSecurity = Self(.persistentTransientFailure, 7, 0) // 4.7.0
    // 5.x.x
    public static let badDestinationMailbox = Self(.permanentFailure, 1, 1) // 5.1.1 unknown user
    public static let badDestinationSyntax = Self(.permanentFailure, 1, 3) // 5.1.3
    public static let badSenderSyntax = Self(.permanentFailure, 1, 7) // 5.1.7
    public static let badSenderSystem = Self(.permanentFailure, 1, 8) // 5.1.8
    public static let nullMX = Self(.permanentFailure, 1, 10) // 5.1.10 (RFC 7505)
    public static let mailboxDisabled = Self(.permanentFailure, 2, 1) // 5.2.1
    public static let mailboxFull = Self(.permanentFailure, 2, 2) // 5.2.2
    public static let messageTooBigForMailbox = Self(.permanentFailure, 2, 3) // 5.2.3
    public static let messageTooBig = Self(.permanentFailure, 3, 4) // 5.3.4
    public static let routingLoop = Self(.permanentFailure, 4, 6) // 5.4.6
    public static let invalidCommand = Self(.permanentFailure, 5, 1) // 5.5.1
    public static let syntaxError = Self(.permanentFailure, 5, 2) // 5.5.2
    public static let tooManyRecipients = Self(.permanentFailure, 5, 3) // 5.5.3
    public static let invalidArguments = Self(.permanentFailure, 5, 4) // 5.5.4
    public static let wrongProtocolVersion = Self(.permanentFailure, 5, 5) // 5.5.5
    public static let lineTooLong = Self(.permanentFailure, 5, 6) // 5.5.6 (RFC 7.4: authentication exchange line too long; used for lines)
    public static let mediaNotSupported = Self(.permanentFailure, 6, 0) // 5.6.0
    public static let contentConversion = Self(.permanentFailure, 6, 3) // 5.6.3
    public static let nonASCIIAddress = Self(.permanentFailure, 6, 7) // 5.6.7 (RFC 6531)
    public static let securityPolicy = Self(.permanentFailure, 7, 0) // 5.7.0
    public static let deliveryNotAuthorized = Self(.permanentFailure, 7, 1) // 5.7.1 relay denied
    public static let authRequired = Self(.permanentFailure, 7, 0) // 5.7.0 (RFC 4954: 530 5.7.0)
    public static let authInvalid = Self(.permanentFailure, 7, 8) // 5.7.8 (RFC 4954)
    public static let encryptionRequired = Self(.permanentFailure, 7, 11) // 5.7.11
}
