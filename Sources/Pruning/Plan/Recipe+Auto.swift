extension Recipe {
    /// `schedule: auto`: after training, one-shot and iterative rounds are each tried at the
    /// target on the same short budget of epochs (cut on a copy, fine-tuned, measured on the
    /// validation split); the best then runs with the `fine_tune` epochs (k rounds share
    /// them). The choice is recorded in the run's search report (`RunHistory.search`), and
    /// `SearchReport.fixing` writes it into a recipe.
    public struct AutoSchedule: Codable, Equatable, Sendable {
        /// Epochs each candidate gets on its probe: one-shot fine-tunes them all after its cut,
        /// k rounds share them.
        public var probeEpochs: Int?
        /// The round counts tried beside one-shot.
        public var rounds: [Int]?
        enum CodingKeys: String, CodingKey { case probeEpochs = "probe_epochs", rounds }
        /// Creates the spec; absent fields take `Recipe.Defaults`.
        public init(probeEpochs: Int? = nil, rounds: [Int]? = nil) { self.probeEpochs = probeEpochs; self.rounds = rounds }
    }

    /// The automatic threshold: after training, probe sparsities on a copy of the model (cut,
    /// fine-tune `probe_epochs`, measure on the validation split; `AccuracyBudgetSearch`)
    /// and keep the highest that loses at most `max_accuracy_drop`. One-shot and iterative
    /// (without rewinding) plans; with iterative rounds the search finds the first round.
    public struct AutoThreshold: Codable, Equatable, Sendable {
        /// The most validation accuracy the cut may lose, as a fraction (0.005 = half a point).
        public var maxAccuracyDrop: Double
        /// The most probes of the sparsity search.
        public var probes: Int?
        /// Fine-tuning epochs of each probe (0: measured right after the cut).
        public var probeEpochs: Int?
        /// The highest sparsity tried.
        public var highest: Double?
        enum CodingKeys: String, CodingKey {
            case maxAccuracyDrop = "max_accuracy_drop", probes, probeEpochs = "probe_epochs", highest
        }
        /// Creates the spec; absent fields take `Recipe.Defaults`.
        public init(maxAccuracyDrop: Double, probes: Int? = nil, probeEpochs: Int? = nil, highest: Double? = nil) {
            self.maxAccuracyDrop = maxAccuracyDrop; self.probes = probes
            self.probeEpochs = probeEpochs; self.highest = highest
        }
    }

    /// The most probes a search makes: `thresholdProbes` for the threshold search (nil:
    /// none), every `Strategy.candidates(for: objective)` entry when selecting (the threshold search's own
    /// probe at its find counts as the first), and the refining probes when it does both.
    public static func searchProbes(thresholdProbes: Int?, selecting: Bool, objective: Objective = .parameters) -> Int {
        guard selecting else { return thresholdProbes ?? 0 }
        let candidates = Strategy.candidates(for: objective).count
        guard let thresholdProbes else { return candidates }
        return thresholdProbes + candidates - 1 + Defaults.autoRefineProbes
    }

    /// The most training epochs a search costs: each probe's fine-tuning, and the
    /// preparation of the strategies that train before their cut (`Strategy.prepares`),
    /// counting the refining probes as preparing too, and the chosen strategy's own
    /// preparation before the run's cut.
    public static func searchEpochs(thresholdProbes: Int?, probeEpochs: Int, selecting: Bool, objective: Objective = .parameters) -> Int {
        let probes = searchProbes(thresholdProbes: thresholdProbes, selecting: selecting, objective: objective)
        guard selecting else { return probes * probeEpochs }
        // The preparing candidates, the refining probes (when one of them is chosen), and the chosen one's own preparation.
        let preparing = Strategy.candidates.filter(\.prepares).count + (thresholdProbes == nil ? 0 : Defaults.autoRefineProbes) + 1
        return probes * probeEpochs + preparing * max(probeEpochs, 1)
    }
}
