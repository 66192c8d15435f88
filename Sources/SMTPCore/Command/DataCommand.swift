/// DATA (RFC 5321 §4.1.1.4) and BDAT (RFC 3030 §2, CHUNKING).
import MailCore

extension SMTPCommandParser {
    /// data = "DATA" CRLF
    static func parseData(_ argument: ArraySlice<UInt8>?) -> Result<SMTPCommand, SMTPReply> {
        guard argument == nil || argument?.isEmpty == true else { return .failure(.syntax("DATA")) }
        return .success(.data)
    }

    /// bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CRLF
    /// chunk-size = 1*DIGIT ; end-marker = "LAST"
    ///
    /// Any failure here is `.badChunkSize`: without a size the octets that follow cannot be skipped,
    /// so the session closes the connection after the reply.
    static func parseBdat(_ argument: ArraySlice<UInt8>?) -> Result<SMTPCommand, SMTPReply> {
        guard let argument, !argument.isEmpty else { return .failure(.badChunkSize) }
        let parts = argument.split(separator: 0x20, omittingEmptySubsequences: true)
        guard parts.count == 1 || parts.count == 2, let sizeBytes = parts.first,
            sizeBytes.count <= 19, sizeBytes.allSatisfy({ (0x30...0x39).contains($0) }),
            let size = Int(String(decoding: sizeBytes, as: UTF8.self))
        else { return .failure(.badChunkSize) }
        if parts.count == 2 {
            guard upperASCII(parts[1]) == "LAST", parts[1].count == 4 else { return .failure(.badChunkSize) }
            return .success(.bdat(size: size, last: true))
        }
        return .success(.bdat(size: size, last: false))
    }
}
