/* The op-level differential harness (tests/test_ops.c): an op case's inputs
 * built on the host as a list of buffers, uploaded through a backend table
 * (ctx->be), outputs poisoned, the op run on the device and on the CPU
 * reference, outputs read back and compared per op.
 *
 * An op plugs in with one op_entry (tests/ops/<op>.c): its case table and
 *   make_inputs  fills the host buffers and scalars of one case,
 *   run          issues the op on one side (device or reference),
 *   compare      checks the device's outputs against the reference's.
 * A gradient mode for attention_backward adds one more entry whose
 * make_inputs also draws dO (and O/LSE from a forward on the reference), and
 * whose compare checks dQ/dK/dV; nothing else changes. */
#ifndef VOX_TESTS_OPS_HARNESS_H
#define VOX_TESTS_OPS_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "layout.h"

/* ---- one case of one op ------------------------------------------------- */

/* Data recipes (flags). */
enum {
    FILL_TIES = 1 << 0,     /* constructed ties (equal scores / cosines) */
    FILL_NAN = 1 << 1,      /* NaN in chosen inputs */
    FILL_INF = 1 << 2,      /* Inf in chosen inputs */
    FILL_HUGE = 1 << 3,     /* huge magnitudes / logits */
    FILL_PAD_NAN = 1 << 4,  /* padding rows hold NaN instead of zero */
    FILL_WORKLOAD = 1 << 5, /* structured video data (perf/workload.c) */
    FILL_SHIFT = 1 << 6,    /* values offset by +100 (accumulation precision) */
    FILL_NEAR = 1 << 7,     /* near-ties below f32's resolution (query_select) */
    FILL_NEAR_FILL = 1 << 8, /* near-ties in the pruned rows' sources only (query_select) */
    FILL_FEW_KEPT = 1 << 9, /* kept rows: each valid video row kept with probability 1/16 */
    FILL_PERM = 1 << 10,    /* exact ties whose sums round differently: permuted rows (query_select) */
    FILL_MASS_EDGE = 1 << 11, /* cumulative masses that reach tau below f32's resolution (kv_select) */
    FILL_CROWD = 1 << 12,   /* scores crowded around a cumulative crossing (kv_select) */
};

/* Caller-tensor layouts (permute ops). */
enum { LAYOUT_BHND, LAYOUT_BNHD, LAYOUT_PACKED_QKV };

/* Attention masks. */
enum { MASK_DENSE, MASK_RANDOM, MASK_PATTERN };

typedef struct op_case {
    const char *name;
    int64_t B, H, D;
    int64_t F, Y, X, G;   /* grid and text tokens */
    int before;           /* text before the video */
    int bt, bh, bw;       /* block shape */
    vox_dtype dtype;
    unsigned fill;        /* FILL_* */
    int drop_block;       /* block made padding-only, -1 none */
    double scale;         /* 0: 1/sqrt(D) */
    /* op knobs (each op file says which it reads) */
    int layout;           /* permute: LAYOUT_*; odd byte offset if layout_offset */
    int layout_offset;
    int with_lse, with_fill; /* permute_from */
    int kept;             /* block_means / attention_forward: kept rows given */
    vox_kv_rule rule;     /* kv_select */
    double param;         /* kv_select: tau, topk or z; query_select: query_keep; attention_forward:
                             the op's query_keep hint (kept cases; 0: unknown) */
    int min_blocks;       /* kv_select */
    int max_blocks;       /* kv_select: the cap (0: none) */
    int wt, wh, ww;       /* query_select window (0: min(2, block)) */
    int mask;             /* attention_forward: MASK_* */
    int frame_blocks, space_blocks, sink; /* sample_rows */
    int caller;           /* sample_rows, query_select: q (k, v) also in the caller's layout, with slot_token;
                             attention_forward: q, k, v, out (lse with with_lse) in the caller's layout */
    int perf_only;        /* timed in --perf, not compared (too big for the reference) */
} op_case;

/* Shape fields of a case, in table order. */
#define SHAPE(b_, h_, d_, f_, y_, x_, g_, before_, bt_, bh_, bw_)                                            \
    .B = (b_), .H = (h_), .D = (d_), .F = (f_), .Y = (y_), .X = (x_), .G = (g_), .before = (before_),          \
    .bt = (bt_), .bh = (bh_), .bw = (bw_)

/* ---- the host side of one case ----------------------------------------- */

typedef enum ob_kind { OB_I32, OB_F32, OB_ELEM } ob_kind; /* OB_ELEM: the case dtype */

#define OB_MAX 20

typedef struct op_buf {
    const char *name;
    ob_kind kind;
    size_t count;  /* elements; 0: absent (a NULL vox_bref) */
    size_t offset; /* bytes before element 0 */
    int output;    /* poisoned before the run, read back after */
    int32_t *i32;  /* input values (OB_I32) */
    float *f32;    /* input values (OB_F32 and OB_ELEM; converted at upload) */
} op_buf;

typedef struct op_inputs {
    const op_case *c;
    vox_layout L;      /* the block layout of the case */
    vox_op_dims dims;  /* block_valid set per side from buf[0] */
    op_buf buf[OB_MAX]; /* buf[0] is always block_valid */
    int n_buf;
    double scale;
    int64_t aux;       /* op-specific (max_kv_count, n_rows ...) */
    int64_t strides[6]; /* permute ops: caller tensor and LSE strides (b, h, t) */
} op_inputs;

/* What came back from one side: bytes of every output buffer. */
typedef struct op_outputs {
    unsigned char *raw[OB_MAX];
    size_t bytes[OB_MAX];
} op_outputs;

/* One side: a context (its backend table and device) and the case's buffers. */
typedef struct op_side {
    vox_context *ctx;
    void *buf[OB_MAX];
} op_side;

/* The device reference of buffer i on side s (NULL when absent). */
vox_bref oh_ref(const op_side *s, const op_inputs *in, int i);

/* An op file lists its buffers once, after buf[0] (block_valid) and in the
 * order its make_inputs adds them, as B(index, field): field is the member of
 * vox_op_<op> the buffer fills. OH_BUF_INDEX makes the index enum from the
 * list, OH_BUF_REF the run function's initializers (it reads `s` and `in`):
 *   #define XX_BUFS(B) B(XX_A, a) B(XX_B, b)
 *   enum { XX_BLOCK_VALID, XX_BUFS(OH_BUF_INDEX) };
 *   vox_op_xx op = {XX_BUFS(OH_BUF_REF) .scale = in->scale};
 */
#define OH_BUF_INDEX(index, field) index,
#define OH_BUF_REF(index, field) .field = oh_ref(s, in, index),

/* ---- observed errors ----------------------------------------------------- */

/* A float output compared by a metric: normalized error, or (LSE) the max
 * of |a - r| / max(1, |r|). */
typedef struct op_metric {
    const char *name;  /* "o", "lse", "out" */
    int lse;           /* 1: max |a - r| / max(1, |r|); 0: normalized error */
    double tol[3];     /* per dtype: f32, f16, bf16 */
} op_metric;

#define OP_MAX_METRICS 3

typedef struct op_errors {
    double err[OP_MAX_METRICS]; /* observed error of each metric in this case, -1 = not measured */
} op_errors;

/* ---- the op table -------------------------------------------------------- */

typedef struct op_entry {
    vox_op op;
    const op_case *cases;
    int n_cases;
    op_metric metrics[OP_MAX_METRICS]; /* float outputs, in op_errors order */
    int n_metrics;
    int (*make_inputs)(const op_case *c, op_inputs *in);
    vox_status (*run)(const op_inputs *in, const op_side *s);
    /* 1 if dev matches ref (errors filled), else 0 with a reason */
    int (*compare)(const op_inputs *in, const op_outputs *dev, const op_outputs *ref, op_errors *e, char *why,
                   size_t n);
} op_entry;

/* The entry of each op of the op table, op_<op>, defined by tests/ops/<op>.c. */
#define OH_DECLARE_ENTRY(op) extern const op_entry op_##op;
VOX_KERNEL_OPS(OH_DECLARE_ENTRY)
#undef OH_DECLARE_ENTRY

/* ---- helpers for op files ------------------------------------------------ */

/* Builds the case's block layout (vox_layout_build, as the plan does) with
 * `keep` and the case's windows, then empties c->drop_block if >= 0. Sets
 * in->c, in->L, in->dims, in->scale and buf[0] = block_valid. 0 on success. */
int oh_layout(const op_case *c, double keep, op_inputs *in);
void oh_free_inputs(op_inputs *in);

/* Adds a buffer; returns its index. Host arrays are allocated (zeroed) for
 * inputs of the given count. */
int oh_add(op_inputs *in, const char *name, ob_kind kind, size_t count, int output);

/* Deterministic random numbers. */
typedef struct oh_rng {
    uint64_t s;
} oh_rng;
uint64_t oh_u64(oh_rng *r);
double oh_uniform(oh_rng *r);
double oh_normal(oh_rng *r);

/* A block-layout tensor [BH][S][D] (f32 host values): valid rows random
 * normal (or structured data with FILL_WORKLOAD; +100 with FILL_SHIFT),
 * padding rows zero (NaN with FILL_PAD_NAN). `which` picks q/k/v (0/1/2). */
void oh_fill_blocks(const op_inputs *in, int which, uint64_t seed, float *x);

/* Adds an input [BH][S][D] of the case dtype named `name`, filled by
 * oh_fill_blocks(which, seed); returns its host values. */
/* The case's caller layout (c->layout) for N tokens: element strides of the
 * tensor (*sb, *sh, *st) and of its LSE (*lsb, *lsh, *lst); returns the
 * element offset of (0,0,0) (c->layout_offset, plus the q part of a packed
 * qkv view). oh_caller_span: elements from (0,0,0) to the end of the last row
 * of `row` elements. */
int64_t oh_caller_strides(const op_case *c, int64_t N, int64_t *sb, int64_t *sh, int64_t *st, int64_t *lsb,
                          int64_t *lsh, int64_t *lst);
size_t oh_caller_span(const op_case *c, int64_t N, int64_t sb, int64_t sh, int64_t st, int64_t row);
/* Random normal values; with FILL_NAN a sprinkle of NaN, +-Inf and -0. */
void oh_fill_specials(const op_case *c, uint64_t seed, float *x, size_t n);
/* compare for copies: every byte of each output buffer equal to the reference's. */
int oh_compare_bytes(const op_inputs *in, const op_outputs *dev, const op_outputs *ref, op_errors *e, char *why,
                     size_t n);
float *oh_add_blocks(op_inputs *in, const char *name, int which, uint64_t seed);
/* Adds q, k, v (oh_add_blocks with which 0, 1, 2 and one seed). */
void oh_add_qkv(op_inputs *in, uint64_t seed);

/* Adds `name`, the caller's tensor in the case's layout (c->layout; its
 * strides into in->strides) holding the valid rows of block-layout buffer
 * `from` at their tokens; everything else NaN with FILL_PAD_NAN (it must
 * never be read), else 0. Returns its index. */
int oh_add_caller_copy(op_inputs *in, const char *name, int from);

/* Random kept rows: per (bh, block) a random non-empty subset of the valid
 * rows (all of a global block), ascending, each row kept with probability 1/2
 * (1/16 with FILL_FEW_KEPT); with FILL_TIES block 0 keeps none. */
void oh_random_kept(const op_inputs *in, uint64_t seed, int32_t *count, int32_t *rows);

/* Whether slot s of the layout is a valid token. */
static inline int oh_valid_slot(const vox_layout *L, int64_t s)
{
    return (s % L->V) < L->block_valid[s / L->V];
}

/* Elements of an output buffer of the readback as f64 (OB_ELEM or OB_F32). */
double *oh_floats(const op_inputs *in, const op_outputs *o, int i);
size_t oh_elem_size(const op_inputs *in, int i);

/* Output i of dev against ref by normalized error (into *err); 0 with a
 * reason when NaN/Inf do not sit where the reference has them. */
int oh_compare_norm(const op_inputs *in, const op_outputs *dev, const op_outputs *ref, int i, double *err, char *why,
                    size_t n);

/* A compare for ops whose outputs are all float tensors: each output buffer,
 * in order, by oh_compare_norm into e->err[0], e->err[1], ... */
int oh_compare_outputs_norm(const op_inputs *in, const op_outputs *dev, const op_outputs *ref, op_errors *e,
                            char *why, size_t n);

/* Normalized error over the listed elements (all when idx == NULL). */
double oh_norm_err(const double *a, const double *r, const size_t *idx, size_t n);
/* The LSE metric: max |a-r| / max(1, |r|) over the listed elements (all when
 * idx == NULL); NaN/Inf must match exactly (else INFINITY). */
double oh_lse_err(const double *a, const double *r, const size_t *idx, size_t n);
/* Index of the first differing int32 among the listed ones, or -1. */
int64_t oh_first_diff_i32(const int32_t *a, const int32_t *r, const size_t *idx, size_t n);

#endif
