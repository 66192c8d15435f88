/// `SizeText`: the quota size grammar of `petrel mailbox quota` (bytes, K, M, G, T as powers of 1024).
import MailCore
import Testing

@Suite struct SizeTextTests {
    static let valid: [(String, Int64)] = [
        ("0", 0), ("1000", 1000), ("1k", 1024), ("500M", 524_288_000), ("2G", 2_147_483_648),
        ("2g", 2_147_483_648), ("1T", 1_099_511_627_776), ("007K", 7168), ("999999999999999999", 999_999_999_999_999_999)
    ]

    @Test(arguments: valid)
    func parses(_ text: String, _ octets: Int64) throws {
        #expect(try SizeText.parse(text) == octets)
    }

    @Test(arguments: ["", "M", "-1", "1.5G", " 1G", "1G ", "1 G", "1GB", "1P", "١٢", "none", "1000000000000000000", "0x10"])
    func refuses(_ text: String) {
        #expect(throws: SizeText.Error.invalid(text)) { try SizeText.parse(text) }
    }

    @Test func productsThatOverflowAreTooLarge() {
        #expect(throws: SizeText.Error.tooLarge("99999999999T")) { try SizeText.parse("99999999999T") }
        #expect(throws: SizeText.Error.tooLarge("9000000000000000G")) { try SizeText.parse("9000000000000000G") }
    }

    @Test func formatsTheShortestExactText() throws {
        #expect(SizeText.format(500 * 1_048_576) == "500M")
        #expect(SizeText.format(1 << 30) == "1G")
        #expect(SizeText.format(1536) == "1536")
        #expect(SizeText.format(1000) == "1000")
        #expect(SizeText.format(0) == "0")
        for octets: Int64 in [1, 1024, 1025, 3 << 40, 123_456_789] {
            #expect(try SizeText.parse(SizeText.format(octets)) == octets)
        }
    }
}
