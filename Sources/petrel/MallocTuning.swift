/// Process-wide glibc malloc settings for `petrel serve`.
///
/// Each password check runs scrypt (N=2^15, r=8: a 32 MiB work area, allocated and freed per login by
/// BoringSSL). glibc serves allocations above its mmap threshold (at most 32 MiB by default) with a
/// fresh `mmap`, so every login faulted in, zeroed and unmapped 8,192 pages: measured here 33 ms of
/// system CPU per login on top of ~97 ms of user CPU. With the threshold above the work area and the
/// trim threshold above that, the area stays in the auth threads' heaps and is reused: ~1 ms system CPU
/// per login, for ~32 MiB more resident memory per auth thread (one per CPU core, at least two). Large message buffers
/// are not affected: Petrel streams messages in chunks of 64 KiB.
///
/// An administrator who sets `GLIBC_TUNABLES` with a malloc threshold keeps their own values.
#if canImport(Glibc)
    import Glibc

    enum MallocTuning {
        static let mmapThreshold: Int32 = 40 << 20
        static let trimThreshold: Int32 = 80 << 20
        /// `<malloc.h>` parameter numbers (glibc ABI; the header is not part of Swift's Glibc module).
        static let mTrimThreshold: Int32 = -1
        static let mMmapThreshold: Int32 = -3

        /// Applies the thresholds unless the environment already chose them. Returns true when applied.
        @discardableResult
        static func apply(environment: [String: String]) -> Bool {
            if let tunables = environment["GLIBC_TUNABLES"],
                tunables.contains("malloc.mmap_threshold") || tunables.contains("malloc.trim_threshold")
            {
                return false
            }
            // mallopt is looked up at run time, so a libc without it only costs the speed-up.
            typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
            guard let program = dlopen(nil, RTLD_NOW), let symbol = dlsym(program, "mallopt") else { return false }
            let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
            // mallopt returns 1 on success.
            return mallopt(mMmapThreshold, mmapThreshold) == 1 && mallopt(mTrimThreshold, trimThreshold) == 1
        }
    }
#else
    enum MallocTuning {
        @discardableResult
        static func apply(environment: [String: String]) -> Bool { false }
    }
#endif
