/// Options shared by every command that touches the data: where the configuration and data live.
import ArgumentParser
import Foundation
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

    /// The administration API on the effective configuration (its store opens on first use).
    func admin() throws -> PetrelAdmin {
        PetrelAdmin(configuration: try loadConfiguration())
    }
}

/// An error for the administrator: printed as "error: <message>" with exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Runs administration calls and turns store errors into clean CLI errors, always closing the store.
func withAdmin<T>(_ options: DataOptions, _ body: (PetrelAdmin) async throws -> T) async throws -> T {
    let admin = try options.admin()
    do {
        let result = try await body(admin)
        await admin.close()
        return result
    } catch let error as StoreError {
        await admin.close()
        throw CLIError(message: error.description)
    } catch let error as PetrelAdmin.OpenError {
        await admin.close()
        throw CLIError(message: error.description)
    } catch {
        await admin.close()
        throw error
    }
}

func standardError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
