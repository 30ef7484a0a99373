/* Helpers shared by the tests: random data, naive attention, error metrics
 * (testutil.c), and the run-and-compare harness of conformance and the
 * robustness suite (testutil_run.c). */
#ifndef VOX_TESTUTIL_H
#define VOX_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "voxattn.h"
#include "workload.h"

/* Normalized error sum((a-r)^2)/sum(r^2) (sum((a-r)^2) when r is all zero);
 * any NaN in a where r is finite -> INFINITY. */
double tu_norm_err(const double *a, const double *r, size_t n);

/* Per-dtype limit for float outputs vs the reference. */
double tu_tolerance(vox_dtype dtype);

/* Largest |a-r| over the entries where r is finite; INFINITY where a and r
 * differ in which entries are NaN, +Inf or -Inf (those must be identical). */
double tu_max_abs_err(const double *a, const double *r, size_t n);

/* Deterministic normal samples. */
void tu_fill_normal(uint64_t seed, double scale, float *x, size_t n);
/* *q, *k, *v: n floats each (malloc, the caller frees each), normal samples
 * of the seeds seed, seed + 1 and seed + 2. */
void tu_normal_qkv(size_t n, uint64_t seed, float **q, float **k, float **v);
/* A small f32 case of a workload: its plan parameters (mask mode, block
 * shape; vox_workload_plan_params) and tu_normal_qkv inputs of its size. */
typedef struct tu_case {
    vox_plan_params p;
    float *q, *k, *v; /* n floats each */
    size_t n;
} tu_case;
/* The case of workload w (inputs of seed `seed`); tu_case_free frees its inputs. */
void tu_workload_case(tu_case *c, const vox_workload *w, vox_mask_mode mode, const int block[3], uint64_t seed);
void tu_case_free(tu_case *c);

/* Logger that appends to a test-owned counter (errors) without printing
 * unless VOXATTN_TEST_VERBOSE is set. */
void tu_log(void *user, vox_log_level level, const char *msg);

/* Context parameters on a device id ("cpu", "opencl:0") logging to tu_log. */
void tu_context_params(vox_context_params *p, const char *id, int *error_count);
/* Context on a device id; NULL on failure. */
vox_context *tu_context(const char *id, int *error_count);

/* Uploads f32 host data [B][H][N][D] as dtype into a new buffer in the bhnd
 * or bnhd layout (offset 0), returning the tensor. */
vox_status tu_upload_tensor(vox_context *ctx, vox_dtype dtype, const float *bhnd, int64_t B, int64_t H,
                            int64_t N, int64_t D, int bnhd, vox_tensor *out);
/* A poisoned (0xFF bytes = NaN) output tensor of the given layout. */
vox_status tu_poisoned_tensor(vox_context *ctx, vox_dtype dtype, int64_t B, int64_t H, int64_t N,
                              int64_t D, int bnhd, vox_tensor *out);
/* The same two with guard regions: the tensor sits between two regions of
 * TU_GUARD_BYTES bytes holding a pattern (its offset is TU_GUARD_BYTES);
 * tu_guards_intact tells whether both still hold it, i.e. nothing wrote
 * before or past the tensor. */
#define TU_GUARD_BYTES 256
vox_status tu_upload_guarded(vox_context *ctx, vox_dtype dtype, const float *bhnd, int64_t B, int64_t H,
                             int64_t N, int64_t D, int bnhd, vox_tensor *out);
vox_status tu_poisoned_guarded(vox_context *ctx, vox_dtype dtype, int64_t B, int64_t H, int64_t N,
                               int64_t D, int bnhd, vox_tensor *out);
int tu_guards_intact(const vox_tensor *t);
/* Reads a tensor back as f64 [B][H][N][D]. Caller frees. */
double *tu_read_tensor(const vox_tensor *t);
void tu_free_tensor(vox_tensor *t);

/* Rounds f32 data through dtype (what the device sees). */
void tu_round_through(vox_dtype dtype, float *x, size_t n);

/* Naive masked attention for one row: keys where allowed[key] != 0.
 * q row, k/v [N][D] f64. Writes out[D], returns lse (natural). */
double tu_naive_row(const double *q, const double *k, const double *v, const unsigned char *allowed,
                    int64_t N, int64_t D, double scale, double *out);

/* Per-backend counts of a device-table test (conformance, test_ops). */
typedef struct tu_tally {
    int passed, failed, skipped;
} tu_tally;

/* Runs `run` on every device whose backend name is `backend` and whose id is
 * `device` (NULL: any), then prints "<title> summary" with a row per
 * backend. A device that neither passed nor failed a case (every case
 * skipped, or none selected) or skipped more than `max_skipped` cases
 * counts one failure: skips are not passes. Returns the exit status: 0 all passed, 1 failures, 77 no
 * device of the requested backend ran. */
int tu_for_each_device(const char *title, const char *backend, const char *device, int max_skipped,
                       void (*run)(const vox_device_desc *dev, void *user, tu_tally *t), void *user);

/* A mask configuration of a test case: mode, KV rule with its parameter
 * (tau, top-k or z), query_keep and text tokens; tu_mask_case_apply writes
 * them into plan parameters. */
typedef struct tu_mask_case {
    const char *name;
    vox_mask_mode mode;
    vox_kv_rule rule;
    double param, keep;
    int64_t text;
} tu_mask_case;
void tu_mask_case_apply(const tu_mask_case *c, vox_plan_params *p);

/* ---- run and compare (testutil_run.c) ---------------------------------- */

typedef struct tu_result {
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
    int64_t NBv;        /* video blocks (the first NBv blocks) */
    int32_t *win_ptr;   /* query windows of video block j: [win_ptr[j], win_ptr[j+1]) (NBv+1) */
    int32_t *windows;   /* window w: first slot, length, centre slot, keep count (4 each) */
    /* tu_run_grad only: the backward's status (VOX_OK, or the status of
     * vox_attention_backward when it refused, e.g. VOX_ERR_UNSUPPORTED on a
     * backend without the op) and, on VOX_OK, dq, dk, dv [B][H][N][D]. */
    vox_status grad_status;
    double *dq, *dk, *dv;
} tu_result;

/* Runs create -> build -> forward (poisoned, guarded outputs) -> export on
 * ctx; a write into any tensor's guard bytes fails the run with stage
 * "guard bytes (...)" and VOX_ERR_INVALID_STATE.
 * q, k, v are f32 [B][H][N][D]; bnhd picks the caller layout. Returns the
 * status (also in r->status); on error r holds nothing but status/stage. */
vox_status tu_run(vox_context *ctx, const vox_plan_params *p, int bnhd, const float *q, const float *k,
                  const float *v, tu_result *r);
void tu_result_free(tu_result *r);
/* A run's out and LSE uploaded as guarded tensors (out in dtype and layout
 * bnhd, lse f32 [B,H,N,1]); exact, as they were stored in f32 or narrower. */
vox_status tu_upload_result(vox_context *ctx, vox_dtype dtype, int bnhd, const tu_result *r, vox_tensor *out,
                            vox_tensor *lse);
/* tu_run, then (dout: f32 [B][H][N][D], same layout) vox_attention_backward
 * on the same plan and inputs into poisoned, guarded dq, dk, dv, read back
 * into r->dq/dk/dv. A backward that refuses with VOX_ERR_UNSUPPORTED sets
 * r->grad_status and leaves the forward's result; any other failure fails
 * the run (stage "backward", "guard bytes (...)", ...). With fwd, the
 * backward reads fwd->out and fwd->lse (another device's forward of the
 * same case) instead of this run's: the reference's gradients of exactly the
 * forward a device computed, so that a comparison measures the backward
 * alone. */
vox_status tu_run_grad(vox_context *ctx, const vox_plan_params *p, int bnhd, const float *q, const float *k,
                       const float *v, const float *dout, const tu_result *fwd, tu_result *r);

/* Tokens and blocks of a parameter set (a DENSE probe plan on ctx); -1 on error. */
int64_t tu_tokens(const vox_plan_params *p);
int64_t tu_n_blocks(vox_context *ctx, const vox_plan_params *p);

/* Naive fp64 attention over the run's own exported mask for every kept row
 * (keep flag 1). Fills ref_out/ref_lse at those rows and copies the run's
 * values for the same rows into got_out/got_lse; returns the number of rows.
 * Arrays must hold B*H*N*D resp. B*H*N doubles. */
int64_t tu_naive(const tu_result *r, const float *q, const float *k, const float *v, double *ref_out,
                 double *ref_lse, double *got_out, double *got_lse);
/* tu_naive, summed up: the normalized errors (tu_norm_err) of the run's out
 * and LSE against it over the kept rows; returns the number of rows. */
int64_t tu_naive_err(const tu_result *r, const float *q, const float *k, const float *v, double *out_err,
                     double *lse_err);

/* Whether two runs of the same case agree exactly on layout, token slots,
 * masks, keep flags and head classes: 1, else 0 with a reason. */
int tu_compare_exact(const tu_result *dev, const tu_result *ref, char *why, size_t n);

/* tu_compare_exact, then outputs and LSE by normalized error. Returns 1 if
 * equal, else 0 with a reason. */
int tu_compare(const tu_result *dev, const tu_result *ref, double out_tol, double lse_tol, char *why,
               size_t n);

/* Counts NaN / Inf in the run's outputs (rows of b*H+h == bh only if bh >= 0). */
int64_t tu_count_nan(const tu_result *r, int64_t bh);
int64_t tu_count_inf(const tu_result *r, int64_t bh);

/* Normalized error of one (b,h) slice of out between two runs. */
double tu_head_err(const tu_result *a, const tu_result *b, int64_t bh);

/* Whether a device status means "this device cannot do that" (acceptable
 * instead of a result): VOX_ERR_UNSUPPORTED or VOX_ERR_DEVICE_OUT_OF_MEMORY. */
int tu_is_cannot_do(vox_status st);

#endif
