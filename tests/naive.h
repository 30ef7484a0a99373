/* An independent naive recomputation of the CPU reference's planning
 * decisions (tests only), written from the op contracts in core/backend.h
 * and not from backends/cpu: block means, BSA KV selection and BSA query
 * selection, on plain host arrays (f32 inputs, one (b,h) after another).
 * test_reference.c and test_planning.c run the reference op by op and
 * compare: decisions exactly, means within a tight tolerance. */
#ifndef VOX_TESTS_NAIVE_H
#define VOX_TESTS_NAIVE_H

#include <stdint.h>

#include "backend.h"

/* Block geometry of the block-layout tensors: NB blocks of V slots, the
 * first NBv video blocks, valid[j] valid (leading) slots in block j. */
typedef struct naive_dims {
    int64_t BH, NB, NBv, V, D;
    const int32_t *valid; /* [NB] */
} naive_dims;

/* out[(bh*NB + j)*D + e] = mean over the rows of block j of x[bh][row][e]:
 * the valid rows, or (kept_count != NULL) the kept_count[bh*NB+j] local
 * slots kept_rows[(bh*NB+j)*V + r]. An empty block gives 0. x is
 * [BH][NB*V][D]. */
void naive_block_means(const naive_dims *d, const float *x, const int32_t *kept_count,
                       const int32_t *kept_rows, double *out);

/* allowed[(bh*NB + i)*NB + j] = 1 iff key block j is selected for query
 * block i of head bh under the rule of r (scale, rule, tau, topk, z,
 * min_blocks, max_blocks; its buffers are not read). qbar, kbar are f32 [BH][NB][D]. */
void naive_kv_select(const naive_dims *d, const float *qbar, const float *kbar, const vox_op_kv_select *r,
                     unsigned char *allowed);

/* One query window: slots (absolute in the head) first..first+len-1 of one
 * video block, its centre slot and how many tokens it keeps (centre
 * included). */
typedef struct naive_window {
    int32_t first, len, centre, keep;
} naive_window;

/* keep[bh*S + s] = 1 kept, 0 pruned, -1 padding; fill[bh*S + s] = the slot
 * whose output s receives (itself when kept or padding). Windows of video
 * block j are win[win_ptr[j] .. win_ptr[j+1]); global blocks keep all valid
 * rows. q is f32 [BH][S][D]. */
void naive_query_select(const naive_dims *d, const float *q, const int32_t *win_ptr, const naive_window *win,
                        int8_t *keep, int32_t *fill);

#endif
