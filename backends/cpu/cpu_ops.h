/* The CPU reference backend (private): its op entry points and the helpers
 * the op files share. One file per op (permute.c, block_means.c, kv_select.c,
 * sample_rows.c, query_select.c, attention_forward.c), each a plain loop
 * accumulating in fp64; every other backend is checked against them op by
 * op. Each op's contract is written in core/backend.h. Device, buffers and
 * the backend table are in cpu_backend.c. */
#ifndef VOX_CPU_OPS_H
#define VOX_CPU_OPS_H

#include "backend.h"

/* Host address of a buffer reference (NULL when the reference is absent). */
void *vox_cpu_ptr(vox_bref r);

#define VOX_CPU_I32(r) ((const int32_t *)vox_cpu_ptr(r))

/* Element offset of (b,h,token,0) in a caller tensor. */
static inline int64_t vox_cpu_strided_at(const vox_strided *s, int64_t b, int64_t h, int64_t t)
{
    return b * s->stride_batch + h * s->stride_head + t * s->stride_token;
}

/* A score (or similarity) with the block or slot it belongs to, for sorting. */
typedef struct vox_cpu_ranked {
    double p;
    int32_t j;
} vox_cpu_ranked;

vox_status vox_cpu_permute_to(void *dev, const vox_op_dims *d, const vox_op_permute_to *p);
vox_status vox_cpu_permute_from(void *dev, const vox_op_dims *d, const vox_op_permute_from *p);
vox_status vox_cpu_block_means(void *dev, const vox_op_dims *d, const vox_op_block_means *p);
vox_status vox_cpu_kv_select(void *dev, const vox_op_dims *d, const vox_op_kv_select *p);
vox_status vox_cpu_sample_rows(void *dev, const vox_op_dims *d, const vox_op_sample_rows *p);
vox_status vox_cpu_query_select(void *dev, const vox_op_dims *d, const vox_op_query_select *p);
vox_status vox_cpu_svg_classify(void *dev, const vox_op_dims *d, const vox_op_svg_classify *p);
vox_status vox_cpu_attention_forward(void *dev, const vox_op_dims *d, const vox_op_attention_forward *p);

#endif
