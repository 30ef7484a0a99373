/* The scalar kernel arguments of each op, filled once from the op's
 * description for every backend (core/kernel_args.h). Backends then set the
 * launch-specific fields (copy word, tiles, work space) themselves. */
#include "kernel_args.h"

#include <stddef.h>
#include <string.h>

#include "backend.h"

static int64_t bh_of(const vox_op_dims *d) { return d->batch * d->heads; }
static int64_t slots_of(const vox_op_dims *d) { return d->n_blocks * d->block_volume; }

/* The preamble of the ops over [BH][NB][V][D] blocks: *a zeroed, then BH, NB,
 * V and D from the dims (V and D are int32 fields in each of those ops). */
#define BLOCK_ARGS_INIT(a, d)                    \
    do {                                         \
        memset((a), 0, sizeof *(a));             \
        (a)->BH = bh_of(d);                      \
        (a)->NB = (d)->n_blocks;                 \
        (a)->V = (int32_t)(d)->block_volume;     \
        (a)->D = (int32_t)(d)->head_dim;         \
    } while (0)

/* The preamble of both permutes: heads, BH, slots, row = D and the strides
 * of the caller's tensor s (vox_strided). */
#define PERMUTE_ARGS_INIT(a, d, s)          \
    do {                                    \
        memset((a), 0, sizeof *(a));        \
        (a)->heads = (d)->heads;            \
        (a)->BH = bh_of(d);                 \
        (a)->slots = slots_of(d);           \
        (a)->row = (d)->head_dim;           \
        (a)->sb = (s).stride_batch;         \
        (a)->sh = (s).stride_head;          \
        (a)->st = (s).stride_token;         \
    } while (0)

/* How sample_rows and query_select read q (k, v): the caller's tensor x's
 * strides, or, without x, a block copy's ([BH][S][D]: slot s of bh at
 * (bh*S + s)*D). */
static void vox_rows_args_init(const vox_op_dims *d, const vox_strided *x, int32_t *heads, int64_t *sb, int64_t *sh,
                               int64_t *st)
{
    *heads = (int32_t)d->heads;
    *st = x ? x->stride_token : d->head_dim;
    *sh = x ? x->stride_head : slots_of(d) * d->head_dim;
    *sb = x ? x->stride_batch : d->heads * slots_of(d) * d->head_dim;
}

/* Copies in elements: row = D, strides as given (a backend may rescale them
 * to a wider copy word). */
void vox_permute_to_args_init(vox_permute_to_args *a, const vox_op_dims *d, const vox_op_permute_to *p)
{
    PERMUTE_ARGS_INIT(a, d, p->src);
}

void vox_permute_from_args_init(vox_permute_from_args *a, const vox_op_dims *d, const vox_op_permute_from *p)
{
    PERMUTE_ARGS_INIT(a, d, p->dst);
    a->N = d->tokens;
    a->has_lse = p->lse_src.buf && p->lse_dst.ref.buf;
    if (a->has_lse) {
        a->lsb = p->lse_dst.stride_batch;
        a->lsh = p->lse_dst.stride_head;
        a->lst = p->lse_dst.stride_token;
    }
    a->has_fill = p->fill_src.buf != NULL;
}

void vox_block_means_args_init(vox_block_means_args *a, const vox_op_dims *d, const vox_op_block_means *p)
{
    BLOCK_ARGS_INIT(a, d);
    a->heads = d->heads;
    a->sb = p->x.stride_batch;
    a->sh = p->x.stride_head;
    a->st = p->x.stride_token;
    a->has_kept = p->kept_count.buf != NULL;
}

long long vox_kv_select_room(int rule, long long topk, long long min_blocks, long long max_blocks, long long NB,
                             long long NBv)
{
    long long cap = max_blocks > 0 && max_blocks < NBv ? max_blocks : NBv, mb = min_blocks > 0 ? min_blocks : 0;
    long long picks;
    if (rule == VOX_KV_TOPK)
        picks = topk < cap ? topk : cap;
    else if (rule == VOX_KV_STAT && cap < NBv)
        picks = cap + mb; /* c <= cap picks beside the top-up's (equal but for ties in p) */
    else
        picks = cap;
    picks = picks > mb ? picks : mb;
    picks = picks < NBv ? picks : NBv;
    picks = picks + 1 < NBv ? picks + 1 : NBv; /* + its own block */
    return picks + (NB - NBv);
}

void vox_kv_select_args_init(vox_kv_select_args *a, const vox_op_dims *d, const vox_op_kv_select *p)
{
    memset(a, 0, sizeof *a);
    a->scale = p->scale;
    a->tau = p->tau;
    a->z = p->z;
    a->BH = bh_of(d);
    a->NB = d->n_blocks;
    a->NBv = d->n_video_blocks;
    a->D = d->head_dim;
    a->rule = p->rule == VOX_KV_CUMULATIVE ? 0 : p->rule == VOX_KV_TOPK ? 1 : 2;
    a->max_blocks = (int32_t)(p->max_blocks > 0 && p->max_blocks < a->NBv ? p->max_blocks : a->NBv);
    if (p->rule == VOX_KV_TOPK) /* the rule's count */
        a->max_blocks = p->topk > 0 ? (p->topk < a->max_blocks ? p->topk : a->max_blocks) : 0;
    a->min_blocks = p->min_blocks > 0 ? p->min_blocks : 0;
    a->room = (int32_t)vox_kv_select_room(p->rule, p->topk, p->min_blocks, p->max_blocks, a->NB, a->NBv);
    a->scale_f = (float)p->scale;
    a->param_f = (float)(p->rule == VOX_KV_STAT ? p->z : p->tau);
}

void vox_sample_rows_args_init(vox_sample_rows_args *a, const vox_op_dims *d, const vox_op_sample_rows *p)
{
    BLOCK_ARGS_INIT(a, d);
    a->R = p->n_rows;
    a->frame_blocks = p->frame_blocks > 0 ? p->frame_blocks : 0;
    a->space_blocks = p->space_blocks > 0 ? p->space_blocks : 0;
    a->sink = p->sink ? 1 : 0;
    a->scale = (float)p->scale;
    vox_rows_args_init(d, p->slot_token.buf ? &p->cq : NULL, &a->heads, &a->sb, &a->sh, &a->st);
}

void vox_query_select_args_init(vox_query_select_args *a, const vox_op_dims *d, const vox_op_query_select *p)
{
    BLOCK_ARGS_INIT(a, d);
    a->NBv = d->n_video_blocks;
    vox_rows_args_init(d, p->slot_token.buf ? &p->cq : NULL, &a->heads, &a->sb, &a->sh, &a->st);
}

void vox_svg_classify_args_init(vox_svg_classify_args *a, const vox_op_dims *d, const vox_op_svg_classify *p)
{
    memset(a, 0, sizeof *a);
    a->BH = bh_of(d);
    a->R = p->n_rows;
    a->NB = d->n_blocks;
    a->dense_above = (float)p->dense_above;
    a->dense_above_f64 = p->dense_above;
    a->base = p->base;
}

/* tiles = 1 and total = BH*NB: one work item per query block; a backend that
 * splits blocks into several tiles sets both. */
void vox_attention_forward_args_init(vox_attention_forward_args *a, const vox_op_dims *d,
                                     const vox_op_attention_forward *p)
{
    BLOCK_ARGS_INIT(a, d);
    a->total = a->BH * a->NB;
    while ((1 << a->log_v) < a->V)
        a->log_v++;
    a->tiles = 1;
    a->has_kept = p->kept_count.buf != NULL;
    a->scale = (float)p->scale;
    a->scale_log2 = (float)(p->scale * 1.4426950408889634);
    a->scale_lo = (float)(p->scale - (double)a->scale);
}

/* The scalars of attention_forward (the same list, has_fill in has_kept's
 * place): one work item per block, query or KV block as the backend walks
 * them; has_fill when query selection pruned rows. */
_Static_assert(sizeof(vox_attention_backward_args) == sizeof(vox_attention_forward_args) &&
                   offsetof(vox_attention_backward_args, has_fill) == offsetof(vox_attention_forward_args, has_kept) &&
                   offsetof(vox_attention_backward_args, scale_lo) == offsetof(vox_attention_forward_args, scale_lo),
               "attention_backward's scalars are attention_forward's");
void vox_attention_backward_args_init(vox_attention_backward_args *a, const vox_op_dims *d,
                                      const vox_op_attention_backward *p)
{
    vox_op_attention_forward f;
    memset(&f, 0, sizeof f);
    f.kept_count = p->fill_src;
    f.scale = p->scale;
    vox_attention_forward_args fa;
    vox_attention_forward_args_init(&fa, d, &f);
    memcpy(a, &fa, sizeof *a);
}

/* One row per (head, token) of the batch entry; strides of the four tensors. */
void vox_attention_merge_args_init(vox_attention_merge_args *a, const vox_op_dims *d, const vox_op_attention_merge *p)
{
    memset(a, 0, sizeof *a);
    a->rows = d->heads * d->tokens;
    a->N = d->tokens;
    a->ah = p->acc.stride_head, a->at = p->acc.stride_token;
    a->alh = p->acc_lse.stride_head, a->alt = p->acc_lse.stride_token;
    a->ph = p->part.stride_head, a->pt = p->part.stride_token;
    a->plh = p->part_lse.stride_head, a->plt = p->part_lse.stride_token;
    a->D = (int32_t)d->head_dim;
    a->accumulate = p->accumulate ? 1 : 0;
}

/* pass 0 (a backend sets 1 for the second launch). */
void vox_mask_transpose_args_init(vox_mask_transpose_args *a, const vox_op_dims *d, const vox_op_mask_transpose *p)
{
    memset(a, 0, sizeof *a);
    a->BH = bh_of(d);
    a->NB = d->n_blocks;
    a->t0 = p->t0;
    a->head_room = p->head_room;
}
