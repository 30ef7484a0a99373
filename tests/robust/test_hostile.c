/* Numerically hostile inputs and degenerate grids, on every available device.
 *
 * Each case runs on the device under test and on the CPU reference with the
 * same inputs. The reference is checked against a naive fp64 attention over
 * its own exported mask (in the group of the reference device); every other
 * device must equal the reference (masks, keep flags and classes exactly,
 * outputs and LSE within the dtype tolerance) or return a status meaning
 * "this device cannot do that" (VOX_ERR_UNSUPPORTED / _DEVICE_OUT_OF_MEMORY).
 *
 * Documented behaviour checked here (include/voxattn.h, docs/numerics.md):
 * - rows whose scores are all equal: the mean of v over the allowed keys;
 *   ties in KV selection go to the lower block index;
 * - NaN or Inf in q, k or v: every status is VOX_OK and the poisoned head
 *   follows the numerics contract row by row (check_contract below: NaN or
 *   Inf in a query row, or NaN in an allowed key, makes the row and its LSE
 *   NaN; an Inf key decides by the sign of its score; NaN/Inf in a value
 *   reaches only that output element; rows with finite inputs are finite and
 *   equal the reference; a pruned row copies a kept row of its own block),
 *   masks and keep flags equal the reference's on every device, the other
 *   head is untouched; SVG heads whose classification errors are NaN run
 *   dense; one +Inf element in q with query_keep < 1 (a heap out-of-bounds
 *   read once) keeps the Inf row and gives every pruned row a valid source;
 * - scales that are not f32 values (above FLT_MAX, Inf, NaN, negative) are
 *   refused by vox_plan_create;
 * - finite but huge logits (|q.k*scale| up to ~FLT_MAX): equal to the
 *   reference, or at least NaN-free (what each device does is printed);
 * - tiny logits (denormal range): equal to the reference (uniform softmax);
 * - a CUSTOM row without KV blocks: output 0 and LSE -inf;
 * - grids of one frame, one row, one column, a single token, with ragged
 *   blocks, in every mask mode.
 * The layout never makes a block that is padding only (every block holds at
 * least one valid token), so "a query block whose every KV block is padding"
 * is tested as its nearest possible form: a query block whose KV blocks are
 * edge blocks holding 1 valid token of 64, next to a row with no KV block.
 *
 * A summary table of outcomes per device and case is printed at the end. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "workload.h"

#define MAX_DEV 16
#define MAX_CASES 32

typedef struct dev_state {
    int index;
    vox_device_desc desc;
    int is_ref;
    int skipped; /* left out by --device */
    vox_context *ctx; /* device under test */
    vox_context *ref; /* CPU reference */
    int errors;
} dev_state;

static char g_outcome[MAX_DEV][MAX_CASES][1536];
static const char *g_case_names[MAX_CASES];
static int g_n_cases;
static int g_cur_dev;

static int case_slot(const char *name)
{
    for (int i = 0; i < g_n_cases; i++)
        if (!strcmp(g_case_names[i], name))
            return i;
    if (g_n_cases == MAX_CASES)
        return MAX_CASES - 1;
    g_case_names[g_n_cases] = name;
    return g_n_cases++;
}

/* Appends to the outcome of a case on the current device and prints it. */
static void note(const char *name, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    char *o = g_outcome[g_cur_dev][case_slot(name)];
    size_t used = strlen(o);
    if (used < sizeof g_outcome[0][0] - 1)
        snprintf(o + used, sizeof g_outcome[0][0] - used, "%s%s", used ? "; " : "", line);
    printf("    [%s] %s\n", name, line);
}

/* ------------------------------------------------------------- inputs */

typedef struct inputs {
    int64_t n; /* B*H*N*D */
    float *q, *k, *v;
} inputs;

static inputs make_inputs(const vox_plan_params *p, uint64_t seed, double scale)
{
    inputs in;
    in.n = p->batch * p->heads * tu_tokens(p) * p->head_dim;
    in.q = malloc(sizeof(float) * (size_t)in.n);
    in.k = malloc(sizeof(float) * (size_t)in.n);
    in.v = malloc(sizeof(float) * (size_t)in.n);
    assert_non_null(in.q);
    assert_non_null(in.k);
    assert_non_null(in.v);
    tu_fill_normal(seed, scale, in.q, (size_t)in.n);
    tu_fill_normal(seed + 1, scale, in.k, (size_t)in.n);
    tu_fill_normal(seed + 2, 1.0, in.v, (size_t)in.n);
    return in;
}

static void round_inputs(const vox_plan_params *p, inputs *in)
{
    tu_round_through(p->dtype, in->q, (size_t)in->n);
    tu_round_through(p->dtype, in->k, (size_t)in->n);
    tu_round_through(p->dtype, in->v, (size_t)in->n);
}

static void free_inputs(inputs *in) { free(in->q), free(in->k), free(in->v); }

static float *row_of(float *x, const vox_plan_params *p, int64_t bh, int64_t t)
{
    return x + (bh * tu_tokens(p) + t) * p->head_dim;
}

static vox_plan_params base_params(int64_t B, int64_t H, int64_t D, int64_t F, int64_t Y, int64_t X, int64_t G,
                                   int bt, int bh, int bw)
{
    vox_workload w = {"hostile", B, H, D, F, Y, X, G, 0};
    const int block[3] = {bt, bh, bw};
    vox_plan_params p;
    vox_workload_plan_params(&w, VOX_F32, VOX_MASK_DENSE, block, &p);
    p.kv_rule = VOX_KV_TOPK;
    p.kv_topk = 2;
    p.kv_min_blocks = 1;
    p.svg_sample_rows = 16;
    p.svg_space_blocks = 0;
    return p;
}

/* ------------------------------------------------------------- running */

enum { CHECK_EQUAL = 0, CHECK_HUGE = 1 };

static double lse_tol(void) { return 1e-9; }

/* Runs on the reference and on the device, compares. Returns 1 if the case
 * passed (equal, or an accepted "cannot do" status). ref/dev results are
 * returned to the caller when non-NULL (then the caller frees them). */
static int run_compare(dev_state *ds, const char *name, const char *variant, const vox_plan_params *p, int bnhd,
                       const inputs *in, int mode, tu_result *ref_out, tu_result *dev_out)
{
    tu_result ref, dev;
    char why[256];
    vox_status st = tu_run(ds->ref, p, bnhd, in->q, in->k, in->v, &ref);
    if (st) {
        note(name, "%s: REFERENCE FAILED at %s: %s", variant, ref.stage, vox_status_string(st));
        return 0;
    }
    int ok = 1;
    if (ds->is_ref) {
        /* the reference against naive fp64 attention over its own mask */
        double eo, el;
        int64_t rows = tu_naive_err(&ref, in->q, in->k, in->v, &eo, &el);
        ok = eo <= tu_tolerance(p->dtype) && el <= lse_tol();
        note(name, "%s: %s vs naive fp64 (out err %.2e, lse err %.2e, %lld rows)", variant, ok ? "ok" : "FAIL",
             eo, el, (long long)rows);
        if (dev_out)
            tu_run(ds->ctx, p, bnhd, in->q, in->k, in->v, dev_out);
    } else {
        st = tu_run(ds->ctx, p, bnhd, in->q, in->k, in->v, &dev);
        if (st && tu_is_cannot_do(st)) {
            note(name, "%s: status %s at %s (accepted)", variant, vox_status_string(st), dev.stage);
        } else if (st) {
            note(name, "%s: FAIL status %s at %s", variant, vox_status_string(st), dev.stage);
            ok = 0;
        } else if (tu_compare(&dev, &ref, tu_tolerance(p->dtype), lse_tol(), why, sizeof why)) {
            note(name, "%s: equal to cpu (%s)", variant, why);
        } else if (mode == CHECK_HUGE && tu_count_nan(&dev, -1) == 0) {
            note(name, "%s: differs from cpu but NaN-free (%s)", variant, why);
        } else {
            note(name, "%s: FAIL vs cpu: %s (%lld NaN)", variant, why, (long long)tu_count_nan(&dev, -1));
            ok = 0;
        }
        if (dev_out)
            *dev_out = dev;
        else
            tu_result_free(&dev);
    }
    if (ref_out)
        *ref_out = ref;
    else
        tu_result_free(&ref);
    return ok;
}

/* The modes every degenerate grid runs in. */
typedef struct mode_variant {
    const char *name;
    vox_mask_mode mode;
    double keep;
} mode_variant;

static const mode_variant k_modes[] = {
    {"dense", VOX_MASK_DENSE, 1.0},
    {"bsa_topk", VOX_MASK_BSA, 1.0},
    {"svg", VOX_MASK_SVG, 1.0},
    {"dense_keep50", VOX_MASK_DENSE, 0.5},
    {"bsa_keep25", VOX_MASK_BSA, 0.25},
};

static int run_modes(dev_state *ds, const char *name, vox_plan_params p, int bnhd, uint64_t seed)
{
    int ok = 1;
    for (size_t m = 0; m < sizeof k_modes / sizeof k_modes[0]; m++) {
        vox_plan_params q = p;
        q.mask_mode = k_modes[m].mode;
        q.query_keep = k_modes[m].keep;
        int64_t video = q.frames * q.height * q.width;
        if (q.svg_sample_rows > video)
            q.svg_sample_rows = (int)video;
        inputs in = make_inputs(&q, seed + m, 1.0);
        round_inputs(&q, &in);
        ok &= run_compare(ds, name, k_modes[m].name, &q, bnhd, &in, CHECK_EQUAL, NULL, NULL);
        free_inputs(&in);
    }
    return ok;
}

/* -------------------------------------------------------------- cases */

static void t_equal_scores(void **state)
{
    dev_state *ds = *state;
    const char *name = "equal_scores";
    int ok = 1;
    /* q = 0: every score is 0 -> uniform weights; BSA: every block score is
     * exactly 0 -> KV selection is a pure tie (lower index first). */
    vox_plan_params p = base_params(1, 2, 32, 3, 5, 7, 5, 1, 4, 4);
    const vox_mask_mode modes[] = {VOX_MASK_DENSE, VOX_MASK_BSA, VOX_MASK_DENSE};
    const double keeps[] = {1.0, 1.0, 0.5};
    const char *names[] = {"q0_dense", "q0_bsa_ties", "q0_keep50_ties"};
    for (int m = 0; m < 3; m++) {
        vox_plan_params q = p;
        q.mask_mode = modes[m];
        q.query_keep = keeps[m];
        inputs in = make_inputs(&q, 11, 1.0);
        memset(in.q, 0, sizeof(float) * (size_t)in.n);
        round_inputs(&q, &in);
        tu_result ref;
        int r = run_compare(ds, name, names[m], &q, 0, &in, CHECK_EQUAL, &ref, NULL);
        if (r && modes[m] == VOX_MASK_DENSE) {
            /* uniform: LSE = log(number of keys) in every row */
            double want = log((double)tu_tokens(&q));
            for (int64_t i = 0; i < ref.B * ref.H * ref.N; i++)
                if (fabs(ref.lse[i] - want) > 1e-5) {
                    note(name, "%s: reference LSE %g, want log(N) = %g", names[m], ref.lse[i], want);
                    r = 0;
                    break;
                }
        }
        ok &= r;
        tu_result_free(&ref);
        free_inputs(&in);
    }
    /* every key equal (per head): uniform weights again, with random q */
    vox_plan_params q = p;
    inputs in = make_inputs(&q, 12, 1.0);
    for (int64_t bh = 0; bh < q.batch * q.heads; bh++)
        for (int64_t t = 1; t < tu_tokens(&q); t++)
            memcpy(row_of(in.k, &q, bh, t), row_of(in.k, &q, bh, 0), sizeof(float) * (size_t)q.head_dim);
    round_inputs(&q, &in);
    ok &= run_compare(ds, name, "equal_keys_dense", &q, 1, &in, CHECK_EQUAL, NULL, NULL);
    free_inputs(&in);
    assert_true(ok);
}

/* A variant of a case: dtype, the plan's scale and the scale of q and k. */
typedef struct scale_variant {
    const char *v;
    vox_dtype dt;
    double scale, in_scale;
} scale_variant;

/* Runs each variant of `name` (inputs from seed0 + i) against the reference;
 * with CHECK_HUGE the reference's own output must also be NaN-free. */
static int run_scale_variants(dev_state *ds, const char *name, const scale_variant *vs, size_t n, uint64_t seed0,
                              int mode)
{
    vox_plan_params p = base_params(1, 2, 32, 2, 4, 8, 3, 2, 4, 4);
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        vox_plan_params q = p;
        q.dtype = vs[i].dt;
        q.scale = vs[i].scale;
        inputs in = make_inputs(&q, seed0 + i, vs[i].in_scale);
        round_inputs(&q, &in);
        tu_result ref = {0};
        int r = run_compare(ds, name, vs[i].v, &q, 0, &in, mode, mode == CHECK_HUGE ? &ref : NULL, NULL);
        if (r && mode == CHECK_HUGE && tu_count_nan(&ref, -1))
            note(name, "%s: reference output has %lld NaN", vs[i].v, (long long)tu_count_nan(&ref, -1)), r = 0;
        ok &= r;
        tu_result_free(&ref);
        free_inputs(&in);
    }
    return ok;
}

static void t_huge_logits(void **state)
{
    static const scale_variant vs[] = {
        {"f32_scale1e37", VOX_F32, 1e37, 1.0},     /* |q.k*scale| up to ~1e38 */
        {"f32_scale3e38", VOX_F32, 3e38, 1.0},     /* beyond FLT_MAX in f32 arithmetic */
        {"f32_inputs1e18", VOX_F32, 0.0, 1e18},    /* huge q and k, default scale */
        {"bf16_scale1e37", VOX_BF16, 1e37, 1.0},
    };
    assert_true(run_scale_variants(*state, "huge_logits", vs, sizeof vs / sizeof vs[0], 21, CHECK_HUGE));
}

static void t_tiny_logits(void **state)
{
    static const scale_variant vs[] = {
        {"f32_scale1e-38", VOX_F32, 1e-38, 1.0}, /* scores near FLT_MIN */
        {"f32_scale1e-44", VOX_F32, 1e-44, 1.0}, /* scores denormal */
        {"f32_inputs1e-20", VOX_F32, 0.0, 1e-20}, /* q.k products denormal */
        {"f16_scale1e-30", VOX_F16, 1e-30, 1.0},
    };
    assert_true(run_scale_variants(*state, "tiny_logits", vs, sizeof vs / sizeof vs[0], 31, CHECK_EQUAL));
}

/* Checks head bh of a run against the numerics contract (docs/numerics.md)
 * row by row, from the inputs and the run's own mask and keep flags; `ref`
 * (the reference's run of the same inputs) for the rows whose inputs are
 * all finite. Notes the first failures; returns 1 if the head follows it. */
static int check_contract(const char *name, const char *variant, const vox_plan_params *p, const inputs *in,
                          const tu_result *own, const tu_result *ref, int64_t bh)
{
    const int64_t N = own->N, D = own->D, NB = own->NB, V = own->V, S = own->S;
    const int32_t *rp = own->row_ptr + bh * (NB + 1), *cols = own->cols + bh * NB * NB;
    const int8_t *keep = own->keep + bh * S;
    const double *out = own->out + bh * N * D, *lse = own->lse + bh * N;
    const double *rout = ref->out + bh * N * D, *rlse = ref->lse + bh * N;
    unsigned char *allowed = malloc((size_t)NB);
    int64_t *tok = malloc(sizeof(int64_t) * (size_t)S);
    for (int64_t i = 0; i < S; i++)
        tok[i] = -1;
    for (int64_t t = 0; t < N; t++)
        tok[own->slot[t]] = t;
    int bad = 0;
    double err = 0, den = 0;
#define CFAIL(...) (bad++ < 4 ? note(name, __VA_ARGS__) : (void)0)
    for (int64_t t = 0; t < N; t++) {
        const int64_t sl = own->slot[t], ib = sl / V;
        const double *o = out + t * D;
        if (keep[sl] == 0) { /* pruned: the output and LSE of a kept row of its block */
            int found = 0;
            for (int64_t u = ib * V; u < (ib + 1) * V && !found; u++)
                found = keep[u] == 1 && tok[u] >= 0 && !memcmp(out + tok[u] * D, o, sizeof(double) * (size_t)D) &&
                        !memcmp(lse + tok[u], lse + t, sizeof(double));
            if (!found)
                CFAIL("%s: FAIL token %lld (pruned) carries no kept row of its block", variant, (long long)t);
            continue;
        }
        const float *q = row_of(in->q, p, bh, t);
        int row_nan = 0, keys = 0;
        for (int64_t d = 0; d < D; d++)
            row_nan |= !isfinite(q[d]);
        memset(allowed, 0, (size_t)NB);
        for (int32_t c = rp[ib]; c < rp[ib + 1]; c++)
            allowed[cols[c]] = 1;
        unsigned char vbad[512] = {0}; /* 1 NaN, 2 Inf in this output element's values */
        for (int64_t u = 0; u < N; u++) {
            if (!allowed[own->slot[u] / V])
                continue;
            keys++;
            const float *k = row_of(in->k, p, bh, u), *v = row_of(in->v, p, bh, u);
            int k_nan = 0, k_inf = 0;
            for (int64_t d = 0; d < D; d++)
                k_nan |= isnan(k[d]), k_inf |= isinf(k[d]), vbad[d] |= isnan(v[d]) ? 1 : isinf(v[d]) ? 2 : 0;
            if (k_nan) {
                row_nan = 1;
            } else if (k_inf && !row_nan) { /* the sign of the score decides */
                double sc = 0;
                for (int64_t d = 0; d < D; d++)
                    sc += (double)q[d] * k[d];
                row_nan |= isnan(sc) || sc > 0;
            }
        }
        if (keys == 0) {
            for (int64_t d = 0; d < D; d++)
                if (o[d] != 0.0)
                    CFAIL("%s: FAIL token %lld has no keys but output %g", variant, (long long)t, o[d]);
            if (!(isinf(lse[t]) && lse[t] < 0))
                CFAIL("%s: FAIL token %lld has no keys but LSE %g", variant, (long long)t, lse[t]);
            continue;
        }
        if (row_nan) {
            int64_t nn = 0;
            for (int64_t d = 0; d < D; d++)
                nn += isnan(o[d]);
            if (nn != D || !isnan(lse[t]))
                CFAIL("%s: FAIL token %lld: NaN/Inf query or NaN key, but %lld of %lld outputs NaN, LSE %g", variant,
                      (long long)t, (long long)nn, (long long)D, lse[t]);
            continue;
        }
        if (isnan(lse[t]))
            CFAIL("%s: FAIL token %lld: finite query and keys, LSE NaN", variant, (long long)t);
        int clean = 1;
        for (int64_t d = 0; d < D; d++) {
            if ((vbad[d] & 1) && !isnan(o[d]))
                CFAIL("%s: FAIL token %lld dim %lld: NaN value, output %g", variant, (long long)t, (long long)d, o[d]);
            else if (vbad[d] == 2 && isfinite(o[d]))
                CFAIL("%s: FAIL token %lld dim %lld: Inf value, output %g", variant, (long long)t, (long long)d, o[d]);
            else if (!vbad[d] && !isfinite(o[d]))
                CFAIL("%s: FAIL token %lld dim %lld: finite inputs, output %g", variant, (long long)t, (long long)d,
                      o[d]);
            clean &= !vbad[d];
        }
        if (clean) /* finite inputs: the reference's value */
            for (int64_t d = 0; d < D; d++)
                err += (o[d] - rout[t * D + d]) * (o[d] - rout[t * D + d]), den += rout[t * D + d] * rout[t * D + d];
        if (clean && !(fabs(lse[t] - rlse[t]) <= 1e-5 * (1 + fabs(rlse[t]))) && !(lse[t] == rlse[t]))
            CFAIL("%s: FAIL token %lld: LSE %g, reference %g", variant, (long long)t, lse[t], rlse[t]);
    }
    if (!(err <= tu_tolerance(p->dtype) * (den > 0 ? den : 1)))
        CFAIL("%s: FAIL rows with finite inputs differ from the reference (err %.2e of %.2e)", variant, err, den);
#undef CFAIL
    free(allowed), free(tok);
    return bad == 0;
}

/* Poisons head 0 (bh = 0): `value` at every `step`-th element (from 0) of
 * query row 5 (whole_head: of every row) of q, k or v. Checks: status OK,
 * head 1 equal to the reference's head 1, head 0's mask and keep flags equal
 * to the reference's, head 0 against the numerics contract, and `expect`. */
enum { EXPECT_NOTHING, EXPECT_CLASS_DENSE, EXPECT_ROW_KEPT };

static int poison_case(dev_state *ds, const char *name, const char *variant, vox_plan_params p, char which,
                       int whole_head, int step, float value, int expect)
{
    const int64_t row = 5;
    inputs in = make_inputs(&p, 41, 1.0);
    round_inputs(&p, &in);
    float *x = which == 'q' ? in.q : which == 'k' ? in.k : in.v;
    int64_t N = tu_tokens(&p), D = p.head_dim;
    for (int64_t t = whole_head ? 0 : row; t < (whole_head ? N : row + 1); t++)
        for (int64_t d = 0; d < D; d += step)
            row_of(x, &p, 0, t)[d] = value;
    tu_result ref, own;
    int ok = 1;
    vox_status st = tu_run(ds->ref, &p, 0, in.q, in.k, in.v, &ref);
    if (st) {
        note(name, "%s: REFERENCE FAILED at %s: %s", variant, ref.stage, vox_status_string(st));
        free_inputs(&in);
        return 0;
    }
    st = tu_run(ds->ctx, &p, 0, in.q, in.k, in.v, &own);
    if (st && tu_is_cannot_do(st)) {
        note(name, "%s: status %s at %s (accepted)", variant, vox_status_string(st), own.stage);
        tu_result_free(&ref), free_inputs(&in);
        return 1;
    }
    if (st) {
        note(name, "%s: FAIL status %s at %s", variant, vox_status_string(st), own.stage);
        tu_result_free(&ref), free_inputs(&in);
        return 0;
    }
    /* head 1 untouched: same mask rows and outputs as the reference */
    int64_t NB = ref.NB, S = ref.S;
    double e1 = tu_head_err(&own, &ref, 1);
    int mask1 = !memcmp(own.row_ptr + (NB + 1), ref.row_ptr + (NB + 1), sizeof(int32_t) * (size_t)(NB + 1)) &&
                !memcmp(own.cols + NB * NB, ref.cols + NB * NB, sizeof(int32_t) * (size_t)ref.row_ptr[2 * (NB + 1) - 1]);
    if (!(e1 <= tu_tolerance(p.dtype)) || !mask1) {
        note(name, "%s: FAIL clean head differs (err %.2e, mask %s)", variant, e1, mask1 ? "same" : "differs");
        ok = 0;
    }
    int64_t nan0 = tu_count_nan(&own, 0), inf0 = tu_count_inf(&own, 0), nan1 = tu_count_nan(&own, 1);
    if (nan1) {
        note(name, "%s: FAIL %lld NaN in the clean head", variant, (long long)nan1);
        ok = 0;
    }
    /* the poisoned head's decisions: the same on every device */
    int mask0 = !memcmp(own.row_ptr, ref.row_ptr, sizeof(int32_t) * (size_t)(NB + 1)) &&
                !memcmp(own.cols, ref.cols, sizeof(int32_t) * (size_t)ref.row_ptr[NB]);
    int keep0 = !memcmp(own.keep, ref.keep, (size_t)S) && !memcmp(own.keep + S, ref.keep + S, (size_t)S);
    if (!mask0 || !keep0) {
        note(name, "%s: FAIL poisoned head's %s differ from the reference", variant, mask0 ? "keep flags" : "masks");
        ok = 0;
    }
    ok &= check_contract(name, variant, &p, &in, &own, &ref, 0);
    if (expect == EXPECT_CLASS_DENSE && own.classes[0] != VOX_HEAD_DENSE) {
        note(name, "%s: FAIL NaN head classified %d, want dense", variant, (int)own.classes[0]);
        ok = 0;
    }
    if (expect == EXPECT_ROW_KEPT && own.keep[own.slot[row]] != 1) {
        note(name, "%s: FAIL the poisoned query row is pruned (keep flag %d), want kept", variant,
             (int)own.keep[own.slot[row]]);
        ok = 0;
    }
    note(name, "%s: %s (poisoned head: %lld NaN, %lld Inf of %lld; clean head err %.1e)", variant,
         ok ? "ok" : "FAIL", (long long)nan0, (long long)inf0, (long long)(N * D), e1);
    tu_result_free(&ref), tu_result_free(&own), free_inputs(&in);
    return ok;
}

static void t_nan_inf(void **state)
{
    dev_state *ds = *state;
    const char *name = "nan_inf";
    int ok = 1;
    vox_plan_params p = base_params(1, 2, 32, 2, 4, 8, 3, 2, 4, 4);
    vox_plan_params bsa = p, svg = p, keep = p, bsa_keep = p;
    bsa.mask_mode = VOX_MASK_BSA;
    svg.mask_mode = VOX_MASK_SVG;
    keep.query_keep = 0.5;
    bsa_keep.mask_mode = VOX_MASK_BSA;
    bsa_keep.query_keep = 0.25;
    const int64_t D = p.head_dim;
    ok &= poison_case(ds, name, "nan_q_row", p, 'q', 0, 3, NAN, EXPECT_NOTHING);
    ok &= poison_case(ds, name, "nan_k_row", p, 'k', 0, 3, NAN, EXPECT_NOTHING);
    ok &= poison_case(ds, name, "nan_v_row", p, 'v', 0, 3, NAN, EXPECT_NOTHING);
    ok &= poison_case(ds, name, "inf_k_row", p, 'k', 0, 3, INFINITY, EXPECT_NOTHING);
    ok &= poison_case(ds, name, "inf_v_row", p, 'v', 0, 3, INFINITY, EXPECT_NOTHING);
    ok &= poison_case(ds, name, "neginf_q_row", p, 'q', 0, 3, -INFINITY, EXPECT_NOTHING);
    ok &= poison_case(ds, name, "nan_q_bsa", bsa, 'q', 0, 3, NAN, EXPECT_NOTHING);
    ok &= poison_case(ds, name, "nan_k_head_bsa", bsa, 'k', 1, 1, NAN, EXPECT_NOTHING);
    ok &= poison_case(ds, name, "nan_q_head_svg", svg, 'q', 1, 1, NAN, EXPECT_CLASS_DENSE);
    /* NaN in one query with query pruning: its cosines are NaN, so the row
     * is kept and its own output carries the NaN */
    ok &= poison_case(ds, name, "nan_q_keep50", keep, 'q', 0, 3, NAN, EXPECT_ROW_KEPT);
    /* one +Inf element in q with query pruning: every cosine of the row is
     * NaN (a heap out-of-bounds read through a -1 fill source once) */
    ok &= poison_case(ds, name, "inf_q_elem_keep50", keep, 'q', 0, (int)D, INFINITY, EXPECT_ROW_KEPT);
    ok &= poison_case(ds, name, "inf_q_elem_bsa_keep25", bsa_keep, 'q', 0, (int)D, INFINITY, EXPECT_ROW_KEPT);
    /* Inf in every query of the head: no cosine is comparable, pruned rows
     * take their window centre */
    ok &= poison_case(ds, name, "inf_q_head_keep50", keep, 'q', 1, (int)D, INFINITY, EXPECT_NOTHING);
    ok &= poison_case(ds, name, "inf_k_row_bsa", bsa, 'k', 0, 3, INFINITY, EXPECT_NOTHING);
    ok &= poison_case(ds, name, "neginf_v_row_bsa_keep25", bsa_keep, 'v', 0, 3, -INFINITY, EXPECT_NOTHING);
    assert_true(ok);
}

/* A scale that is not an f32 value is refused at plan creation (before any
 * device work); FLT_MAX itself is accepted. */
static void t_bad_scale(void **state)
{
    dev_state *ds = *state;
    const char *name = "scale_not_f32";
    vox_plan_params p = base_params(1, 2, 32, 2, 4, 8, 3, 2, 4, 4);
    const double bad[] = {3.4028235677973366e38 /* > FLT_MAX */, 1e39, 1e300, INFINITY, -INFINITY, NAN, -1.0, 1e-50};
    int ok = 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vox_plan_params q = p;
        q.scale = bad[i];
        vox_plan *plan = (vox_plan *)&q;
        vox_status st = vox_plan_create(ds->ctx, &q, &plan);
        if (st != VOX_ERR_INVALID_ARGUMENT || plan) {
            note(name, "FAIL scale %g: status %s", bad[i], vox_status_string(st));
            ok = 0;
        }
        if (!st)
            vox_plan_destroy(plan);
    }
    vox_plan_params q = p;
    q.scale = 3.4028234663852886e38; /* FLT_MAX */
    vox_plan *plan = NULL;
    vox_status st = vox_plan_create(ds->ctx, &q, &plan);
    if (st && !tu_is_cannot_do(st)) {
        note(name, "FAIL scale FLT_MAX refused: %s", vox_status_string(st));
        ok = 0;
    }
    vox_plan_destroy(plan);
    note(name, "%s (%zu scales refused, FLT_MAX accepted)", ok ? "ok" : "FAIL", sizeof bad / sizeof bad[0]);
    assert_true(ok);
}

/* CUSTOM rows: one without KV blocks (output 0, LSE -inf), and query blocks
 * whose KV blocks are edge blocks holding a single valid token of 64. */
static void t_custom_empty_and_padding(void **state)
{
    dev_state *ds = *state;
    const char *name = "custom_empty_padding";
    vox_plan_params p = base_params(1, 2, 32, 5, 5, 5, 0, 4, 4, 4); /* 2x2x2 blocks, corner 1/64 valid */
    int64_t NB = tu_n_blocks(ds->ref, &p);
    assert_int_equal(NB, 8);
    int32_t rp[9], cols[64];
    int32_t n = 0;
    rp[0] = 0;
    for (int i = 0; i < 8; i++) {
        if (i == 1) {
            /* row 1: no KV block */
        } else if (i % 2 == 0) {
            cols[n++] = 7; /* only the corner block: 1 valid token */
        } else {
            cols[n++] = 3, cols[n++] = 5, cols[n++] = 6, cols[n++] = 7; /* edge blocks, mostly padding */
        }
        rp[i + 1] = n;
    }
    p.mask_mode = VOX_MASK_CUSTOM;
    p.custom_masks = 1;
    p.custom_row_ptr = rp;
    p.custom_kv_block = cols;
    inputs in = make_inputs(&p, 51, 1.0);
    round_inputs(&p, &in);
    tu_result ref, dev;
    memset(&dev, 0, sizeof dev);
    int ok = run_compare(ds, name, "custom", &p, 0, &in, CHECK_EQUAL, &ref, &dev);
    const tu_result *own = ds->is_ref ? &ref : &dev;
    if (own->status == VOX_OK && own->out) {
        /* tokens of block 1: exactly 0 output and LSE -inf */
        int64_t rows = 0, bad = 0;
        for (int64_t bh = 0; bh < 2; bh++)
            for (int64_t t = 0; t < own->N; t++) {
                if (own->slot[t] / own->V != 1)
                    continue;
                rows++;
                for (int64_t d = 0; d < own->D; d++)
                    bad += own->out[(bh * own->N + t) * own->D + d] != 0.0;
                bad += !(isinf(own->lse[bh * own->N + t]) && own->lse[bh * own->N + t] < 0);
            }
        note(name, "empty row: %lld rows, %lld bad values (want out 0, lse -inf)", (long long)rows, (long long)bad);
        ok &= rows > 0 && bad == 0;
    }
    tu_result_free(&ref), tu_result_free(&dev), free_inputs(&in);
    /* BSA with query pruning on the same heavily padded grid */
    vox_plan_params b = base_params(1, 2, 32, 5, 5, 5, 3, 4, 4, 4);
    b.mask_mode = VOX_MASK_BSA;
    b.query_keep = 0.25;
    in = make_inputs(&b, 52, 1.0);
    round_inputs(&b, &in);
    ok &= run_compare(ds, name, "bsa_keep25_padded", &b, 1, &in, CHECK_EQUAL, NULL, NULL);
    free_inputs(&in);
    assert_true(ok);
}

static void t_one_frame(void **state)
{
    vox_plan_params p = base_params(1, 2, 16, 1, 6, 7, 4, 4, 4, 4);
    assert_true(run_modes(*state, "grid_one_frame", p, 0, 61));
}

static void t_one_row(void **state)
{
    vox_plan_params p = base_params(1, 2, 16, 5, 1, 9, 0, 1, 4, 4);
    p.text_position = VOX_TEXT_BEFORE;
    p.text_tokens = 3;
    assert_true(run_modes(*state, "grid_one_row", p, 1, 71));
}

static void t_one_col(void **state)
{
    vox_plan_params p = base_params(2, 1, 16, 3, 7, 1, 0, 2, 2, 4);
    assert_true(run_modes(*state, "grid_one_col", p, 0, 81));
}

static void t_single_token(void **state)
{
    vox_plan_params p = base_params(1, 2, 8, 1, 1, 1, 0, 4, 4, 4);
    int ok = run_modes(*state, "single_token", p, 0, 91);
    vox_plan_params t = p;
    t.text_tokens = 1;
    t.text_position = VOX_TEXT_BEFORE;
    ok &= run_modes(*state, "single_token_plus_text", t, 1, 92);
    assert_true(ok);
}

/* -------------------------------------------------------------- main */

static int group_setup(void **state)
{
    dev_state *ds = *state;
    vox_context_params cp;
    vox_context_defaults(&cp);
    cp.device_index = ds->index;
    cp.log = tu_log;
    cp.log_user = &ds->errors;
    cp.log_level = VOX_LOG_WARN;
    if (vox_context_create(&cp, &ds->ctx))
        return -1;
    ds->ref = tu_context("cpu", &ds->errors);
    return ds->ref ? 0 : -1;
}

static int group_teardown(void **state)
{
    dev_state *ds = *state;
    vox_context_destroy(ds->ctx);
    vox_context_destroy(ds->ref);
    return 0;
}

static int test_setup(void **state)
{
    (void)state;
    return 0;
}

/* `test_hostile [--device ID]...`: only those devices (default: all), e.g.
 * to leave out a driver that aborts inside its own compiler. */
static int selected(int argc, char **argv, const char *id)
{
    int any = 0;
    for (int a = 1; a + 1 < argc; a++)
        if (!strcmp(argv[a], "--device")) {
            any = 1;
            if (!strcmp(argv[++a], id))
                return 1;
        }
    return !any;
}

int main(int argc, char **argv)
{
    int n = 0;
    if (vox_device_count(&n) || n < 1) {
        fprintf(stderr, "no devices\n");
        return 1;
    }
    if (n > MAX_DEV)
        n = MAX_DEV;
    static dev_state states[MAX_DEV];
    int failed = 0;
    for (int i = 0; i < n; i++) {
        dev_state *ds = &states[i];
        ds->index = i;
        vox_device_info(i, &ds->desc);
        ds->is_ref = ds->desc.type == VOX_DEVICE_REFERENCE;
        if (!selected(argc, argv, ds->desc.id)) {
            ds->skipped = 1;
            continue;
        }
        g_cur_dev = i;
        printf("=== device %s (%s)%s\n", ds->desc.id, ds->desc.name, ds->is_ref ? " [reference]" : "");
        fflush(stdout);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_prestate_setup_teardown(t_equal_scores, test_setup, NULL, ds),
            cmocka_unit_test_prestate_setup_teardown(t_huge_logits, test_setup, NULL, ds),
            cmocka_unit_test_prestate_setup_teardown(t_tiny_logits, test_setup, NULL, ds),
            cmocka_unit_test_prestate_setup_teardown(t_nan_inf, test_setup, NULL, ds),
            cmocka_unit_test_prestate_setup_teardown(t_bad_scale, test_setup, NULL, ds),
            cmocka_unit_test_prestate_setup_teardown(t_custom_empty_and_padding, test_setup, NULL, ds),
            cmocka_unit_test_prestate_setup_teardown(t_one_frame, test_setup, NULL, ds),
            cmocka_unit_test_prestate_setup_teardown(t_one_row, test_setup, NULL, ds),
            cmocka_unit_test_prestate_setup_teardown(t_one_col, test_setup, NULL, ds),
            cmocka_unit_test_prestate_setup_teardown(t_single_token, test_setup, NULL, ds),
        };
        /* the group state is the device: setup opens its contexts */
        void *gs = ds;
        if (group_setup(&gs)) {
            printf("=== device %s: cannot open a context: FAIL\n", ds->desc.id);
            failed++;
            group_teardown(&gs);
            continue;
        }
        char group[96];
        snprintf(group, sizeof group, "hostile %s", ds->desc.id);
        failed += _cmocka_run_group_tests(group, tests, sizeof tests / sizeof tests[0], NULL, NULL);
        group_teardown(&gs);
    }
    printf("\n=== hostile-input summary (per device, per case)\n");
    for (int i = 0; i < n; i++) {
        if (states[i].skipped)
            continue;
        printf("%s:\n", states[i].desc.id);
        for (int c = 0; c < g_n_cases; c++)
            printf("  %-22s %s\n", g_case_names[c], g_outcome[i][c][0] ? g_outcome[i][c] : "(not run)");
    }
    return failed ? 1 : 0;
}
