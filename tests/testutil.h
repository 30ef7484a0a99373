/* Helpers shared by the tests: random data, naive attention, error metrics. */
#ifndef VOX_TESTUTIL_H
#define VOX_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "voxattn.h"

/* Normalized error sum((a-r)^2)/sum(r^2) (sum((a-r)^2) when r is all zero);
 * any NaN in a where r is finite -> INFINITY. */
double tu_norm_err(const double *a, const double *r, size_t n);

/* Per-dtype limit for float outputs vs the reference. */
double tu_tolerance(vox_dtype dtype);

/* Deterministic normal samples. */
void tu_fill_normal(uint64_t seed, double scale, float *x, size_t n);

/* Logger that appends to a test-owned counter (errors) without printing
 * unless VOXATTN_TEST_VERBOSE is set. */
void tu_log(void *user, vox_log_level level, const char *msg);

/* Context on a device id ("cpu", "opencl:0"); NULL on failure. */
vox_context *tu_context(const char *id, int *error_count);

/* Uploads f32 host data as dtype into a new buffer laid out by `t` (shape and
 * strides), returning the tensor. The buffer has `extra` spare bytes. */
vox_status tu_upload_tensor(vox_context *ctx, vox_dtype dtype, const float *bhnd, int64_t B, int64_t H,
                            int64_t N, int64_t D, int bnhd, vox_tensor *out);
/* A poisoned (0xFF bytes = NaN) output tensor of the given layout. */
vox_status tu_poisoned_tensor(vox_context *ctx, vox_dtype dtype, int64_t B, int64_t H, int64_t N,
                              int64_t D, int bnhd, vox_tensor *out);
/* Reads a tensor back as f64 [B][H][N][D]. Caller frees. */
double *tu_read_tensor(const vox_tensor *t);
void tu_free_tensor(vox_tensor *t);

/* Rounds f32 data through dtype (what the device sees). */
void tu_round_through(vox_dtype dtype, float *x, size_t n);

/* Naive masked attention for one row: keys where allowed[key] != 0.
 * q row, k/v [N][D] f64. Writes out[D], returns lse (natural). */
double tu_naive_row(const double *q, const double *k, const double *v, const unsigned char *allowed,
                    int64_t N, int64_t D, double scale, double *out);

#endif
