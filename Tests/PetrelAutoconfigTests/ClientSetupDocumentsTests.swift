/// The client set-up documents as text: XML escaping, the Autodiscover request parser (bounded),
/// listener order. The served documents are checked against a running server in
/// e2e/interop/test_autoconfig.py.
import Foundation
import MailCore
import PetrelAutoconfig
import Testing

@Suite struct ClientSetupDocumentsTests {
    static let profile = ClientSetupProfile(
        hostname: "mail.example.test",
        services: [
            .init(kind: .submission, port: 587, security: .startTLS),
            .init(kind: .pop3, port: 110, security: .startTLS),
            .init(kind: .submission, port: 465, security: .implicitTLS),
            .init(kind: .pop3, port: 995, security: .implicitTLS)
        ])

    @Test func implicitTLSComesFirst() {
        #expect(Self.profile.services(.pop3).map(\.port) == [995, 110])
        #expect(Self.profile.services(.submission).map(\.port) == [465, 587])
    }

    @Test func thunderbirdDocument() {
        let xml = ClientSetupDocuments.thunderbird(profile: Self.profile, domain: "ex<a>&mple.test")
        #expect(xml.contains("<domain>ex&lt;a&gt;&amp;mple.test</domain>"))
        #expect(xml.contains("<port>995</port>\n      <socketType>SSL</socketType>"))
        #expect(xml.contains("<port>587</port>\n      <socketType>STARTTLS</socketType>"))
        #expect(!xml.contains("<port>25</port>"))
    }

    /// With IMAP bound, every document prefers it: first incoming server, first Autodiscover protocol, the
    /// Apple profile's account type.
    @Test func imapIsPreferredWhenOffered() throws {
        let profile = ClientSetupProfile(
            hostname: "mail.example.test",
            services: Self.profile.services + [
                .init(kind: .imap, port: 143, security: .startTLS), .init(kind: .imap, port: 993, security: .implicitTLS)
            ])
        #expect(profile.services.first == .init(kind: .imap, port: 993, security: .implicitTLS))
        #expect(profile.incoming?.port == 993)
        let xml = ClientSetupDocuments.thunderbird(profile: profile, domain: "example.test")
        let imap = try #require(xml.range(of: "<incomingServer type=\"imap\">"))
        let pop3 = try #require(xml.range(of: "<incomingServer type=\"pop3\">"))
        #expect(imap.lowerBound < pop3.lowerBound)
        #expect(xml.contains("<port>993</port>\n      <socketType>SSL</socketType>"))
        let address = try #require(EmailAddress("ann@example.test"))
        let autodiscover = ClientSetupDocuments.autodiscover(profile: profile, address: address)
        let imapType = try #require(autodiscover.range(of: "<Type>IMAP</Type>"))
        let pop3Type = try #require(autodiscover.range(of: "<Type>POP3</Type>"))
        #expect(imapType.lowerBound < pop3Type.lowerBound)
        let plist = String(decoding: try ClientSetupDocuments.mobileconfig(profile: profile, address: address, identifierPrefix: ""), as: UTF8.self)
        #expect(plist.contains("<string>EmailTypeIMAP</string>") && plist.contains("<integer>993</integer>"))
        let popOnly = String(
            decoding: try ClientSetupDocuments.mobileconfig(profile: Self.profile, address: address, identifierPrefix: ""), as: UTF8.self)
        #expect(popOnly.contains("<string>EmailTypePOP</string>") && !popOnly.contains("EmailTypeIMAP"))
    }

    @Test func autodiscoverRequestParsing() {
        let body = "<Autodiscover><Request><EMailAddress> ann@example.test </EMailAddress></Request></Autodiscover>"
        #expect(ClientSetupDocuments.autodiscoverRequestAddress(body)?.description == "ann@example.test")
        #expect(ClientSetupDocuments.autodiscoverRequestAddress("<EMailAddress>not an address</EMailAddress>") == nil)
        #expect(ClientSetupDocuments.autodiscoverRequestAddress("<EMailAddress>unterminated") == nil)
        let huge = "<EMailAddress>" + String(repeating: "a", count: 5000) + "@x.test</EMailAddress>"
        #expect(ClientSetupDocuments.autodiscoverRequestAddress(huge) == nil)
        let response = ClientSetupDocuments.autodiscover(profile: Self.profile, address: EmailAddress("ann@example.test")!)
        #expect(response.contains("<Type>POP3</Type>") && response.contains("<Port>995</Port>") && response.contains("<Port>465</Port>"))
    }

    @Test func mobileconfigIsAPropertyList() throws {
        let data = try ClientSetupDocuments.mobileconfig(
            profile: Self.profile, address: try #require(EmailAddress("ann@example.test")),
            identifierPrefix: "")
        let plist = try #require(try PropertyListSerialization.propertyList(from: data, format: nil) as? [String: Any])
        let content = try #require(plist["PayloadContent"] as? [[String: Any]])
        #expect(content.first?["IncomingMailServerPortNumber"] as? Int == 995)
        #expect(content.first?["OutgoingMailServerPortNumber"] as? Int == 465)
        #expect(content.first?["EmailAccountType"] as? String == "EmailTypePOP")
    }
}
