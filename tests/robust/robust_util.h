/* Shared helpers of the robustness suite (tests/robust): run one plan end to
 * end through the public API, read everything back, compare runs, and a naive
 * fp64 attention computed from a run's own exported mask. */
#ifndef VOX_ROBUST_UTIL_H
#define VOX_ROBUST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

typedef struct rb_result {
    vox_status status;  /* VOX_OK or the first failing call's status */
    const char *stage;  /* which call failed: "create", "build", "forward", ... */
    int64_t B, H, N, D; /* shape */
    int64_t NB, V, S;   /* blocks, block volume, slots (NB*V) */
    double scale;       /* the plan's effective scale */
    double *out;        /* [B][H][N][D] */
    double *lse;        /* [B][H][N] */
    int32_t *row_ptr;   /* per mask (B*H masks): NB+1 entries */
    int32_t *cols;      /* per mask: NB*NB entries (the first row_ptr[NB] used) */
    int8_t *keep;       /* per mask: S flags */
    int32_t *slot;      /* [N] block-layout slot of each token */
    vox_head_class *classes; /* [B*H] */
} rb_result;

/* Runs create -> build -> forward (poisoned outputs) -> export on ctx.
 * q, k, v are f32 [B][H][N][D]; bnhd picks the caller layout. Returns the
 * status (also in r->status); on error r holds nothing but status/stage. */
vox_status rb_run(vox_context *ctx, const vox_plan_params *p, int bnhd, const float *q, const float *k,
                  const float *v, rb_result *r);
void rb_result_free(rb_result *r);

/* Tokens and blocks of a parameter set (a DENSE probe plan on ctx); -1 on error. */
int64_t rb_tokens(const vox_plan_params *p);
int64_t rb_n_blocks(vox_context *ctx, const vox_plan_params *p);

/* Naive fp64 attention over the run's own exported mask for every kept row
 * (keep flag 1). Fills ref_out/ref_lse at those rows and copies the run's
 * values for the same rows into got_out/got_lse; returns the number of rows.
 * Arrays must hold B*H*N*D resp. B*H*N doubles. */
int64_t rb_naive(const rb_result *r, const float *q, const float *k, const float *v, double *ref_out,
                 double *ref_lse, double *got_out, double *got_lse);

/* Compares two runs of the same case: masks and keep flags exactly, outputs
 * and LSE by normalized error. Returns 1 if equal, else 0 with a reason. */
int rb_compare(const rb_result *dev, const rb_result *ref, double out_tol, double lse_tol, char *why,
               size_t n);

/* Counts NaN / Inf in the run's outputs (rows of b*H+h == bh only if bh >= 0). */
int64_t rb_count_nan(const rb_result *r, int64_t bh);
int64_t rb_count_inf(const rb_result *r, int64_t bh);

/* Normalized error of one (b,h) slice of out between two runs. */
double rb_head_err(const rb_result *a, const rb_result *b, int64_t bh);

/* Whether a device status means "this device cannot do that" (acceptable
 * instead of a result): VOX_ERR_UNSUPPORTED or VOX_ERR_DEVICE_OUT_OF_MEMORY. */
int rb_is_cannot_do(vox_status st);

#endif
