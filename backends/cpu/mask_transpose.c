/* CPU reference of mask_transpose: attention_backward's packed mask from the
 * forward's CSR (contract in core/backend.h): the header and the rows'
 * columns, then per head the transpose (counts, exclusive scan from the
 * head's region, lists filled walking the rows in ascending order, so each
 * list is ascending). */
#include "cpu_ops.h"

vox_status vox_cpu_mask_transpose(void *dev, const vox_op_dims *d, const vox_op_mask_transpose *p)
{
    (void)dev;
    int64_t NB = d->n_blocks, BH = d->batch * d->heads, R = BH * NB;
    const int32_t *start = VOX_CPU_I32(p->kv_start), *count = VOX_CPU_I32(p->kv_count);
    const int32_t *cols = VOX_CPU_I32(p->kv_cols);
    int32_t *mask = vox_cpu_ptr(p->mask);
    for (int64_t m = 0; m < R; m++) {
        mask[m] = (int32_t)(4 * R + start[m]);
        mask[R + m] = count[m];
        for (int32_t c = 0; c < count[m]; c++)
            mask[4 * R + start[m] + c] = cols[start[m] + c];
    }
    for (int64_t bh = 0; bh < BH; bh++) {
        int32_t *cstart = mask + 2 * R + bh * NB, *ccount = mask + 3 * R + bh * NB;
        for (int64_t j = 0; j < NB; j++)
            ccount[j] = 0;
        for (int64_t m = bh * NB; m < (bh + 1) * NB; m++)
            for (int32_t c = 0; c < count[m]; c++)
                ccount[cols[start[m] + c]]++;
        int64_t at = p->t0 + bh * p->head_room;
        for (int64_t j = 0; j < NB; j++) {
            cstart[j] = (int32_t)at;
            at += ccount[j];
            ccount[j] = 0; /* refilled below */
        }
        for (int64_t i = 0; i < NB; i++) { /* ascending i: each list ascending */
            int64_t m = bh * NB + i;
            for (int32_t c = 0; c < count[m]; c++) {
                int32_t j = cols[start[m] + c];
                mask[cstart[j] + ccount[j]++] = (int32_t)i;
            }
        }
    }
    return VOX_OK;
}
