#ifndef PRUNE_CBLAS_SHIM_H
#define PRUNE_CBLAS_SHIM_H
#include <cblas.h>
#endif
