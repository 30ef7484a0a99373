/* The CPU reference backend (private): its op entry points and the helpers
 * the op files share. One file per op, <op>.c named after the op of the op
 * table (the build lists them through tools/op_files.py), each a plain loop
 * accumulating in fp64; every other backend is checked
 * against them op by op. Each op's contract is written in core/backend.h. Device, buffers and
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

VOX_BACKEND_DECLARE_ALL_OPS(vox_cpu_) /* core/backend.h: one per op */

/* attention_backward of one (batch, head) on f64 host arrays in block layout
 * (the op converts and calls it; the finite-difference test calls it with
 * f64 inputs). Rows are [S][D], lse [S]; fill (head-relative slots) and mask
 * as in vox_op_attention_backward. */
typedef struct vox_cpu_backward_head {
    const double *q, *k, *v, *o, *dout, *lse;
    const int32_t *fill; /* [S] or NULL */
    const int32_t *mask; /* the packed mask of all heads */
    int64_t bh;
    double scale;
    double *dq, *dk, *dv; /* [S][D], every slot written */
    double *work;         /* S*D + S doubles */
} vox_cpu_backward_head;
void vox_cpu_attention_backward_head(const vox_op_dims *d, const int32_t *valid, const vox_cpu_backward_head *h);

#endif
