/// The documents mail clients fetch to set themselves up, made from the listeners this server runs:
///
/// - Thunderbird autoconfig (`config-v1.1.xml`, the "clientConfig" format of Mozilla's ISPDB);
/// - Outlook's POX Autodiscover response (responseschema/2006a, `Protocol` elements for IMAP, POP3 and SMTP);
/// - an Apple configuration profile (`.mobileconfig`, a `com.apple.mail.managed` payload).
///
/// Pure functions of `ClientSetupProfile` and the user's address: no I/O.
import Foundation
import MailCore

/// One service a mail client can use.
public struct ClientSetupService: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// IMAP (RFC 9051) for reading; preferred over POP3 when both are offered.
        case imap
        /// POP3 (RFC 1939) for reading.
        case pop3
        /// Message submission (RFC 6409) for sending.
        case submission
    }

    public enum Security: String, Sendable, Equatable {
        /// TLS from the first byte (RFC 8314: IMAPS 993, POP3S 995, submissions 465).
        case implicitTLS
        /// STLS / STARTTLS on a plain connection (143, 110, 587).
        case startTLS
    }

    public var kind: Kind
    public var port: Int
    public var security: Security

    public init(kind: Kind, port: Int, security: Security) {
        self.kind = kind
        self.port = port
        self.security = security
    }
}

/// What every document describes: the host clients connect to and the services on it.
public struct ClientSetupProfile: Sendable, Equatable {
    /// The host name clients connect to (it should match the TLS certificate).
    public var hostname: String
    /// IMAP, then POP3, then submission; within each kind implicit TLS first (RFC 8314 §3).
    public var services: [ClientSetupService]

    public init(hostname: String, services: [ClientSetupService]) {
        self.hostname = hostname
        self.services = services.sorted { a, b in
            if a.kind != b.kind { return rank(a.kind) < rank(b.kind) }
            return a.security == .implicitTLS && b.security != .implicitTLS
        }
    }

    public func services(_ kind: ClientSetupService.Kind) -> [ClientSetupService] { services.filter { $0.kind == kind } }

    /// The service mail is read with: IMAP when offered, else POP3.
    public var incoming: ClientSetupService? { services(.imap).first ?? services(.pop3).first }
}

private func rank(_ kind: ClientSetupService.Kind) -> Int {
    switch kind {
    case .imap: return 0
    case .pop3: return 1
    case .submission: return 2
    }
}

public enum ClientSetupDocuments {
    /// Escapes text for XML element content and attribute values.
    static func xml(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default:
                // XML 1.0 §2.2: no control characters but tab, LF, CR.
                if scalar.value < 0x20 && scalar.value != 0x09 && scalar.value != 0x0A && scalar.value != 0x0D { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Thunderbird's autoconfig file for `domain`. The user name is the full address
    /// (`%EMAILADDRESS%`, which Thunderbird fills in).
    public static func thunderbird(profile: ClientSetupProfile, domain: String) -> String {
        func server(_ element: String, _ type: String, _ service: ClientSetupService) -> String {
            """
                <\(element) type="\(type)">
                  <hostname>\(xml(profile.hostname))</hostname>
                  <port>\(service.port)</port>
                  <socketType>\(service.security == .implicitTLS ? "SSL" : "STARTTLS")</socketType>
                  <username>%EMAILADDRESS%</username>
                  <authentication>password-cleartext</authentication>
                </\(element)>

            """
        }
        var body = ""
        // Thunderbird offers the first incoming server: IMAP before POP3.
        for service in profile.services(.imap) { body += server("incomingServer", "imap", service) }
        for service in profile.services(.pop3) { body += server("incomingServer", "pop3", service) }
        for service in profile.services(.submission) { body += server("outgoingServer", "smtp", service) }
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <clientConfig version="1.1">
              <emailProvider id="\(xml(domain))">
                <domain>\(xml(domain))</domain>
                <displayName>\(xml(domain)) mail</displayName>
                <displayShortName>\(xml(domain))</displayShortName>
            \(body)  </emailProvider>
            </clientConfig>

            """
    }

    /// The address in an Outlook POX Autodiscover request (`<EMailAddress>…</EMailAddress>`), or nil.
    public static func autodiscoverRequestAddress(_ body: String) -> EmailAddress? {
        guard let open = body.range(of: "<EMailAddress>", options: .caseInsensitive),
            let close = body.range(of: "</EMailAddress>", options: .caseInsensitive, range: open.upperBound..<body.endIndex)
        else { return nil }
        let text = body[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.utf8.count <= 320 else { return nil }
        return EmailAddress(text)
    }

    /// Outlook's POX Autodiscover response (MS-OXDSCLI, responseschema/2006a) for `address`.
    public static func autodiscover(profile: ClientSetupProfile, address: EmailAddress) -> String {
        func proto(_ type: String, _ service: ClientSetupService) -> String {
            """
                  <Protocol>
                    <Type>\(type)</Type>
                    <Server>\(xml(profile.hostname))</Server>
                    <Port>\(service.port)</Port>
                    <LoginName>\(xml(address.description))</LoginName>
                    <DomainRequired>off</DomainRequired>
                    <SPA>off</SPA>
                    <SSL>on</SSL>
                    <Encryption>\(service.security == .implicitTLS ? "SSL" : "TLS")</Encryption>
                    <AuthRequired>on</AuthRequired>
                  </Protocol>

            """
        }
        var protocols = ""
        if let imap = profile.services(.imap).first { protocols += proto("IMAP", imap) }
        if let pop3 = profile.services(.pop3).first { protocols += proto("POP3", pop3) }
        if let smtp = profile.services(.submission).first { protocols += proto("SMTP", smtp) }
        return """
            <?xml version="1.0" encoding="utf-8"?>
            <Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
              <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
                <Account>
                  <AccountType>email</AccountType>
                  <Action>settings</Action>
            \(protocols)    </Account>
              </Response>
            </Autodiscover>

            """
    }

    /// An Apple configuration profile with one mail account (IMAP in when offered, else POP3; submission
    /// out), as XML plist.
    /// Apple's payload has one server each way and only "use SSL": the implicit-TLS listener is chosen
    /// when there is one, else the STARTTLS one (Mail then upgrades with STLS/STARTTLS).
    public static func mobileconfig(profile: ClientSetupProfile, address: EmailAddress, identifierPrefix: String) throws -> Data {
        let reversed = profile.hostname.split(separator: ".").reversed().joined(separator: ".")
        let base = identifierPrefix.isEmpty ? reversed : identifierPrefix
        let incoming = profile.incoming
        let smtp = profile.services(.submission).first
        let account = AppleMailPayload(
            PayloadIdentifier: "\(base).mail.\(address.lookupKey)",
            PayloadUUID: UUID().uuidString,
            PayloadDisplayName: "Mail (\(address))",
            EmailAccountType: incoming?.kind == .imap ? "EmailTypeIMAP" : "EmailTypePOP",
            EmailAccountDescription: address.description,
            EmailAddress: address.description,
            IncomingMailServerHostName: profile.hostname,
            IncomingMailServerPortNumber: incoming?.port,
            IncomingMailServerUseSSL: incoming != nil,
            IncomingMailServerUsername: address.description,
            OutgoingMailServerHostName: profile.hostname,
            OutgoingMailServerPortNumber: smtp?.port,
            OutgoingMailServerUseSSL: smtp != nil,
            OutgoingMailServerUsername: address.description)
        let root = AppleProfile(
            PayloadIdentifier: "\(base).profile.\(address.lookupKey)",
            PayloadUUID: UUID().uuidString,
            PayloadDisplayName: "\(address.domain) mail",
            PayloadDescription:
                "Sets up the mail account \(address) (\(incoming?.kind == .imap ? "IMAP" : "POP3") and submission on \(profile.hostname)).",
            PayloadContent: [account])
        let encoder = PropertyListEncoder()
        encoder.outputFormat = .xml
        return try encoder.encode(root)
    }
}

/// The `Configuration` profile (Apple's Configuration Profile Reference); key names as Apple spells them.
struct AppleProfile: Encodable {
    var PayloadType = "Configuration"
    var PayloadVersion = 1
    var PayloadIdentifier: String
    var PayloadUUID: String
    var PayloadDisplayName: String
    var PayloadDescription: String
    var PayloadContent: [AppleMailPayload]
}

/// A `com.apple.mail.managed` payload for an IMAP or POP account.
struct AppleMailPayload: Encodable {
    var PayloadType = "com.apple.mail.managed"
    var PayloadVersion = 1
    var PayloadIdentifier: String
    var PayloadUUID: String
    var PayloadDisplayName: String
    var EmailAccountType: String
    var EmailAccountDescription: String
    var EmailAddress: String
    var IncomingMailServerHostName: String
    var IncomingMailServerPortNumber: Int?
    var IncomingMailServerUseSSL: Bool
    var IncomingMailServerAuthentication = "EmailAuthPassword"
    var IncomingMailServerUsername: String
    var OutgoingMailServerHostName: String
    var OutgoingMailServerPortNumber: Int?
    var OutgoingMailServerUseSSL: Bool
    var OutgoingMailServerAuthentication = "EmailAuthPassword"
    var OutgoingMailServerUsername: String
    var OutgoingPasswordSameAsIncomingPassword = true
}
