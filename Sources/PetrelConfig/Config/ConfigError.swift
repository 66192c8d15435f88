/// Configuration errors: each one names the line and the dotted key it is about, and a whole file's
/// problems are reported together (`ConfigErrors`) so an administrator can fix them in one pass.
/// No RFC; the messages are for people.

/// One problem in a configuration file.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 1-based line of the key, section header or syntax error; nil when unknown (e.g. an unreadable file).
    public var line: Int?
    /// Dotted key, e.g. "smtp.max_message_size", or a section name such as "smtpp"; nil for syntax errors.
    public var key: String?
    /// What is wrong, e.g. `must be an integer between 1024 and 2147483647, got "abc"`.
    public var message: String

    public init(line: Int?, key: String?, message: String) {
        self.line = line
        self.key = key
        self.message = message
    }

    /// `line 12: smtp.max_message_size: must be ...`; parts that are nil are left out.
    public var description: String {
        var parts: [String] = []
        if let line { parts.append("line \(line)") }
        if let key { parts.append(key) }
        parts.append(message)
        return parts.joined(separator: ": ")
    }
}

/// All problems found in one configuration text or file, ordered by line.
public struct ConfigErrors: Error, Sendable, Equatable, CustomStringConvertible {
    public var errors: [ConfigError]
    /// The file the errors are in, when the configuration came from a file.
    public var file: String?

    public init(errors: [ConfigError], file: String? = nil) {
        self.errors = errors
        self.file = file
    }

    /// One error per line, each prefixed with the file name when known:
    /// `/etc/petrel.toml: line 12: smtp.max_message_size: must be ...`.
    public var description: String {
        if errors.isEmpty { return (file.map { "\($0): " } ?? "") + "invalid configuration" }
        return errors.map { error in
            if let file { return "\(file): \(error)" }
            return error.description
        }.joined(separator: "\n")
    }
}
