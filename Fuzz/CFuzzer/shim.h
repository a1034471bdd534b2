#ifndef PRUNE_CFUZZER_SHIM_H
#define PRUNE_CFUZZER_SHIM_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver, present only when linked with -sanitize=fuzzer (weak: NULL otherwise).
extern int LLVMFuzzerRunDriver(int *argc, char ***argv,
                               int (*callback)(const uint8_t *data, size_t size)) __attribute__((weak));

/// Runs libFuzzer's driver when it is linked in; returns -1 when it is not.
static inline int prune_run_fuzzer(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size)) {
    if (!LLVMFuzzerRunDriver) { return -1; }
    return LLVMFuzzerRunDriver(argc, argv, callback);
}
#endif
