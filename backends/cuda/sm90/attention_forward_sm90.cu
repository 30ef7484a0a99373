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
/* Session 18 (VOXATTN_SM90_OVERLAP, NOTES.md): the bf16 D = 128 2-warpgroup kernel with two S
 * accumulators (VOX_SM90_VAR_S2: tile t+1's S in flight during tile t's softmax); its _nf is the
 * safe variant as before (S2 applies to the fast variant only), named apart so that a test can
 * tell the switch took effect. Tests only (VOXATTN_SM90_OVERLAP=break): _s2brk writes tile t+1's
 * S over tile t's before tile t's softmax; the tests must fail. */
VOX_SM90_KERNEL_TV(vox_attn_sm90_bf16_d128_s2, 128, true, 2, VOX_SM90_THREADS, false, VOX_SM90_VAR_S2)
VOX_SM90_KERNEL_TV(vox_attn_sm90_bf16_d128_s2_nf, 128, true, 2, VOX_SM90_THREADS, true, VOX_SM90_VAR_S2)
VOX_SM90_KERNEL_TV(vox_attn_sm90_bf16_d128_s2brk, 128, true, 2, VOX_SM90_THREADS, false,
                   VOX_SM90_VAR_S2 | VOX_SM90_VAR_BREAK)
/* Session 18 (VOXATTN_SM90_OVERLAP=ahead): the bf16 D = 128 3-warpgroup kernel waiting for the next
 * K/V stage's data while tile t's S runs (VOX_SM90_VAR_LA); _la_nf = the safe variant as before, named
 * apart. Tests only (=ahead_break): _labrk runs tile t-1's P V on tile t's V; the tests must fail. */
VOX_SM90_KERNEL_TV(vox_attn_sm90w3_bf16_d128_la, 128, true, 3, 512, false, VOX_SM90_VAR_LA)
VOX_SM90_KERNEL_TV(vox_attn_sm90w3_bf16_d128_la_nf, 128, true, 3, 512, true, VOX_SM90_VAR_LA)
VOX_SM90_KERNEL_TV(vox_attn_sm90w3_bf16_d128_labrk, 128, true, 3, 512, false, VOX_SM90_VAR_LA | VOX_SM90_VAR_BREAK)
