/// A `Mutex` that escaping closures can share. A `Mutex` is not copyable, so a local one cannot be
/// captured by an escaping closure (a `Task`, a callback); this class holds one by reference.
import Synchronization

final class LockedBox<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withLock<Result: Sendable>(_ body: (inout Value) -> Result) -> Result {
        mutex.withLock { value in body(&value) }
    }
}
