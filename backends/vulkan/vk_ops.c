/* Vulkan ops (core/backend.h semantics): each op is one compute dispatch of a
 * shader variant from shaders/ (see backends/vulkan/meson.build). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vk_internal.h"

static size_t esize(vox_dtype t) { return t == VOX_F32 ? 4 : 2; }

static const char *dtname(vox_dtype t) { return t == VOX_F32 ? "f32" : t == VOX_F16 ? "f16" : "bf16"; }

/* bytes = 0: from the offset to the end of the buffer */
static vk_bind bind(vox_bref r, size_t bytes, unsigned es)
{
    vk_bind b = {r.buf, r.offset, bytes, es, 0};
    if (r.buf && !bytes) {
        b.bytes = ((const vk_buf *)r.buf)->size - r.offset;
        b.open_end = 1;
    }
    return b;
}

static uint32_t fbits(double x)
{
    float f = (float)x;
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
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

static vox_status check_u32(vk_dev *v, const char *op, int64_t x)
{
    if (x < 0 || x > (int64_t)UINT32_MAX)
        return vox_fail(v->log, VOX_ERR_UNSUPPORTED, "vulkan: %s: index range %lld exceeds 32 bits", op,
                        (long long)x);
    return VOX_OK;
}

vox_status vk_permute_to_blocks(void *dev, const vox_op_dims *d, const vox_op_permute_to *p)
{
    vk_dev *v = dev;
    size_t es = esize(d->dtype);
    int64_t S = d->n_blocks * d->block_volume, BH = d->batch * d->heads, D = d->head_dim;
    int64_t total = BH * S * D;
    vox_status st = check_dtype(v, d->dtype, "permute_to_blocks");
    if (!st) st = check_u32(v, "permute_to_blocks", total + 256);
    if (!st) st = check_u32(v, "permute_to_blocks", p->src.stride_batch);
    if (!st) st = check_u32(v, "permute_to_blocks", p->src.stride_head);
    if (!st) st = check_u32(v, "permute_to_blocks", p->src.stride_token);
    if (st)
        return st;
    vk_bind b[3] = {bind(p->src.ref, strided_bytes(d, &p->src, D, es), (unsigned)es),
                    bind(p->dst, (size_t)total * es, (unsigned)es), bind(p->slot_token, (size_t)S * 4, 4)};
    uint32_t prm[7] = {(uint32_t)D, (uint32_t)S, (uint32_t)d->heads, (uint32_t)p->src.stride_batch,
                       (uint32_t)p->src.stride_head, (uint32_t)p->src.stride_token, (uint32_t)BH};
    return vk_dispatch(v, es == 4 ? "permute_to_w32" : "permute_to_w16", b, 3, prm, 7,
                       (uint64_t)(total + 255) / 256);
}

vox_status vk_permute_from_blocks(void *dev, const vox_op_dims *d, const vox_op_permute_from *p)
{
    vk_dev *v = dev;
    size_t es = esize(d->dtype);
    int64_t S = d->n_blocks * d->block_volume, BH = d->batch * d->heads, D = d->head_dim, N = d->tokens;
    int64_t total = BH * N * D;
    int has_lse = p->lse_src.buf && p->lse_dst.ref.buf;
    vox_status st = check_dtype(v, d->dtype, "permute_from_blocks");
    if (!st) st = check_u32(v, "permute_from_blocks", total + 256);
    if (!st) st = check_u32(v, "permute_from_blocks", BH * S * D);
    if (!st) st = check_u32(v, "permute_from_blocks", p->dst.stride_batch);
    if (!st) st = check_u32(v, "permute_from_blocks", p->dst.stride_head);
    if (!st) st = check_u32(v, "permute_from_blocks", p->dst.stride_token);
    if (!st && has_lse) st = check_u32(v, "permute_from_blocks", p->lse_dst.stride_batch);
    if (!st && has_lse) st = check_u32(v, "permute_from_blocks", p->lse_dst.stride_head);
    if (!st && has_lse) st = check_u32(v, "permute_from_blocks", p->lse_dst.stride_token);
    if (st)
        return st;
    vox_bref none = {NULL, 0};
    vk_bind b[6] = {bind(p->src, (size_t)(BH * S * D) * es, (unsigned)es),
                    bind(has_lse ? p->lse_src : none, (size_t)(BH * S) * 4, 4),
                    bind(p->dst.ref, strided_bytes(d, &p->dst, D, es), (unsigned)es),
                    bind(has_lse ? p->lse_dst.ref : none, has_lse ? strided_bytes(d, &p->lse_dst, 1, 4) : 4, 4),
                    bind(p->token_slot, (size_t)N * 4, 4),
                    bind(p->fill_src, (size_t)(BH * S) * 4, 4)};
    uint32_t prm[13] = {(uint32_t)D,
                        (uint32_t)S,
                        (uint32_t)N,
                        (uint32_t)d->heads,
                        (uint32_t)p->dst.stride_batch,
                        (uint32_t)p->dst.stride_head,
                        (uint32_t)p->dst.stride_token,
                        has_lse ? (uint32_t)p->lse_dst.stride_batch : 0,
                        has_lse ? (uint32_t)p->lse_dst.stride_head : 0,
                        has_lse ? (uint32_t)p->lse_dst.stride_token : 0,
                        p->fill_src.buf ? 1u : 0u,
                        (uint32_t)has_lse,
                        (uint32_t)BH};
    return vk_dispatch(v, es == 4 ? "permute_from_w32" : "permute_from_w16", b, 6, prm, 13,
                       (uint64_t)(total + 255) / 256);
}

vox_status vk_block_means(void *dev, const vox_op_dims *d, const vox_op_block_means *p)
{
    vk_dev *v = dev;
    size_t es = esize(d->dtype);
    int64_t NB = d->n_blocks, V = d->block_volume, S = NB * V, BH = d->batch * d->heads, D = d->head_dim;
    vox_status st = check_dtype(v, d->dtype, "block_means");
    if (!st) st = check_u32(v, "block_means", BH * S * D);
    if (st)
        return st;
    int kept = p->kept_count.buf != NULL;
    vox_bref none = {NULL, 0};
    vk_bind b[5] = {bind(p->x, (size_t)(BH * S * D) * es, (unsigned)es),
                    bind(kept ? p->kept_count : none, (size_t)(BH * NB) * 4, 4),
                    bind(kept ? p->kept_rows : none, (size_t)(BH * NB * V) * 4, 4),
                    bind(p->out, (size_t)(BH * NB * D) * 4, 4), bind(d->block_valid, (size_t)NB * 4, 4)};
    uint32_t prm[4] = {(uint32_t)D, (uint32_t)NB, (uint32_t)V, (uint32_t)kept};
    char name[48];
    snprintf(name, sizeof name, "block_means_%s", dtname(d->dtype));
    return vk_dispatch(v, name, b, 5, prm, 4, (uint64_t)(BH * NB));
}

vox_status vk_kv_select(void *dev, const vox_op_dims *d, const vox_op_kv_select *p)
{
    vk_dev *v = dev;
    int64_t NB = d->n_blocks, BH = d->batch * d->heads, D = d->head_dim;
    vox_status st = check_u32(v, "kv_select", BH * NB * NB);
    if (st)
        return st;
    vk_bind b[4] = {bind(p->qbar, (size_t)(BH * NB * D) * 4, 4), bind(p->kbar, (size_t)(BH * NB * D) * 4, 4),
                    bind(p->kv_count, (size_t)(BH * NB) * 4, 4), bind(p->kv_cols, (size_t)(BH * NB * NB) * 4, 4)};
    uint32_t rule = p->rule == VOX_KV_CUMULATIVE ? 0u : p->rule == VOX_KV_TOPK ? 1u : 2u;
    uint32_t prm[9] = {(uint32_t)D,
                       (uint32_t)NB,
                       (uint32_t)d->n_video_blocks,
                       rule,
                       p->topk > 0 ? (uint32_t)p->topk : 0u,
                       p->min_blocks > 0 ? (uint32_t)p->min_blocks : 0u,
                       fbits(p->scale),
                       fbits(p->tau),
                       fbits(p->z)};
    return vk_dispatch(v, "kv_select", b, 4, prm, 9, (uint64_t)(BH * NB));
}

vox_status vk_sample_rows_attention(void *dev, const vox_op_dims *d, const vox_op_sample_rows *p)
{
    vk_dev *v = dev;
    size_t es = esize(d->dtype);
    int64_t NB = d->n_blocks, V = d->block_volume, S = NB * V, BH = d->batch * d->heads, D = d->head_dim;
    int64_t R = p->n_rows;
    vox_status st = check_dtype(v, d->dtype, "sample_rows_attention");
    if (!st) st = check_u32(v, "sample_rows_attention", BH * S * D);
    if (st)
        return st;
    if (R <= 0)
        return VOX_OK;
    size_t qkv = (size_t)(BH * S * D) * es;
    vk_bind b[7] = {bind(p->q, qkv, (unsigned)es),
                    bind(p->k, qkv, (unsigned)es),
                    bind(p->v, qkv, (unsigned)es),
                    bind(p->rows, (size_t)R * 4, 4),
                    bind(p->block_coord, (size_t)NB * 12, 4),
                    bind(p->out, (size_t)(BH * R * 3) * 4, 4),
                    bind(d->block_valid, (size_t)NB * 4, 4)};
    uint32_t prm[8] = {(uint32_t)D,
                       (uint32_t)NB,
                       (uint32_t)V,
                       (uint32_t)R,
                       p->frame_blocks > 0 ? (uint32_t)p->frame_blocks : 0u,
                       p->space_blocks > 0 ? (uint32_t)p->space_blocks : 0u,
                       p->sink ? 1u : 0u,
                       fbits(p->scale)};
    char name[48];
    snprintf(name, sizeof name, "sample_rows_%s", dtname(d->dtype));
    return vk_dispatch(v, name, b, 7, prm, 8, (uint64_t)(BH * R));
}

vox_status vk_query_select(void *dev, const vox_op_dims *d, const vox_op_query_select *p)
{
    vk_dev *v = dev;
    size_t es = esize(d->dtype);
    int64_t NB = d->n_blocks, V = d->block_volume, S = NB * V, BH = d->batch * d->heads, D = d->head_dim;
    vox_status st = check_dtype(v, d->dtype, "query_select");
    if (!st) st = check_u32(v, "query_select", BH * S * D);
    if (st)
        return st;
    vk_bind b[7] = {bind(p->q, (size_t)(BH * S * D) * es, (unsigned)es),
                    bind(p->win_ptr, (size_t)(d->n_video_blocks + 1) * 4, 4),
                    bind(p->windows, 0, 4),
                    bind(p->kept_count, (size_t)(BH * NB) * 4, 4),
                    bind(p->kept_rows, (size_t)(BH * NB * V) * 4, 4),
                    bind(p->fill_src, (size_t)(BH * S) * 4, 4),
                    bind(d->block_valid, (size_t)NB * 4, 4)};
    uint32_t prm[4] = {(uint32_t)D, (uint32_t)NB, (uint32_t)d->n_video_blocks, (uint32_t)V};
    char name[48];
    snprintf(name, sizeof name, "query_select_%s", dtname(d->dtype));
    return vk_dispatch(v, name, b, 7, prm, 4, (uint64_t)(BH * NB));
}

vox_status vk_attention_forward(void *dev, const vox_op_dims *d, const vox_op_attention_forward *p)
{
    vk_dev *v = dev;
    size_t es = esize(d->dtype);
    int64_t NB = d->n_blocks, V = d->block_volume, S = NB * V, BH = d->batch * d->heads, D = d->head_dim;
    vox_status st = check_dtype(v, d->dtype, "attention_forward");
    if (!st) st = check_u32(v, "attention_forward", BH * S * D);
    if (st)
        return st;
    /* matrix units (attention_cm.comp, 64 query rows per workgroup) for f16/bf16
     * with D <= 128 where the device has them; else the scalar shader, whose
     * query rows per workgroup depend on the head_dim bound (see meson.build) */
    int cm = v->coopmat && d->dtype != VOX_F32 && D <= 128;
    int dmax = D <= 64 ? 64 : D <= 128 ? 128 : 256;
    int bq = cm ? 64 : dmax == 64 ? 32 : dmax == 128 ? 16 : 8;
    int64_t tiles = (V + bq - 1) / bq;
    int kept = p->kept_count.buf != NULL;
    vox_bref none = {NULL, 0};
    size_t qkv = (size_t)(BH * S * D) * es;
    vk_bind b[11] = {bind(p->q, qkv, (unsigned)es),
                     bind(p->k, qkv, (unsigned)es),
                     bind(p->v, qkv, (unsigned)es),
                     bind(p->o, qkv, (unsigned)es),
                     bind(p->lse, (size_t)(BH * S) * 4, 4),
                     bind(p->kv_start, (size_t)(BH * NB) * 4, 4),
                     bind(p->kv_count, (size_t)(BH * NB) * 4, 4),
                     bind(p->kv_cols, 0, 4),
                     bind(kept ? p->kept_count : none, (size_t)(BH * NB) * 4, 4),
                     bind(kept ? p->kept_rows : none, (size_t)(BH * NB * V) * 4, 4),
                     bind(d->block_valid, (size_t)NB * 4, 4)};
    uint32_t prm[6] = {(uint32_t)D, (uint32_t)NB, (uint32_t)V, (uint32_t)kept, fbits(p->scale), (uint32_t)tiles};
    char name[48];
    snprintf(name, sizeof name, "attention%s_%s_d%d", cm ? "_cm" : "", dtname(d->dtype), dmax);
    return vk_dispatch(v, name, b, 11, prm, 6, (uint64_t)(BH * NB * tiles));
}
