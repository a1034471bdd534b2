import NeuralNetwork

/// A part of a run, announced to observers as it begins.
public enum RunPhase: Equatable, Sendable {
    /// Training from the plan's `train` section.
    case training(epochs: Int)
    /// Recovery after a round: fine-tuning or retraining from a rewound snapshot.
    case recovery(round: Int, epochs: Int)
    /// The plan's final fine-tuning.
    case fineTuning(epochs: Int)
    /// Training just before the first cut after training (`prune.prepare`).
    case preparation(epochs: Int)
}

/// Receives a run's progress. The engine prints nothing: the command line's progress
/// bars and reports are observers. An observer that is also a `TrainingCallback` is
/// added to every trainer the run uses, so it sees every step and epoch.
public protocol RunObserver: AnyObject {
    /// A phase begins.
    func run(willBegin phase: RunPhase)
    /// A cut is about to be made to `model` (the model as it stands before it: a report
    /// keeps it as the "before" model at the first cut).
    func run(willCut phase: CutPhase, model: Graph)
    /// A cut was made.
    func run(didCut cut: CutRecord)
    /// A figure was measured.
    func run(didMeasure measurement: Measurement)
    /// A checkpoint was taken (when the plan has a `checkpoint` section): store it to
    /// resume later with `PruningRun.run(_:data:resumingFrom:)`. Throwing stops the run.
    func run(didCheckpoint checkpoint: RunCheckpoint) throws
    /// A probe of the plan's search was measured (the search is `total` probes at most).
    func run(didProbe probe: SearchReport.Probe, of total: Int)
}

extension RunObserver {
    public func run(willBegin phase: RunPhase) {}
    public func run(willCut phase: CutPhase, model: Graph) {}
    public func run(didCut cut: CutRecord) {}
    public func run(didMeasure measurement: Measurement) {}
    public func run(didCheckpoint checkpoint: RunCheckpoint) throws {}
    public func run(didProbe probe: SearchReport.Probe, of total: Int) {}
}
