/// Blocking LDAP operations over OpenLDAP's libldap (CPetrelLDAP), with a small pool of reused
/// connections. Called from a thread pool only (every call may block up to the configured timeout).
import CPetrelLDAP
import Foundation
import Synchronization

/// How the connection to the directory is protected.
public enum LDAPTransport: String, Sendable, Equatable, CaseIterable {
    /// `ldap://` then the StartTLS extended operation (RFC 4513 §3); the certificate is verified.
    case starttls
    /// `ldaps://`; the certificate is verified.
    case ldaps
    /// `ldap://` in plain text: passwords cross the network readable. Only with `allow_plaintext`.
    case none
}

/// Settings of the `ldap` backend (`[ldap]` in the config, see docs/ACCOUNTS.md).
public struct LDAPSettings: Sendable, Equatable {
    /// The schema flavour whose default filter applies.
    public enum Flavor: String, Sendable, Equatable, CaseIterable {
        case openldap
        case activedirectory = "ad"

        public var defaultFilter: String {
            switch self {
            case .openldap: return "(mail=%s)"
            case .activedirectory: return "(|(userPrincipalName=%s)(mail=%s)(proxyAddresses=smtp:%s))"
            }
        }
    }

    /// `ldap://host:port` or `ldaps://host:port` (several, space-separated, are tried in order by libldap).
    public var uri: String
    public var transport: LDAPTransport = .starttls
    /// PEM file of the CA(s) that sign the directory's certificate; nil = the system's trust store.
    public var caFile: String?
    /// The service account that searches for users; nil = anonymous search.
    public var bindDN: String?
    /// Its password (read from `bind_password_file` at start-up).
    public var bindPassword: String?
    /// Where users are searched (subtree).
    public var base: String
    public var flavor: Flavor = .openldap
    /// The search filter; `%s` is the address (or the whole login name), `%u` its local part, `%d` its domain,
    /// each escaped (RFC 4515 §3). nil = the flavour's default.
    public var filter: String?
    /// The attribute whose value names the user's mailbox (aliases deliver there).
    public var mailAttribute: String = "mail"
    /// Bounds the connect and each operation.
    public var timeoutMilliseconds: Int = 5000
    /// How long a recipient lookup's answer is reused (seconds): found / not found.
    public var positiveCacheSeconds: Int = 60
    public var negativeCacheSeconds: Int = 30
    /// Idle connections kept for reuse (each for searching and for password binds).
    public var maxIdleConnections: Int = 4

    public init(uri: String, base: String) {
        self.uri = uri
        self.base = base
    }

    public var effectiveFilter: String { filter ?? flavor.defaultFilter }
}

/// An LDAP failure as the backend sees it.
public enum LDAPError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A bind was refused: wrong password (result 49).
    case invalidCredentials
    /// The directory could not answer: down, unreachable, a timeout, TLS refused, busy, or anything
    /// else unexpected. Never turned into "no such user".
    case unavailable(code: Int32, message: String)

    public var description: String {
        switch self {
        case .invalidCredentials: return "invalid credentials"
        case .unavailable(let code, let message): return message.isEmpty ? "LDAP error \(code)" : message
        }
    }
}

/// One search result entry.
public struct LDAPEntry: Sendable, Equatable {
    public var dn: String
    /// Attribute name (as asked for) → values.
    public var attributes: [String: [String]]
}

/// RFC 4515 §3 filter value escaping: `*`, `(`, `)`, `\` and NUL become `\2a`, `\28`, `\29`, `\5c`, `\00`.
public func ldapFilterEscape(_ value: String) -> String {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(value.utf8.count)
    for byte in value.utf8 {
        switch byte {
        case UInt8(ascii: "*"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "\\"), 0:
            let hex = Array("0123456789abcdef".utf8)
            bytes += [UInt8(ascii: "\\"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
        default: bytes.append(byte)
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// The filter with `%s`, `%u`, `%d` replaced by the escaped login name, local part and domain.
public func ldapFilter(_ template: String, name: String) -> String {
    let at = name.lastIndex(of: "@")
    let local = at.map { String(name[..<$0]) } ?? name
    let domain = at.map { String(name[name.index(after: $0)...]) } ?? ""
    var out = ""
    var iterator = template.makeIterator()
    while let c = iterator.next() {
        guard c == "%" else { out.append(c); continue }
        switch iterator.next() {
        case "s": out += ldapFilterEscape(name)
        case "u": out += ldapFilterEscape(local)
        case "d": out += ldapFilterEscape(domain)
        case "%": out += "%"
        case let other?: out.append("%"); out.append(other)
        case nil: out.append("%")
        }
    }
    return out
}

/// A pool of libldap handles to one directory: `search` uses connections bound as the service account,
/// `checkPassword` others that are re-bound as each user (a bound identity never searches). A handle
/// that failed is closed; an operation that failed on a reused handle is tried once more on a new one
/// (the directory may have restarted since).
public final class LDAPConnectionPool: Sendable {
    let settings: LDAPSettings
    private let idleSearch = Mutex<[LDAPHandle]>([])
    private let idleBind = Mutex<[LDAPHandle]>([])

    public init(settings: LDAPSettings) {
        self.settings = settings
    }

    deinit {
        idleSearch.withLock {
            $0.forEach { $0.close() }; $0.removeAll()
        }
        idleBind.withLock {
            $0.forEach { $0.close() }; $0.removeAll()
        }
    }

    /// Finds entries by filter under the base, at most `limit + 1` (so a caller can tell "ambiguous").
    public func search(filter: String, attributes: [String], limit: Int = 2) throws(LDAPError) -> [LDAPEntry] {
        try withHandle(idleSearch, bindAsService: true) { handle throws(LDAPError) in
            try handle.search(base: settings.base, filter: filter, attributes: attributes, sizeLimit: limit)
        }
    }

    /// Binds as `dn` with `password`: true when the directory accepts it.
    public func checkPassword(dn: String, password: String) throws(LDAPError) -> Bool {
        do {
            try withHandle(idleBind, bindAsService: false) { handle throws(LDAPError) in
                try handle.bind(dn: dn, password: password)
            }
            return true
        } catch .invalidCredentials {
            return false
        }
    }

    private func withHandle<T>(
        _ idle: borrowing Mutex<[LDAPHandle]>, bindAsService: Bool,
        _ body: (LDAPHandle) throws(LDAPError) -> T
    ) throws(LDAPError) -> T {
        var attempt = 0
        while true {
            attempt += 1
            let reused = idle.withLock { $0.popLast() }
            let handle: LDAPHandle
            if let reused {
                handle = reused
            } else {
                handle = try LDAPHandle.open(settings)
                if bindAsService, let dn = settings.bindDN {
                    do {
                        try handle.bind(dn: dn, password: settings.bindPassword ?? "")
                    } catch {
                        handle.close()
                        // The service account's own password refused is a configuration problem: a
                        // temporary failure for the client, an error in the log.
                        if case .invalidCredentials = error {
                            throw .unavailable(code: 49, message: "the service account \(dn) was refused (check bind_dn and bind_password_file)")
                        }
                        throw error
                    }
                }
            }
            do {
                let result = try body(handle)
                release(handle, to: idle)
                return result
            } catch .invalidCredentials {
                // The connection is fine (and now anonymous): keep it for the next password check.
                release(handle, to: idle)
                throw .invalidCredentials
            } catch {
                handle.close()
                if reused != nil, attempt == 1 { continue }
                throw error
            }
        }
    }

    private func release(_ handle: LDAPHandle, to idle: borrowing Mutex<[LDAPHandle]>) {
        let kept = idle.withLock { list -> Bool in
            guard list.count < settings.maxIdleConnections else { return false }
            list.append(handle)
            return true
        }
        if !kept { handle.close() }
    }
}

/// One libldap connection; used by one thread at a time (the pool hands it out).
final class LDAPHandle: @unchecked Sendable {
    private var pointer: OpaquePointer?

    private init(_ pointer: OpaquePointer) { self.pointer = pointer }

    static func open(_ settings: LDAPSettings) throws(LDAPError) -> LDAPHandle {
        var err = [CChar](repeating: 0, count: 512)
        let errLength = err.count
        var out: OpaquePointer?
        let mode: Int32
        switch settings.transport {
        case .none: mode = Int32(PETREL_LDAP_TLS_NONE)
        case .starttls: mode = Int32(PETREL_LDAP_TLS_STARTTLS)
        case .ldaps: mode = Int32(PETREL_LDAP_TLS_LDAPS)
        }
        let rc = petrel_ldap_open(
            settings.uri, mode, settings.caFile, Int32(clamping: settings.timeoutMilliseconds),
            &out, &err, errLength)
        guard rc == 0, let out else { throw .unavailable(code: rc, message: text(err)) }
        return LDAPHandle(out)
    }

    func bind(dn: String, password: String) throws(LDAPError) {
        guard let pointer else { throw .unavailable(code: -1, message: "connection closed") }
        guard !password.isEmpty, !dn.isEmpty else { throw .invalidCredentials }
        var err = [CChar](repeating: 0, count: 512)
        let errLength = err.count
        let bytes = Array(password.utf8)
        let rc = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                petrel_ldap_simple_bind(pointer, dn, chars.baseAddress, chars.count, &err, errLength)
            }
        }
        if rc == 0 { return }
        if rc == Int32(PETREL_LDAP_INVALID_CREDENTIALS) { throw .invalidCredentials }
        throw .unavailable(code: rc, message: text(err))
    }

    func search(base: String, filter: String, attributes: [String], sizeLimit: Int) throws(LDAPError) -> [LDAPEntry] {
        guard let pointer else { throw .unavailable(code: -1, message: "connection closed") }
        var err = [CChar](repeating: 0, count: 512)
        let errLength = err.count
        var result: UnsafeMutablePointer<CChar>?
        var length = 0
        var cStrings: [UnsafeMutablePointer<CChar>?] = attributes.map { strdup($0) }
        cStrings.append(nil)
        defer { cStrings.forEach { free($0) } }
        let rc = cStrings.withUnsafeBufferPointer { attrs -> Int32 in
            attrs.withMemoryRebound(to: UnsafePointer<CChar>?.self) { constAttrs in
                petrel_ldap_search(
                    pointer, base, filter, constAttrs.baseAddress, Int32(clamping: sizeLimit),
                    &result, &length, &err, errLength)
            }
        }
        defer { petrel_ldap_free(result) }
        // A size limit hit still returns entries: more than the limit means "ambiguous" to the caller.
        guard rc == 0 || rc == Int32(PETREL_LDAP_SIZELIMIT_EXCEEDED) else {
            throw .unavailable(code: rc, message: text(err))
        }
        var entries = Self.parse(result.map { UnsafeBufferPointer(start: UnsafeRawPointer($0).assumingMemoryBound(to: UInt8.self), count: length) })
        if rc != 0, entries.count <= sizeLimit {
            // The directory stopped at the limit: say so with one entry more than asked.
            entries.append(LDAPEntry(dn: "", attributes: [:]))
        }
        return entries
    }

    /// DN NUL (attr NUL value NUL)* NUL, repeated.
    static func parse(_ buffer: UnsafeBufferPointer<UInt8>?) -> [LDAPEntry] {
        guard let buffer, !buffer.isEmpty else { return [] }
        var fields: [[UInt8]] = []
        var current: [UInt8] = []
        var entries: [LDAPEntry] = []
        for byte in buffer {
            if byte != 0 { current.append(byte); continue }
            if current.isEmpty && !fields.isEmpty && fields.count % 2 == 1 {
                // The empty field after an entry's last value: the entry ends.
                var attributes: [String: [String]] = [:]
                var index = 1
                while index + 1 < fields.count {
                    let name = String(decoding: fields[index], as: UTF8.self)
                    attributes[name, default: []].append(String(decoding: fields[index + 1], as: UTF8.self))
                    index += 2
                }
                entries.append(LDAPEntry(dn: String(decoding: fields[0], as: UTF8.self), attributes: attributes))
                fields.removeAll()
            } else {
                fields.append(current)
            }
            current.removeAll()
        }
        return entries
    }

    func close() {
        if let pointer { petrel_ldap_close(pointer) }
        pointer = nil
    }

    deinit { close() }
}

private func text(_ err: [CChar]) -> String {
    String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
