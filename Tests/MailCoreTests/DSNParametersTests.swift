import Testing

@testable import MailCore

@Suite struct DSNParametersTests {
    @Test(
        arguments: [
            ("NEVER", DSNNotify.never), ("never", .never), ("SUCCESS", .success), ("FAILURE,DELAY", [.failure, .delay]),
            ("delay,success,failure", [.success, .failure, .delay])
        ] as [(String, DSNNotify)])
    func notifyParses(text: String, expected: DSNNotify) {
        #expect(DSNNotify(parameter: text) == expected)
    }

    @Test(arguments: ["", "NEVER,SUCCESS", "SUCCESS,SUCCESS", "FAILURE,", ",FAILURE", "SOMETIMES", "FAILURE DELAY"])
    func notifyRejects(text: String) {
        #expect(DSNNotify(parameter: text) == nil)
    }

    @Test func notifyDescription() {
        #expect(DSNNotify.never.description == "NEVER")
        #expect(DSNNotify.default.description == "FAILURE,DELAY")
        #expect(DSNNotify([.delay, .success]).description == "SUCCESS,DELAY")
        #expect(DSNNotify(parameter: DSNNotify.default.description) == .default)
    }

    @Test func xtextDecodes() {
        #expect(XText.decode("plain") == "plain")
        #expect(XText.decode("a+2Bb+3Dc") == "a+b=c")
        #expect(XText.decode("+C3+BC") == "ü")
        #expect(XText.decode("") == "")
    }

    @Test(arguments: ["a+2", "a+", "a+2b", "a+ZZ", "a=b", "a b", "a\u{7F}", "+FF"])
    func xtextRejects(text: String) {
        #expect(XText.decode(text) == nil)
    }

    @Test(arguments: ["a+b=c", "with space", "ü@bücher.test", "", "++==", "rfc822;a@b"])
    func xtextRoundTrips(text: String) {
        let encoded = XText.encode(text)
        #expect(encoded.utf8.allSatisfy { $0 >= 33 && $0 <= 126 && $0 != UInt8(ascii: "=") })
        #expect(XText.decode(encoded) == text)
    }
}
