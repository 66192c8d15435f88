import Foundation

/// DKIM keys per domain under `<data_dir>/dkim/<domain>/`: one PEM file per selector (mode 0600, in a 0700
/// directory) and `keys.json`, the list of selectors with their state. Rotation (docs/AUTHENTICATION.md):
/// `rotate` adds a `next` pair to publish in DNS; `activate` makes it `active` (signing) and the old
/// pair `retired` (still published until `purge`, so mail in transit verifies).
public struct DKIMKeyStore: Sendable {
    public enum State: String, Codable, Sendable { case active, next, retired }

    public struct Entry: Codable, Sendable, Equatable {
        public var selector: String
        public var algorithm: String
        public var state: State
        public var created: String

        public var dkimAlgorithm: DKIMAlgorithm? { DKIMAlgorithm(rawValue: algorithm) }
    }

    public struct StoreError: Error, CustomStringConvertible {
        public var description: String
    }

    public let directory: String

    public init(dataDirectory: String) {
        self.directory = dataDirectory + "/dkim"
    }

    /// Domain names become directory names: lower-case A-labels only (no "/", no "..").
    func domainDirectory(_ domain: String) throws -> String {
        let d = domain.lowercased()
        guard !d.isEmpty, d.utf8.count <= 253, !d.hasPrefix("."), !d.contains(".."),
            d.unicodeScalars.allSatisfy({ $0.isASCIIAlnum || $0 == "-" || $0 == "." })
        else {
            throw StoreError(description: "'\(domain)' is not a domain name in A-label form")
        }
        return directory + "/" + d
    }

    public func list(_ domain: String) throws -> [Entry] {
        let path = try domainDirectory(domain) + "/keys.json"
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        do {
            return try JSONDecoder().decode([Entry].self, from: data)
        } catch {
            throw StoreError(description: "\(path) is not readable: \(error)")
        }
    }

    /// Domains that have a key directory.
    public func domains() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    private func save(_ entries: [Entry], domain: String) throws {
        let dir = try domainDirectory(domain)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(entries)
        let tmp = dir + "/keys.json.tmp"
        try Self.writeFile(tmp, data: Array(data), mode: 0o644)
        guard rename(tmp, dir + "/keys.json") == 0 else {
            throw StoreError(description: "cannot write \(dir)/keys.json: \(String(cString: strerror(errno)))")
        }
    }

    /// Writes a new file with `mode` from the start (no moment with wider permissions).
    static func writeFile(_ path: String, data: [UInt8], mode: mode_t) throws {
        unlink(path)
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode)
        guard fd >= 0 else { throw StoreError(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var offset = 0
        while offset < data.count {
            let n = data[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw StoreError(description: "cannot write \(path): \(String(cString: strerror(errno)))") }
            offset += n
        }
        guard fsync(fd) == 0 else { throw StoreError(description: "cannot sync \(path)") }
    }

    private func makeDirectory(_ path: String) throws {
        for p in [directory, path] {
            if mkdir(p, 0o700) != 0 && errno != EEXIST {
                throw StoreError(description: "cannot create \(p): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// New keys (Ed25519 and RSA-2048) in `state`, with selectors "ed25519-YYYYMMDD" / "rsa-YYYYMMDD"
    /// (a letter appended when the day's name is taken).
    private func addPair(_ domain: String, state: State, now: Date, entries: inout [Entry]) throws -> [Entry] {
        let dir = try domainDirectory(domain)
        try makeDirectory(dir)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd"
        let day = formatter.string(from: now)
        formatter.dateFormat = "yyyy-MM-dd"
        let created = formatter.string(from: now)
        var added: [Entry] = []
        for alg in [DKIMAlgorithm.ed25519, .rsa] {
            let base = "\(alg.keyType)-\(day)"
            var selector = base
            var suffix = UnicodeScalar("a").value
            while entries.contains(where: { $0.selector == selector }) || FileManager.default.fileExists(atPath: "\(dir)/\(selector).pem") {
                guard let s = UnicodeScalar(suffix) else { break }
                selector = base + String(Character(s))
                suffix += 1
            }
            let key = try DKIMPrivateKey.generate(alg)
            try Self.writeFile("\(dir)/\(selector).pem", data: Array(key.pemRepresentation.utf8), mode: 0o600)
            let entry = Entry(selector: selector, algorithm: alg.rawValue, state: state, created: created)
            entries.append(entry)
            added.append(entry)
        }
        try save(entries, domain: domain)
        return added
    }

    /// First keys of a domain (active at once). Refused if the domain already has active keys.
    @discardableResult
    public func generate(_ domain: String, now: Date = Date()) throws -> [Entry] {
        var entries = try list(domain)
        if entries.contains(where: { $0.state == .active }) {
            throw StoreError(description: "\(domain) already has active DKIM keys; use `petrel dkim rotate`")
        }
        return try addPair(domain, state: .active, now: now, entries: &entries)
    }

    /// Step 1 of a rotation: a new pair in state `next` (published by `petrel dns`, not used to sign).
    @discardableResult
    public func rotate(_ domain: String, now: Date = Date()) throws -> [Entry] {
        var entries = try list(domain)
        if entries.contains(where: { $0.state == .next }) {
            throw StoreError(description: "\(domain) already has keys waiting (state next); publish them and run `petrel dkim activate`")
        }
        if !entries.contains(where: { $0.state == .active }) {
            return try addPair(domain, state: .active, now: now, entries: &entries)
        }
        return try addPair(domain, state: .next, now: now, entries: &entries)
    }

    /// Step 2: `next` keys sign from now on; the `active` ones become `retired`.
    @discardableResult
    public func activate(_ domain: String) throws -> [Entry] {
        var entries = try list(domain)
        guard entries.contains(where: { $0.state == .next }) else {
            throw StoreError(description: "\(domain) has no keys in state next; run `petrel dkim rotate` first")
        }
        for i in entries.indices {
            switch entries[i].state {
            case .active: entries[i].state = .retired
            case .next: entries[i].state = .active
            case .retired: break
            }
        }
        try save(entries, domain: domain)
        return entries
    }

    /// Step 3: deletes the retired keys (after their DNS records have been removed).
    @discardableResult
    public func purge(_ domain: String) throws -> [Entry] {
        let dir = try domainDirectory(domain)
        var entries = try list(domain)
        for e in entries where e.state == .retired { unlink("\(dir)/\(e.selector).pem") }
        entries.removeAll { $0.state == .retired }
        try save(entries, domain: domain)
        return entries
    }

    public func privateKey(_ domain: String, _ entry: Entry) throws -> DKIMPrivateKey {
        let path = try domainDirectory(domain) + "/\(entry.selector).pem"
        guard let alg = entry.dkimAlgorithm else { throw StoreError(description: "unknown algorithm \(entry.algorithm)") }
        guard let data = FileManager.default.contents(atPath: path) else { throw StoreError(description: "cannot read \(path)") }
        return try DKIMPrivateKey.fromPEM(String(decoding: data, as: UTF8.self), algorithm: alg)
    }

    /// The keys to sign with (state active).
    public func signingKeys(_ domain: String) throws -> [DKIMSigner.Key] {
        try list(domain).filter { $0.state == .active }.map {
            DKIMSigner.Key(domain: domain.lowercased(), selector: $0.selector, privateKey: try privateKey(domain, $0))
        }
    }

    /// The modification time of keys.json (to cache loaded keys), nil when absent.
    public func stamp(_ domain: String) -> Date? {
        guard let dir = try? domainDirectory(domain),
            let attrs = try? FileManager.default.attributesOfItem(atPath: dir + "/keys.json")
        else { return nil }
        return attrs[.modificationDate] as? Date
    }
}
