// Tests for Configuration+Store.swift and ConfigParser+Store.swift: the default, every [store] key, the
// errors for bad values, and that openStore picks the backend (and reads the password from its file).
import Foundation
import MailStore
import Testing

@testable import PetrelConfig
@testable import PetrelServer

@Suite struct StoreConfigTests {
    static let base = PetrelConfiguration.developmentDefaults(hostname: "base.test")

    static func parse(_ text: String) -> Result<PetrelConfiguration, ConfigErrors> {
        PetrelConfiguration.parse(text, base: base)
    }

    static func errors(_ text: String) -> [String] {
        switch parse(text) {
        case .success: return []
        case .failure(let e): return e.errors.map { "\($0)" }
        }
    }

    @Test func defaultIsSQLite() {
        #expect(Self.base.store.backend == .sqlite)
        #expect(Self.base.store.passwordFile == nil)
    }

    @Test func everyKeyIsApplied() throws {
        let config = try Self.parse(
            """
            [store]
            backend = "postgresql"
            host = "db.example.test"
            port = 6543
            database = "mail"
            user = "petrel_node"
            password_file = "/etc/petrel/db-password"
            tls = "require"
            pool_size = 25
            sqlite_mmap_mib = 512
            recipient_cache = "1m"
            """
        ).get()
        let s = config.store
        #expect(s.backend == .postgresql)
        #expect(s.host == "db.example.test" && s.port == 6543 && s.database == "mail" && s.user == "petrel_node")
        #expect(s.passwordFile == "/etc/petrel/db-password" && s.tls == .require && s.poolSize == 25)
        #expect(s.sqliteMmapMiB == 512)
        #expect(PetrelConfiguration.Store().sqliteMmapMiB == 0)
        #expect(s.recipientCache == 60 && PetrelConfiguration.Store().recipientCache == 2)
        #expect(try Self.parse("[store]\nrecipient_cache = 0").get().store.recipientCache == 0)
        #expect(try Self.parse("[store]\nhost = \"::1\"").get().store.host == "::1")
    }

    @Test func badValuesAreNamed() {
        let cases: [(String, String)] = [
            ("backend = \"mysql\"", "store.backend"),
            ("port = 0", "store.port"),
            ("port = 70000", "store.port"),
            ("pool_size = 0", "store.pool_size"),
            ("sqlite_mmap_mib = 4096", "store.sqlite_mmap_mib"),
            ("sqlite_mmap_mib = -1", "store.sqlite_mmap_mib"),
            ("recipient_cache = \"2h\"", "store.recipient_cache"),
            ("recipient_cache = -1", "store.recipient_cache"),
            ("recipient_cache = \"soon\"", "store.recipient_cache"),
            ("tls = \"verify-full\"", "store.tls"),
            ("database = \"\"", "store.database"),
            ("user = \"a\\nb\"", "store.user"),
            ("host = \"not a host\"", "store.host"),
            ("password = \"secret\"", "store.password")
        ]
        for (line, key) in cases {
            let errors = Self.errors("[store]\n" + line)
            #expect(errors.count == 1, "\(line): \(errors)")
            #expect(errors.first?.contains(key) == true, "\(line): \(errors)")
        }
        // The password itself is never a key: the error lists password_file instead.
        #expect(Self.errors("[store]\npassword = \"secret\"").first?.contains("password_file") == true)
    }

    @Test func openStorePicksTheBackendAndReadsThePasswordFile() throws {
        var config = Self.base
        config.store.backend = .postgresql
        config.store.passwordFile = "/nonexistent/petrel-password"
        #expect(throws: ServerStartError.self) { try MailServer.openStore(configuration: config) }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("petrel-pw-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: file, contents: Data("s3cret\nignored\n".utf8)))
        defer { try? FileManager.default.removeItem(atPath: file) }
        config.store.passwordFile = file
        let settings = try MailServer.postgresConfiguration(config.store)
        #expect(settings.password == "s3cret")
        #expect(settings.host == "127.0.0.1" && settings.port == 5432 && settings.poolSize == 10)
    }
}
