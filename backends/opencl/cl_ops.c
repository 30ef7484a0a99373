/* The OpenCL op launchers, one per op (core/backend.h has each op's
 * contract; kernels/<op>.cl its kernel). Each fills the op's scalars with
 * vox_<op>_args_init() (core/kernel_args.c), sets the launch-specific ones,
 * and sets the kernel arguments by walking the op's VOX_<OP>_BUFS and
 * VOX_<OP>_ARGS lists (core/kernel_args.h), the same lists that generate
 * the kernel's parameters: nothing is matched by hand. */
#include <stdio.h>

#include "cl_internal.h"
#include "kernel_args.h"

/* One launch: the kernel (`prog` NULL: kernel `k` of the dtype's op
 * program, else kernel `k` of that program), the grid, an optional
 * __local work space of `local` bytes after the scalars, and the name and
 * level that failures are logged with (NULL: the op's name; VOX_LOG_ERROR). */
typedef struct cl_grid {
    const cl_prog *prog;
    int k;
    size_t groups, ls, local;
    const char *name;
    vox_log_level level;
} cl_grid;

/* The kernel of a launch and its name (for last_kernel). */
static vox_status grid_kargs(cl_dev *d, vox_dtype dt, const cl_grid *g, cl_kargs *ka, const char **kname)
{
    const cl_prog *pr = g->prog;
    if (!pr) {
        cl_prog *ops = NULL;
        vox_status st = cl_get_prog(d, PROG_OPS, (int)dt, 0, 0, 0, 0, &ops);
        if (st)
            return st;
        pr = ops;
    }
    cl_kargs_begin(ka, pr->kernels[g->k], dt);
    *kname = cl_kernel_name(pr, g->k);
    return VOX_OK;
}

const char *cl_last_kernel(void *devp, vox_op op)
{
    const cl_dev *d = devp;
    return op >= 0 && op < VOX_OP_COUNT ? d->last_kernel[op] : NULL;
}

/* Per op: cl_<op>_bufs, one vox_bref per buffer of the list, and
 * cl_<op>_launch(), which sets every buffer (cl_mem, element offset), then
 * every scalar, in list order, and launches; a launch that was enqueued
 * records its kernel's name as the op's last kernel. */
#define CL_ESIZE_e(ka) ((ka)->esize)
#define CL_ESIZE_i32(ka) 4
#define CL_ESIZE_u32(ka) 4
#define CL_ESIZE_f32(ka) 4
#define CL_BREF_FIELD(t, n) vox_bref n;
#define CL_SET_BUF(t, n) cl_karg_buf(&ka, b->n, CL_ESIZE_##t(&ka));
#define CL_SET_ARG(t, n) cl_karg_val(&ka, &a->n, sizeof a->n);
#define CL_OP_LAUNCH(op, BUFS, ARGS)                                                                         \
    typedef struct cl_##op##_bufs {                                                                         \
        BUFS(CL_BREF_FIELD)                                                                                  \
    } cl_##op##_bufs;                                                                                        \
    static vox_status cl_##op##_launch(cl_dev *d, vox_dtype dt, const cl_##op##_bufs *b,                     \
                                       const vox_##op##_args *a, const cl_grid *g)                           \
    {                                                                                                        \
        cl_kargs ka;                                                                                         \
        const char *kname = NULL;                                                                            \
        vox_status st = grid_kargs(d, dt, g, &ka, &kname);                                                   \
        if (st)                                                                                              \
            return st;                                                                                       \
        BUFS(CL_SET_BUF)                                                                                     \
        ARGS(CL_SET_ARG)                                                                                     \
        cl_karg_val(&ka, &(const cl_uint){0}, sizeof(cl_uint)); /* vox_args_end */                           \
        if (g->local)                                                                                        \
            cl_karg_local(&ka, g->local);                                                                    \
        st = cl_launch(d, &ka, g->name ? g->name : #op, g->groups, g->ls, g->level);                         \
        if (!st)                                                                                             \
            d->last_kernel[VOX_OP_##op] = kname;                                                             \
        return st;                                                                                           \
    }
VOX_KERNELS(CL_OP_LAUNCH)

static const vox_bref none = {NULL, 0};

/* Work-groups for a grid-stride loop over `rows`. */
static size_t groups_for(int64_t rows)
{
    const int64_t cap = (int64_t)1 << 20;
    return rows <= 0 ? 0 : (size_t)(rows < cap ? rows : cap);
}

static size_t row_ls(int64_t D) { return D >= 128 ? 128 : D >= 64 ? 64 : 32; }

vox_status cl_permute_to(void *devp, const vox_op_dims *dm, const vox_op_permute_to *p)
{
    vox_permute_to_args a;
    vox_permute_to_args_init(&a, dm, p);
    const cl_permute_to_bufs b = {.src = p->src.ref, .dst = p->dst, .slot_token = p->slot_token};
    const cl_grid g = {.k = K_PERMUTE_TO, .groups = groups_for(a.BH * a.slots), .ls = row_ls(dm->head_dim)};
    return cl_permute_to_launch(devp, dm->dtype, &b, &a, &g);
}

vox_status cl_permute_from(void *devp, const vox_op_dims *dm, const vox_op_permute_from *p)
{
    vox_permute_from_args a;
    vox_permute_from_args_init(&a, dm, p);
    const cl_permute_from_bufs b = {.src = p->src,
                                    .lse_src = a.has_lse ? p->lse_src : none,
                                    .dst = p->dst.ref,
                                    .lse_dst = a.has_lse ? p->lse_dst.ref : none,
                                    .token_slot = p->token_slot,
                                    .fill_src = p->fill_src};
    const cl_grid g = {.k = K_PERMUTE_FROM, .groups = groups_for(a.BH * a.N), .ls = row_ls(dm->head_dim)};
    return cl_permute_from_launch(devp, dm->dtype, &b, &a, &g);
}

vox_status cl_block_means(void *devp, const vox_op_dims *dm, const vox_op_block_means *p)
{
    vox_block_means_args a;
    vox_block_means_args_init(&a, dm, p);
    const cl_block_means_bufs b = {.x = p->x.ref,
                                   .slot_token = p->slot_token,
                                   .kept_count = a.has_kept ? p->kept_count : none,
                                   .kept_rows = a.has_kept ? p->kept_rows : none,
                                   .valid = dm->block_valid,
                                   .out = p->out};
    const cl_grid g = {.k = K_BLOCK_MEANS, .groups = groups_for(a.BH * a.NB), .ls = row_ls(dm->head_dim)};
    return cl_block_means_launch(devp, dm->dtype, &b, &a, &g);
}

/* The kv_select work space of each work-group row: 2*NBv+1 reals (and, on
 * devices without fp64, NBv order keys), then NB+16 flag bytes; in local
 * memory where it fits (vox_kv_select), else in d->scratch, a 256-byte-
 * aligned slice per work-group (vox_kv_select_global). */
static vox_status kv_scratch(cl_dev *d, size_t bytes)
{
    if (d->scratch_bytes >= bytes)
        return VOX_OK;
    if (d->scratch)
        g_cl.clReleaseMemObject(d->scratch);
    d->scratch_bytes = 0;
    cl_int e;
    d->scratch = g_cl.clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, bytes, NULL, &e);
    if (!d->scratch || e != CL_SUCCESS) {
        if (d->scratch)
            g_cl.clReleaseMemObject(d->scratch);
        d->scratch = NULL;
        return vox_fail(d->log, cl_status(e), "opencl: kv_select scratch of %zu bytes failed (%s, %d)", bytes,
                        cl_err_name(e), e);
    }
    d->scratch_bytes = bytes;
    return VOX_OK;
}

vox_status cl_kv_select(void *devp, const vox_op_dims *dm, const vox_op_kv_select *p)
{
    cl_dev *d = devp;
    vox_kv_select_args a;
    vox_kv_select_args_init(&a, dm, p);
    size_t ws = (d->fp64 ? 8 * (size_t)(2 * a.NBv + 1) : 4 * (size_t)(3 * a.NBv + 1)) + (size_t)a.NB + 16;
    /* keep 1 KiB of local memory for the kernel's own variables */
    int local = ws + 1024 <= d->local_mem;
    cl_kv_select_bufs b = {.qbar = p->qbar,
                           .kbar = p->kbar,
                           .kv_start = p->kv_start,
                           .kv_count = p->kv_count,
                           .kv_cols = p->kv_cols,
                           .scratch = none};
    /* the global variant's __local argument is unused: 4 bytes */
    cl_grid g = {.k = local ? K_KV_SELECT : K_KV_SELECT_GLOBAL, .groups = groups_for(a.BH * a.NB), .ls = 128,
                 .local = local ? ws : 4};
    cl_buf scratch = {0};
    if (!local) {
        if (g.groups > 1024)
            g.groups = 1024;
        size_t stride = (ws + 255) / 256 * 256;
        vox_status st = kv_scratch(d, g.groups * stride);
        if (st)
            return st;
        scratch.mem = d->scratch;
        b.scratch = (vox_bref){&scratch, 0};
        a.per_block = (int64_t)(stride / 4);
    }
    return cl_kv_select_launch(d, dm->dtype, &b, &a, &g);
}

vox_status cl_sample_rows(void *devp, const vox_op_dims *dm, const vox_op_sample_rows *p)
{
    vox_sample_rows_args a;
    vox_sample_rows_args_init(&a, dm, p);
    const cl_sample_rows_bufs b = {.q = p->q,
                                   .k = p->k,
                                   .v = p->v,
                                   .rows = p->rows,
                                   .block_coord = p->block_coord,
                                   .valid = dm->block_valid,
                                   .out = p->out};
    const cl_grid g = {.k = K_SAMPLE_ROWS, .groups = groups_for(a.BH * a.R), .ls = 64};
    return cl_sample_rows_launch(devp, dm->dtype, &b, &a, &g);
}

vox_status cl_query_select(void *devp, const vox_op_dims *dm, const vox_op_query_select *p)
{
    vox_query_select_args a;
    vox_query_select_args_init(&a, dm, p);
    const cl_query_select_bufs b = {.q = p->q,
                                    .win_ptr = p->win_ptr,
                                    .windows = p->windows,
                                    .valid = dm->block_valid,
                                    .kept_count = p->kept_count,
                                    .kept_rows = p->kept_rows,
                                    .fill_src = p->fill_src};
    size_t ls = dm->block_volume < 64 ? (size_t)dm->block_volume : 64;
    const cl_grid g = {.k = K_QUERY_SELECT, .groups = groups_for(a.BH * a.NB), .ls = ls < 32 ? 32 : ls};
    return cl_query_select_launch(devp, dm->dtype, &b, &a, &g);
}

/* One work-group (64 items) per head: kernels/svg_classify.cl. */
vox_status cl_svg_classify(void *devp, const vox_op_dims *dm, const vox_op_svg_classify *p)
{
    vox_svg_classify_args a;
    vox_svg_classify_args_init(&a, dm, p);
    const cl_svg_classify_bufs b = {.sample_out = p->sample_out,
                                    .pattern_start = p->pattern_start,
                                    .pattern_count = p->pattern_count,
                                    .kv_start = p->kv_start,
                                    .kv_count = p->kv_count,
                                    .classes = p->classes,
                                    .errors = p->errors};
    const cl_grid g = {.k = K_SVG_CLASSIFY, .groups = groups_for(a.BH), .ls = 64};
    return cl_svg_classify_launch(devp, dm->dtype, &b, &a, &g);
}

/* Two passes of one kernel (kernels/mask_transpose.cl), one work-group of 128
 * items per (head, tile of 128 KV blocks): counts, then starts and lists. */
vox_status cl_mask_transpose(void *devp, const vox_op_dims *dm, const vox_op_mask_transpose *p)
{
    vox_mask_transpose_args a;
    vox_mask_transpose_args_init(&a, dm, p);
    const cl_mask_transpose_bufs b = {.kv_start = p->kv_start, .kv_count = p->kv_count, .kv_cols = p->kv_cols,
                                      .mask = p->mask};
    cl_grid g = {.k = K_MASK_TRANSPOSE, .groups = groups_for(a.BH * ((a.NB + 127) / 128)), .ls = 128,
                 .name = "mask_transpose (counts)"};
    vox_status st = cl_mask_transpose_launch(devp, dm->dtype, &b, &a, &g);
    if (st)
        return st;
    a.pass = 1;
    g.name = "mask_transpose (lists)";
    return cl_mask_transpose_launch(devp, dm->dtype, &b, &a, &g);
}

/* Attention tile shape for head dim hd that fits the device's local memory. */
static int attn_tiles(const cl_dev *d, int hd, int V, int *bm, int *bn, int *ls)
{
    static const int cand[][2] = {{32, 32}, {32, 16}, {16, 16}};
    int L = 128;
    if (d->max_wg < (size_t)L)
        L = 64;
    for (size_t c = 0; c < sizeof cand / sizeof cand[0]; c++) {
        int m = cand[c][0] < V ? cand[c][0] : V, n = cand[c][1];
        int tpr = L / m;
        if (tpr < 1 || n % tpr || hd % tpr)
            continue;
        size_t bytes = 4 * ((size_t)(m + n) * (size_t)(hd + 1) + (size_t)m * (size_t)(n + 1) + (size_t)L) +
                       4 * (size_t)(m + n) + 512;
        if (bytes > d->local_mem)
            continue;
        *bm = m, *bn = n, *ls = L;
        return 1;
    }
    return 0;
}

/* The attention arguments (both kernels take the same) for work-groups of
 * `rows` query rows each, and the launch. */
static vox_status attn_launch(cl_dev *d, const cl_prog *pr, const vox_op_dims *dm, const vox_op_attention_forward *p,
                              int rows, const char *name, size_t ls, vox_log_level level)
{
    vox_attention_forward_args a;
    vox_attention_forward_args_init(&a, dm, p);
    a.tiles = (a.V + rows - 1) / rows;
    a.total = a.BH * a.NB * a.tiles;
    const cl_attention_forward_bufs b = {.q = p->q,
                                         .k = p->k,
                                         .v = p->v,
                                         .o = p->o,
                                         .lse = p->lse,
                                         .kv_start = p->kv_start,
                                         .kv_count = p->kv_count,
                                         .kv_cols = p->kv_cols,
                                         .kept_count = a.has_kept ? p->kept_count : none,
                                         .kept_rows = a.has_kept ? p->kept_rows : none,
                                         .valid = dm->block_valid};
    const int64_t cap = (int64_t)1 << 22;
    const cl_grid g = {.prog = pr, .groups = (size_t)(a.total < cap ? a.total : cap), .ls = ls, .name = name,
                       .level = level};
    return cl_attention_forward_launch(d, dm->dtype, &b, &a, &g);
}

/* Tensor-core attention (kernels/attention_forward_mma.cl): f16/bf16, head
 * dim <= 128, q/k/v/o rows 16-byte aligned (the kernel copies 16 bytes at a
 * time). Returns VOX_ERR_UNSUPPORTED where the portable kernel has to run:
 * not applicable, or the fast path failed (then it stays off for this
 * device). */
static vox_status attn_mma(cl_dev *d, const vox_op_dims *dm, const vox_op_attention_forward *p)
{
    int hd = (int)dm->head_dim;
    if (!d->mma || dm->dtype == VOX_F32 || hd > 128 || hd % 8)
        return VOX_ERR_UNSUPPORTED;
    const vox_bref *rows[] = {&p->q, &p->k, &p->v, &p->o};
    for (int i = 0; i < 4; i++)
        if (rows[i]->offset % 16)
            return VOX_ERR_UNSUPPORTED;
    /* local memory as declared by the kernel: Q/K tile, V^T tile, slots */
    size_t dp = hd <= 16 ? 16 : hd <= 32 ? 32 : hd <= 64 ? 64 : 128;
    size_t bytes = 2 * (64 * (dp + 8) + (size_t)hd * 72) + 4 * 64 + 8 * 64 + (d->mma == MMA_EMULATED ? 3072 : 0);
    if (bytes > d->local_mem)
        return VOX_ERR_UNSUPPORTED;
    cl_prog *pr = NULL;
    vox_status st = cl_get_prog(d, PROG_ATTN_MMA, (int)dm->dtype, hd, 64, 64, 128, &pr);
    if (!st) {
        st = attn_launch(d, pr, dm, p, 64, "attention_forward (tensor cores)", 128, VOX_LOG_WARN);
        if (!st)
            return VOX_OK;
    }
    vox_log(d->log, VOX_LOG_WARN, "opencl: tensor-core attention failed (%s); the portable kernel runs from now on",
            vox_status_string(st));
    d->mma = MMA_OFF;
    return VOX_ERR_UNSUPPORTED;
}

vox_status cl_attention_forward(void *devp, const vox_op_dims *dm, const vox_op_attention_forward *p)
{
    cl_dev *d = devp;
    if (attn_mma(d, dm, p) == VOX_OK)
        return VOX_OK;
    int bm, bn, ls, hd = (int)dm->head_dim, V = (int)dm->block_volume;
    if (!attn_tiles(d, hd, V, &bm, &bn, &ls))
        return vox_fail(d->log, VOX_ERR_UNSUPPORTED, "opencl: head_dim %d does not fit local memory (%llu bytes)", hd,
                        (unsigned long long)d->local_mem);
    cl_prog *pr = NULL;
    vox_status st = cl_get_prog(d, PROG_ATTN, (int)dm->dtype, hd, bm, bn, ls, &pr);
    if (st)
        return st;
    return attn_launch(d, pr, dm, p, bm, "attention_forward", (size_t)ls, VOX_LOG_ERROR);
}

/* ------------------------------------------------------------ backward */

/* attention_backward's tiles (kernels/attention_backward.cl): prep and dQ
 * (BM query rows per work-group, BN keys per step), dK/dV (BN keys per
 * work-group, BM query rows per step). Chosen for at most 48 KiB of local
 * memory even where the device has more (NVIDIA's limit per work-group), so
 * the shapes tested on PoCL are the shapes NVIDIA runs. */
#define BWD_LOCAL_CAP 49152
#define BWD_VMAX 256 /* the kernels' VMAX */

typedef struct bwd_tiles {
    int qm, qn, ql; /* dQ: BM, BN, LS */
    int km, kn, kl; /* dK/dV: BM, BN, LS */
} bwd_tiles;

/* Local memory of a dQ (kv = 0) or dK/dV (kv = 1) work-group as the kernel
 * declares it: four tiles in the storage type, dS (and P) in f32, the row
 * and key tables, the compaction arrays, and a margin. */
static size_t bwd_local(vox_dtype dt, int hd, int bm, int bn, int kv)
{
    size_t es = dt == VOX_F32 ? 4 : 2, tp = (size_t)hd + (dt == VOX_F32 ? 1 : 2);
    size_t probs = kv ? 2 * (size_t)bn * (size_t)(bm + 1) : (size_t)bm * (size_t)(bn + 1);
    return es * 2 * (size_t)(bm + bn) * tp + 4 * probs + 4 * (3 * (size_t)bm + (size_t)bn) +
           4 * (2 * BWD_VMAX + 1) + 512;
}

/* The largest tiles that fit; 0 when none does. dQ keeps HD*BM/LS
 * accumulators per item, dK/dV 2*HD*BN/LS (at most 64: registers). */
static int bwd_pick(const cl_dev *d, vox_dtype dt, int hd, int V, bwd_tiles *t)
{
    static const int q_cand[][3] = {{32, 32, 128}, {16, 32, 128}, {16, 16, 128}, {8, 16, 128},
                                    {8, 16, 64},   {8, 8, 64}};
    static const int kv_cand[][3] = {{16, 64, 256}, {8, 64, 256}, {16, 32, 128}, {8, 32, 128},
                                     {16, 16, 128}, {8, 16, 128}, {8, 16, 64},   {8, 8, 64}};
    size_t cap = d->local_mem < BWD_LOCAL_CAP ? (size_t)d->local_mem : BWD_LOCAL_CAP;
    int q = 0, kv = 0;
    for (size_t c = 0; !q && c < sizeof q_cand / sizeof q_cand[0]; c++) {
        int bm = q_cand[c][0] < V ? q_cand[c][0] : V, bn = q_cand[c][1], ls = q_cand[c][2], tpr = ls / bm;
        if ((size_t)ls > d->max_wg || ls % bm || bn % tpr || hd % tpr || bwd_local(dt, hd, bm, bn, 0) > cap)
            continue;
        t->qm = bm, t->qn = bn, t->ql = ls, q = 1;
    }
    for (size_t c = 0; !kv && c < sizeof kv_cand / sizeof kv_cand[0]; c++) {
        int bm = kv_cand[c][0], bn = kv_cand[c][1], ls = kv_cand[c][2], tpk = ls / bn;
        if (bn > V || (size_t)ls > d->max_wg || bm % tpk || hd % tpk || 2 * hd / tpk > 64 ||
            bwd_local(dt, hd, bm, bn, 1) > cap)
            continue;
        t->km = bm, t->kn = bn, t->kl = ls, kv = 1;
    }
    return q && kv;
}

vox_status cl_supports(void *devp, const vox_op_dims *dm, vox_op op, char *reason, size_t n)
{
    const cl_dev *d = devp;
    bwd_tiles t;
    if (op == VOX_OP_mask_transpose && d->max_wg < 128) {
        snprintf(reason, n, "work-groups of 128 items needed, the device has %zu", d->max_wg);
        return VOX_ERR_UNSUPPORTED;
    }
    if (op != VOX_OP_attention_backward)
        return VOX_OK;
    if (dm->block_volume > BWD_VMAX || dm->head_dim % 8) {
        snprintf(reason, n, "block volume %lld or head_dim %lld out of range (<= %d, a multiple of 8)",
                 (long long)dm->block_volume, (long long)dm->head_dim, BWD_VMAX);
        return VOX_ERR_UNSUPPORTED;
    }
    if (!bwd_pick(d, dm->dtype, (int)dm->head_dim, (int)dm->block_volume, &t)) {
        snprintf(reason, n, "head_dim %lld: no backward tile fits %llu bytes of local memory (or %zu work-items)",
                 (long long)dm->head_dim, (unsigned long long)d->local_mem, d->max_wg);
        return VOX_ERR_UNSUPPORTED;
    }
    return VOX_OK;
}

static size_t bwd_groups(int64_t total)
{
    const int64_t cap = (int64_t)1 << 22;
    return (size_t)(total < cap ? total : cap);
}

/* prep, dQ (PROG_BWD_Q), then dK/dV (PROG_BWD_KV); the programs are fetched
 * one at a time (a fetch may move the cached ones). */
vox_status cl_attention_backward(void *devp, const vox_op_dims *dm, const vox_op_attention_backward *p)
{
    cl_dev *d = devp;
    const int hd = (int)dm->head_dim, V = (int)dm->block_volume;
    bwd_tiles t;
    if (V > BWD_VMAX || hd % 8 || !bwd_pick(d, dm->dtype, hd, V, &t))
        return vox_fail(d->log, VOX_ERR_UNSUPPORTED,
                        "opencl: attention_backward: head_dim %d, block volume %d do not fit local memory (%llu bytes)",
                        hd, V, (unsigned long long)d->local_mem);
    vox_attention_backward_args a;
    vox_attention_backward_args_init(&a, dm, p);
    const cl_attention_backward_bufs b = {.q = p->q,
                                          .k = p->k,
                                          .v = p->v,
                                          .o = p->o,
                                          .dout = p->dout,
                                          .lse = p->lse,
                                          .dq = p->dq,
                                          .dk = p->dk,
                                          .dv = p->dv,
                                          .mask = p->mask,
                                          .fill_src = a.has_fill ? p->fill_src : none,
                                          .valid = dm->block_valid};
    cl_prog *pr = NULL;
    vox_status st = cl_get_prog(d, PROG_BWD_Q, (int)dm->dtype, hd, t.qm, t.qn, t.ql, &pr);
    if (st)
        return st;
    a.tiles = 1, a.total = a.BH * a.NB;
    cl_grid g = {.prog = pr, .k = 0, .groups = bwd_groups(a.total), .ls = (size_t)t.ql,
                 .name = "attention_backward (prep)"};
    st = cl_attention_backward_launch(d, dm->dtype, &b, &a, &g);
    if (st)
        return st;
    a.tiles = (V + t.qm - 1) / t.qm, a.total = a.BH * a.NB * a.tiles;
    g.k = 1, g.groups = bwd_groups(a.total), g.name = "attention_backward (dQ)";
    st = cl_attention_backward_launch(d, dm->dtype, &b, &a, &g);
    if (!st)
        st = cl_get_prog(d, PROG_BWD_KV, (int)dm->dtype, hd, t.km, t.kn, t.kl, &pr);
    if (st)
        return st;
    a.tiles = V / t.kn, a.total = a.BH * a.NB * a.tiles;
    g = (cl_grid){.prog = pr, .k = 0, .groups = bwd_groups(a.total), .ls = (size_t)t.kl,
                  .name = "attention_backward (dK, dV)"};
    st = cl_attention_backward_launch(d, dm->dtype, &b, &a, &g);
    if (!st) /* the path, not its last kernel */
        d->last_kernel[VOX_OP_attention_backward] = "vox_attention_backward (portable: prep, dq, dkdv)";
    return st;
}

/* ------------------------------------------------------------ merge */

/* One work-group per row (kernels/attention_merge.cl). */
vox_status cl_attention_merge(void *devp, const vox_op_dims *dm, const vox_op_attention_merge *p)
{
    vox_attention_merge_args a;
    vox_attention_merge_args_init(&a, dm, p);
    const cl_attention_merge_bufs b = {.acc = p->acc.ref,
                                       .acc_lse = p->acc_lse.ref,
                                       .part = p->part.ref,
                                       .part_lse = p->part_lse.ref};
    const cl_grid g = {.k = K_ATTENTION_MERGE, .groups = groups_for(a.rows), .ls = row_ls(dm->head_dim)};
    return cl_attention_merge_launch(devp, dm->dtype, &b, &a, &g);
}
