import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#elseif canImport(Musl)
import Musl
#endif

/// A fixed team of threads that run one job at a time, each on its own index.
///
/// Built for many short parallel sections (several per training step): between jobs
/// the workers spin briefly before parking, so a new job starts in microseconds
/// rather than the tens of microseconds a sleeping thread takes to wake
/// (`DispatchQueue.concurrentPerform` measured 40–70 µs per call here).
/// The caller takes part as index 0. Not reentrant: `run` must not be called from
/// inside a job, nor from two threads at once.
public final class WorkerPool: @unchecked Sendable {
    /// The number of participants, the caller included.
    public let count: Int
    private let generation = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private var job: ((Int) -> Void)?
    private var threads: [pthread_t] = []
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()

    /// Iterations a worker spins waiting for the next job before it parks.
    private static let spinLimit = 200_000

    /// Starts `count − 1` threads (none for a count of 1).
    public init(count: Int) {
        precondition(count >= 1, "a worker pool needs at least one participant, got \(count)")
        self.count = count
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
        for index in 1..<max(count, 1) {
            let context = Unmanaged.passRetained(WorkerContext(pool: self, index: index)).toOpaque()
            var thread = pthread_t()
            #if canImport(Darwin)
            let started = pthread_create(&thread, nil, { raw in
                let ctx = Unmanaged<WorkerContext>.fromOpaque(raw).takeRetainedValue()
                ctx.pool.workerLoop(ctx.index)
                return nil
            }, context)
            precondition(started == 0, "pthread_create failed with \(started)")
            threads.append(thread!)
            #else
            let started = pthread_create(&thread, nil, { raw in
                let ctx = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                ctx.pool.workerLoop(ctx.index)
                return nil
            }, context)
            precondition(started == 0, "pthread_create failed with \(started)")
            threads.append(thread)
            #endif
        }
    }

    /// Stops and joins the threads.
    deinit {
        stopping.store(true, ordering: .releasing)
        pthread_mutex_lock(&mutex)
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
        for t in threads { pthread_join(t, nil) }
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    /// Runs `body(i)` for every `i` in `0..<count` at once (index 0 on the calling
    /// thread) and returns when all have finished.
    public func run(_ body: (Int) -> Void) {
        if count == 1 { body(0); return }
        withoutActuallyEscaping(body) { escapable in
            job = escapable
            finished.store(0, ordering: .relaxed)
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(&mutex)
                pthread_cond_broadcast(&condition)
                pthread_mutex_unlock(&mutex)
            }
            escapable(0)
            while finished.load(ordering: .acquiring) < count - 1 {}
            job = nil
        }
    }

    /// Runs `body(i)` for every `i` in `0..<parts` at once (index 0 on the calling thread)
    /// and returns the results in order of `i`.
    /// - Precondition: `0 <= parts <= count`.
    public func map<T>(_ parts: Int, _ body: (Int) -> T) -> [T] {
        precondition(parts >= 0 && parts <= count, "\(parts) parts for a pool of \(count)")
        return [T](unsafeUninitializedCapacity: parts) { buffer, initialized in
            run { i in if i < parts { (buffer.baseAddress! + i).initialize(to: body(i)) } }
            initialized = parts
        }
    }

    /// Runs `body(lo, hi)` on `count` disjoint ranges that cover `0..<total` (on the
    /// calling thread alone when `total < minimum`).
    public func forEachRange(_ total: Int, minimum: Int = 32_768, _ body: (Int, Int) -> Void) {
        let parts = total >= minimum ? min(count, total) : 1
        if parts <= 1 { body(0, total); return }
        run { i in
            if i < parts { body(total * i / parts, total * (i + 1) / parts) }
        }
    }

    private func workerLoop(_ index: Int) {
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen && !stopping.load(ordering: .relaxed) {
                spins += 1
                if spins < Self.spinLimit { continue }
                pthread_mutex_lock(&mutex)
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen && !stopping.load(ordering: .relaxed) {
                    pthread_cond_wait(&condition, &mutex)
                }
                sleepers.subtract(1, ordering: .releasing)
                pthread_mutex_unlock(&mutex)
            }
            if stopping.load(ordering: .acquiring) { return }
            seen = generation.load(ordering: .acquiring)
            job?(index)
            finished.add(1, ordering: .releasing)
        }
    }
}

private final class WorkerContext {
    let pool: WorkerPool
    let index: Int
    init(pool: WorkerPool, index: Int) { self.pool = pool; self.index = index }
}
