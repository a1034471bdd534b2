import Foundation

// The timing harness the benchmarks (and `prune compact --bench`) share.

/// The median of `values` (0 when empty).
func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Runs each of `bodies` `count` times in turns (after a short warm-up) and returns each
/// one's seconds per run: side-by-side timing, so that drifts in machine speed hit all
/// of them alike. With `count` 0 the number of runs is chosen for about `seconds` of the
/// first body (between 15 and `maximumRuns`).
///
/// With `block` above 1 the turns are blocks: each body runs once untimed and then
/// `block` times in a row, so it finds its own data in cache as a loop of calls does
/// (warm timing). With `block` 1 every run follows the other bodies' runs, which evict
/// what they do not share (cold timing for data larger than the caches).
func timeInTurns(_ bodies: [() -> Void], count: Int = 0, seconds: Double = 0.3, maximumRuns: Int = 2000,
                 block: Int = 1) -> [[Double]] {
    let clock = ContinuousClock()
    let probe = clock.measure { bodies[0]() }.seconds
    let runs = count > 0 ? count : max(15, min(maximumRuns, Int(seconds / max(probe, 1e-7))))
    for body in bodies { for _ in 0..<max(3, runs / 10) { body() } }
    var samples = [[Double]](repeating: [], count: bodies.count)
    let block = max(1, min(block, runs))
    for _ in 0..<(runs + block - 1) / block {
        for (i, body) in bodies.enumerated() {
            if block > 1 { body() }
            for _ in 0..<block {
                let start = clock.now
                body()
                samples[i].append((clock.now - start).seconds)
            }
        }
    }
    return samples
}

/// The 90th percentile of `values`.
func percentile90(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(0.9 * Double(sorted.count)))]
}
