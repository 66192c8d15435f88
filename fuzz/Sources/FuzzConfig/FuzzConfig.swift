/// libFuzzer target: `PetrelConfiguration.parse` (TOML v1.0.0 through ConfigKeyLocator and TOMLKit/toml++)
/// on arbitrary text. The strict pre-check exists because toml++ aborts on some malformed input; this
/// target looks for input that gets past the pre-check and still stops the process.
import PetrelConfig

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    // The loader rejects non-UTF-8 files before parsing; only valid UTF-8 reaches parse(_:).
    guard let text = String(validating: bytes, as: UTF8.self) else { return 0 }
    switch PetrelConfiguration.parse(text) {
    case .success(let configuration): _ = configuration.smtp.listen.count
    case .failure(let errors): _ = errors.errors.count
    }
    return 0
}
