/// The IMAP server session state machine (RFC 9051 §3, with RFC 3501 behaviour for IMAP4rev1 clients): a
/// value that takes `IMAPServerEvent`s and returns `IMAPServerAction`s. It frames and parses the client's
/// bytes itself (`IMAPCommandFramer`, `IMAPCommandParser`), keeps the per-session view of the selected
/// mailbox (`IMAPSequenceTracker`), and asks for everything else — authentication, the store, TLS,
/// compression — through actions. It never touches sockets or storage.
///
/// States: not authenticated → authenticated → selected → logout. Commands are executed one at a time
/// in the order received (RFC 9051 §5.5); while an answer is outstanding (`isAwaitingAnswer`) input is
/// buffered and parsed afterwards. At the end of every command in the selected state the session asks the
/// store what changed (`.changes`) and sends EXISTS/EXPUNGE/FETCH before the tagged response, holding
/// EXPUNGE back during FETCH, STORE and SEARCH (RFC 9051 §7.5.1).
///
/// Command handlers: `+Auth.swift` (greeting, CAPABILITY, LOGIN, AUTHENTICATE, STARTTLS, COMPRESS, ENABLE,
/// ID, LOGOUT), `+Mailboxes.swift` (LIST, LSUB, CREATE, DELETE, RENAME, (UN)SUBSCRIBE, STATUS, NAMESPACE,
/// quota, APPEND), `+Select.swift` (SELECT/EXAMINE, CLOSE, UNSELECT, EXPUNGE, IDLE, polling),
/// `+Messages.swift` (STORE, COPY, MOVE, SEARCH), `+Fetch.swift` (FETCH).
import MailCore

public struct IMAPServerSession: Sendable {
    /// What the session waits for.
    enum Pending: Sendable {
        case none
        /// `.authenticate` was emitted.
        case authentication(tag: String)
        /// AUTHENTICATE sent a challenge; the next line is the client's response.
        case sasl(tag: String, SASLServerExchange)
        /// `.startTLS` / `.startCompression` was emitted.
        case tls
        case compression
        /// `.backend` was emitted for this command; `Operation` says what to do with the answer.
        case backend(tag: String, Operation)
        /// IDLE: waiting for DONE; `polling` while a `.changes` request is outstanding.
        case idle(tag: String, polling: Bool)
    }

    /// The final response of a command, sent after the closing poll.
    struct Final: Sendable {
        var condition: IMAPCondition
        var code: IMAPResponseCode?
        var text: String
        var allowExpunge: Bool
    }

    struct SelectedMailbox: Sendable {
        var id: IMAPMailboxID
        var name: String
        var readOnly: Bool
        var uidValidity: UInt32
        var tracker: IMAPSequenceTracker
        /// The keywords announced in FLAGS (RFC 9051 §7.3.5: a new keyword is announced before use).
        var keywords: Set<IMAPFlag> = []
        /// The UIDs this session claimed as \Recent (RFC 3501 §2.3.2): IMAP4rev1 SELECT only. Ascending;
        /// a claim adjoining the last is merged into it, so a session alone on a mailbox keeps one range.
        var recent: [Range<UInt32>] = []

        mutating func addRecent(_ claimed: Range<UInt32>) {
            guard !claimed.isEmpty else { return }
            if let last = recent.last, last.upperBound == claimed.lowerBound {
                recent[recent.count - 1] = last.lowerBound..<claimed.upperBound
            } else {
                recent.append(claimed)
            }
        }

        func isRecent(_ uid: UInt32) -> Bool { recent.contains { $0.contains(uid) } }
        /// `flags` with \Recent added when `uid` is recent in this session.
        func flags(_ flags: [IMAPFlag], uid: UInt32) -> [IMAPFlag] { isRecent(uid) ? flags + [.recent] : flags }
        /// Messages in the session's view that are recent in it (`* n RECENT`).
        var recentCount: UInt32 {
            UInt32(recent.reduce(0) { $0 + tracker.firstIndex(atLeast: $1.upperBound) - tracker.firstIndex(atLeast: $1.lowerBound) })
        }
    }

    public let configuration: IMAPServerConfiguration
    public internal(set) var state: IMAPSessionState = .notAuthenticated
    public internal(set) var isClosed = false
    public internal(set) var isTLS: Bool
    public internal(set) var tlsInfo: TLSInfo?
    public internal(set) var isCompressed = false
    /// Octets the client sent after COMPRESS before the OK (compressed: not framed). See `takeInputAfterCompress`.
    var inputAfterCompress: [UInt8] = []
    /// The verified login name.
    public internal(set) var username: String?
    /// Extensions enabled with ENABLE (RFC 5161) or implicitly (CONDSTORE), upper-case.
    public internal(set) var enabled: Set<String> = []
    /// What the client said in ID (RFC 2971), for logs.
    public internal(set) var clientID: [IMAPIDField]?

    var selected: SelectedMailbox?
    var pending: Pending = .none
    var framer: IMAPCommandFramer
    var greeted = false
    var authFailures = 0
    var errors = 0
    /// SEARCHRES (RFC 5182): the UIDs saved by the last SEARCH … RETURN (SAVE).
    var savedSearch: [UInt32] = []
    /// A change notification arrived while an IDLE poll was running: poll again when it returns.
    var idleChangedWhilePolling = false

    public init(configuration: IMAPServerConfiguration) {
        self.configuration = configuration
        self.isTLS = configuration.implicitTLS
        self.framer = IMAPCommandFramer(limits: configuration.limits)
    }

    // MARK: - Observers

    /// True while an answer to an action is outstanding; the adapter may stop reading meanwhile.
    public var isAwaitingAnswer: Bool {
        switch pending {
        case .authentication, .tls, .compression, .backend: return true
        case .idle(_, let polling): return polling
        case .none, .sasl: return false
        }
    }

    /// Octets received and not yet executed.
    public var bufferedByteCount: Int { framer.bufferedByteCount }

    /// The selected mailbox's name and identity, when one is selected.
    public var selectedMailbox: (id: IMAPMailboxID, name: String, readOnly: Bool)? {
        selected.map { ($0.id, $0.name, $0.readOnly) }
    }

    /// The session's view of the selected mailbox.
    public var sequenceTracker: IMAPSequenceTracker? { selected?.tracker }

    /// UTF-8 mode: IMAP4rev2 or UTF8=ACCEPT enabled (RFC 9051 §5.1, RFC 6855).
    public var utf8Mode: Bool { enabled.contains("IMAP4REV2") || enabled.contains("UTF8=ACCEPT") }
    var rev2: Bool { enabled.contains("IMAP4REV2") }
    var condstore: Bool { enabled.contains("CONDSTORE") || enabled.contains("QRESYNC") }
    var qresync: Bool { enabled.contains("QRESYNC") }

    /// Whether LOGIN and AUTHENTICATE are allowed now.
    public var plaintextAuthAllowed: Bool { isTLS || configuration.allowPlaintextAuth }

    /// After `.startCompression`: the octets that arrived after the COMPRESS command (pipelined, against
    /// RFC 4978 §3), which the adapter inflates before anything it reads later. Empty the second time.
    public mutating func takeInputAfterCompress() -> [UInt8] {
        defer { inputAfterCompress = [] }
        return inputAfterCompress
    }

    // MARK: - Events

    /// Feeds one event and returns the actions to run, in order.
    public mutating func handle(_ event: IMAPServerEvent) -> [IMAPServerAction] {
        guard !isClosed else { return [] }
        var actions: [IMAPServerAction] = []
        switch event {
        case .connected:
            guard !greeted else { return [] }
            greeted = true
            actions.append(send(.untagged(.ok, .capability(capabilities()), "Petrel IMAP4rev2 server ready")))
        case .received(let bytes):
            framer.append(bytes)
            if isAwaitingAnswer, framer.bufferedByteCount > configuration.maxPendingInput {
                return close(sending: .untagged(.bye, nil, "Too much input while busy"))
            }
        case .authenticated(let result):
            guard case .authentication(let tag) = pending else { return [] }
            pending = .none
            actions += authenticated(tag, result)
        case .backend(let response):
            actions += backendAnswered(response)
        case .tlsEstablished(let info):
            tlsInfo = info
            isTLS = true
            if case .tls = pending { pending = .none }
        case .compressionStarted:
            if case .compression = pending { pending = .none }
            isCompressed = true
        case .mailboxChanged:
            if case .idle(let tag, let polling) = pending, let sel = selected {
                if polling {
                    idleChangedWhilePolling = true
                } else {
                    pending = .idle(tag: tag, polling: true)
                    actions.append(pollRequest(sel))
                }
            }
        case .timeout:
            return close(sending: .untagged(.bye, nil, "Autologout; idle for too long"))
        }
        if !isClosed { actions += processInput() }
        return IMAPServerSession.coalesce(actions)
    }

    /// Frames and executes buffered input while the session can take it.
    mutating func processInput() -> [IMAPServerAction] {
        var actions: [IMAPServerAction] = []
        while !isClosed {
            switch pending {
            case .none: framer.mode = .command
            case .sasl, .idle(_, false): framer.mode = .line
            default: return actions
            }
            guard let frame = framer.next() else { break }
            switch frame {
            case .continuationRequest:
                actions.append(send(.continuation("Ready for literal data")))
            case .error(let error):
                actions += framingError(error)
            case .line(let line):
                actions += lineReceived(line)
            case .command(let bytes):
                actions += command(bytes)
            }
        }
        return actions
    }

    mutating func lineReceived(_ line: [UInt8]) -> [IMAPServerAction] {
        switch pending {
        case .sasl(let tag, var exchange):
            pending = .none
            let step = exchange.receive(line)
            return saslStep(tag, exchange, step)
        case .idle(let tag, _):
            return idleLine(tag, line)
        default:
            return []
        }
    }

    mutating func framingError(_ error: IMAPFramingError) -> [IMAPServerAction] {
        switch error {
        case .lineTooLong(let tag):
            if case .sasl(let saslTag, _) = pending {
                pending = .none
                return protocolError(tag: saslTag, "Line too long")
            }
            if case .idle(let idleTag, _) = pending {
                return idleLine(idleTag, Array("?".utf8))
            }
            return protocolError(tag: tag, "Command line too long")
        case .literalTooLarge(let tag, _, let synchronizing, let isAppend):
            guard synchronizing else {
                var actions: [IMAPServerAction] = []
                if let tag { actions.append(send(.tagged(tag: tag, .bad, .tooBig, "Literal too large"))) }
                return actions + close(sending: .untagged(.bye, .tooBig, "Non-synchronizing literal too large"))
            }
            if isAppend, let tag {
                return [send(.tagged(tag: tag, .no, .tooBig, "Message too large"))]
            }
            return protocolError(tag: tag, "Literal too large", code: .tooBig)
        case .endlessLine:
            return close(sending: .untagged(.bye, nil, "Command line too long"))
        }
    }

    /// Parses and executes one command.
    mutating func command(_ bytes: [UInt8]) -> [IMAPServerAction] {
        switch IMAPCommandParser.parse(bytes) {
        case .failure(let error):
            return protocolError(tag: error.tag, error.message)
        case .success(let tagged):
            return execute(tagged)
        }
    }

    mutating func execute(_ c: IMAPTaggedCommand) -> [IMAPServerAction] {
        let tag = c.tag
        switch c.command {
        // Any state
        case .capability:
            return [send(.data(.capability(capabilities()))), ok(tag, "CAPABILITY completed")]
        case .noop:
            return finish(tag, text: "NOOP completed", allowExpunge: true)
        case .logout:
            state = .logout
            var actions = [send(.untagged(.bye, nil, "Logging out"))]
            actions.append(ok(tag, "LOGOUT completed"))
            return actions + close()
        case .id(let fields):
            clientID = fields
            return [send(.data(.id([IMAPIDField("name", "Petrel")]))), ok(tag, "ID completed")]
        // Not authenticated
        case .startTLS: return startTLS(tag)
        case .login(let user, let password): return login(tag, user, password)
        case .authenticate(let mechanism, let initial): return authenticate(tag, mechanism, initial)
        default:
            break
        }
        guard state == .authenticated || state == .selected else {
            return protocolError(tag: tag, "Command not valid before login")
        }
        switch c.command {
        case .enable(let names): return enable(tag, names)
        case .compress(let algorithm): return compress(tag, algorithm)
        case .select(let name, let params): return select(tag, name, params, readOnly: false)
        case .examine(let name, let params): return select(tag, name, params, readOnly: true)
        case .create(let name, let uses): return create(tag, name, uses)
        case .delete(let name): return delete(tag, name)
        case .rename(let from, let to): return rename(tag, from, to)
        case .subscribe(let name): return subscribe(tag, name, true)
        case .unsubscribe(let name): return subscribe(tag, name, false)
        case .list(let list): return self.list(tag, list)
        case .lsub(let reference, let pattern): return lsub(tag, reference, pattern)
        case .namespace:
            return [send(.data(.namespace(personal: [("", "/")]))), ok(tag, "NAMESPACE completed")]
        case .status(let name, let items): return status(tag, name, items)
        case .append(let append): return self.append(tag, append)
        case .idle: return idle(tag)
        case .getQuota(let root): return getQuota(tag, root)
        case .getQuotaRoot(let name): return getQuotaRoot(tag, name)
        case .setQuota: return [send(.tagged(tag: tag, .no, .noPerm, "Quota is set by the administrator"))]
        default:
            break
        }
        guard state == .selected, let sel = selected else {
            return protocolError(tag: tag, "No mailbox selected")
        }
        switch c.command {
        case .check: return finish(tag, text: "CHECK completed", allowExpunge: true)
        case .close: return closeMailbox(tag, sel)
        case .unselect: return unselect(tag)
        case .expunge: return expunge(tag, sel, uids: nil)
        case .uidExpunge(let set): return uidExpunge(tag, sel, set)
        case .search(let search, let uid): return self.search(tag, sel, search, uid: uid)
        case .fetch(let set, let items, let modifiers, let uid): return fetch(tag, sel, set, items, modifiers, uid: uid)
        case .store(let set, let modifiers, let flags, let uid): return store(tag, sel, set, modifiers, flags, uid: uid)
        case .copy(let set, let name, let uid): return copyOrMove(tag, sel, set, name, uid: uid, move: false)
        case .move(let set, let name, let uid): return copyOrMove(tag, sel, set, name, uid: uid, move: true)
        default:
            return protocolError(tag: tag, "Command not valid in this state")
        }
    }

    // MARK: - Responses

    func send(_ response: IMAPResponse) -> IMAPServerAction {
        .send(response.encoded(utf8: utf8Mode))
    }

    func ok(_ tag: String, _ text: String, _ code: IMAPResponseCode? = nil) -> IMAPServerAction {
        send(.tagged(tag: tag, .ok, code, text))
    }

    func no(_ tag: String, _ code: IMAPResponseCode?, _ text: String) -> IMAPServerAction {
        send(.tagged(tag: tag, .no, code, text))
    }

    /// A BAD reply, counted; after `maxErrors` the session closes.
    mutating func protocolError(tag: String?, _ text: String, code: IMAPResponseCode? = nil) -> [IMAPServerAction] {
        errors += 1
        let reply: IMAPResponse = tag.map { .tagged(tag: $0, .bad, code, text) } ?? .untagged(.bad, code, text)
        if errors >= configuration.maxErrors {
            return [send(reply)] + close(sending: .untagged(.bye, nil, "Too many errors, closing connection"))
        }
        return [send(reply)]
    }

    /// A store failure as a tagged NO with its response code (RFC 5530).
    mutating func backendFailure(_ tag: String, _ error: IMAPBackendError, tryCreate: Bool = false) -> [IMAPServerAction] {
        switch error {
        case .nonexistent:
            return [tryCreate ? no(tag, .tryCreate, "Mailbox does not exist") : no(tag, .nonexistent, "Mailbox does not exist")]
        case .alreadyExists: return [no(tag, .alreadyExists, "Mailbox already exists")]
        case .hasChildren: return [no(tag, .hasChildren, "Mailbox has children, delete them first")]
        case .cannot(let reason): return [no(tag, .cannot, reason)]
        case .overQuota: return [no(tag, .overQuota, "Quota exceeded")]
        case .tooBig: return [no(tag, .tooBig, "Message too large")]
        case .noPerm: return [no(tag, .noPerm, "Permission denied")]
        case .inUse: return [no(tag, .inUse, "Mailbox in use, try again later")]
        case .limit: return [no(tag, .limit, "Limit reached")]
        case .unavailable: return [no(tag, .unavailable, "Temporary failure, try again later")]
        case .serverBug: return [no(tag, .serverBug, "Internal error")]
        case .mailboxGone:
            if selected != nil {
                return close(sending: .untagged(.bye, nil, "Selected mailbox was deleted, closing connection"))
            }
            return [no(tag, .nonexistent, "Mailbox does not exist")]
        }
    }

    /// Ends the session: optional last reply, stop watching when IDLE, close.
    mutating func close(sending response: IMAPResponse? = nil) -> [IMAPServerAction] {
        var actions: [IMAPServerAction] = []
        if let response { actions.append(send(response)) }
        if case .idle = pending { actions.append(.stopWatching) }
        actions.append(.close)
        isClosed = true
        state = .logout
        pending = .none
        return actions
    }

    /// Merges consecutive small `.send` actions into one write.
    static func coalesce(_ actions: [IMAPServerAction]) -> [IMAPServerAction] {
        var out: [IMAPServerAction] = []
        out.reserveCapacity(actions.count)
        // Consecutive small sends become one; a large one (a message body) and a send with nothing to join
        // are passed on as they are, not copied.
        var run: [[UInt8]] = []
        func endRun() {
            if run.count == 1 {
                out.append(.send(run[0]))
            } else if !run.isEmpty {
                var joined: [UInt8] = []
                joined.reserveCapacity(run.reduce(0) { $0 + $1.count })
                for bytes in run { joined += bytes }
                out.append(.send(joined))
            }
            run = []
        }
        for action in actions {
            if case .send(let bytes) = action, bytes.count < IMAPWireWriter.ownPieceLength {
                if !bytes.isEmpty { run.append(bytes) }
            } else {
                endRun()
                out.append(action)
            }
        }
        endRun()
        return out
    }
}
