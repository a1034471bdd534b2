#ifndef PRUNE_CJPEG_SHIM_H
#define PRUNE_CJPEG_SHIM_H
// libjpeg(-turbo) reports errors by calling `error_exit`, which must not return. The
// decoder below keeps that longjmp inside one C function, so no Swift frame is ever
// skipped: it returns 0 on success and otherwise 1 with libjpeg's message. Warnings
// (corrupt or truncated data that libjpeg would paper over) count as errors.
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>

struct prune_jpeg_error {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void prune_jpeg_fail(j_common_ptr info) {
    struct prune_jpeg_error *error = (struct prune_jpeg_error *)info->err;
    (*info->err->format_message)(info, error->message);
    longjmp(error->jump, 1);
}

static void prune_jpeg_message(j_common_ptr info, int level) {
    if (level < 0) { prune_jpeg_fail(info); }   // a warning: corrupt data
}

/// Decodes the JPEG in `data[0..<size]`. With `out == NULL` it reads only the header and
/// sets `width`, `height` and `channels` (1 for grayscale, 3 otherwise). Otherwise it
/// decodes to `want_channels` (1: grayscale, 3: RGB) interleaved rows into `out`, which
/// must hold `capacity` bytes (width * height * want_channels). Returns 0 on success,
/// 1 with `message` (NUL-terminated, at most `message_size` bytes) on failure.
static inline int prune_jpeg_decode(const unsigned char *data, unsigned long size, int want_channels,
                                    unsigned char *out, size_t capacity,
                                    int *width, int *height, int *channels,
                                    char *message, size_t message_size) {
    struct jpeg_decompress_struct info;
    struct prune_jpeg_error error;
    memset(&info, 0, sizeof info);
    memset(&error, 0, sizeof error);
    info.err = jpeg_std_error(&error.base);
    error.base.error_exit = prune_jpeg_fail;
    error.base.emit_message = prune_jpeg_message;
    if (setjmp(error.jump)) {
        if (message && message_size > 0) {
            strncpy(message, error.message, message_size - 1);
            message[message_size - 1] = 0;
        }
        jpeg_destroy_decompress(&info);
        return 1;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, size);
    jpeg_read_header(&info, TRUE);
    *width = (int)info.image_width;
    *height = (int)info.image_height;
    *channels = info.jpeg_color_space == JCS_GRAYSCALE ? 1 : 3;
    if (out == NULL) {
        jpeg_destroy_decompress(&info);
        return 0;
    }
    info.out_color_space = want_channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&info);
    size_t row = (size_t)info.output_width * (size_t)info.output_components;
    if (info.output_components != want_channels || row * (size_t)info.output_height > capacity) {
        strncpy(error.message, "decoded size differs from the header's", sizeof error.message - 1);
        longjmp(error.jump, 1);
    }
    while (info.output_scanline < info.output_height) {
        JSAMPROW rows[1] = { out + row * info.output_scanline };
        jpeg_read_scanlines(&info, rows, 1);
    }
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
    return 0;
}
#endif
