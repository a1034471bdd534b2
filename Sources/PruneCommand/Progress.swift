import Foundation
import NeuralNetwork
import Pruning

/// Shows training progress on stderr: a redrawn bar on a terminal, a plain line
/// every quarter epoch otherwise, and one summary line per epoch.
final class ProgressReporter: TrainingCallback, RunObserver {
    private let interactive: Bool
    private let quiet: Bool
    private let clock = ContinuousClock()
    private var epochStart: ContinuousClock.Instant
    private var lastDraw: ContinuousClock.Instant
    private var smoothedLoss: Float?
    /// Show losses in bits per token (language models) rather than nats.
    private let bits: Bool

    init(quiet: Bool, bits: Bool = false) {
        self.quiet = quiet
        self.bits = bits
        interactive = isatty(STDERR_FILENO) != 0
        epochStart = clock.now
        lastDraw = clock.now
    }

    func trainer(_ trainer: Trainer, didFinishStep r: StepReport) throws {
        if r.totalSteps < r.stepsPerEpoch { return try stepLimited(r) }
        if r.stepInEpoch == 0 { epochStart = clock.now; smoothedLoss = nil }
        smoothedLoss = smoothedLoss.map { 0.95 * $0 + 0.05 * r.loss } ?? r.loss
        guard !quiet else { return }
        let now = clock.now
        let elapsed = (now - epochStart).seconds
        let rate = Double(r.samplesInEpoch) / max(elapsed, 1e-9)
        let last = r.stepInEpoch == r.stepsPerEpoch - 1
        if interactive {
            draw(done: r.stepInEpoch + 1, of: r.stepsPerEpoch, last: last, now: now) { bar in
                String(format: "epoch %d %@ %3d%%  loss %.4f  %.0f samples/s  lr %.4g",
                       r.epoch, bar, 100 * (r.stepInEpoch + 1) / r.stepsPerEpoch, smoothedLoss ?? r.loss, rate, r.learningRate)
            }
        } else {
            let quarter = max(r.stepsPerEpoch / 4, 1)
            if (r.stepInEpoch + 1) % quarter == 0 && !last {
                printError(String(format: "epoch %d  step %d/%d  loss %.4f  %.0f samples/s",
                                  r.epoch, r.stepInEpoch + 1, r.stepsPerEpoch, smoothedLoss ?? r.loss, rate))
            }
        }
    }

    /// Redraws the progress line (at most every 0.1 s, and at the last step), its bar `done/total` full.
    private func draw(done: Int, of total: Int, last: Bool, now: ContinuousClock.Instant, line: (String) -> String) {
        guard last || (now - lastDraw).seconds > 0.1 else { return }
        lastDraw = now
        let width = 30, filled = width * done / max(total, 1)
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        FileHandle.standardError.write(Data(("\r" + line(bar)).utf8))
        if last { FileHandle.standardError.write(Data("\u{1B}[K\r".utf8)) }
    }

    /// A run shorter than an epoch (a language model's `--steps`): progress over the steps, with
    /// tokens per second and the loss in bits.
    private func stepLimited(_ r: StepReport) throws {
        if r.step == 0 { epochStart = clock.now; smoothedLoss = nil }
        smoothedLoss = smoothedLoss.map { 0.9 * $0 + 0.1 * r.loss } ?? r.loss
        guard !quiet else { return }
        let now = clock.now
        let elapsed = (now - epochStart).seconds
        let rate = r.step == 0 ? 0 : Double(r.samplesInEpoch) / max(elapsed, 1e-9)
        let last = r.step == r.totalSteps - 1
        let loss = (smoothedLoss ?? r.loss) / (bits ? Float(M_LN2) : 1)
        let unit = bits ? "bits" : "loss"
        let remaining = elapsed / Double(r.step + 1) * Double(r.totalSteps - r.step - 1)
        if interactive {
            draw(done: r.step + 1, of: r.totalSteps, last: last, now: now) { bar in
                String(format: "step %d/%d %@ %@ %.4f  %.0f samples/s  lr %.3g  %.0f s left",
                       r.step + 1, r.totalSteps, bar, unit, loss, rate, r.learningRate, remaining)
            }
        } else if (r.step + 1) % max(r.totalSteps / 20, 1) == 0 || last {
            printError(String(format: "step %d/%d  %@ %.4f  %.0f samples/s  lr %.3g  %.0f s left",
                              r.step + 1, r.totalSteps, unit, loss, rate, r.learningRate, remaining))
        }
    }

    func trainer(_ trainer: Trainer, didFinishEpoch r: EpochReport) throws {
        guard !quiet else { return }
        var line = String(format: "epoch %d  loss %.4f  train acc %.2f%%  %.2f s  %.0f samples/s",
                          r.epoch, r.loss, 100 * r.trainingAccuracy, r.seconds, r.samplesPerSecond)
        if let v = r.validation {
            line += String(format: "  val acc %.2f%%  val loss %.4f", 100 * v.accuracy, v.loss)
        }
        if interactive { line += "\u{1B}[K" }
        printError(line)
    }

    func run(didProbe p: SearchReport.Probe, of total: Int) {
        guard !quiet else { return }
        let verdict = p.kept.map { $0 ? "  within budget" : "  over budget" } ?? ""
        printError(String(format: "search (%@): %@ %@: val acc %.2f%%  val loss %.4f%@  %.1f s  [probes ≤ %d]",
                          p.stage, p.label, p.at, 100 * p.accuracy, p.loss, verdict, p.seconds, total))
    }

}
