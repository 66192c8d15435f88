/// IMAP COMPRESS=DEFLATE (RFC 4978): raw DEFLATE (RFC 1951: no zlib header, window bits -15) in both
/// directions after the tagged OK of COMPRESS, over zlib through compress-nio.
///
/// Output: `IMAPDeflateHandler`, put between TLS (if any) and `IMAPConnectionHandler`, deflates every
/// write and ends each flush with a sync flush (Z_SYNC_FLUSH), so the client can inflate every response
/// as soon as it arrives.
///
/// Input: `IMAPInflater` is not a handler of its own but lives in `IMAPConnectionHandler`, which asks it
/// for at most `sliceSize` octets at a time and only while its buffer of unexecuted input is below
/// `maxBufferedInput` (the same bound plain input has). Compressed octets it cannot inflate yet stay
/// compressed, and reading from the socket stops as for plain input. A compression bomb (a few KiB that
/// inflate to gigabytes) is therefore never inflated ahead of the session: what it expands to passes
/// through the session's framing limits (line length, literal and command size) slice by slice, and is
/// refused or discarded there exactly as the same octets sent in plain text would be.
///
/// Memory per compressed connection (zlib 1.2/1.3, computed from zlib's documented formulas):
/// deflate state with window bits 15 and memLevel 8 is (1 << 17) + (1 << 17) = 256 KiB plus about 6 KiB;
/// inflate state with a 32 KiB window is about 39 KiB; the output slice is 16 KiB while in use. About
/// 310 KiB allocated per connection that issued COMPRESS (108 KiB resident measured after LOGIN, COMPRESS
/// and SELECT: only touched pages count), none for the others.
import CompressNIO
import Logging
import NIOCore

/// The inflating half: compressed octets in, at most `sliceSize` plain octets out per call.
final class IMAPInflater {
    /// The most octets one `inflate` call produces.
    static let sliceSize = 16 * 1024

    private let decompressor: ZlibDecompressor
    /// Compressed octets not yet inflated.
    private var input: ByteBuffer
    /// The last call filled its slice: zlib may hold more output without more input.
    private var outputMayBePending = false
    /// Plain octets produced so far (tests assert that a bomb stops at the bound).
    private(set) var inflatedBytes = 0

    init(allocator: ByteBufferAllocator) throws {
        decompressor = try ZlibDecompressor(algorithm: .deflate, windowSize: 15)
        // Never a zero-capacity buffer: zlib is handed its base address even when it holds no octets.
        input = allocator.buffer(capacity: 256)
    }

    /// Compressed octets not yet inflated.
    var pendingInputBytes: Int { input.readableBytes }

    /// Whether `inflate` may produce something now.
    var hasPendingOutput: Bool { input.readableBytes > 0 || outputMayBePending }

    /// Appends compressed octets; the consumed prefix is dropped first when it is at least as long as
    /// what is left (as `ConnectionIO.append` does, so the storage stays within about twice the unread part).
    func append(_ bytes: inout ByteBuffer) {
        if input.readerIndex > 0 && input.readerIndex >= input.readableBytes {
            input.discardReadBytes()
        }
        input.writeBuffer(&bytes)
    }

    func append(_ bytes: [UInt8]) {
        if input.readerIndex > 0 && input.readerIndex >= input.readableBytes {
            input.discardReadBytes()
        }
        input.writeBytes(bytes)
    }

    enum Failure: Error, Equatable {
        /// Not valid DEFLATE data.
        case corrupt
        /// Octets after the end of the client's DEFLATE stream.
        case dataAfterEnd
        /// zlib failed otherwise (memory).
        case zlib
    }

    /// Inflates at most `min(maxBytes, sliceSize)` octets; nil when nothing can be produced yet.
    func inflate(maxBytes: Int, allocator: ByteBufferAllocator) throws(Failure) -> ByteBuffer? {
        guard hasPendingOutput, maxBytes > 0 else { return nil }
        let capacity = min(maxBytes, Self.sliceSize)
        var output = allocator.buffer(capacity: capacity)
        do {
            try decompressor.inflate(from: &input, to: &output)
            // Z_OK with room left in the slice (zlib took all the input) or Z_STREAM_END (the client ended
            // its stream with a final block). Input left over means the latter: it cannot be inflated.
            outputMayBePending = false
            if input.readableBytes > 0 { throw Failure.dataAfterEnd }
        } catch let error as Failure {
            throw error
        } catch let error as CompressNIOError {
            switch error {
            case .bufferOverflow:
                // The slice is full: zlib may give more even without more input.
                outputMayBePending = true
            case .inputBufferOverflow:
                // Z_BUF_ERROR with all input taken: more input is needed.
                outputMayBePending = false
            case .corruptData:
                throw .corrupt
            default:
                throw .zlib
            }
        } catch {
            throw .zlib
        }
        guard output.readableBytes > 0 else { return nil }
        inflatedBytes += output.readableBytes
        return output
    }
}

/// The deflating half: an outbound handler between TLS (if any) and the IMAP handler. Each write is
/// deflated as it comes (zlib keeps what does not fill a block); each flush ends with Z_SYNC_FLUSH so the
/// client sees every response at once. Promises are kept until the flush that sends their octets.
final class IMAPDeflateHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Output octets per buffer handed to the next handler.
    static let chunkSize = 16 * 1024

    private let compressor: ZlibCompressor
    /// A buffer with storage and no readable octets: zlib's input for the sync flush.
    private var emptyInput: ByteBuffer
    /// The promises of writes whose octets have not been flushed yet.
    private var pendingPromise: EventLoopPromise<Void>?
    /// Octets in and out, for logs and tests.
    private(set) var plainBytes = 0
    private(set) var compressedBytes = 0

    init(allocator: ByteBufferAllocator) throws {
        // zlib's defaults: window bits 15 (raw: -15), memLevel 8, level 6.
        compressor = try ZlibCompressor(algorithm: .deflate, configuration: ZlibConfiguration())
        emptyInput = allocator.buffer(capacity: 16)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var buffer = unwrapOutboundIn(data)
        if let promise {
            if let pending = pendingPromise {
                pending.futureResult.cascade(to: promise)
            } else {
                pendingPromise = promise
            }
        }
        guard buffer.readableBytes > 0 else { return }
        plainBytes += buffer.readableBytes
        deflate(&buffer, flush: .no, context: context)
    }

    func flush(context: ChannelHandlerContext) {
        var empty = emptyInput
        deflate(&empty, flush: .sync, context: context)
        if let promise = pendingPromise {
            pendingPromise = nil
            // What was written is on its way with the last buffer (an empty one when zlib had nothing).
            context.write(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: promise)
        }
        context.flush()
    }

    /// Deflates `input` and writes the output in chunks of `chunkSize`; for `.sync` until zlib has
    /// nothing more (a chunk that is not full).
    private func deflate(_ input: inout ByteBuffer, flush: CompressNIOFlush, context: ChannelHandlerContext) {
        while true {
            var output = context.channel.allocator.buffer(capacity: Self.chunkSize)
            let inputBefore = input.readableBytes
            var more = false
            do {
                try compressor.deflate(from: &input, to: &output, flush: flush)
                // Z_OK: all input taken; a full output chunk means zlib may have more to give.
                more = output.writableBytes == 0
            } catch let error as CompressNIOError where error == .bufferOverflow {
                // Z_BUF_ERROR: no progress possible (nothing left to flush), or the chunk filled.
                more = output.writableBytes == 0
            } catch {
                failPending(error, context: context)
                return
            }
            if output.readableBytes > 0 {
                compressedBytes += output.readableBytes
                context.write(wrapOutboundOut(output), promise: nil)
            }
            if !more && input.readableBytes == 0 { return }
            // zlib took nothing and gave nothing: another call would not either.
            if output.readableBytes == 0 && input.readableBytes == inputBefore { return }
        }
    }

    private func failPending(_ error: any Error, context: ChannelHandlerContext) {
        if let promise = pendingPromise {
            pendingPromise = nil
            promise.fail(error)
        }
        context.fireErrorCaught(error)
    }
}
