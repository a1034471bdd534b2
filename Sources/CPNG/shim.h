#ifndef PRUNE_CPNG_SHIM_H
#define PRUNE_CPNG_SHIM_H
// libpng's simplified API (png_image_*): it reports errors through return values and
// `png_image.message`, never through longjmp into Swift frames.
#include <png.h>
#endif
