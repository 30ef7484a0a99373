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
VOX_SM90_KERNEL_W3(vox_attn_sm90w3_bf16_d128, 128, true)
VOX_SM90_KERNEL_W3(vox_attn_sm90w3_f16_d128, 128, false)
VOX_SM90_KERNEL_W3(vox_attn_sm90w3_bf16_d64, 64, true)
VOX_SM90_KERNEL_W3(vox_attn_sm90w3_f16_d64, 64, false)
/* Session 19 (NOTES.md), the bf16 D = 128 3-warpgroup kernel with VOXATTN_SM90_KVBAR=1: separate K and V
 * barriers per ring stage (VOX_SM90_VAR_KVBAR: K released right after S, V waited for only before the
 * stage's P V); VOXATTN_SM90_UDESC=1: the consumers' wgmma descriptors from warp-uniform addresses, one per
 * tile and stage (VOX_SM90_VAR_UDESC); both: _kvud. Each _nf is its safe variant, named apart so that a
 * test can tell the switch took effect. Tests only (=break): _kvbrk runs tile t-1's P V on tile t's V,
 * _udbrk's S reads K's first 64 columns twice; the tests must fail. */
VOX_SM90_KERNEL_TV(vox_attn_sm90w3_bf16_d128_kv, 128, true, 3, 512, false, VOX_SM90_VAR_KVBAR)
VOX_SM90_KERNEL_TV(vox_attn_sm90w3_bf16_d128_kv_nf, 128, true, 3, 512, true, VOX_SM90_VAR_KVBAR)
VOX_SM90_KERNEL_TV(vox_attn_sm90w3_bf16_d128_ud, 128, true, 3, 512, false, VOX_SM90_VAR_UDESC)
VOX_SM90_KERNEL_TV(vox_attn_sm90w3_bf16_d128_ud_nf, 128, true, 3, 512, true, VOX_SM90_VAR_UDESC)
VOX_SM90_KERNEL_TV(vox_attn_sm90w3_bf16_d128_kvud, 128, true, 3, 512, false, VOX_SM90_VAR_KVBAR | VOX_SM90_VAR_UDESC)
VOX_SM90_KERNEL_TV(vox_attn_sm90w3_bf16_d128_kvud_nf, 128, true, 3, 512, true, VOX_SM90_VAR_KVBAR | VOX_SM90_VAR_UDESC)
VOX_SM90_KERNEL_TV(vox_attn_sm90w3_bf16_d128_kvbrk, 128, true, 3, 512, false, VOX_SM90_VAR_KVBAR | VOX_SM90_VAR_BREAK)
VOX_SM90_KERNEL_TV(vox_attn_sm90w3_bf16_d128_udbrk, 128, true, 3, 512, false, VOX_SM90_VAR_UDESC | VOX_SM90_VAR_BREAK)
