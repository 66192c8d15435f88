// Tests for ConfigKeyLocator.swift: line numbers of headers and keys, including text that only
// looks like keys (inside strings, multi-line strings, arrays and comments).
import Testing

@testable import PetrelConfig
@testable import PetrelServer

@Suite struct ConfigKeyLocatorTests {
    @Test func headersAndKeys() {
        let locator = ConfigKeyLocator(
            text: """
                # comment
                [server]
                hostname = "a.test"   # trailing comment

                  [ smtp ]
                max_errors=3
                \tdata_timeout = 5
                """)
        #expect(locator.line(for: ["server"]) == 2)
        #expect(locator.line(for: ["server", "hostname"]) == 3)
        #expect(locator.line(for: ["smtp"]) == 5)
        #expect(locator.line(for: "smtp.max_errors") == 6)
        #expect(locator.line(for: "smtp.data_timeout") == 7)
    }

    @Test func unknownKeyFallsBackToItsSection() {
        let locator = ConfigKeyLocator(text: "\n[pop3]\nlisten = []\n")
        #expect(locator.line(for: "pop3.nothing") == 2)
        #expect(locator.line(for: "absent.key") == nil)
    }

    @Test func dottedAndQuotedKeys() {
        let locator = ConfigKeyLocator(
            text: """
                smtp.max_errors = 3
                "log" . 'level' = "info"
                [ "pop3" ]
                "idle_timeout" = 600
                """)
        #expect(locator.line(for: "smtp.max_errors") == 1)
        #expect(locator.line(for: "smtp") == 1)
        #expect(locator.line(for: "log.level") == 2)
        #expect(locator.line(for: "pop3") == 3)
        #expect(locator.line(for: "pop3.idle_timeout") == 4)
    }

    @Test func multiLineValuesDoNotHideOrInventKeys() {
        let locator = ConfigKeyLocator(
            text: """
                [smtp]
                listen = [
                  "127.0.0.1:25",  # fake = 1
                  "[::1]:25",
                ]
                banner = \"\"\"
                not_a_key = 1
                [not_a_section]
                \"\"\"
                other = '''
                also_not = 2
                '''
                quoted = "x = 1 # [y]"
                max_errors = 3
                """)
        #expect(locator.line(for: "smtp.listen") == 2)
        #expect(locator.line(for: "smtp.banner") == 6)
        #expect(locator.lines[["smtp", "not_a_key"]] == nil)
        #expect(locator.lines[["not_a_section"]] == nil)
        #expect(locator.lines[["smtp", "fake"]] == nil)
        #expect(locator.line(for: "smtp.other") == 10)
        #expect(locator.lines[["smtp", "also_not"]] == nil)
        #expect(locator.line(for: "smtp.quoted") == 13)
        #expect(locator.line(for: "smtp.max_errors") == 14)
    }

    @Test func inlineTableKeys() {
        let locator = ConfigKeyLocator(text: "\nlog = { level = \"info\", format = \"json\" }\nsmtp = { listen = [\"a:1\"] }\n")
        #expect(locator.line(for: "log") == 2)
        #expect(locator.lines[["log", "level"]] == 2)
        #expect(locator.lines[["log", "format"]] == 2)
        #expect(locator.lines[["smtp", "listen"]] == 3)
    }

    @Test func escapedQuotesInStrings() {
        let locator = ConfigKeyLocator(text: "[server]\nhostname = \"a\\\"b = c\"\ndata_dir = \"x\"\n")
        #expect(locator.line(for: "server.data_dir") == 3)
        #expect(locator.lines[["server", "b"]] == nil)
    }

    @Test func crlfLineEndings() {
        let locator = ConfigKeyLocator(text: "[smtp]\r\nmax_errors = 3\r\n\r\ndata_timeout = 4\r\n")
        #expect(locator.line(for: "smtp.max_errors") == 2)
        #expect(locator.line(for: "smtp.data_timeout") == 4)
    }

    @Test(arguments: [
        ("[", 1, "a table header must start with a key"),
        ("[[[", 1, "a table header must start with a key"),
        ("\n\"", 2, "unterminated string"),
        ("a = '''", 1, "unterminated multi-line string"),
        ("a = [", 1, "unterminated array"),
        ("a = {", 1, "expected a key"),
        ("= = =", 1, "expected a key, a [section] or a comment"),
        ("a = \"\"\"\nx", 2, "unterminated multi-line string"),
        ("[a.\"b", 1, "unterminated string"),
        ("a = [1, }", 1, "expected a value, saw \"}\""),
        ("a = 1979-05-27", 1, "dates and times are not supported"),
        ("a = 07:32:00", 1, "dates and times are not supported"),
        ("a = 0x1F", 1, "only decimal integers are supported"),
        ("a = 012", 1, "invalid value \"012\""),
        ("a = 1__0", 1, "invalid value"),
        ("a = yes", 1, "invalid value \"yes\" (strings need quotes)"),
        ("a = 1 2", 1, "expected the end of the line after the value"),
        ("[smtp] x", 1, "expected the end of the line after the table header"),
        ("a = \"\\q\"", 1, "invalid escape"),
        ("a = \"\\u12\"", 1, "needs 4 hexadecimal digits"),
        ("a = \"\\uD800\"", 1, "not a Unicode scalar value"),
        ("a = \"tab\u{1}\"", 1, "control character 0x1 in a string"),
        ("# c\u{7}", 1, "in a comment"),
        ("a = 1\rb = 2", 1, "carriage return without line feed"),
        ("a = { b = 1, }", 1, "expected a key"),
        ("a = [\"x\" \"y\"]", 1, "expected \",\" or \"]\" in an array"),
        ("\u{A0}a = 1", 1, "a non-ASCII character"),
        ("a = \"\"\"x\"\"\"\"\"\"", 1, "too many quotes")
    ])
    func syntaxErrors(_ text: String, _ line: Int, _ fragment: String) {
        let locator = ConfigKeyLocator(text: text)
        let found = String(describing: locator.syntaxError)
        #expect(locator.syntaxError?.line == line, "\(text.debugDescription): \(found)")
        #expect(locator.syntaxError?.message.contains(fragment) == true, "\(text.debugDescription): \(found)")
    }

    @Test(arguments: [
        "a = 1\nb = -2\nc = +3\nd = 1_000\ne = 0\n",
        "f = 1.5\ng = -0.5e-3\nh = 1e10\ni = +inf\nj = nan\nk = 6.626e-34\nl = 1_0.0_1\n",
        "m = true\nn = false\n",
        "o = \"\\t\\\"\\u00e9\\U0001F600\"\np = 'C:\\path'\n",
        "q = \"\"\"\nline one \\\n   continued\n\"\"\"\"\"\nr = '''\nraw \\ text'''\n",
        "s = [ ]\nt = [1, [2, 3], {u = 4}, ]\nv = [\n  # comment\n  \"a\", # x\n  \"b\"\n]\n",
        "w = {}\nx = { y = 1, z.zz = \"2\" }\n",
        "[a]\n[a.b]\n[ \"c\" . 'd' ]\n[[e]]\n[[e]]\n",
        "\u{FEFF}# bom\r\nk = 1\r\n",
        "\"quoted key\" = 1\n'literal key' = 2\n1234 = 3\n-_- = 4\n",
        ""
    ])
    func validSyntax(_ text: String) {
        let locator = ConfigKeyLocator(text: text)
        #expect(locator.syntaxError == nil, "\(text.debugDescription): \(String(describing: locator.syntaxError))")
    }

    @Test func deepNestingIsAnErrorNotARecursion() {
        let deep = "a = " + String(repeating: "[", count: 200_000) + "\nb = 1\n"
        let locator = ConfigKeyLocator(text: deep)
        #expect(locator.line(for: "a") == 1)
        #expect(locator.syntaxError?.message == "values are nested too deeply")
        let tables = "a = " + String(repeating: "{x=", count: 100_000)
        #expect(ConfigKeyLocator(text: tables).syntaxError?.message == "values are nested too deeply")
    }
}
