/// Where a password may travel without TLS (SMTP AUTH before STARTTLS, POP3 USER/PASS/AUTH before STLS;
/// RFC 3207 §4, RFC 2595 §2.2, RFC 8314 §4.1). TLS is required by default everywhere; an administrator
/// opens plaintext logins for
/// - everything (`[auth] allow_plaintext`, for tests on loopback),
/// - one listener (`plaintext_auth_listen` in `[smtp]`, `[submission]`, `[pop3]`: a socket on an internal
///   interface, like a Postfix master.cf service with `-o smtpd_tls_auth_only=no`), or
/// - clients in trusted networks on any listener (`[auth] plaintext_networks`, like Dovecot's
///   `login_trusted_networks`, for one socket shared by internal and external clients).
/// Pure: the listener's setting and the client's address come from the caller.
import MailCore

public enum PlaintextLogin {
    /// True when a client may log in without TLS: the listener allows it, or the client's address is in
    /// one of `trustedNetworks` (a client without an IP — not TCP — is in none).
    public static func allowed(listenerAllows: Bool, client: IPAddress?, trustedNetworks: [IPNetwork]) -> Bool {
        if listenerAllows { return true }
        guard let client else { return false }
        return trustedNetworks.contains { $0.contains(client) }
    }
}
