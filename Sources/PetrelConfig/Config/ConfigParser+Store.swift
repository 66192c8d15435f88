/// `[store]` keys (Configuration+Store.swift).
import MailCore
import TOMLKit

extension ConfigReader {
    static let storeKeys: [String: Apply] = [
        "backend": { c, v in
            assign(oneOf(v, PetrelConfiguration.Store.Backend.allCases.map(\.rawValue))) {
                c.store.backend = PetrelConfiguration.Store.Backend(rawValue: $0) ?? .sqlite
            }
        },
        "host": { c, v in assign(storeHost(v)) { c.store.host = $0 } },
        "port": { c, v in assign(integer(v, 1...65535)) { c.store.port = $0 } },
        "database": { c, v in assign(storeName(v)) { c.store.database = $0 } },
        "user": { c, v in assign(storeName(v)) { c.store.user = $0 } },
        "password_file": { c, v in assign(filePath(v)) { c.store.passwordFile = $0 } },
        "tls": { c, v in
            assign(oneOf(v, PetrelConfiguration.Store.TLSMode.allCases.map(\.rawValue))) {
                c.store.tls = PetrelConfiguration.Store.TLSMode(rawValue: $0) ?? .disable
            }
        },
        "ca_file": { c, v in assign(filePath(v)) { c.store.caFile = $0 } },
        "pool_size": { c, v in assign(integer(v, 1...1000)) { c.store.poolSize = $0 } },
        "sqlite_mmap_mib": { c, v in assign(integer(v, 0...2048)) { c.store.sqliteMmapMiB = $0 } },
        "recipient_cache": { c, v in assign(duration(v, 0...3600)) { c.store.recipientCache = $0 } }
    ]

    /// A host name or an IP address (no port: that is `port`).
    static func storeHost(_ value: any TOMLValueConvertible) -> Result<String, ValueError> {
        string(value).flatMap { text in
            if IPAddress(text) != nil { return .success(text) }
            return hostname(value)
        }
    }

    /// A database or role name: 1…63 octets, no control characters.
    static func storeName(_ value: any TOMLValueConvertible) -> Result<String, ValueError> {
        string(value).flatMap { text in
            guard !text.isEmpty, text.utf8.count <= 63, !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                return .failure(ValueError(message: "must be a name of 1 to 63 octets without control characters"))
            }
            return .success(text)
        }
    }
}
