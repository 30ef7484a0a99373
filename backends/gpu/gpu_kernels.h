/* Every kernel of the CUDA/HIP module, in one list. The host's kernel enum and
 * name table (gpu_internal.h, gpu_launch.c) and the check in
 * kernels/kernels.cu that each listed kernel is defined all expand it, so a
 * kernel added here and not defined (or misspelt) fails the build.
 * X(name): kernel `vox_<name>`, host index GPU_FN_<name>. C and C++. */
#ifndef VOX_GPU_KERNELS_H
#define VOX_GPU_KERNELS_H

/* Kernels every module has (the host refuses to open a device without them). */
#define VOX_GPU_KERNELS_REQUIRED(X)                                                         \
    X(permute_to_b2) X(permute_to_b4) X(permute_to_b16)                                     \
    X(permute_from_b2) X(permute_from_b4) X(permute_from_b16)                               \
    X(block_means_f32) X(block_means_f16) X(block_means_bf16)                               \
    X(kv_select) X(kv_select_kt) X(kv_select_fast) X(kv_select_rows)                        \
    X(sample_rows_f32) X(sample_rows_f16) X(sample_rows_bf16) X(sample_rows_merge)        \
    X(query_select_f32) X(query_select_f16) X(query_select_bf16)                            \
    X(svg_classify)                                                                         \
    X(attention_merge_f32) X(attention_merge_f16) X(attention_merge_bf16)                   \
    X(attention_forward_f32_k32) X(attention_forward_f16_k32) X(attention_forward_bf16_k32) \
    X(attention_forward_f32_k16) X(attention_forward_f16_k16) X(attention_forward_bf16_k16)

/* Kernels a module may lack: the tensor-core attention and sample_rows
 * (mma.sync, NVIDIA sm_80+ only; absent from HIP code objects and from older
 * NVIDIA targets). */
#define VOX_GPU_KERNELS_OPTIONAL(X)                                      \
    X(attention_forward_mma_f16_d64) X(attention_forward_mma_f16_d128)   \
    X(attention_forward_mma_f16_d256)                                    \
    X(attention_forward_mma_bf16_d64) X(attention_forward_mma_bf16_d128) \
    X(attention_forward_mma_bf16_d256)                                   \
    X(sample_rows_mma_f16_d64) X(sample_rows_mma_f16_d128)               \
    X(sample_rows_mma_bf16_d64) X(sample_rows_mma_bf16_d128)

/* attention_backward, an optional op (a module without it only lacks that op):
 * the preprocess and the portable kernels (every target), then the
 * tensor-core kernels (mma.sync, NVIDIA sm_80+ only, as above). */
#define VOX_GPU_KERNELS_BACKWARD(X)                                                                        \
    X(attention_backward_prep_f32) X(attention_backward_prep_f16) X(attention_backward_prep_bf16)           \
    X(attention_backward_dq_f32_k32) X(attention_backward_dq_f16_k32) X(attention_backward_dq_bf16_k32)     \
    X(attention_backward_dq_f32_k16) X(attention_backward_dq_f16_k16) X(attention_backward_dq_bf16_k16)     \
    X(attention_backward_dkdv_f32_k32) X(attention_backward_dkdv_f16_k32) X(attention_backward_dkdv_bf16_k32) \
    X(attention_backward_dkdv_f32_k16) X(attention_backward_dkdv_f16_k16) X(attention_backward_dkdv_bf16_k16) \
    X(mask_transpose)
#define VOX_GPU_KERNELS_BACKWARD_MMA(X)                                                  \
    X(attention_backward_dq_mma_f16_d64) X(attention_backward_dq_mma_f16_d128)           \
    X(attention_backward_dq_mma_bf16_d64) X(attention_backward_dq_mma_bf16_d128)         \
    X(attention_backward_dkdv_mma_f16_d64) X(attention_backward_dkdv_mma_f16_d128)       \
    X(attention_backward_dkdv_mma_bf16_d64) X(attention_backward_dkdv_mma_bf16_d128)

#define VOX_GPU_KERNELS(X)                                          \
    VOX_GPU_KERNELS_REQUIRED(X) VOX_GPU_KERNELS_OPTIONAL(X)         \
    VOX_GPU_KERNELS_BACKWARD(X) VOX_GPU_KERNELS_BACKWARD_MMA(X)

#endif
