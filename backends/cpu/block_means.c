/* CPU reference of block_means: per block, the mean of its valid (or kept)
 * rows, read from the caller's layout through slot_token and accumulated in
 * fp64 (contract in core/backend.h). */
#include "cpu_ops.h"
#include "half.h"

vox_status vox_cpu_block_means(void *dev, const vox_op_dims *d, const vox_op_block_means *p)
{
    (void)dev;
    const void *x = vox_cpu_ptr(p->x.ref);
    const int32_t *valid = VOX_CPU_I32(d->block_valid), *kc = VOX_CPU_I32(p->kept_count),
                  *kr = VOX_CPU_I32(p->kept_rows), *slot_token = VOX_CPU_I32(p->slot_token);
    float *out = vox_cpu_ptr(p->out);
    int64_t NB = d->n_blocks, V = d->block_volume, D = d->head_dim, H = d->heads;
    for (int64_t bh = 0; bh < d->batch * H; bh++) {
        int64_t base = (bh / H) * p->x.stride_batch + (bh % H) * p->x.stride_head;
        for (int64_t j = 0; j < NB; j++) {
            int64_t m = bh * NB + j;
            int64_t n = kc ? kc[m] : valid[j];
            for (int64_t e = 0; e < D; e++) {
                double acc = 0;
                for (int64_t r = 0; r < n; r++) {
                    int64_t slot = j * V + (kc ? kr[m * V + r] : r);
                    acc += vox_load(x, d->dtype, base + slot_token[slot] * p->x.stride_token + e);
                }
                out[m * D + e] = (float)(n ? acc / (double)n : 0.0);
            }
        }
    }
    return VOX_OK;
}
