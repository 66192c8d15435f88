// swift-tools-version:6.1
// libFuzzer targets for Petrel's parsers and its whole SMTP and POP3 sessions. A separate package so the
// main build never needs the fuzzer runtime; it depends on the main package by path (products PetrelCore,
// PetrelConfig and PetrelNIO).
// Build and run: ./run.sh TARGET SECONDS   (see README.md)
import PackageDescription

let core: [Target.Dependency] = [.product(name: "PetrelCore", package: "main")]
let imap: [Target.Dependency] = [.product(name: "PetrelIMAP", package: "main"), .product(name: "PetrelCore", package: "main")]

let package = Package(
    name: "PetrelFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "main", path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // Each target defines LLVMFuzzerTestOneInput; libFuzzer (-sanitize=fuzzer) supplies main().
        .executableTarget(name: "FuzzSMTPCommand", dependencies: core),
        .executableTarget(name: "FuzzMailPath", dependencies: core),
        .executableTarget(name: "FuzzDataDecoder", dependencies: core),
        .executableTarget(name: "FuzzPOP3Command", dependencies: core),
        .executableTarget(name: "FuzzConfig", dependencies: [.product(name: "PetrelConfig", package: "main")]),
        // Whole sessions through the real connection handlers on an in-memory channel and store.
        .target(name: "SessionFuzzing", dependencies: [
            .product(name: "PetrelCore", package: "main"),
            .product(name: "PetrelNIO", package: "main"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .executableTarget(name: "FuzzSMTPSession", dependencies: ["SessionFuzzing"]),
        .executableTarget(name: "FuzzPOP3Session", dependencies: ["SessionFuzzing"]),
        .executableTarget(name: "FuzzIMAPCommand", dependencies: imap),
        .executableTarget(name: "FuzzMIMEParser", dependencies: imap),
    ]
)
