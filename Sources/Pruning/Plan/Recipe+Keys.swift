extension Recipe {
    /// The keys a recipe may use, as a tree (`*` accepts any key: per-layer maps).
    static let regularizerKeys: KeyTree = .map(["l1": .leaf, "l2": .leaf, "group_lasso": .leaf, "method": .leaf,
                                                "parameters": .leaf, "exclude": .leaf])

    public static let keys: KeyTree = .map([
        "model": .leaf, "layers": .leaf, "initializer": .leaf, "data": .leaf, "seed": .leaf, "validation_split": .leaf, "output": .leaf, "sparse_kernels": .leaf,
        "train": .map(["epochs": .leaf, "batch_size": .leaf, "optimizer": .leaf, "learning_rate": .leaf,
                       "momentum": .leaf, "nesterov": .leaf, "weight_decay": .leaf, "schedule": .leaf,
                       "step_epochs": .leaf, "step_factor": .leaf, "warmup_steps": .leaf, "gradient_clip": .leaf,
                       "steps": .leaf, "minutes": .leaf, "beta2": .leaf, "min_lr_factor": .leaf, "weight_decay_scope": .leaf,
                       "regularizer": regularizerKeys,
                       "distill": Distill.keys]),
        "prune": .map([
            "criterion": .leaf, "granularity": .leaf, "scope": .leaf, "allocation": .leaf, "objective": .leaf, "parameters": .leaf, "exclude": .leaf,
            "threshold": .map(["sparsity": .leaf, "value": .leaf, "per_layer": .map(["*": .leaf]),
                               "auto": .map(["max_accuracy_drop": .leaf, "probes": .leaf, "probe_epochs": .leaf,
                                             "highest": .leaf])]),
            "schedule": .map([
                "one_shot": .map([:]),
                "agp": .map(["start_epoch": .leaf, "end_epoch": .leaf, "every_steps": .leaf, "every_epochs": .leaf,
                             "initial_sparsity": .leaf]),
                "constant": .map(["start_epoch": .leaf]),
                "iterative": .map(["fraction": .leaf, "rounds": .leaf, "fine_tune_epochs": .leaf, "accuracy_budget": .leaf,
                                   "rewind_to_step": .leaf, "first_sparsity": .leaf]),
                "auto": .map(["probe_epochs": .leaf, "rounds": .leaf]),
            ]),
            "prepare": .map(["epochs": .leaf, "regularizer": regularizerKeys]),
            "calibration": .map(["file": .leaf, "samples": .leaf, "inputs": .leaf]),
        ]),
        "fine_tune": .map(["epochs": .leaf, "learning_rate": .leaf, "batch_size": .leaf, "optimizer": .leaf,
                           "momentum": .leaf, "weight_decay": .leaf, "schedule": .leaf, "distill": Distill.keys,
                           "steps": .leaf]),
        "checkpoint": .map(["every_steps": .leaf, "every_rounds": .leaf, "path": .leaf]),
    ])
}
