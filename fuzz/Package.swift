// swift-tools-version:6.1
// libFuzzer targets for Petrel's parsers. A separate package so the main build never needs the fuzzer
// runtime; it depends on the main package by path (products PetrelCore and PetrelConfig).
// Build and run: ./run.sh TARGET SECONDS   (see README.md)
import PackageDescription

let core: [Target.Dependency] = [.product(name: "PetrelCore", package: "main")]
let imap: [Target.Dependency] = [.product(name: "PetrelIMAP", package: "main"), .product(name: "PetrelCore", package: "main")]

let package = Package(
    name: "PetrelFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "main", path: ".."),
    ],
    targets: [
        // Each target defines LLVMFuzzerTestOneInput; libFuzzer (-sanitize=fuzzer) supplies main().
        .executableTarget(name: "FuzzSMTPCommand", dependencies: core),
        .executableTarget(name: "FuzzMailPath", dependencies: core),
        .executableTarget(name: "FuzzDataDecoder", dependencies: core),
        .executableTarget(name: "FuzzPOP3Command", dependencies: core),
        .executableTarget(name: "FuzzConfig", dependencies: [.product(name: "PetrelConfig", package: "main")]),
        .executableTarget(name: "FuzzIMAPCommand", dependencies: imap),
        .executableTarget(name: "FuzzMIMEParser", dependencies: imap),
    ]
)
