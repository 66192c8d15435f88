/// Incremental BLOB I/O on `messages.body` through SQLite's C API (sqlite3_blob_open / _write / _read,
/// https://sqlite.org/c3ref/blob_open.html), so a large message is never held in memory whole:
/// it is written in chunks of at most 256 KiB into a `zeroblob(size)` row and read back by range.
/// Every return code is checked and turned into `StoreError.backend`.
import GRDB
import GRDBSQLite
import MailStore
import NIOCore

enum BlobIO {
    /// Largest chunk passed to one sqlite3_blob_read / sqlite3_blob_write call.
    static let chunkSize = 256 * 1024

    /// An open handle on `messages.body` of one row; closed by `close()` or when dropped.
    final class Handle {
        private var blob: OpaquePointer?
        private let connection: OpaquePointer?
        private(set) var length: Int

        init(_ db: Database, messageID: Int64, writable: Bool) throws {
            connection = db.sqliteConnection
            guard let connection else { throw StoreError.backend("database connection is closed") }
            var handle: OpaquePointer?
            let rc = sqlite3_blob_open(connection, "main", "messages", "body", messageID, writable ? 1 : 0, &handle)
            guard rc == SQLITE_OK, let handle else {
                if let handle { sqlite3_blob_close(handle) }
                throw BlobIO.error(connection, rc, "sqlite3_blob_open")
            }
            blob = handle
            length = Int(sqlite3_blob_bytes(handle))
        }

        /// Points the handle at another row (sqlite3_blob_reopen): no statement is compiled again, which
        /// `sqlite3_blob_open` does each time. After a failure the handle is closed.
        func reopen(messageID: Int64) throws {
            guard let blob else { throw StoreError.backend("blob handle is closed") }
            let rc = sqlite3_blob_reopen(blob, messageID)
            guard rc == SQLITE_OK else {
                self.blob = nil
                sqlite3_blob_close(blob)
                throw BlobIO.error(connection, rc, "sqlite3_blob_reopen")
            }
            length = Int(sqlite3_blob_bytes(blob))
        }

        deinit {
            if let blob { sqlite3_blob_close(blob) }
        }

        /// Writes `bytes` at `offset` (which must stay inside the zeroblob), in chunks.
        func write(_ bytes: [UInt8], at offset: Int) throws {
            guard let blob else { throw StoreError.backend("blob handle is closed") }
            guard offset >= 0, offset + bytes.count <= length else {
                throw StoreError.backend("blob write out of range")
            }
            var done = 0
            while done < bytes.count {
                let n = min(BlobIO.chunkSize, bytes.count - done)
                let rc = bytes.withUnsafeBytes { raw -> Int32 in
                    guard let base = raw.baseAddress else { return SQLITE_MISUSE }
                    return sqlite3_blob_write(blob, base + done, Int32(n), Int32(offset + done))
                }
                guard rc == SQLITE_OK else { throw BlobIO.error(connection, rc, "sqlite3_blob_write") }
                done += n
            }
        }

        /// Reads up to `maxLength` octets from `offset`; empty at or past the end.
        func read(at offset: Int, maxLength: Int) throws -> [UInt8] {
            guard blob != nil else { throw StoreError.backend("blob handle is closed") }
            guard offset >= 0, maxLength > 0, offset < length else { return [] }
            let total = min(maxLength, length - offset)
            // Read straight into the array's storage (no zero-fill first); on an error nothing is kept.
            var failure: Int32 = SQLITE_OK
            let out = [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
                failure = readChunks(into: UnsafeMutableRawBufferPointer(buffer), at: offset)
                initialized = failure == SQLITE_OK ? total : 0
            }
            guard failure == SQLITE_OK, out.count == total else {
                throw BlobIO.error(connection, failure == SQLITE_OK ? SQLITE_MISUSE : failure, "sqlite3_blob_read")
            }
            return out
        }

        /// The same range read straight into a new `ByteBuffer` (no array in between, no zero-fill): what
        /// a protocol writes to the socket as it is.
        func readBuffer(at offset: Int, maxLength: Int) throws -> ByteBuffer {
            guard blob != nil else { throw StoreError.backend("blob handle is closed") }
            guard offset >= 0, maxLength > 0, offset < length else { return ByteBuffer() }
            let total = min(maxLength, length - offset)
            var buffer = ByteBufferAllocator().buffer(capacity: total)
            var failure: Int32 = SQLITE_OK
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { space in
                failure = readChunks(into: UnsafeMutableRawBufferPointer(rebasing: space[..<total]), at: offset)
                return failure == SQLITE_OK ? total : 0
            }
            guard failure == SQLITE_OK, buffer.readableBytes == total else {
                throw BlobIO.error(connection, failure == SQLITE_OK ? SQLITE_MISUSE : failure, "sqlite3_blob_read")
            }
            return buffer
        }

        /// Fills `space` from `offset` in calls of at most `chunkSize`; SQLITE_OK or the failing call's code.
        private func readChunks(into space: UnsafeMutableRawBufferPointer, at offset: Int) -> Int32 {
            guard let blob else { return SQLITE_MISUSE }
            guard let base = space.baseAddress else { return space.isEmpty ? SQLITE_OK : SQLITE_MISUSE }
            var done = 0
            while done < space.count {
                let n = min(BlobIO.chunkSize, space.count - done)
                let rc = sqlite3_blob_read(blob, base + done, Int32(n), Int32(offset + done))
                guard rc == SQLITE_OK else { return rc }
                done += n
            }
            return SQLITE_OK
        }

        func close() throws {
            guard let handle = blob else { return }
            blob = nil
            let rc = sqlite3_blob_close(handle)
            guard rc == SQLITE_OK else { throw BlobIO.error(connection, rc, "sqlite3_blob_close") }
        }
    }

    static func error(_ connection: OpaquePointer?, _ rc: Int32, _ call: String) -> StoreError {
        var text = "\(call) failed (\(rc))"
        if let connection, let message = sqlite3_errmsg(connection) {
            text += ": " + String(cString: message)
        }
        return .backend(text)
    }
}
