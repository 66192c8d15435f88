import MailCore
import Testing

@Suite struct TLSInfoTests {
    @Test func valuesAndDescription() {
        let info = TLSInfo(version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384")
        #expect(info.description == "TLSv1.3 TLS_AES_256_GCM_SHA384")
        #expect(info == TLSInfo(version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384"))
        #expect(info != TLSInfo(version: "TLSv1.2", cipher: "TLS_AES_256_GCM_SHA384"))
    }
}
