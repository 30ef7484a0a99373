/* Kernel entry points of the Hopper (sm_90a) block-sparse attention backward;
 * see attention_backward_sm90.cuh for the design and attention_backward_sm90_host.h
 * for the launch recipe. Build: nvcc -gencode=arch=compute_90a,code=sm_90a -O3 -std=c++17 (-fatbin or -c). */
#include "attention_backward_sm90.cuh"

VOX_SM90_BWD_KERNELS(bf16_d128, 128, true)
VOX_SM90_BWD_KERNELS(f16_d128, 128, false)
VOX_SM90_BWD_KERNELS(bf16_d64, 64, true)
VOX_SM90_BWD_KERNELS(f16_d64, 64, false)
