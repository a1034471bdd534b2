#ifndef PRUNE_CALLOCATOR_SHIM_H
#define PRUNE_CALLOCATOR_SHIM_H
#if defined(__linux__) && __has_include(<malloc.h>)
#include <malloc.h>
/// Keeps allocations below `bytes` on the heap (glibc's M_MMAP_THRESHOLD) and trims the
/// heap only past `trim` free bytes. Returns 1 on success.
static inline int prune_tune_allocator(int bytes, int trim) {
    return mallopt(M_MMAP_THRESHOLD, bytes) && mallopt(M_TRIM_THRESHOLD, trim);
}
#else
static inline int prune_tune_allocator(int bytes, int trim) { (void)bytes; (void)trim; return 0; }
#endif
#endif
