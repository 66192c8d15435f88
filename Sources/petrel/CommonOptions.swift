/// Options shared by every command that touches the data: where the configuration and data live.
import ArgumentParser
import Foundation
import MailStore
import PetrelServer

struct DataOptions: ParsableArguments {
    @Option(name: .long, help: "Configuration file (TOML). Without it the development defaults apply.")
    var config: String?

    @Option(name: .customLong("data-dir"), help: "Data directory (overrides server.data_dir from the configuration).")
    var dataDir: String?

    /// The effective configuration, or a clear error naming every problem in the file.
    func loadConfiguration() throws -> PetrelConfiguration {
        var configuration: PetrelConfiguration
        if let config {
            switch PetrelConfiguration.load(path: config) {
            case .success(let c): configuration = c
            case .failure(let errors): throw CLIError(message: "\(errors)")
            }
        } else {
            configuration = .developmentDefaults()
        }
        if let dataDir {
            guard !dataDir.isEmpty else { throw ValidationError("--data-dir must not be empty") }
            configuration.server.dataDirectory = dataDir
        }
        return configuration
    }

    func openStore() throws -> any MailStore {
        let configuration = try loadConfiguration()
        do {
            return try MailServer.openStore(configuration: configuration)
        } catch {
            throw CLIError(message: "cannot open the data directory \(configuration.server.dataDirectory): \(error)")
        }
    }
}

/// An error for the administrator: printed as "error: <message>" with exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Runs a store operation and turns store errors into clean CLI errors, always closing the store.
func withStore<T>(_ options: DataOptions, _ body: (any MailStore) async throws -> T) async throws -> T {
    let store = try options.openStore()
    do {
        let result = try await body(store)
        try? await store.close()
        return result
    } catch let error as StoreError {
        try? await store.close()
        throw CLIError(message: error.description)
    } catch {
        try? await store.close()
        throw error
    }
}

func standardError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
