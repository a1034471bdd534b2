#ifndef PRUNE_CBLAS_SHIM_H
#define PRUNE_CBLAS_SHIM_H
#include <stddef.h>
#include <cblas.h>

/* LAPACK's Cholesky factorization and inverse, which libopenblas carries (its LAPACKE layer is
   not always built, so these are the Fortran entry points): column-major, 32-bit integers, and
   the hidden length of the character argument that gfortran's calling convention appends. */
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t uplo_length);
void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t uplo_length);
#endif
