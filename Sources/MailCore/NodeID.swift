/// The id of one Petrel node: the owner recorded on the queue leases it takes (docs/QUEUE.md "Leases",
/// docs/SCALING.md), shown in logs and `petrel queue list`.
///
/// Configured with `[server] node_id`, or generated once: the host name and 8 random hex digits
/// (`mx1.example.org-3fa29c01`), kept in `<data_dir>/node-id` (PetrelServer `DataDirectoryLock`) so a
/// restarted node is the same owner and takes back its dead run's leases at start; two processes on one
/// host never share one (each data directory serves one process).
public enum NodeID {
    /// Longest node id.
    public static let maxLength = 64

    /// A fresh id for `hostname` (trimmed to what `isValid` accepts).
    public static func generate(hostname: String = "petrel") -> String {
        var random = SystemRandomNumberGenerator()
        let suffix = String(random.next() & 0xFFFF_FFFF, radix: 16)
        let padded = String(repeating: "0", count: 8 - suffix.count) + suffix
        let host = String(hostname.lowercased().unicodeScalars.filter { isAllowed($0) }.prefix(maxLength - 9).map(Character.init))
        return (host.isEmpty ? "petrel" : host) + "-" + padded
    }

    /// 1 to 64 of `A-Z a-z 0-9 . _ -`: fits a log line and a column, needs no quoting.
    public static func isValid(_ text: String) -> Bool {
        !text.isEmpty && text.unicodeScalars.count <= maxLength && text.unicodeScalars.allSatisfy(isAllowed)
    }

    static func isAllowed(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F: return true
        default: return false
        }
    }
}
