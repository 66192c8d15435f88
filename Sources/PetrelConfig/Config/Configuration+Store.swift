/// `[store]`: where the data lives. `sqlite` (the default): one file in the data directory, one node.
/// `postgresql`: a PostgreSQL database (MailStorePostgres), reached with the settings below; the password
/// comes from `password_file`, never from the configuration itself. Read by ConfigParser+Store.swift;
/// documented in docs/CONFIGURATION.md and docs/SCALING.md.
extension PetrelConfiguration {
    public struct Store: Sendable, Equatable {
        public enum Backend: String, Sendable, Equatable, CaseIterable {
            case sqlite
            case postgresql
        }

        /// How the connection to PostgreSQL is protected.
        public enum TLSMode: String, Sendable, Equatable, CaseIterable {
            /// Plain TCP (loopback or a private network only).
            case disable
            /// TLS when the server offers it, the certificate not checked (no protection against an
            /// active attacker).
            case prefer
            /// TLS, the certificate verified against `caFile` (or the system's CAs) and `host`.
            case require
        }

        public var backend: Backend = .sqlite
        public var host: String = "127.0.0.1"
        public var port: Int = 5432
        public var database: String = "petrel"
        public var user: String = "petrel"
        /// A file holding the password (its first line); nil: no password (trust or peer authentication).
        public var passwordFile: String?
        public var tls: TLSMode = .disable
        /// PEM file of the CA(s) that sign the server's certificate (`tls = "require"`); nil: the system's CAs.
        public var caFile: String?
        /// Most connections one Petrel process opens.
        public var poolSize: Int = 10
        /// SQLite only: MiB of `petrel.sqlite` each connection reads through a memory map (`PRAGMA
        /// mmap_size`; SQLite caps it at 2048); 0 (the default) reads with pread(2) into SQLite's page cache.
        public var sqliteMmapMiB: Int = 0
        /// Seconds RCPT's "this mailbox exists" and MAIL FROM's "this domain is ours" answers are reused
        /// before the store is asked again (MailStore's `RecipientCache`): a change made by another process
        /// (the CLI, another node) is seen after at most this long; 0: every look-up asks the store.
        public var recipientCache: Int = 2

        public init() {}
    }
}
