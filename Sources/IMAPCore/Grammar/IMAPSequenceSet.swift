/// Message sets (RFC 9051 §9), for sequence numbers and UIDs.
///
/// ```
/// sequence-set    = (seq-number / seq-range) ["," sequence-set]
///                   / seq-last-command              ; RFC 9051 (SEARCHRES, RFC 5182)
/// seq-number      = nz-number / "*"
/// seq-range       = seq-number ":" seq-number
/// seq-last-command = "$"
/// ```
/// `*` is the largest number in use (the last message, or the highest UID); a range is the same whatever
/// the order of its ends (`4:2` is `2:4`).

/// One end of a range: a number or `*`.
public enum IMAPSequenceNumber: Hashable, Sendable {
    case number(UInt32)
    case last

    /// The value with `*` replaced by `last`.
    public func resolved(last: UInt32) -> UInt32 {
        switch self {
        case .number(let n): return n
        case .last: return last
        }
    }
}

public struct IMAPSequenceRange: Hashable, Sendable {
    public var first: IMAPSequenceNumber
    public var last: IMAPSequenceNumber

    public init(_ first: IMAPSequenceNumber, _ last: IMAPSequenceNumber) {
        self.first = first
        self.last = last
    }

    public init(_ single: UInt32) { self.init(.number(single), .number(single)) }
    public init(_ range: ClosedRange<UInt32>) { self.init(.number(range.lowerBound), .number(range.upperBound)) }

    /// The closed range with `*` replaced, ends in order.
    public func resolved(last star: UInt32) -> ClosedRange<UInt32> {
        let a = first.resolved(last: star), b = last.resolved(last: star)
        return min(a, b)...max(a, b)
    }
}

public enum IMAPSequenceSet: Hashable, Sendable {
    case ranges([IMAPSequenceRange])
    /// `$`: the result saved by the last SEARCH … RETURN (SAVE) (RFC 9051 §6.4.4.1, RFC 5182).
    case lastCommand

    /// A set from closed ranges.
    public init(_ ranges: [ClosedRange<UInt32>]) {
        self = .ranges(ranges.map(IMAPSequenceRange.init))
    }

    /// The most compact set of the given numbers (sorted, adjacent numbers joined into ranges).
    public static func compact(_ numbers: some Sequence<UInt32>) -> IMAPSequenceSet {
        .ranges(compactRanges(numbers).map(IMAPSequenceRange.init))
    }

    /// Sorted, de-duplicated numbers as closed ranges.
    public static func compactRanges(_ numbers: some Sequence<UInt32>) -> [ClosedRange<UInt32>] {
        let sorted = Array(Set(numbers)).sorted()
        var ranges: [ClosedRange<UInt32>] = []
        for n in sorted {
            if let last = ranges.last, last.upperBound < UInt32.max, last.upperBound + 1 == n {
                ranges[ranges.count - 1] = last.lowerBound...n
            } else {
                ranges.append(n...n)
            }
        }
        return ranges
    }

    /// Closed ranges sorted and merged (overlapping or adjacent ranges joined), so membership is a binary
    /// search and iteration never visits a number twice, however the client wrote the set.
    public static func merged(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var out: [ClosedRange<UInt32>] = []
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = out.last, r.lowerBound <= last.upperBound || (last.upperBound < UInt32.max && r.lowerBound == last.upperBound + 1) {
                out[out.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                out.append(r)
            }
        }
        return out
    }

    /// Whether `n` lies in merged ranges (binary search).
    public static func contains(_ merged: [ClosedRange<UInt32>], _ n: UInt32) -> Bool {
        var lo = 0, hi = merged.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if merged[mid].upperBound < n { lo = mid + 1 } else { hi = mid }
        }
        return lo < merged.count && merged[lo].contains(n)
    }

    // MARK: - Parsing

    /// `sequence-set` (RFC 9051 §9), including `$`.
    static func parse(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPSequenceSet {
        if p.consume(UInt8(ascii: "$")) { return .lastCommand }
        var ranges: [IMAPSequenceRange] = []
        repeat {
            let a = try parseNumber(&p)
            if p.consume(UInt8(ascii: ":")) {
                ranges.append(IMAPSequenceRange(a, try parseNumber(&p)))
            } else {
                ranges.append(IMAPSequenceRange(a, a))
            }
            guard ranges.count <= 100_000 else { throw IMAPParseError("Sequence set too long") }
        } while p.consume(UInt8(ascii: ","))
        return .ranges(ranges)
    }

    /// `seq-number = nz-number / "*"`
    static func parseNumber(_ p: inout IMAPParser) throws(IMAPParseError) -> IMAPSequenceNumber {
        if p.consume(UInt8(ascii: "*")) { return .last }
        do {
            return .number(try p.nzNumber())
        } catch {
            throw IMAPParseError("Invalid sequence set")
        }
    }

    /// Parses a whole string as a sequence set (tests and tools).
    public init(parsing text: String) throws(IMAPParseError) {
        var p = IMAPParser(Array(text.utf8))
        self = try IMAPSequenceSet.parse(&p)
        try p.end()
    }

    // MARK: - Encoding

    /// The wire form, e.g. `1:3,5,7:*`; `$` for `.lastCommand`.
    public var encoded: String {
        switch self {
        case .lastCommand:
            return "$"
        case .ranges(let ranges):
            return ranges.map { r in
                func s(_ n: IMAPSequenceNumber) -> String {
                    switch n {
                    case .number(let v): return String(v);
                    case .last: return "*"
                    }
                }
                return r.first == r.last ? s(r.first) : s(r.first) + ":" + s(r.last)
            }.joined(separator: ",")
        }
    }
}
