/// The session's requests to the store, as action values, and `IMAPBackendRunner`, which runs one
/// against an `IMAPMailboxAccess` and returns the answer to feed back as `.backend(…)`. The runner is the
/// only glue a network adapter needs: `let r = await IMAPBackendRunner.run(request, on: access)`.

public enum IMAPBackendRequest: Hashable, Sendable {
    case listMailboxes
    case create(String, specialUse: [String])
    case delete(String)
    case rename(String, to: String)
    case setSubscribed(String, Bool)
    case status(String)
    /// STATUS of several mailboxes (LIST-STATUS, RFC 5819); a failure for one does not fail the others.
    case statusMany([String])
    /// With `claimRecent`, the snapshot carries the UIDs claimed as \Recent (`claimRecent(in:)`).
    case select(String, claimRecent: Bool = false)
    /// With `claimRecent`, new messages are claimed as \Recent and the UIDs returned with the changes.
    case changes(IMAPMailboxID, sinceModSeq: UInt64, knownUIDNext: UInt32, claimRecent: Bool = false)
    case fetch(IMAPMailboxID, uids: [UInt32], content: IMAPFetchContent, changedSince: UInt64?)
    case store(IMAPMailboxID, uids: [UInt32], IMAPFlagOperation, unchangedSince: UInt64?)
    case expunge(IMAPMailboxID, uids: [UInt32]?)
    case search(IMAPMailboxID, IMAPSearchQuery, uids: [UInt32])
    case vanished(IMAPMailboxID, sinceModSeq: UInt64, uids: [ClosedRange<UInt32>])
    case append(String, IMAPAppendMessage)
    case copy(IMAPMailboxID, uids: [UInt32], to: String)
    case move(IMAPMailboxID, uids: [UInt32], to: String)
    case quota
}

public enum IMAPBackendResponse: Hashable, Sendable {
    case mailboxes([IMAPMailboxInfo])
    case done
    case status(IMAPMailboxStatus)
    /// One entry per requested name, in order; nil where that mailbox failed.
    case statuses([IMAPMailboxStatus?])
    case selected(IMAPMailboxSnapshot)
    case changes(IMAPMailboxChanges)
    case messages([IMAPStoredMessage])
    case stored(IMAPStoreResult)
    case expunged([UInt32])
    case searched([UInt32])
    case vanished([UInt32]?)
    case appended(IMAPAppendResult)
    case copied(IMAPCopyResult)
    case quota([IMAPQuotaResource])
    case failed(IMAPBackendError)
}

public enum IMAPBackendRunner {
    /// Runs `request` against `access`; errors become `.failed`.
    public static func run(_ request: IMAPBackendRequest, on access: some IMAPMailboxAccess) async -> IMAPBackendResponse {
        do throws(IMAPBackendError) {
            switch request {
            case .listMailboxes:
                return .mailboxes(try await access.listMailboxes())
            case .create(let name, let uses):
                try await access.createMailbox(name, specialUse: uses)
                return .done
            case .delete(let name):
                try await access.deleteMailbox(name)
                return .done
            case .rename(let from, let to):
                try await access.renameMailbox(from, to: to)
                return .done
            case .setSubscribed(let name, let on):
                try await access.setSubscribed(name, on)
                return .done
            case .status(let name):
                return .status(try await access.status(name))
            case .statusMany(let names):
                var out: [IMAPMailboxStatus?] = []
                for name in names {
                    do { out.append(try await access.status(name)) } catch { out.append(nil) }
                }
                return .statuses(out)
            case .select(let name, let claimRecent):
                var snapshot = try await access.select(name)
                // Claimed after the snapshot: UIDs above its UIDNEXT are the session's once it learns of them.
                if claimRecent { snapshot.recent = try await access.claimRecent(in: snapshot.id) }
                return .selected(snapshot)
            case .changes(let id, let modSeq, let uidNext, let claimRecent):
                var changes = try await access.changes(in: id, sinceModSeq: modSeq, knownUIDNext: uidNext)
                if claimRecent, !changes.newUIDs.isEmpty { changes.recent = try await access.claimRecent(in: id) }
                return .changes(changes)
            case .fetch(let id, let uids, let content, let changedSince):
                return .messages(try await access.fetch(in: id, uids: uids, content: content, changedSince: changedSince))
            case .store(let id, let uids, let op, let unchangedSince):
                return .stored(try await access.store(in: id, uids: uids, op, unchangedSince: unchangedSince))
            case .expunge(let id, let uids):
                return .expunged(try await access.expunge(in: id, uids: uids))
            case .search(let id, let query, let uids):
                return .searched(try await access.search(in: id, query, uids: uids))
            case .vanished(let id, let modSeq, let uids):
                return .vanished(try await access.vanished(in: id, sinceModSeq: modSeq, uids: uids))
            case .append(let name, let message):
                return .appended(try await access.append(to: name, message))
            case .copy(let id, let uids, let to):
                return .copied(try await access.copy(from: id, uids: uids, to: to))
            case .move(let id, let uids, let to):
                return .copied(try await access.move(from: id, uids: uids, to: to))
            case .quota:
                return .quota(try await access.quota())
            }
        } catch {
            return .failed(error)
        }
    }
}
