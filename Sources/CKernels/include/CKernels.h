// Prune's numeric kernels that need CPU intrinsics Swift cannot express (a permute of
// SIMD lanes by a run-time index vector). Each kernel picks its variant at run time by the
// CPU's features and has a portable scalar variant; TensorCore wraps them.
#ifndef PRUNE_CKERNELS_H
#define PRUNE_CKERNELS_H

#include <stdint.h>

/// The variants of the N:M product, best first.
typedef enum {
    PruneNMScalar = 0,
    PruneNMAVX2 = 1,
    PruneNMAVX512 = 2,
} PruneNMVariant;

/// The best variant this CPU runs.
PruneNMVariant prune_nm_best_variant(void);

/// `y[t, r] = Σ_g Σ_s values[r, g, s] · x[t, g·m + position[r, g, s]]` for the rows of panels
/// `first_panel ..< end_panel`: an N:M matrix (rows × columns, `m ≤ 8` dividing `columns`,
/// `n ≤ m` kept per group) times a batch of `tokens` rows of `x` (row stride `ldx`), written
/// into `y` (row stride `ldy`, columns `rows`).
///
/// Layout (`NMPanels` builds it): rows go in panels of 16 (zero rows pad the last); panel p,
/// group g holds `n` vectors of 16 values (`values[((p·groups + g)·n + s)·16 + lane]`) and one
/// vector of 16 packed positions (`positions[(p·groups + g)·16 + lane]`, slot s in bits
/// 4s..4s+3).
///
/// `variant` must be one `prune_nm_best_variant` allows (or a lesser one). Returns 0, or -1
/// when the scratch for a chunk of inputs (24 tokens) cannot be allocated.
int prune_nm_product(PruneNMVariant variant, int rows, int columns, int n, int m,
                     const float *values, const int32_t *positions,
                     const float *x, long ldx, int tokens,
                     float *y, long ldy, int first_panel, int end_panel);

#endif
