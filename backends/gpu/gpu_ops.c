/* CUDA/HIP host layer: one launcher per op of core/backend.h. Each fills the
 * op's kernel arguments (core/kernel_args.h) with vox_<op>_args_init() plus
 * the launch-specific fields (copy word units, tiles, work space), the
 * buffers with their device addresses, picks the kernel variant and the
 * launch geometry, and launches kernels/<op>.cuh. */
#include "gpu_internal.h"

/* The kernel of an op for the plan dtype, given its f32, f16, bf16 variants. */
static int by_dtype(vox_dtype t, int f32, int f16, int bf16)
{
    return t == VOX_F32 ? f32 : t == VOX_F16 ? f16 : bf16;
}

/* by_dtype() of the kernels GPU_FN_<op>_f32, _f16, _bf16 for the dims d. */
#define BY_DTYPE(op) by_dtype(d->dtype, GPU_FN_##op##_f32, GPU_FN_##op##_f16, GPU_FN_##op##_bf16)

/* The kernel arguments a of `op` from the launcher's parameters d and p. */
#define GPU_OP_ARGS(op)  \
    vox_##op##_args a;   \
    vox_##op##_args_init(&a, d, p)

/* Largest copy unit (16, 4 or 2 bytes) dividing every address and stride. */
static int copy_unit(uint64_t a, uint64_t b, int64_t row, int64_t s0, int64_t s1, int64_t s2)
{
    static const int units[3] = {16, 4, 2};
    for (int u = 0; u < 3; u++) {
        int64_t x = units[u];
        if (a % x == 0 && b % x == 0 && row % x == 0 && s0 % x == 0 && s1 % x == 0 && s2 % x == 0)
            return units[u];
    }
    return 2;
}

/* Row and the three strides from elements to copy units; returns the unit. */
static int to_copy_units(const vox_op_dims *d, uint64_t src, uint64_t dst, int64_t *row, int64_t *sb, int64_t *sh,
                         int64_t *st)
{
    int64_t es = (int64_t)vox_dtype_size(d->dtype);
    int u = copy_unit(src, dst, es * *row, es * *sb, es * *sh, es * *st);
    *row = es * *row / u, *sb = es * *sb / u, *sh = es * *sh / u, *st = es * *st / u;
    return u;
}

vox_status gpu_permute_to(void *dev, const vox_op_dims *d, const vox_op_permute_to *p)
{
    gpu_dev *g = dev;
    vox_permute_to_bufs b = {.src = gpu_dptr(p->src.ref), .dst = gpu_dptr(p->dst),
                             .slot_token = gpu_dptr(p->slot_token)};
    GPU_OP_ARGS(permute_to);
    int u = to_copy_units(d, b.src, b.dst, &a.row, &a.sb, &a.sh, &a.st);
    int fn = u == 16 ? GPU_FN_permute_to_b16 : u == 4 ? GPU_FN_permute_to_b4 : GPU_FN_permute_to_b2;
    return gpu_launch_op(g, VOX_OP_permute_to, fn, gpu_cap_grid(g, (a.BH * a.slots + 7) / 8, 64), 32, 8, 0, &b,
                         &a);
}

vox_status gpu_permute_from(void *dev, const vox_op_dims *d, const vox_op_permute_from *p)
{
    gpu_dev *g = dev;
    vox_permute_from_bufs b = {.src = gpu_dptr(p->src), .lse_src = gpu_dptr(p->lse_src), .dst = gpu_dptr(p->dst.ref),
                               .lse_dst = gpu_dptr(p->lse_dst.ref), .token_slot = gpu_dptr(p->token_slot),
                               .fill_src = gpu_dptr(p->fill_src)};
    if (!b.lse_src || !b.lse_dst)
        b.lse_src = b.lse_dst = 0;
    GPU_OP_ARGS(permute_from);
    int u = to_copy_units(d, b.src, b.dst, &a.row, &a.sb, &a.sh, &a.st);
    int fn = u == 16 ? GPU_FN_permute_from_b16 : u == 4 ? GPU_FN_permute_from_b4 : GPU_FN_permute_from_b2;
    return gpu_launch_op(g, VOX_OP_permute_from, fn, gpu_cap_grid(g, (a.BH * a.N + 7) / 8, 64), 32, 8, 0, &b,
                         &a);
}

vox_status gpu_block_means(void *dev, const vox_op_dims *d, const vox_op_block_means *p)
{
    gpu_dev *g = dev;
    vox_block_means_bufs b = {.x = gpu_dptr(p->x.ref), .slot_token = gpu_dptr(p->slot_token),
                              .kept_count = gpu_dptr(p->kept_count),
                              .kept_rows = gpu_dptr(p->kept_rows), .valid = gpu_dptr(d->block_valid),
                              .out = gpu_dptr(p->out)};
    if (!b.kept_count)
        b.kept_rows = 0;
    GPU_OP_ARGS(block_means);
    int fn = BY_DTYPE(block_means);
    return gpu_launch_op(g, VOX_OP_block_means, fn, gpu_cap_grid(g, a.BH * a.NB, 32), 128, 1, 0, &b, &a);
}

/* kernels/kv_select.cuh, kv_select_fast.cuh: vox_kv_select_kt writes kbar
 * transposed (kt, D x S floats per head, S = NBv rounded up to 4) to the head
 * of the scratch, then comes a list of rows (a count, then room for every
 * video row: (BH * tiles + 1) * 16 ints), then the per-CTA score slices
 * (when used). CUMULATIVE and TOPK: the fast path, one CTA of 256 threads per
 * tile of 8 video query rows (dynamic shared memory: a union of the rows'
 * qbar as f32 and 8 warps' work spaces of 3872 B, then the tile's 8 x S f32
 * values, or those in a scratch slice when they do not fit), which lists the
 * rows it cannot certify; then vox_kv_select_rows, the exact path on the
 * listed rows: a capped grid of 128-thread CTAs, one row per warp (the rows'
 * qbar as f64, the 4 warps' work spaces of 5152 B, then 4 x NBv f64 scores,
 * or a slice). STAT: vox_kv_select, the exact path over every tile: one CTA
 * of 128 threads per tile, two per multiprocessor, a union (the rows' qbar as
 * f64, the 4 warps' work spaces), then the tile's 16 x NBv f64 scores; when
 * those would take more than half the room, each CTA of a capped grid keeps
 * them in its scratch slice instead. */
vox_status gpu_kv_select(void *dev, const vox_op_dims *d, const vox_op_kv_select *p)
{
    gpu_dev *g = dev;
    vox_kv_select_bufs b = {.qbar = gpu_dptr(p->qbar), .kbar = gpu_dptr(p->kbar), .kv_start = gpu_dptr(p->kv_start),
                            .kv_count = gpu_dptr(p->kv_count), .kv_cols = gpu_dptr(p->kv_cols), .scratch = 0};
    GPU_OP_ARGS(kv_select);
    enum { ROWS = 16, EC = 4, WARPS = 4, WORK = 5152, FAST_ROWS = 8, FAST_WARPS = 8, FAST_WORK = 3872 };
    int room = g->api->set_max_smem ? g->max_smem_optin : g->max_smem;
    int64_t Dp = (a.D + EC - 1) / EC * EC, tiles = a.NBv > 0 ? (a.NBv + ROWS - 1) / ROWS : 1;
    int64_t S = (a.NBv + 3) / 4 * 4, kt = (a.BH * a.D * S * 4 + 255) / 256 * 256;
    int64_t list = (a.BH * tiles + 1) * ROWS * 4;
    int fast = a.rule != 2;
    vox_kv_select_args af = a, ar = a;
    int64_t grid = 0, gridf = 0, gridr = 0;
    size_t smem = 0, smemf = 0, smemr = 0;
    if (!fast) { /* vox_kv_select */
        int64_t q = ROWS * Dp * 8, un = q > WARPS * WORK ? q : WARPS * WORK;
        un = (un + 15) / 16 * 16;
        int64_t scores = (int64_t)ROWS * a.NBv * 8;
        grid = a.BH * tiles, smem = (size_t)(un + scores);
        if (2 * (un + scores) > room) {
            a.per_block = (scores + 255) / 256 * 256;
            grid = gpu_cap_grid(g, grid, 2);
            smem = (size_t)un;
        }
    } else { /* vox_kv_select_fast, then vox_kv_select_rows */
        int64_t qf = FAST_ROWS * Dp * 4, unf = qf > FAST_WARPS * FAST_WORK ? qf : FAST_WARPS * FAST_WORK;
        unf = (unf + 15) / 16 * 16;
        int64_t valf = (int64_t)FAST_ROWS * S * 4;
        gridf = a.BH * (a.NBv > 0 ? (a.NBv + FAST_ROWS - 1) / FAST_ROWS : 1), smemf = (size_t)(unf + valf);
        if (unf + valf > room) {
            af.per_block = (valf + 255) / 256 * 256;
            gridf = gpu_cap_grid(g, gridf, 2);
            smemf = (size_t)unf;
        }
        int64_t head = (WARPS * Dp * 8 + 15) / 16 * 16 + WARPS * WORK, scr = (int64_t)WARPS * a.NBv * 8;
        gridr = gpu_cap_grid(g, (a.BH * a.NBv + WARPS - 1) / WARPS, 2), smemr = (size_t)(head + scr);
        if (2 * (head + scr) > room) {
            ar.per_block = (scr + 255) / 256 * 256;
            smemr = (size_t)head;
        }
    }
    int64_t slices = grid * a.per_block, slicesf = gridf * af.per_block, slicesr = gridr * ar.per_block;
    slices = slices > slicesf ? slices : slicesf;
    slices = slices > slicesr ? slices : slicesr;
    vox_status st = gpu_ensure_scratch(g, (size_t)(kt + list + slices));
    if (st)
        return st;
    b.scratch = g->scratch;
    if (kt > 0) {
        int64_t t = a.BH * ((S + 31) / 32) * ((a.D + 31) / 32);
        st = gpu_launch_op(g, VOX_OP_kv_select, GPU_FN_kv_select_kt, gpu_cap_grid(g, t, 16), 256, 1, 0, &b, &a);
        if (st)
            return st;
    }
    if (!fast)
        return gpu_launch_op(g, VOX_OP_kv_select, GPU_FN_kv_select, grid, 128, 1, smem, &b, &a);
    st = gpu_launch_op(g, VOX_OP_kv_select, GPU_FN_kv_select_fast, gridf, 256, 1, smemf, &b, &af);
    if (st || kt == 0 || a.NBv == 0)
        return st; /* no video row: no list */
    return gpu_launch_op(g, VOX_OP_kv_select, GPU_FN_kv_select_rows, gridr, 128, 1, smemr, &b, &ar);
}

/* The key split count of sample_rows for `units` CTAs per split and `slots`
 * resident CTAs: at least enough splits to fill the slots once, then the
 * count (up to 4 times that, <= 64, <= NB) with the least time in waves,
 * ceil(CTAs / slots) / splits (a CTA's time goes as 1 / splits), the
 * smallest such count (the merge reads every split). */
static int64_t sample_rows_splits(int64_t units, int64_t slots, int64_t NB)
{
    int64_t n0 = (slots + units - 1) / units, best = 1;
    n0 = n0 < 1 ? 1 : n0 > 64 ? 64 : n0;
    double best_t = 0;
    for (int64_t n = n0; n <= 4 * n0 && n <= 64; n++) {
        double t = (double)((units * n + slots - 1) / slots) / (double)n;
        if (n == n0 || t < best_t * 0.98)
            best = n, best_t = t;
    }
    return best > NB ? (NB < 1 ? 1 : NB) : best;
}

/* kernels/sample_rows_mma.cuh (f16/bf16, tensor cores): one CTA of 256
 * threads per (bh, key split, 64 rows), one per multiprocessor, where the
 * module has the kernel, head_dim <= 128 is a multiple of 8, q, k, v are
 * 16-byte aligned and the shared memory fits; 0 when declined. */
static int sample_rows_mma(gpu_dev *g, const vox_op_dims *d, const vox_sample_rows_bufs *b,
                           vox_sample_rows_args a, vox_status *st)
{
    int dp = a.D <= 64 ? 64 : 128, bf = d->dtype == VOX_BF16;
    int fn = dp == 64 ? (bf ? GPU_FN_sample_rows_mma_bf16_d64 : GPU_FN_sample_rows_mma_f16_d64)
                      : (bf ? GPU_FN_sample_rows_mma_bf16_d128 : GPU_FN_sample_rows_mma_f16_d128);
    size_t smem = (size_t)(64 + 4 * 64) * dp * 2 + 8 * 8 * 32 * 16; /* Q, 2 x (K, V), score partials */
    int room = g->api->set_max_smem ? g->max_smem_optin : g->max_smem;
    if (d->dtype == VOX_F32 || a.D > 128 || a.D % 8 || (b->q | b->k | b->v) % 16 || !g->fn[fn] ||
        smem > (size_t)room)
        return 0;
    int64_t units = a.BH * ((a.R + 63) / 64);
    int64_t nsplit = sample_rows_splits(units, g->sm_count > 0 ? g->sm_count : 16, a.NB);
    *st = gpu_ensure_scratch(g, (size_t)(a.BH * a.R * nsplit * 3 * (a.D + 2)) * 4);
    if (*st)
        return 1;
    a.part = (int64_t)g->scratch;
    a.nsplit = (int32_t)nsplit;
    *st = gpu_launch_op(g, VOX_OP_sample_rows, fn, units * nsplit, 256, 1, smem, b, &a);
    if (!*st)
        *st = gpu_launch_op(g, VOX_OP_sample_rows, GPU_FN_sample_rows_merge, gpu_cap_grid(g, a.BH * a.R, 16), 128,
                            1, 0, b, &a);
    return 1;
}

/* Tensor cores for f16/bf16 (sample_rows_mma), else kernels/sample_rows.cuh:
 * one CTA of 256 threads per (bh, key split, 4 rows per warp, 4 dims per
 * lane) writes its partial softmax states to the scratch; the splits
 * (sample_rows_splits, two CTAs per multiprocessor) are merged by
 * vox_sample_rows_merge, one CTA of 128 threads per (bh, row).
 * VOXATTN_GPU_SCALAR=1 forces the f32 kernel. */
vox_status gpu_sample_rows(void *dev, const vox_op_dims *d, const vox_op_sample_rows *p)
{
    gpu_dev *g = dev;
    vox_sample_rows_bufs b = {.q = gpu_dptr(p->q), .k = gpu_dptr(p->k), .v = gpu_dptr(p->v),
                              .rows = gpu_dptr(p->rows), .block_coord = gpu_dptr(p->block_coord),
                              .valid = gpu_dptr(d->block_valid), .out = gpu_dptr(p->out)};
    GPU_OP_ARGS(sample_rows);
    vox_status st;
    if (!g->force_scalar && sample_rows_mma(g, d, &b, a, &st))
        return st;
    int64_t W = g->warp > 0 ? g->warp : 32, rows = 4 * (256 / W), kt = 2 * W, ds = 4 * W, D = a.D;
    size_t smem = (size_t)(4 * (D * rows + D * kt + kt * ds + kt * rows));
    int64_t units = a.BH * ((a.R + rows - 1) / rows) * ((D + ds - 1) / ds);
    int64_t nsplit = sample_rows_splits(units, 2 * (int64_t)(g->sm_count > 0 ? g->sm_count : 16), a.NB);
    st = gpu_ensure_scratch(g, (size_t)(a.BH * a.R * nsplit * 3 * (D + 2)) * 4);
    if (st)
        return st;
    a.part = (int64_t)g->scratch;
    a.nsplit = (int32_t)nsplit;
    int fn = BY_DTYPE(sample_rows);
    st = gpu_launch_op(g, VOX_OP_sample_rows, fn, units * nsplit, 256, 1, smem, &b, &a);
    if (st)
        return st;
    return gpu_launch_op(g, VOX_OP_sample_rows, GPU_FN_sample_rows_merge, gpu_cap_grid(g, a.BH * a.R, 16), 128, 1,
                         0, &b, &a);
}

/* kernels/query_select_fast.cuh: one CTA of 256 threads per (bh, block),
 * grid-stride: the certified f32 path per window (a warp each), and for the
 * blocks it cannot certify the exact path of kernels/query_select.cuh, with
 * the block's rows as f64 in dynamic shared memory when V*(D+1) doubles fit
 * in 96 KiB (the kernels' VOX_QS_SMEM; else it reads them from global
 * memory). */
vox_status gpu_query_select(void *dev, const vox_op_dims *d, const vox_op_query_select *p)
{
    gpu_dev *g = dev;
    vox_query_select_bufs b = {.q = gpu_dptr(p->q), .win_ptr = gpu_dptr(p->win_ptr), .windows = gpu_dptr(p->windows),
                               .valid = gpu_dptr(d->block_valid), .kept_count = gpu_dptr(p->kept_count),
                               .kept_rows = gpu_dptr(p->kept_rows), .fill_src = gpu_dptr(p->fill_src)};
    GPU_OP_ARGS(query_select);
    int fn = BY_DTYPE(query_select);
    int64_t rows = (int64_t)a.V * (a.D + 1) * 8;
    size_t smem = rows <= 96 * 1024 ? (size_t)rows : 0;
    return gpu_launch_op(g, VOX_OP_query_select, fn, gpu_cap_grid(g, a.BH * a.NB, 8), 256, 1, smem, &b, &a);
}

/* One block of 256 threads per head, grid-stride (kernels/svg_classify.cuh). */
vox_status gpu_svg_classify(void *dev, const vox_op_dims *d, const vox_op_svg_classify *p)
{
    gpu_dev *g = dev;
    vox_svg_classify_bufs b = {.sample_out = gpu_dptr(p->sample_out), .pattern_start = gpu_dptr(p->pattern_start),
                               .pattern_count = gpu_dptr(p->pattern_count), .kv_start = gpu_dptr(p->kv_start),
                               .kv_count = gpu_dptr(p->kv_count), .classes = gpu_dptr(p->classes),
                               .errors = gpu_dptr(p->errors)};
    GPU_OP_ARGS(svg_classify);
    return gpu_launch_op(g, VOX_OP_svg_classify, GPU_FN_svg_classify, gpu_cap_grid(g, a.BH, 8), 256, 1, 0, &b,
                         &a);
}

/* Tensor cores (f16/bf16, mma.sync, 64-row tiles) where the module has the
 * kernel and its shared memory fits; 0 when declined. */
static int attention_forward_mma(gpu_dev *g, const vox_op_dims *d, const vox_attention_forward_bufs *b,
                                 vox_attention_forward_args a, vox_status *st)
{
    int dp = a.D <= 64 ? 64 : a.D <= 128 ? 128 : 256;
    int fn = d->dtype == VOX_BF16
                 ? (dp == 64 ? GPU_FN_attention_forward_mma_bf16_d64
                    : dp == 128 ? GPU_FN_attention_forward_mma_bf16_d128 : GPU_FN_attention_forward_mma_bf16_d256)
                 : (dp == 64 ? GPU_FN_attention_forward_mma_f16_d64
                    : dp == 128 ? GPU_FN_attention_forward_mma_f16_d128 : GPU_FN_attention_forward_mma_f16_d256);
    size_t smem = (size_t)5 * 64 * dp * 2 + 128 + 256 + 3 * 64 * 5;
    int room = g->api->set_max_smem ? g->max_smem_optin : g->max_smem;
    if (!g->fn[fn] || smem > (size_t)room)
        return 0;
    a.tiles = (a.V + 63) / 64;
    a.total = a.BH * a.NB * a.tiles;
    *st = gpu_launch_op(g, VOX_OP_attention_forward, fn, a.total, 128, 1, smem, b, &a);
    return 1;
}

/* The vendor path (gpu_api.attention_forward), then tensor cores, then the
 * portable scalar kernel (16-row tiles, 32 keys per tile or 16 where the
 * shared memory is short); VOXATTN_GPU_SCALAR=1 forces the scalar kernel. */
vox_status gpu_attention_forward(void *dev, const vox_op_dims *d, const vox_op_attention_forward *p)
{
    gpu_dev *g = dev;
    vox_status st;
    if (!g->force_scalar && g->api->attention_forward && g->api->attention_forward(g, d, p, &st))
        return st;
    vox_attention_forward_bufs b = {.q = gpu_dptr(p->q), .k = gpu_dptr(p->k), .v = gpu_dptr(p->v),
                                    .o = gpu_dptr(p->o), .lse = gpu_dptr(p->lse), .kv_start = gpu_dptr(p->kv_start),
                                    .kv_count = gpu_dptr(p->kv_count), .kv_cols = gpu_dptr(p->kv_cols),
                                    .kept_count = gpu_dptr(p->kept_count), .kept_rows = gpu_dptr(p->kept_rows),
                                    .valid = gpu_dptr(d->block_valid)};
    if (!b.kept_count)
        b.kept_rows = 0;
    GPU_OP_ARGS(attention_forward);
    if (d->dtype != VOX_F32 && !g->force_scalar && attention_forward_mma(g, d, &b, a, &st))
        return st;
    int kt = 32;
    size_t smem = (size_t)(16 * d->head_dim + 32 * (d->head_dim + 1) + 32 * d->head_dim + 16 * 32) * 4;
    if (smem > (size_t)g->max_smem) {
        kt = 16;
        smem = (size_t)(16 * d->head_dim + 16 * (d->head_dim + 1) + 16 * d->head_dim + 16 * 16) * 4;
    }
    int fn = kt == 32 ? by_dtype(d->dtype, GPU_FN_attention_forward_f32_k32, GPU_FN_attention_forward_f16_k32,
                                 GPU_FN_attention_forward_bf16_k32)
                      : by_dtype(d->dtype, GPU_FN_attention_forward_f32_k16, GPU_FN_attention_forward_f16_k16,
                                 GPU_FN_attention_forward_bf16_k16);
    a.tiles = (a.V + 15) / 16;
    a.total = a.BH * a.NB * a.tiles;
    return gpu_launch_op(g, VOX_OP_attention_forward, fn, a.total, 128, 1, smem, &b, &a);
}

/* attention_backward, tensor cores (f16/bf16, mma.sync) where the module has
 * the kernels, V >= 64 (64-slot tiles within one block), head_dim <= 128 and
 * the shared memory fits: dQ per 64 rows, then dK/dV per 64 keys; 0 when
 * declined (kernels/attention_backward_mma.cuh). */
static int attention_backward_mma(gpu_dev *g, const vox_op_dims *d, const vox_attention_backward_bufs *b,
                                  vox_attention_backward_args a, vox_status *st)
{
    int dp = a.D <= 64 ? 64 : 128;
    int bf = d->dtype == VOX_BF16;
    int fq = dp == 64 ? (bf ? GPU_FN_attention_backward_dq_mma_bf16_d64 : GPU_FN_attention_backward_dq_mma_f16_d64)
                      : (bf ? GPU_FN_attention_backward_dq_mma_bf16_d128 : GPU_FN_attention_backward_dq_mma_f16_d128);
    int fk = dp == 64
                 ? (bf ? GPU_FN_attention_backward_dkdv_mma_bf16_d64 : GPU_FN_attention_backward_dkdv_mma_f16_d64)
                 : (bf ? GPU_FN_attention_backward_dkdv_mma_bf16_d128 : GPU_FN_attention_backward_dkdv_mma_f16_d128);
    size_t tiles = (size_t)6 * 64 * dp * 2; /* u16 tiles: Q, dO, 2 x (K, V) / K, V, 2 x (Q, dO) */
    size_t smem_q = tiles + (64 * 3 + 6) * 4, smem_kv = tiles + 9 * 64 * 4;
    int room = g->api->set_max_smem ? g->max_smem_optin : g->max_smem;
    if (d->dtype == VOX_F32 || a.V < 64 || a.D > 128 || !g->fn[fq] || !g->fn[fk] || smem_kv > (size_t)room)
        return 0;
    a.tiles = a.V / 64;
    a.total = a.BH * a.NB * a.tiles;
    *st = gpu_launch_op(g, VOX_OP_attention_backward, fq, a.total, 128, 1, smem_q, b, &a);
    if (!*st)
        *st = gpu_launch_op(g, VOX_OP_attention_backward, fk, a.total, 128, 1, smem_kv, b, &a);
    return 1;
}

/* The preprocess (dO_eff over dout, delta into the LSE work half), then the
 * vendor path (gpu_api.attention_backward), tensor cores or the portable
 * kernels (16 rows / keys per block, tiles of 32 in shared memory, 16 where
 * that does not fit); VOXATTN_GPU_SCALAR=1 forces the portable kernels. Every
 * kernel writes its outputs once: deterministic. */
vox_status gpu_attention_backward(void *dev, const vox_op_dims *d, const vox_op_attention_backward *p)
{
    gpu_dev *g = dev;
    vox_attention_backward_bufs b = {.q = gpu_dptr(p->q), .k = gpu_dptr(p->k), .v = gpu_dptr(p->v),
                                     .o = gpu_dptr(p->o), .dout = gpu_dptr(p->dout), .lse = gpu_dptr(p->lse),
                                     .dq = gpu_dptr(p->dq), .dk = gpu_dptr(p->dk), .dv = gpu_dptr(p->dv),
                                     .mask = gpu_dptr(p->mask), .fill_src = gpu_dptr(p->fill_src),
                                     .valid = gpu_dptr(d->block_valid)};
    GPU_OP_ARGS(attention_backward);
    vox_status st = gpu_launch_op(g, VOX_OP_attention_backward, BY_DTYPE(attention_backward_prep), a.BH * a.NB, 128,
                                  1, 0, &b, &a);
    if (st || (!g->force_scalar && g->api->attention_backward && g->api->attention_backward(g, d, p, &st)) ||
        (!g->force_scalar && attention_backward_mma(g, d, &b, a, &st)))
        return st;
    int tt = 32;
    size_t smem = (size_t)2 * 32 * d->head_dim * 4;
    if (smem + 1024 > (size_t)g->max_smem) /* room for the kernels' static shared memory */
        tt = 16, smem = (size_t)2 * 16 * d->head_dim * 4;
    int fq = tt == 32 ? by_dtype(d->dtype, GPU_FN_attention_backward_dq_f32_k32, GPU_FN_attention_backward_dq_f16_k32,
                                 GPU_FN_attention_backward_dq_bf16_k32)
                      : by_dtype(d->dtype, GPU_FN_attention_backward_dq_f32_k16, GPU_FN_attention_backward_dq_f16_k16,
                                 GPU_FN_attention_backward_dq_bf16_k16);
    int fk = tt == 32 ? by_dtype(d->dtype, GPU_FN_attention_backward_dkdv_f32_k32,
                                 GPU_FN_attention_backward_dkdv_f16_k32, GPU_FN_attention_backward_dkdv_bf16_k32)
                      : by_dtype(d->dtype, GPU_FN_attention_backward_dkdv_f32_k16,
                                 GPU_FN_attention_backward_dkdv_f16_k16, GPU_FN_attention_backward_dkdv_bf16_k16);
    a.tiles = (a.V + 15) / 16;
    a.total = a.BH * a.NB * a.tiles;
    st = gpu_launch_op(g, VOX_OP_attention_backward, fq, a.total, 128, 1, smem, &b, &a);
    if (!st)
        st = gpu_launch_op(g, VOX_OP_attention_backward, fk, a.total, 128, 1, smem, &b, &a);
    return st;
}

/* Four rows per block of (32, 4) threads, a warp per row
 * (kernels/attention_merge.cuh). */
vox_status gpu_attention_merge(void *dev, const vox_op_dims *d, const vox_op_attention_merge *p)
{
    gpu_dev *g = dev;
    vox_attention_merge_bufs b = {.acc = gpu_dptr(p->acc.ref), .acc_lse = gpu_dptr(p->acc_lse.ref),
                                  .part = gpu_dptr(p->part.ref), .part_lse = gpu_dptr(p->part_lse.ref)};
    GPU_OP_ARGS(attention_merge);
    return gpu_launch_op(g, VOX_OP_attention_merge, BY_DTYPE(attention_merge), gpu_cap_grid(g, (a.rows + 3) / 4, 32),
                         32, 4, 0, &b, &a);
}

/* Two launches of kernels/mask_transpose.cuh, 256 threads per (head, tile of
 * 256 KV blocks), grid-stride: counts, then starts and lists. */
vox_status gpu_mask_transpose(void *dev, const vox_op_dims *d, const vox_op_mask_transpose *p)
{
    gpu_dev *g = dev;
    vox_mask_transpose_bufs b = {.kv_start = gpu_dptr(p->kv_start), .kv_count = gpu_dptr(p->kv_count),
                                 .kv_cols = gpu_dptr(p->kv_cols), .mask = gpu_dptr(p->mask)};
    GPU_OP_ARGS(mask_transpose);
    int64_t grid = gpu_cap_grid(g, a.BH * ((a.NB + 255) / 256), 8);
    vox_status st = gpu_launch_op(g, VOX_OP_mask_transpose, GPU_FN_mask_transpose, grid, 256, 1, 0, &b, &a);
    a.pass = 1;
    return st ? st : gpu_launch_op(g, VOX_OP_mask_transpose, GPU_FN_mask_transpose, grid, 256, 1, 0, &b, &a);
}
