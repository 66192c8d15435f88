/// Slows down, then disconnects, a client that keeps sending RCPT for addresses this server refuses
/// (unknown local users, relay denied) — a directory-harvest or spam-run signal. Like Postfix's
/// `smtpd_soft_error_limit` / `smtpd_error_sleep_time` / `smtpd_hard_error_limit`, but counted only
/// on invalid recipients. Pure: the adapter applies the delay and the close.
public struct InvalidRecipientThrottle: Sendable, Equatable {
    public struct Settings: Sendable, Equatable {
        /// Invalid recipients answered at once; each further one waits `delay × (count − delayAfter)`.
        public var delayAfter: Int
        /// At this many invalid recipients the session gets 421 4.7.0 and is closed (0: never).
        public var disconnectAt: Int
        /// The delay step.
        public var delay: Duration
        /// The longest single delay.
        public var maxDelay: Duration

        public init(delayAfter: Int = 3, disconnectAt: Int = 8, delay: Duration = .seconds(1), maxDelay: Duration = .seconds(10)) {
            self.delayAfter = max(0, delayAfter)
            self.disconnectAt = max(0, disconnectAt)
            self.delay = delay
            self.maxDelay = maxDelay
        }
    }

    public enum Verdict: Sendable, Equatable {
        /// Answer the refused RCPT after this delay (zero: at once).
        case answer(after: Duration)
        /// Answer the refused RCPT, then 421 4.7.0 and close.
        case disconnect
    }

    public let settings: Settings
    /// Invalid recipients so far in this session.
    public private(set) var count = 0

    public init(settings: Settings) { self.settings = settings }

    /// Records one refused recipient.
    public mutating func recordInvalid() -> Verdict {
        count += 1
        if settings.disconnectAt > 0 && count >= settings.disconnectAt { return .disconnect }
        guard count > settings.delayAfter else { return .answer(after: .zero) }
        let steps = count - settings.delayAfter
        let delay = settings.delay * steps
        return .answer(after: min(delay, settings.maxDelay))
    }
}
