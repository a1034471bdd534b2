import NeuralNetwork
import Pruning

/// Everything one report shows, as data: `html()` draws it, and it is also the report's
/// JSON (`prune report --json`, and embedded in the page), so every chart's numbers can
/// be read back. Built by `init(_:)` from a model, its run and its data.
public struct PruningReport: Codable, Sendable {
    /// One accuracy figure at the sparsity it was measured at, with its split.
    public struct AccuracyPoint: Codable, Equatable, Sendable {
        /// What was measured (`"final"`, `"after round 2"`, `"training epoch 3"`).
        public var stage: String
        public var split: DataSplit
        public var sparsity: Double
        public var accuracy: Float, loss: Float
        /// Creates a point.
        public init(stage: String, split: DataSplit, sparsity: Double, accuracy: Float, loss: Float) {
            self.stage = stage; self.split = split; self.sparsity = sparsity; self.accuracy = accuracy; self.loss = loss
        }
    }
    /// Another run's figures, drawn over this one's (`--compare`).
    public struct ComparedRun: Codable, Equatable, Sendable {
        public var name: String
        public var points: [AccuracyPoint]
        /// Creates a compared run.
        public init(name: String, points: [AccuracyPoint]) { self.name = name; self.points = points }
    }
    /// Where the run's time went, in seconds.
    public struct Time: Codable, Equatable, Sendable {
        public var training: Double, scoring: Double, cutting: Double, evaluation: Double
        /// Building this report's data (latency, figures of the "before" model, saliency);
        /// drawing and writing the page come after and are not in it.
        public var report: Double?
    }

    /// The page's heading (a model file's or a recipe's name).
    public var title: String
    /// The last run's history: plan, cuts, figures, rounds (nil for a model never pruned by Prune).
    public var history: RunHistory?
    /// Every figure with its sparsity: the history's measurements (validation and test),
    /// then training and validation figures per epoch when the run was recorded.
    public var accuracy: [AccuracyPoint] = []
    /// The dense model's figures (before the first cut), drawn as lines across the charts.
    public var dense: [AccuracyPoint] = []
    /// Other runs and baselines to compare with.
    public var compared: [ComparedRun] = []
    /// The steps of the run (at most `ReportInputs.maximumSteps`, loss averaged over the steps each stands for).
    public var steps: [RunRecorder.Step] = []
    /// Where each phase begins.
    public var phases: [RunRecorder.PhaseStart] = []
    /// The model before the first cut (nil when the report has no "before" model) and after.
    public var before: ModelReport?, after: ModelReport
    /// Where the "before" model comes from.
    public var beforeSource: String?
    /// Batch-1 latency before and after.
    public var latency: LatencyFigures?
    /// The saved model file's bytes.
    public var fileBytes: Int?
    /// Weight magnitudes before and after.
    public var histogram: WeightHistogram?
    /// Each pruned weight tensor's sparsity, before and after.
    public var weights: [WeightSparsity] = []
    /// Time per activity.
    public var time: Time?
    /// Per-layer sensitivity curves, when an analysis was given.
    public var sensitivity: SensitivityAnalysis?
    /// What the pruned network still looks at.
    public var pixels: PixelConnections?
    public var classMeans: ClassMeans?
    public var filters: FirstLayerFilters?
    public var removedUnits: RemovedUnits
    public var saliency: SaliencyMaps?
    /// Why a part is missing (`"latency": "…"`), so the page can say so instead of leaving a gap.
    public var notes: [String: String] = [:]
}

/// What a report is built from: the pruned model, and whatever else is at hand.
public struct ReportInputs {
    /// The page's heading.
    public var title: String
    /// The model as pruned.
    public var model: Graph
    /// The run's history, time and figures (from `PruningRun.run`), or a history read from a model file.
    public var history: RunHistory?
    public var timing: RunTiming?
    /// The run's recorder: the "before" model, steps and epochs.
    public var recorder: RunRecorder?
    /// A "before" model given directly (used when there is no recorder, or it has none).
    public var baseline: Graph?
    /// Where `baseline` comes from, for the page.
    public var baselineSource: String?
    /// Images for the class means and saliency maps (the test split: shown, never decided on).
    public var images: Dataset?
    /// A sensitivity analysis of the model.
    public var sensitivity: SensitivityAnalysis?
    /// The saved model file's size.
    public var fileBytes: Int?
    /// How many images get saliency maps.
    public var saliencySamples = 6
    /// How long latency is measured, in seconds (0: not measured).
    public var latencySeconds = 0.2
    /// At most this many steps are kept for the schedule chart.
    public var maximumSteps = 400
    /// Why there is no recorder or "before" model (e.g. a run resumed from a checkpoint), said on the page.
    public var recorderNote: String?

    /// Inputs for a report on `model`.
    public init(title: String, model: Graph, history: RunHistory? = nil, timing: RunTiming? = nil,
                recorder: RunRecorder? = nil, baseline: Graph? = nil, baselineSource: String? = nil, images: Dataset? = nil) {
        self.title = title; self.model = model; self.history = history; self.timing = timing
        self.recorder = recorder; self.baseline = baseline; self.baselineSource = baselineSource; self.images = images
    }

    /// Inputs for a report on a run's result.
    public init(title: String, model: Graph, run: RunReport, recorder: RunRecorder?, images: Dataset? = nil) {
        self.init(title: title, model: model, history: run.history, timing: run.timing, recorder: recorder, images: images)
    }
}
