#ifndef PRUNE_CGZIP_SHIM_H
#define PRUNE_CGZIP_SHIM_H
#include <zlib.h>

/// Starts inflating a stream that may be gzip- or zlib-wrapped (automatic header detection).
static inline int prune_inflate_init_auto(z_stream *stream) {
    return inflateInit2(stream, 15 + 32);
}

/// Starts inflating a raw deflate stream (no header: a ZIP member's data).
static inline int prune_inflate_init_raw(z_stream *stream) {
    return inflateInit2(stream, -15);
}
#endif
