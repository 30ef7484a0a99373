/* Kernel entry points of the Hopper (sm_90a) block-sparse attention forward;
 * see attention_forward_sm90.cuh for the design and attention_forward_sm90_host.h
 * for how to launch them through the driver API.
 * Build: nvcc -gencode=arch=compute_90a,code=sm_90a -O3 -std=c++17 (-fatbin or -c). */
#include "attention_forward_sm90.cuh"

VOX_SM90_KERNEL(vox_attn_sm90_bf16_d128, 128, true)
VOX_SM90_KERNEL(vox_attn_sm90_bf16_d64, 64, true)
VOX_SM90_KERNEL(vox_attn_sm90_f16_d128, 128, false)
VOX_SM90_KERNEL(vox_attn_sm90_f16_d64, 64, false)
/* Three consumer warpgroups (512 threads, 192 rows per CTA; plan with maxrows 192). D=64 keeps Q
 * in registers; D=128 holds Q in shared memory (VOX_SM90_QSMEM: the 128 registers per thread of a
 * 512-thread CTA, 160 per consumer after setmaxnreg, leave no room for register-resident Q). */
/* bf16 D = 128 with the consumers' wgmma descriptors from warp-uniform addresses (VOX_SM90_VAR_UDESC,
 * session 19); _ud0 (+ _ud0_nf) is session 18's kernel for VOXATTN_SM90_UDESC=0 */
VOX_SM90_KERNEL_TV(vox_attn_sm90w3_bf16_d128, 128, true, 3, 512, false, VOX_SM90_VAR_UDESC)
VOX_SM90_KERNEL_TV(vox_attn_sm90w3_bf16_d128_nf, 128, true, 3, 512, true, VOX_SM90_VAR_UDESC)
VOX_SM90_KERNEL_W3(vox_attn_sm90w3_bf16_d128_ud0, 128, true)
VOX_SM90_KERNEL_W3(vox_attn_sm90w3_f16_d128, 128, false)
VOX_SM90_KERNEL_W3(vox_attn_sm90w3_bf16_d64, 64, true)
VOX_SM90_KERNEL_W3(vox_attn_sm90w3_f16_d64, 64, false)
