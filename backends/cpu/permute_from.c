/* CPU reference of permute_from: rows from the block layout back to the
 * caller's token order, with pruned rows' fill and the LSE (contract in
 * core/backend.h). */
#include <string.h>

#include "cpu_ops.h"

vox_status vox_cpu_permute_from(void *dev, const vox_op_dims *d, const vox_op_permute_from *p)
{
    (void)dev;
    const unsigned char *src = vox_cpu_ptr(p->src);
    const float *lse_src = vox_cpu_ptr(p->lse_src);
    unsigned char *dst = vox_cpu_ptr(p->dst.ref);
    float *lse_dst = vox_cpu_ptr(p->lse_dst.ref);
    const int32_t *token_slot = VOX_CPU_I32(p->token_slot), *fill = VOX_CPU_I32(p->fill_src);
    size_t es = vox_dtype_size(d->dtype), row = es * (size_t)d->head_dim;
    int64_t S = d->n_blocks * d->block_volume;
    for (int64_t b = 0; b < d->batch; b++)
        for (int64_t h = 0; h < d->heads; h++) {
            int64_t bh = b * d->heads + h;
            for (int64_t t = 0; t < d->tokens; t++) {
                int64_t s = token_slot[t];
                int64_t f = fill ? fill[bh * S + s] : s;
                memcpy(dst + (size_t)vox_cpu_strided_at(&p->dst, b, h, t) * es,
                       src + (size_t)(bh * S + f) * row, row);
                if (lse_dst && lse_src)
                    lse_dst[vox_cpu_strided_at(&p->lse_dst, b, h, t)] = lse_src[bh * S + f];
            }
        }
    return VOX_OK;
}
