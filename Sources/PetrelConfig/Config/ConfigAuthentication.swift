/// `[authentication]`: DKIM signing of outgoing mail and SPF/DKIM/DMARC checks of incoming mail on port 25
/// (docs/AUTHENTICATION.md). On by default; the domain lists are per-domain overrides.
import MailCore
import TOMLKit

extension PetrelConfiguration {
    public struct Authentication: Sendable, Equatable {
        /// DKIM-sign messages from authenticated users whose From: domain is local and has keys.
        public var signOutbound = true
        /// SPF (MAIL FROM, HELO), DKIM and DMARC for unauthenticated mail on the port-25 listener.
        public var checkInbound = true
        /// Refuse DMARC p=reject failures with 550 5.7.1 (false: mark them as for quarantine).
        public var dmarcReject = true
        /// The authserv-id of Authentication-Results ("" = server.hostname).
        public var authservID = ""
        /// Local domains whose incoming mail is never refused for DMARC (marked instead).
        public var noRejectDomains: [String] = []
        /// Local domains whose incoming mail is not checked (no Authentication-Results, never refused).
        public var uncheckedDomains: [String] = []
        /// Local domains whose outgoing mail is not signed.
        public var unsignedDomains: [String] = []
        /// Seconds an SPF evaluation may take in all (RFC 7208 §4.6.4 suggests 20).
        public var spfTimeout = 20
        public init() {}
    }
}

extension ConfigReader {
    static let authenticationKeys: [String: Apply] = [
        "sign_outbound": { c, v in assign(boolean(v)) { c.authentication.signOutbound = $0 } },
        "check_inbound": { c, v in assign(boolean(v)) { c.authentication.checkInbound = $0 } },
        "dmarc_reject": { c, v in assign(boolean(v)) { c.authentication.dmarcReject = $0 } },
        "authserv_id": { c, v in assign(authservID(v)) { c.authentication.authservID = $0 } },
        "no_reject_domains": { c, v in assign(clientDomains(v)) { c.authentication.noRejectDomains = $0 } },
        "unchecked_domains": { c, v in assign(clientDomains(v)) { c.authentication.uncheckedDomains = $0 } },
        "unsigned_domains": { c, v in assign(clientDomains(v)) { c.authentication.unsignedDomains = $0 } },
        "spf_timeout": { c, v in assign(integer(v, 1...120)) { c.authentication.spfTimeout = $0 } }
    ]

    /// "" or a domain name (RFC 8601 authserv-id is a value; Petrel uses its host name form).
    static func authservID(_ value: any TOMLValueConvertible) -> Result<String, ValueError> {
        string(value).flatMap { s in
            if s.isEmpty { return .success("") }
            guard let name = MailboxSyntax.normalizeDomain(s) else {
                return .failure(ValueError(message: "must be \"\" or a host name such as \"mx.example.com\", got \(quoted(s))"))
            }
            return .success(name)
        }
    }
}
