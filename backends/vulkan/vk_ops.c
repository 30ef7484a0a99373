/* Vulkan ops (core/backend.h semantics): one launcher per op, named after it.
 * Each fills its op's kernel arguments with vox_<op>_args_init()
 * (core/kernel_args.c), sets the launch-specific ones, binds its buffers by
 * name (vk_<op>_binds, in the order of VOX_<OP>_BUFS) and records one compute
 * dispatch of a variant of shaders/<op>.comp (variants: meson.build).
 * Every index the shaders compute must fit 32 bits (check_u32). */
#include <stdio.h>
#include <string.h>

#include "vk_internal.h"

static const char *dtname(vox_dtype t) { return t == VOX_F32 ? "f32" : t == VOX_F16 ? "f16" : "bf16"; }

static const vox_bref none = {NULL, 0};

/* bytes = 0: from the offset to the end of the buffer */
static vk_bind bind(vox_bref r, size_t bytes, size_t es)
{
    vk_bind b = {r.buf, r.offset, bytes, (unsigned)es, 0};
    if (r.buf && !bytes) {
        b.bytes = ((const vk_buf *)r.buf)->size - r.offset;
        b.open_end = 1;
    }
    return b;
}

/* Bytes a caller tensor spans (core-validated, so no overflow). */
static size_t strided_bytes(const vox_op_dims *d, const vox_strided *s, int64_t D, size_t es)
{
    int64_t span = (d->batch - 1) * s->stride_batch + (d->heads - 1) * s->stride_head +
                   (d->tokens - 1) * s->stride_token + D;
    return (size_t)span * es;
}

static vox_status check_dtype(vk_dev *v, vox_dtype dt, const char *op)
{
    if (dt != VOX_F32 && !v->has16)
        return vox_fail(v->log, VOX_ERR_UNSUPPORTED, "vulkan: %s: %s needs storageBuffer16BitAccess", op,
                        dtname(dt));
    return VOX_OK;
}

static vox_status check_u32_list(vk_dev *v, const char *op, const int64_t *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (x[i] < 0 || x[i] > (int64_t)UINT32_MAX)
            return vox_fail(v->log, VOX_ERR_UNSUPPORTED, "vulkan: %s: index range %lld exceeds 32 bits", op,
                            (long long)x[i]);
    return VOX_OK;
}
/* check_u32(v, op, x, ...): every x fits 32 bits, checked in order. */
#define check_u32(v, op, ...) \
    check_u32_list((v), (op), (const int64_t[]){__VA_ARGS__}, sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))

/* The dtype is storable and the [BH][S][D] block-layout tensors index in 32 bits. */
static vox_status check_blocks(vk_dev *v, const vox_op_dims *d, const char *op)
{
    vox_status st = check_dtype(v, d->dtype, op);
    if (!st)
        st = check_u32(v, op, d->batch * d->heads * d->n_blocks * d->block_volume * d->head_dim);
    return st;
}

/* "<op>_<dtype>" */
static const char *pipe_name(char *buf, size_t n, const char *op, vox_dtype t)
{
    snprintf(buf, n, "%s_%s", op, dtname(t));
    return buf;
}

/* The start of each launcher below: the device v, the element size es and
 * the kernel arguments a of `op` from the entry's parameters dev, d and p. */
#define VK_OP_ARGS(op)                     \
    vk_dev *v = dev;                       \
    size_t es = vox_dtype_size(d->dtype);  \
    vox_##op##_args a;                     \
    vox_##op##_args_init(&a, d, p)

vox_status vk_permute_to(void *dev, const vox_op_dims *d, const vox_op_permute_to *p)
{
    VK_OP_ARGS(permute_to); /* copy word = element (W32 / W16) */
    int64_t total = a.BH * a.slots * a.row;
    vox_status st = check_dtype(v, d->dtype, "permute_to");
    if (!st) st = check_u32(v, "permute_to", total + 256, a.sb, a.sh, a.st);
    if (st)
        return st;
    vk_permute_to_binds b = {.src = bind(p->src.ref, strided_bytes(d, &p->src, a.row, es), es),
                             .dst = bind(p->dst, (size_t)total * es, es),
                             .slot_token = bind(p->slot_token, (size_t)a.slots * 4, 4)};
    return VK_DISPATCH(v, permute_to, es == 4 ? "permute_to_w32" : "permute_to_w16", b, a,
                       (uint64_t)(total + 255) / 256);
}

vox_status vk_permute_from(void *dev, const vox_op_dims *d, const vox_op_permute_from *p)
{
    VK_OP_ARGS(permute_from);
    int64_t blocks = a.BH * a.slots * a.row, total = a.BH * a.N * a.row;
    vox_status st = check_dtype(v, d->dtype, "permute_from");
    /* without LSE buffers the LSE strides are 0 (vox_permute_from_args_init) */
    if (!st) st = check_u32(v, "permute_from", total + 256, blocks, a.sb, a.sh, a.st, a.lsb, a.lsh, a.lst);
    if (st)
        return st;
    vk_permute_from_binds b = {
        .src = bind(p->src, (size_t)blocks * es, es),
        .lse_src = bind(a.has_lse ? p->lse_src : none, (size_t)(a.BH * a.slots) * 4, 4),
        .dst = bind(p->dst.ref, strided_bytes(d, &p->dst, a.row, es), es),
        .lse_dst = bind(a.has_lse ? p->lse_dst.ref : none, a.has_lse ? strided_bytes(d, &p->lse_dst, 1, 4) : 4, 4),
        .token_slot = bind(p->token_slot, (size_t)a.N * 4, 4),
        .fill_src = bind(p->fill_src, (size_t)(a.BH * a.slots) * 4, 4)};
    return VK_DISPATCH(v, permute_from, es == 4 ? "permute_from_w32" : "permute_from_w16", b, a,
                       (uint64_t)(total + 255) / 256);
}

vox_status vk_block_means(void *dev, const vox_op_dims *d, const vox_op_block_means *p)
{
    VK_OP_ARGS(block_means);
    int64_t BH = a.BH, NB = a.NB, V = a.V, D = a.D;
    size_t x_bytes = strided_bytes(d, &p->x, D, es); /* the caller's tensor, read through slot_token */
    vox_status st = check_dtype(v, d->dtype, "block_means");
    if (!st) st = check_u32(v, "block_means", (int64_t)(x_bytes / es), BH * NB * D, a.sb, a.sh, a.st);
    if (st)
        return st;
    vk_block_means_binds b = {.x = bind(p->x.ref, x_bytes, es),
                              .slot_token = bind(p->slot_token, (size_t)(NB * V) * 4, 4),
                              .kept_count = bind(a.has_kept ? p->kept_count : none, (size_t)(BH * NB) * 4, 4),
                              .kept_rows = bind(a.has_kept ? p->kept_rows : none, (size_t)(BH * NB * V) * 4, 4),
                              .valid = bind(d->block_valid, (size_t)NB * 4, 4),
                              .out = bind(p->out, (size_t)(BH * NB * D) * 4, 4)};
    char name[48];
    return VK_DISPATCH(v, block_means, pipe_name(name, sizeof name, "block_means", d->dtype), b, a,
                       (uint64_t)(BH * NB));
}

/* kv_select's work space: `bytes` of d->scratch (grown as needed; the work
 * recorded so far, which may use the old one, runs first). */
static vox_status kv_scratch(vk_dev *v, size_t bytes)
{
    if (v->scratch.buf && v->scratch.size >= bytes)
        return VOX_OK;
    vox_status st = v->recording ? vk_flush(v) : VOX_OK;
    if (st)
        return st;
    vk_buffer_destroy(v, &v->scratch);
    return vk_buffer_create(v, bytes, 0, &v->scratch);
}

/* Workgroups of kv_select (grid-stride over the rows), each with 2*NBv words
 * of scratch for its row's scores and their exponents: at most 4096 and
 * 64 MiB of scratch. */
#define KV_MAX_GROUPS 4096
#define KV_SCRATCH_MAX ((int64_t)64 << 20)

vox_status vk_kv_select(void *dev, const vox_op_dims *d, const vox_op_kv_select *p)
{
    vk_dev *v = dev;
    vox_kv_select_args a;
    vox_kv_select_args_init(&a, d, p);
    int64_t BH = a.BH, NB = a.NB, D = a.D, rows = BH * NB;
    a.per_block = a.NBv > 0 ? 2 * a.NBv : 1;
    int64_t groups = KV_SCRATCH_MAX / (4 * a.per_block);
    groups = groups < 1 ? 1 : groups > KV_MAX_GROUPS ? KV_MAX_GROUPS : groups;
    groups = groups < rows ? groups : rows;
    vox_status st = check_u32(v, "kv_select", rows * D, groups * a.per_block);
    if (!st) st = kv_scratch(v, (size_t)(groups * a.per_block) * 4);
    if (st)
        return st;
    vk_kv_select_binds b = {.qbar = bind(p->qbar, (size_t)(rows * D) * 4, 4),
                            .kbar = bind(p->kbar, (size_t)(rows * D) * 4, 4),
                            .kv_start = bind(p->kv_start, (size_t)rows * 4, 4),
                            .kv_count = bind(p->kv_count, (size_t)rows * 4, 4),
                            .kv_cols = bind(p->kv_cols, 0, 4),
                            .scratch = {&v->scratch, 0, (size_t)(groups * a.per_block) * 4, 4, 0}};
    return VK_DISPATCH(v, kv_select, "kv_select", b, a, (uint64_t)groups);
}

vox_status vk_sample_rows(void *dev, const vox_op_dims *d, const vox_op_sample_rows *p)
{
    VK_OP_ARGS(sample_rows);
    vox_status st = check_blocks(v, d, "sample_rows");
    if (st)
        return st;
    int64_t BH = a.BH, NB = a.NB, R = a.R;
    if (R <= 0)
        return VOX_OK;
    size_t qkv = (size_t)(BH * NB * a.V * a.D) * es;
    vk_sample_rows_binds b = {.q = bind(p->q, qkv, es),
                              .k = bind(p->k, qkv, es),
                              .v = bind(p->v, qkv, es),
                              .rows = bind(p->rows, (size_t)R * 4, 4),
                              .block_coord = bind(p->block_coord, (size_t)NB * 12, 4),
                              .valid = bind(d->block_valid, (size_t)NB * 4, 4),
                              .out = bind(p->out, (size_t)(BH * R * 3) * 4, 4)};
    char name[48];
    return VK_DISPATCH(v, sample_rows, pipe_name(name, sizeof name, "sample_rows", d->dtype), b, a,
                       (uint64_t)(BH * R));
}

vox_status vk_query_select(void *dev, const vox_op_dims *d, const vox_op_query_select *p)
{
    VK_OP_ARGS(query_select);
    vox_status st = check_blocks(v, d, "query_select");
    if (st)
        return st;
    int64_t BH = a.BH, NB = a.NB, V = a.V, S = NB * V;
    vk_query_select_binds b = {.q = bind(p->q, (size_t)(BH * S * a.D) * es, es),
                               .win_ptr = bind(p->win_ptr, (size_t)(a.NBv + 1) * 4, 4),
                               .windows = bind(p->windows, 0, 4),
                               .valid = bind(d->block_valid, (size_t)NB * 4, 4),
                               .kept_count = bind(p->kept_count, (size_t)(BH * NB) * 4, 4),
                               .kept_rows = bind(p->kept_rows, (size_t)(BH * NB * V) * 4, 4),
                               .fill_src = bind(p->fill_src, (size_t)(BH * S) * 4, 4)};
    char name[48];
    return VK_DISPATCH(v, query_select, pipe_name(name, sizeof name, "query_select", d->dtype), b, a,
                       (uint64_t)(BH * NB));
}

/* One workgroup per head (shaders/svg_classify.comp): sums in double where
 * the device has shaderFloat64, else in float. */
vox_status vk_svg_classify(void *dev, const vox_op_dims *d, const vox_op_svg_classify *p)
{
    vk_dev *v = dev;
    vox_svg_classify_args a;
    vox_svg_classify_args_init(&a, d, p);
    int64_t BH = a.BH, NB = a.NB, R = a.R;
    vox_status st = check_u32(v, "svg_classify", BH * R * 3, BH * NB);
    if (st)
        return st;
    vk_svg_classify_binds b = {.sample_out = bind(p->sample_out, (size_t)(BH * R * 3) * 4, 4),
                               .pattern_start = bind(p->pattern_start, (size_t)(2 * NB) * 4, 4),
                               .pattern_count = bind(p->pattern_count, (size_t)(2 * NB) * 4, 4),
                               .kv_start = bind(p->kv_start, (size_t)(BH * NB) * 4, 4),
                               .kv_count = bind(p->kv_count, (size_t)(BH * NB) * 4, 4),
                               .classes = bind(p->classes, (size_t)BH * 4, 4),
                               .errors = bind(p->errors, (size_t)(2 * BH) * 4, 4)};
    return VK_DISPATCH(v, svg_classify, v->fp64 ? "svg_classify_f64" : "svg_classify_f32", b, a, (uint64_t)BH);
}

/* Two passes of shaders/mask_transpose.comp, one workgroup of 128 per (head,
 * tile of 128 KV blocks): counts, then starts and lists. */
vox_status vk_mask_transpose(void *dev, const vox_op_dims *d, const vox_op_mask_transpose *p)
{
    vk_dev *v = dev;
    vox_mask_transpose_args a;
    vox_mask_transpose_args_init(&a, d, p);
    int64_t R = a.BH * a.NB, total = a.t0 + a.BH * a.head_room, groups = a.BH * ((a.NB + 127) / 128);
    vox_status st = check_u32(v, "mask_transpose", total, groups);
    if (st)
        return st;
    vk_mask_transpose_binds b = {.kv_start = bind(p->kv_start, (size_t)R * 4, 4),
                                 .kv_count = bind(p->kv_count, (size_t)R * 4, 4),
                                 .kv_cols = bind(p->kv_cols, 0, 4),
                                 .mask = bind(p->mask, (size_t)total * 4, 4)};
    st = VK_DISPATCH(v, mask_transpose, "mask_transpose", b, a, (uint64_t)groups);
    a.pass = 1;
    return st ? st : VK_DISPATCH(v, mask_transpose, "mask_transpose", b, a, (uint64_t)groups);
}

vox_status vk_attention_forward(void *dev, const vox_op_dims *d, const vox_op_attention_forward *p)
{
    VK_OP_ARGS(attention_forward);
    vox_status st = check_blocks(v, d, "attention_forward");
    if (st)
        return st;
    int64_t BH = a.BH, NB = a.NB, V = a.V, S = NB * V, D = a.D;
    /* matrix units (attention_forward_cm.comp, 64 query rows per workgroup)
     * for f16/bf16 with D <= 128 where the device has them; else the scalar
     * shader, whose query rows per workgroup depend on the head_dim bound
     * (see meson.build) */
    int cm = v->coopmat && d->dtype != VOX_F32 && D <= 128;
    int dmax = D <= 64 ? 64 : D <= 128 ? 128 : 256;
    int bq = cm ? 64 : dmax == 64 ? 32 : dmax == 128 ? 16 : 8;
    a.tiles = (int32_t)((V + bq - 1) / bq);
    a.total = BH * NB * a.tiles;
    size_t qkv = (size_t)(BH * S * D) * es;
    vk_attention_forward_binds b = {.q = bind(p->q, qkv, es),
                                    .k = bind(p->k, qkv, es),
                                    .v = bind(p->v, qkv, es),
                                    .o = bind(p->o, qkv, es),
                                    .lse = bind(p->lse, (size_t)(BH * S) * 4, 4),
                                    .kv_start = bind(p->kv_start, (size_t)(BH * NB) * 4, 4),
                                    .kv_count = bind(p->kv_count, (size_t)(BH * NB) * 4, 4),
                                    .kv_cols = bind(p->kv_cols, 0, 4),
                                    .kept_count = bind(a.has_kept ? p->kept_count : none, (size_t)(BH * NB) * 4, 4),
                                    .kept_rows = bind(a.has_kept ? p->kept_rows : none, (size_t)(BH * NB * V) * 4, 4),
                                    .valid = bind(d->block_valid, (size_t)NB * 4, 4)};
    char name[64];
    snprintf(name, sizeof name, "attention_forward%s_%s_d%d", cm ? "_cm" : "", dtname(d->dtype), dmax);
    return VK_DISPATCH(v, attention_forward, name, b, a, (uint64_t)a.total);
}

/* attention_backward's tiles per head_dim bound, as meson.build builds the
 * shaders: rows per dQ workgroup and keys per dK/dV workgroup, in two sets by
 * the shared memory the passes declare: within 48 KiB, and within 32 KiB
 * (variants _smem32) for devices with less. */
typedef struct bwd_tile {
    int dmax, dq_rows, dkdv_keys;
} bwd_tile;
static const bwd_tile bwd_tiles[2][3] = {{{64, 32, 64}, {128, 16, 32}, {256, 8, 16}},
                                         {{64, 32, 32}, {128, 16, 16}, {256, 8, 8}}};
#define BWD_DMAX 256
#define BWD_VMAX 256 /* the prep pass's per-block lists (shaders/attention_backward_prep.comp) */
#define BWD_SMEM_LARGE 49152u
#define BWD_SMEM_SMALL 32768u

/* Limits of the ops beyond the launchers' own checks: attention_backward's
 * storage type, tile bounds, 32-bit indices and shared memory. */
vox_status vk_supports(void *dev, const vox_op_dims *d, vox_op op, char *reason, size_t reason_size)
{
    const vk_dev *v = dev;
    if (op != VOX_OP_attention_backward)
        return VOX_OK;
    int64_t rows = d->batch * d->heads * d->n_blocks * d->block_volume;
    if (d->dtype != VOX_F32 && !v->has16)
        snprintf(reason, reason_size, "%s needs storageBuffer16BitAccess", dtname(d->dtype));
    else if (d->head_dim > BWD_DMAX)
        snprintf(reason, reason_size, "head_dim %lld above %d (the shaders' tiles)", (long long)d->head_dim, BWD_DMAX);
    else if (d->block_volume > BWD_VMAX)
        snprintf(reason, reason_size, "block volume %lld above %d", (long long)d->block_volume, BWD_VMAX);
    else if (rows * d->head_dim > (int64_t)UINT32_MAX || 2 * rows > (int64_t)UINT32_MAX)
        snprintf(reason, reason_size, "%lld block-layout rows of %lld: indices exceed 32 bits", (long long)rows,
                 (long long)d->head_dim);
    else if (v->limits.maxComputeSharedMemorySize < BWD_SMEM_SMALL)
        snprintf(reason, reason_size, "needs %u bytes of shared memory, the device has %u (maxComputeSharedMemorySize)",
                 BWD_SMEM_SMALL, v->limits.maxComputeSharedMemorySize);
    else
        return VOX_OK;
    return VOX_ERR_UNSUPPORTED;
}

/* Three passes over the same bindings (shaders/attention_backward.glsl): prep
 * (dO_eff into dout, delta into the LSE's work half), then dQ per tile of
 * query rows and dK/dV per tile of keys, which both read prep's output. */
vox_status vk_attention_backward(void *dev, const vox_op_dims *d, const vox_op_attention_backward *p)
{
    VK_OP_ARGS(attention_backward);
    int64_t BH = a.BH, NB = a.NB, V = a.V, S = NB * V, D = a.D;
    vox_status st = check_blocks(v, d, "attention_backward");
    if (!st) st = check_u32(v, "attention_backward", 2 * BH * S);
    if (st)
        return st;
    int small = v->limits.maxComputeSharedMemorySize < BWD_SMEM_LARGE;
    const bwd_tile *t = &bwd_tiles[small][D <= 64 ? 0 : D <= 128 ? 1 : 2];
    const char *set = small ? "_smem32" : "";
    size_t qkv = (size_t)(BH * S * D) * es;
    vk_attention_backward_binds b = {.q = bind(p->q, qkv, es),
                                     .k = bind(p->k, qkv, es),
                                     .v = bind(p->v, qkv, es),
                                     .o = bind(p->o, qkv, es),
                                     .dout = bind(p->dout, qkv, es),
                                     .lse = bind(p->lse, (size_t)(2 * BH * S) * 4, 4),
                                     .dq = bind(p->dq, qkv, es),
                                     .dk = bind(p->dk, qkv, es),
                                     .dv = bind(p->dv, qkv, es),
                                     .mask = bind(p->mask, 0, 4),
                                     .fill_src = bind(a.has_fill ? p->fill_src : none, (size_t)(BH * S) * 4, 4),
                                     .valid = bind(d->block_valid, (size_t)NB * 4, 4)};
    char name[64];
    snprintf(name, sizeof name, "attention_backward_prep_%s", dtname(d->dtype));
    st = VK_DISPATCH(v, attention_backward, name, b, a, (uint64_t)(BH * NB));
    if (st)
        return st;
    a.tiles = (int32_t)((V + t->dq_rows - 1) / t->dq_rows);
    a.total = BH * NB * a.tiles;
    snprintf(name, sizeof name, "attention_backward_dq_%s_d%d%s", dtname(d->dtype), t->dmax, set);
    st = VK_DISPATCH(v, attention_backward, name, b, a, (uint64_t)a.total);
    if (st)
        return st;
    a.tiles = (int32_t)((V + t->dkdv_keys - 1) / t->dkdv_keys);
    a.total = BH * NB * a.tiles;
    snprintf(name, sizeof name, "attention_backward_dkdv_%s_d%d%s", dtname(d->dtype), t->dmax, set);
    return VK_DISPATCH(v, attention_backward, name, b, a, (uint64_t)a.total);
}

/* One workgroup per row (head, token) of the batch entry
 * (shaders/attention_merge.comp). */
vox_status vk_attention_merge(void *dev, const vox_op_dims *d, const vox_op_attention_merge *p)
{
    VK_OP_ARGS(attention_merge);
    vox_status st = check_dtype(v, d->dtype, "attention_merge");
    if (!st) st = check_u32(v, "attention_merge", a.rows, a.ah, a.at, a.alh, a.alt, a.ph, a.pt, a.plh, a.plt);
    size_t out_bytes = strided_bytes(d, &p->acc, d->head_dim, es), part_bytes = strided_bytes(d, &p->part, d->head_dim, es);
    size_t acc_lse = strided_bytes(d, &p->acc_lse, 1, 4), part_lse = strided_bytes(d, &p->part_lse, 1, 4);
    if (!st) st = check_u32(v, "attention_merge", (int64_t)(out_bytes / es), (int64_t)(part_bytes / es),
                            (int64_t)(acc_lse / 4), (int64_t)(part_lse / 4));
    if (st)
        return st;
    vk_attention_merge_binds b = {.acc = bind(p->acc.ref, out_bytes, es),
                                  .acc_lse = bind(p->acc_lse.ref, acc_lse, 4),
                                  .part = bind(p->part.ref, part_bytes, es),
                                  .part_lse = bind(p->part_lse.ref, part_lse, 4)};
    char name[48];
    return VK_DISPATCH(v, attention_merge, pipe_name(name, sizeof name, "attention_merge", d->dtype), b, a,
                       (uint64_t)a.rows);
}
