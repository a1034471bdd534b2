import NeuralNetwork

extension Recipe {
    /// Knowledge distillation during a training phase (`train.distill`, `fine_tune.distill`):
    /// the loss becomes `α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1−α)·CE(s, y)` with the
    /// teacher's logits `t` (Hinton et al. 2015, https://arxiv.org/abs/1503.02531).
    ///
    /// The teacher is one model for the whole run: the model file `teacher` names (read by
    /// the caller and handed to `PruningRun.teacher`), or else a copy of the model as the run
    /// starts, before any cut. Its logits on the training split are computed once.
    public struct Distill: Codable, Equatable, Sendable {
        /// `T` (default `Defaults.distillTemperature`).
        public var temperature: Float?
        /// `α`, the weight of the soft term (default `Defaults.distillAlpha`).
        public var alpha: Float?
        /// A model file whose outputs teach (relative to the working directory); any model
        /// with the same classes, e.g. a stronger architecture.
        public var teacher: String?
        /// What is matched: `outputs` (the default: softened logits, the loss above) or
        /// `tokens` (a sentence encoder's last hidden state at every real token, by mean squared
        /// error, with the teacher run on each batch; temperature and alpha do not apply).
        public var match: Distillation.Match?

        /// Creates the section; absent fields take `Recipe.Defaults`.
        public init(temperature: Float? = nil, alpha: Float? = nil, teacher: String? = nil, match: Distillation.Match? = nil) {
            self.temperature = temperature; self.alpha = alpha; self.teacher = teacher; self.match = match
        }

        /// The training phase's settings, defaults applied.
        public var distillation: Distillation {
            Distillation(temperature: temperature ?? Defaults.distillTemperature, alpha: alpha ?? Defaults.distillAlpha,
                         match: match ?? .outputs)
        }

        /// The section with its defaults written out.
        var resolved: Distill {
            Distill(temperature: distillation.temperature, alpha: distillation.alpha, teacher: teacher, match: match)
        }

        /// The keys of the section.
        static let keys: KeyTree = .map(["temperature": .leaf, "alpha": .leaf, "teacher": .leaf, "match": .leaf])
    }

    /// The distill sections of the plan with their field paths (`train.distill` first).
    public var distillSections: [(field: String, distill: Distill)] {
        [train?.distill.map { ("train.distill", $0) }, fineTune?.distill.map { ("fine_tune.distill", $0) }].compactMap { $0 }
    }

    /// The teacher model file the plan names (the caller loads it into `PruningRun.teacher`),
    /// or nil: the model as the run starts teaches.
    public var distillTeacher: String? { distillSections.lazy.compactMap(\.distill.teacher).first }

    /// The problems of the distill sections: `T > 0`, `0 ≤ α ≤ 1`, one teacher per run, and a
    /// teacher for a model built fresh (whose starting weights have learned nothing).
    func distillProblems() -> [PruningError] {
        var found: [PruningError] = []
        func check(_ ok: Bool, _ field: String, _ problem: String) { if !ok { found.append(.field(field, problem)) } }
        let sections = distillSections
        for (field, d) in sections {
            check(d.temperature.map { $0.isFinite && $0 > 0 } ?? true, "\(field).temperature", "must be positive")
            check(d.alpha.map { (0...1).contains($0) } ?? true, "\(field).alpha", "must be in [0, 1]")
            check(d.teacher.map { !$0.allSatisfy(\.isWhitespace) } ?? true, "\(field).teacher", "must name a model file")
        }
        if sections.count == 2, let first = sections[0].distill.teacher, let second = sections[1].distill.teacher, first != second {
            check(false, "fine_tune.distill.teacher", "differs from train.distill.teacher (\(first)): a run has one teacher")
        }
        if case .modelFile = modelSource {} else if let field = sections.first?.field, distillTeacher == nil {
            check(false, field, "needs a teacher: the model is built fresh, so it has learned nothing to teach; give \(field).teacher (a trained model file)")
        }
        return found
    }
}
