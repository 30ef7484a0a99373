/* Reference ops: plain loops, fp64 accumulation. Every other backend is
 * checked against these, op by op. Other backends may call them directly on
 * host arrays through vox_cpu_ptr-style wrappers in tests. */
#ifndef VOX_CPU_OPS_H
#define VOX_CPU_OPS_H

#include "backend.h"

void *vox_cpu_ptr(vox_bref r);

vox_status vox_cpu_permute_to_blocks(void *dev, const vox_op_dims *d, const vox_op_permute_to *p);
vox_status vox_cpu_permute_from_blocks(void *dev, const vox_op_dims *d, const vox_op_permute_from *p);
vox_status vox_cpu_block_means(void *dev, const vox_op_dims *d, const vox_op_block_means *p);
vox_status vox_cpu_kv_select(void *dev, const vox_op_dims *d, const vox_op_kv_select *p);
vox_status vox_cpu_sample_rows_attention(void *dev, const vox_op_dims *d, const vox_op_sample_rows *p);
vox_status vox_cpu_query_select(void *dev, const vox_op_dims *d, const vox_op_query_select *p);
vox_status vox_cpu_attention_forward(void *dev, const vox_op_dims *d, const vox_op_attention_forward *p);

#endif
