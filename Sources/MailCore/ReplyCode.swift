/// SMTP basic reply codes (RFC 5321 §4.2), named so callers never write a bare number.
/// The comment after each names where the RFC defines or requires it.
public struct ReplyCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }

    public var isPositiveCompletion: Bool { (200..<300).contains(rawValue) }
    public var isPositiveIntermediate: Bool { (300..<400).contains(rawValue) }
    public var isTransientFailure: Bool { (400..<500).contains(rawValue) }
    public var isPermanentFailure: Bool { (500..<600).contains(rawValue) }

    public static let systemStatus = Self(211) // rfc5321 §4.2.3
    public static let helpMessage = Self(214) // rfc5321 §4.2.3
    public static let serviceReady = Self(220) // rfc5321 §4.2.3, greeting
    public static let closing = Self(221) // rfc5321 §4.2.3
    public static let authSucceeded = Self(235) // rfc4954 §6
    public static let ok = Self(250) // rfc5321 §4.2.3
    public static let userNotLocalWillForward = Self(251) // rfc5321 §3.4
    public static let cannotVerify = Self(252) // rfc5321 §3.5.3
    public static let authContinue = Self(334) // rfc4954 §4
    public static let startMailInput = Self(354) // rfc5321 §4.2.3
    public static let serviceNotAvailable = Self(421) // rfc5321 §3.8, closing
    public static let mailboxUnavailableTemp = Self(450) // rfc5321 §4.2.3
    public static let localError = Self(451) // rfc5321 §4.2.3
    public static let insufficientStorage = Self(452) // rfc5321 §4.2.3 (also too many recipients, §4.5.3.1.10)
    public static let tempAuthFailure = Self(454) // rfc4954 §6, rfc3207 §4
    public static let paramsNotAccommodated = Self(455) // rfc5321 §4.2.3
    public static let syntaxError = Self(500) // rfc5321 §4.2.3, also line too long
    public static let syntaxErrorInParameters = Self(501) // rfc5321 §4.2.3
    public static let commandNotImplemented = Self(502) // rfc5321 §4.2.3
    public static let badSequence = Self(503) // rfc5321 §4.2.3
    public static let parameterNotImplemented = Self(504) // rfc5321 §4.2.3
    public static let authRequired = Self(530) // rfc4954 §6
    public static let authCredentialsInvalid = Self(535) // rfc4954 §6
    public static let mailboxUnavailable = Self(550) // rfc5321 §4.2.3 (also relay denied at RCPT, §4.3.2)
    public static let userNotLocal = Self(551) // rfc5321 §4.2.3
    public static let exceededStorage = Self(552) // rfc5321 §4.2.3, rfc1870 (size)
    public static let mailboxNameNotAllowed = Self(553) // rfc5321 §4.2.3
    public static let transactionFailed = Self(554) // rfc5321 §4.2.3
    public static let paramsNotRecognized = Self(555) // rfc5321 §4.2.3
    public static let notAcceptingMail = Self(521) // rfc7504 §3 (also bare LF close, as Postfix)
}
