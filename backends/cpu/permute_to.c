/* CPU reference of permute_to: rows from the caller's token order into the
 * block layout, zero rows for padding (contract in core/backend.h). */
#include <string.h>

#include "cpu_ops.h"

vox_status vox_cpu_permute_to(void *dev, const vox_op_dims *d, const vox_op_permute_to *p)
{
    (void)dev;
    const unsigned char *src = vox_cpu_ptr(p->src.ref);
    unsigned char *dst = vox_cpu_ptr(p->dst);
    const int32_t *slot_token = VOX_CPU_I32(p->slot_token);
    size_t es = vox_dtype_size(d->dtype), row = es * (size_t)d->head_dim;
    int64_t S = d->n_blocks * d->block_volume;
    for (int64_t b = 0; b < d->batch; b++)
        for (int64_t h = 0; h < d->heads; h++)
            for (int64_t s = 0; s < S; s++) {
                unsigned char *o = dst + ((size_t)((b * d->heads + h) * S + s)) * row;
                int32_t t = slot_token[s];
                if (t < 0)
                    memset(o, 0, row);
                else
                    memcpy(o, src + (size_t)vox_cpu_strided_at(&p->src, b, h, t) * es, row);
            }
    return VOX_OK;
}
