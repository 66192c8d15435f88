/// POP3Core — the pure POP3 server protocol core.
///
/// Implements RFC 1939 (POP3: USER PASS QUIT STAT LIST RETR DELE NOOP RSET TOP UIDL; the
/// AUTHORIZATION → TRANSACTION → UPDATE states), RFC 2449 (CAPA, extended response codes,
/// PIPELINING), RFC 5034 (AUTH with SASL PLAIN, RFC 4616, and LOGIN), RFC 3206 (the AUTH and SYS
/// response codes), RFC 2595 §4 (STLS) and RFC 8314 (implicit TLS).
///
/// Layout:
/// - `Command/`  — `POP3Command` and its parser.
/// - `Response/` — `POP3Response` values and their wire encoding.
/// - `Session/`  — `POP3ServerSession`, a value that takes `POP3ServerEvent`s and returns
///   `POP3ServerAction`s; the NIO adapter runs the actions (no sockets, storage or NIO here).
/// - `Message/`  — `POP3MessageEncoder`, the incremental dot-stuffer for RETR and TOP.
public enum POP3Core {
    /// The implementation name announced in CAPA (RFC 2449 §6.9).
    public static let implementation = "Petrel"
}
