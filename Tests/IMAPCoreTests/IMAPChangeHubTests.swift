/// `IMAPChangeHub`: the in-process change notifications the stores share.
import IMAPCore
import Testing

@Suite struct IMAPChangeHubTests {
    @Test func notifyWakesOnlyWatchersOfThatFolder() async {
        let hub = IMAPChangeHub()
        var a = hub.stream(IMAPMailboxID(1)).makeAsyncIterator()
        let b = hub.stream(IMAPMailboxID(2))
        #expect(hub.watcherCount(IMAPMailboxID(1)) == 1 && hub.hasWatchers)
        // Many changes while nobody reads leave one pending wake-up (bounded memory), not one per change.
        for _ in 0..<1000 { hub.notify([IMAPMailboxID(1)]) }
        #expect(await a.next() != nil)
        hub.notify([IMAPMailboxID(1)])
        #expect(await a.next() != nil)
        // Folder 2's watcher stays registered and untouched by other folders' changes.
        hub.notify([IMAPMailboxID(3)])
        #expect(hub.watcherCount(IMAPMailboxID(2)) == 1)
        _ = b
    }

    @Test func endedStreamsReleaseTheirWatch() async {
        let hub = IMAPChangeHub()
        do {
            let stream = hub.stream(IMAPMailboxID(7))
            let task = Task {
                for await _ in stream { return true }
                return false
            }
            hub.notify([IMAPMailboxID(7)])
            #expect(await task.value)
        }
        // The consuming task ended and the stream was dropped: its termination removes the watch.
        for _ in 0..<100 where hub.watcherCount(IMAPMailboxID(7)) > 0 { try? await Task.sleep(for: .milliseconds(10)) }
        #expect(hub.watcherCount(IMAPMailboxID(7)) == 0)
        #expect(!hub.hasWatchers)
    }

    @Test func notifyAllWakesEveryWatcher() async {
        let hub = IMAPChangeHub()
        var a = hub.stream(IMAPMailboxID(1)).makeAsyncIterator()
        var b = hub.stream(IMAPMailboxID(2)).makeAsyncIterator()
        var c = hub.stream(IMAPMailboxID(2)).makeAsyncIterator()
        hub.notifyAll()
        #expect(await a.next() != nil)
        #expect(await b.next() != nil)
        #expect(await c.next() != nil)
    }
}
