// The N:M product (see CKernels.h), with the rows of one panel in SIMD lanes.
//
// Per group and token, the token's m inputs of the group are broadcast across the register
// (x[t, g·m ..< g·m + m], once per 128 or 256 bits) and each slot's lanes pick their input by
// a permute with the slot's position vector; one fused multiply-add per slot then adds
// value · input for 16 (or 8) rows. The values and positions are loaded once per group and
// serve every token of a chunk, whose accumulators stay in registers.

#include "CKernels.h"
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PRUNE_X86 1
#endif

enum { PANEL = 16 };

PruneNMVariant prune_nm_best_variant(void) {
#if PRUNE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return PruneNMAVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return PruneNMAVX2;
#endif
    return PruneNMScalar;
}

// Portable: one token and one row at a time, on inputs packed as the vector kernels read them.
static void scalar_panel(int groups, int n, int m, const float *v, const int32_t *pos, const float *x,
                         int tokens, float *out /* [tokens][16] */) {
    for (int t = 0; t < tokens; t++) {
        for (int lane = 0; lane < PANEL; lane++) {
            float sum = 0;
            for (int g = 0; g < groups; g++) {
                const float *xg = x + (g * tokens + t) * m;
                int32_t packed = pos[g * PANEL + lane];
                for (int s = 0; s < n; s++) sum += v[(g * n + s) * PANEL + lane] * xg[(packed >> (4 * s)) & 0xF];
            }
            out[t * PANEL + lane] = sum;
        }
    }
}

#if PRUNE_X86
// The inputs of one group for one token, repeated across the register: m = 4 as four copies of
// 128 bits, m = 8 as two copies of 256 bits (the permute indices then pick within a copy).
#define INPUTS512_4(p) _mm512_broadcast_f32x4(_mm_loadu_ps(p))
#define INPUTS512_8(p) _mm512_shuffle_f32x4(_mm512_castps256_ps512(_mm256_loadu_ps(p)), \
                                            _mm512_castps256_ps512(_mm256_loadu_ps(p)), 0x44)
#define INPUTS256_4(p) _mm256_broadcast_ps((const __m128 *)(p))
#define INPUTS256_8(p) _mm256_loadu_ps(p)

// AVX-512, a chunk of TC tokens (TC accumulators of 16 rows). With two slots per group (2:4,
// 2:8) both go in one pass, so that one load of a token's inputs serves two permutes; other
// patterns take their slots one by one.
#define AVX512_CHUNK(TC, M)                                                                              \
    __attribute__((target("avx512f"))) static void avx512_##M##_##TC(                                    \
        int groups, int n, const float *v, const int32_t *pos, const float *x, float *out, long ldo) {    \
        __m512 acc[TC];                                                                                  \
        for (int t = 0; t < TC; t++) acc[t] = _mm512_setzero_ps();                                       \
        if (n == 2) {                                                                                    \
            for (int g = 0; g < groups; g++) {                                                           \
                const float *xg = x + g * TC * M, *vg = v + g * 2 * PANEL;                               \
                __m512i i0 = _mm512_loadu_si512(pos + g * PANEL), i1 = _mm512_srli_epi32(i0, 4);         \
                __m512 v0 = _mm512_loadu_ps(vg), v1 = _mm512_loadu_ps(vg + PANEL);                       \
                _Pragma("unroll") for (int t = 0; t < TC; t++) {                                         \
                    __m512 in = INPUTS512_##M(xg + t * M);                                               \
                    acc[t] = _mm512_fmadd_ps(v0, _mm512_permutexvar_ps(i0, in), acc[t]);                 \
                    acc[t] = _mm512_fmadd_ps(v1, _mm512_permutexvar_ps(i1, in), acc[t]);                 \
                }                                                                                        \
            }                                                                                            \
        } else {                                                                                         \
            for (int g = 0; g < groups; g++) {                                                           \
                const float *xg = x + g * TC * M, *vg = v + g * n * PANEL;                               \
                __m512i packed = _mm512_loadu_si512(pos + g * PANEL);                                    \
                for (int s = 0; s < n; s++) {                                                            \
                    __m512 v0 = _mm512_loadu_ps(vg + s * PANEL);                                         \
                    __m512i i0 = _mm512_srli_epi32(packed, 4 * s);                                       \
                    _Pragma("unroll") for (int t = 0; t < TC; t++)                                       \
                        acc[t] = _mm512_fmadd_ps(v0, _mm512_permutexvar_ps(i0, INPUTS512_##M(xg + t * M)), acc[t]); \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
        for (int t = 0; t < TC; t++) _mm512_storeu_ps(out + t * ldo, acc[t]);                            \
    }

// AVX2, a chunk of 8 tokens, each panel as two halves of 8 rows, slot by slot (16 registers
// hold 8 accumulators, the slot's values and positions, and an input).
#define AVX2_CHUNK(M)                                                                                    \
    __attribute__((target("avx2,fma"))) static void avx2_##M##_8(                                        \
        int groups, int n, const float *v, const int32_t *pos, const float *x, float *out, long ldo) {    \
        for (int half = 0; half < 2; half++) {                                                           \
            __m256 acc[8];                                                                               \
            for (int t = 0; t < 8; t++) acc[t] = _mm256_setzero_ps();                                    \
            for (int g = 0; g < groups; g++) {                                                           \
                const float *xg = x + g * 8 * M, *vg = v + g * n * PANEL + 8 * half;                     \
                __m256i packed = _mm256_loadu_si256((const __m256i *)(pos + g * PANEL + 8 * half));      \
                for (int s = 0; s < n; s++) {                                                            \
                    __m256 v0 = _mm256_loadu_ps(vg + s * PANEL);                                         \
                    __m256i i0 = _mm256_srli_epi32(packed, 4 * s);                                       \
                    _Pragma("unroll") for (int t = 0; t < 8; t++)                                        \
                        acc[t] = _mm256_fmadd_ps(v0, _mm256_permutevar8x32_ps(INPUTS256_##M(xg + t * M), i0), acc[t]); \
                }                                                                                        \
            }                                                                                            \
            for (int t = 0; t < 8; t++) _mm256_storeu_ps(out + t * ldo + 8 * half, acc[t]);              \
        }                                                                                                \
    }

AVX512_CHUNK(8, 4) AVX512_CHUNK(16, 4) AVX512_CHUNK(24, 4)
AVX512_CHUNK(8, 8) AVX512_CHUNK(16, 8) AVX512_CHUNK(24, 8)
AVX2_CHUNK(4) AVX2_CHUNK(8)
#endif

typedef void (*Chunk)(int groups, int n, const float *v, const int32_t *pos, const float *x, float *out, long ldo);

// The chunk kernels of a variant and group length for 8, 16 and 24 tokens (null where the
// variant has none; all null for the scalar variant).
static void chunks(PruneNMVariant variant, int m, Chunk table[3]) {
    table[0] = table[1] = table[2] = 0;
#if PRUNE_X86
    if (variant == PruneNMAVX512) {
        table[0] = m == 4 ? avx512_4_8 : avx512_8_8;
        table[1] = m == 4 ? avx512_4_16 : avx512_8_16;
        table[2] = m == 4 ? avx512_4_24 : avx512_8_24;
    } else if (variant == PruneNMAVX2) {
        table[0] = m == 4 ? avx2_4_8 : avx2_8_8;
    }
#endif
    (void)variant; (void)m;
}

int prune_nm_product(PruneNMVariant variant, int rows, int columns, int n, int m,
                     const float *values, const int32_t *positions,
                     const float *x, long ldx, int tokens,
                     float *y, long ldy, int first_panel, int end_panel) {
    const int groups = columns / m;
    Chunk table[3];
    chunks(variant, m, table);
    // A chunk's inputs, group by group, token by token (so the kernels address them by
    // constants; tokens past the end are zeros), and its outputs for one panel, [24][16].
    float *packed = calloc(24 * (size_t)columns, sizeof(float));
    if (!packed) return -1;
    float out[24 * PANEL];
    int t = 0;
    while (t < tokens) {
        const int left = tokens - t;
        // The widest chunk that the tokens fill, else the narrowest one, zero-padded.
        int width = 24, done;
        Chunk kernel = 0;
        if (table[2] && left >= 24) kernel = table[2];
        else if (table[1] && left >= 16) { kernel = table[1]; width = 16; }
        else if (table[0]) { kernel = table[0]; width = 8; }
        done = left < width ? left : width;
        for (int g = 0; g < groups; g++) {
            float *dst = packed + (long)g * width * m;
            // Fixed-size copies (m is 4 or 8 for the vector kernels), which compile to moves.
            const float *src = x + t * ldx + g * m;
            if (m == 4) for (int i = 0; i < done; i++) memcpy(dst + i * 4, src + i * ldx, 4 * sizeof(float));
            else if (m == 8) for (int i = 0; i < done; i++) memcpy(dst + i * 8, src + i * ldx, 8 * sizeof(float));
            else for (int i = 0; i < done; i++) memcpy(dst + i * m, src + i * ldx, sizeof(float) * m);
            if (done < width) memset(dst + done * m, 0, sizeof(float) * (width - done) * m);
        }
        for (int p = first_panel; p < end_panel; p++) {
            const float *v = values + (long)p * groups * n * PANEL;
            const int32_t *pos = positions + (long)p * groups * PANEL;
            const int lanes = rows - p * PANEL < PANEL ? rows - p * PANEL : PANEL;
            if (kernel && lanes == PANEL && done == width) {
                kernel(groups, n, v, pos, packed, y + t * ldy + p * PANEL, ldy);   // straight into y
                continue;
            }
            if (kernel) kernel(groups, n, v, pos, packed, out, PANEL);
            else scalar_panel(groups, n, m, v, pos, packed, width, out);
            for (int i = 0; i < done; i++) memcpy(y + (t + i) * ldy + p * PANEL, out + i * PANEL, sizeof(float) * lanes);
        }
        t += done;
    }
    free(packed);
    return 0;
}
