/// The TRANSACTION state of `POP3ServerSession` (RFC 1939 §5, TOP and UIDL from §7) and QUIT,
/// which enters the UPDATE state (RFC 1939 §6).
extension POP3ServerSession {
    static let noSuchMessage = POP3Response.err("No such message")

    mutating func transactionCommand(_ command: POP3Command) -> [POP3ServerAction] {
        guard var drop = maildrop else {
            // Unreachable: TRANSACTION always has a maildrop. Fail safe.
            return close(sending: .err(.sysTemp, "Internal error"))
        }
        switch command {
        case .stat:
            return [send(.ok("\(drop.visibleCount) \(drop.visibleSize)"))]
        case .list(nil):
            let lines = drop.visibleMessages.map { "\($0.number) \($0.entry.size)" }
            return [send(.ok("\(drop.visibleCount) messages (\(drop.visibleSize) octets)", lines: lines))]
        case .list(let number?):
            guard let entry = drop.message(number) else { return [send(Self.noSuchMessage)] }
            return [send(.ok("\(number) \(entry.size)"))]
        case .uidl(nil):
            let lines = drop.visibleMessages.map { "\($0.number) \($0.entry.uniqueID)" }
            return [send(.ok("Unique-ID listing follows", lines: lines))]
        case .uidl(let number?):
            guard let entry = drop.message(number) else { return [send(Self.noSuchMessage)] }
            return [send(.ok("\(number) \(entry.uniqueID)"))]
        case .retr(let number):
            guard let entry = drop.message(number) else { return [send(Self.noSuchMessage)] }
            pending = .message
            return [send(.ok("\(entry.size) octets")), .sendMessage(deliveryID: entry.deliveryID, topLines: nil)]
        case .top(let number, let lines):
            guard let entry = drop.message(number) else { return [send(Self.noSuchMessage)] }
            pending = .message
            return [send(.ok("Top of message follows")), .sendMessage(deliveryID: entry.deliveryID, topLines: lines)]
        case .dele(let number):
            let outcome = drop.markDeleted(number)
            maildrop = drop
            switch outcome {
            case .deleted: return [send(.ok("Message \(number) deleted"))]
            case .alreadyDeleted: return [send(.err("Message \(number) already deleted"))]
            case .noSuchMessage: return [send(Self.noSuchMessage)]
            }
        case .rset:
            drop.reset()
            maildrop = drop
            return [send(.ok("Maildrop has \(drop.visibleCount) messages (\(drop.visibleSize) octets)"))]
        case .noop:
            return [send(.ok(""))]
        case .quit:
            state = .update
            pending = .update
            return [.commitDeletions(drop.deletedIDs)]
        case .capa:
            return [send(capabilities())]
        case .user, .pass, .apop, .auth, .stls:
            return protocolError(.err("Command not valid in TRANSACTION state, already logged in"))
        }
    }
}
