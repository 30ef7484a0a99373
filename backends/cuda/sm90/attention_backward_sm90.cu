/* Kernel entry points of the Hopper (sm_90a) block-sparse attention backward;
 * see attention_backward_sm90.cuh for the design and attention_backward_sm90_host.h
 * for the launch recipe. Build: nvcc -gencode=arch=compute_90a,code=sm_90a -O3 -std=c++17 (-fatbin or -c). */
#include "attention_backward_sm90.cuh"

VOX_SM90_BWD_KERNELS(bf16_d128, 128, true)
VOX_SM90_BWD_KERNELS(f16_d128, 128, false)
VOX_SM90_BWD_KERNELS(bf16_d64, 64, true)
VOX_SM90_BWD_KERNELS(f16_d64, 64, false)
/* session 17's stage code (VOX_SM90_BWD_IS 0: descriptors rebuilt per wgmma, dkdv's mask test per column
 * group) for the bf16 D = 128 pair: the library's VOXATTN_SM90_BWD_ISSUE=0 (A/B against IS 1) */
VOX_SM90_BWD_DQ_KERNEL_IS(bf16_d128_is0, 128, true, VOX_SM90_BWD_DQ_PACK, 0)
VOX_SM90_BWD_DKDV_KERNEL_IS(bf16_d128_is0, 128, true, VOX_SM90_BWD_DKDV_PACK, 0)
/* session 18's dq producer (one list entry and one valid count per stage, VOX_SM90_BWD_DQ_PF 0) with the current stage
 * code: the library's VOXATTN_SM90_BWD_DQ_PREFETCH=0 (A/B against the windowed list reads) */
VOX_SM90_BWD_DQ_KERNEL_ISPF(bf16_d128_pf0, 128, true, VOX_SM90_BWD_DQ_PACK, VOX_SM90_BWD_IS, 0)
/* the packed bf16 D = 128 dkdv with its producer on two warps (VOX_SM90_BWD_DKDV_KERNEL_SP): the library's
 * default (VOXATTN_SM90_BWD_PRODUCER=1: the one-warp producer, vox_attn_bwd_sm90_dkdv_bf16_d128); _p2sa with the
 * one-unit blocks alternated where no shared block splits (SP 3): VOXATTN_SM90_BWD_SAFEALT=1 */
VOX_SM90_BWD_DKDV_KERNEL_SP(bf16_d128_p2, 128, true, 1)
VOX_SM90_BWD_DKDV_KERNEL_SP(bf16_d128_p2sa, 128, true, 3)
/* the atomic-dQ dkdv with the dQ reduce-adds issued by a producer-warpgroup warp (VOX_SM90_BWD_ATOMIC_RW, session 20):
 * the library's VOXATTN_SM90_BWD_DKDVQ_VAR=rw (_q_rw_), =rwu (_q_rwu_: and the dQ product's descriptors advanced per
 * k-step), =rwl (_q_rwl_: rwu with the staging's fence and stbar arrival made at the next stage), =brk (_q_rwbrk_,
 * tests only: a break they must fail); A/B against dkdv_q */
VOX_SM90_BWD_DKDV_KERNEL(q_rw_bf16_d128, 128, true, VOX_SM90_BWD_ATOMIC_RW)
VOX_SM90_BWD_DKDV_KERNEL(q_rw_f16_d128, 128, false, VOX_SM90_BWD_ATOMIC_RW)
VOX_SM90_BWD_DKDV_KERNEL(q_rw_bf16_d64, 64, true, VOX_SM90_BWD_ATOMIC_RW)
VOX_SM90_BWD_DKDV_KERNEL(q_rw_f16_d64, 64, false, VOX_SM90_BWD_ATOMIC_RW)
VOX_SM90_BWD_DKDVQ_RW_KERNEL(q_rwu_bf16_d128, 128, true, VOX_SM90_BWD_XV_UQ)
VOX_SM90_BWD_DKDVQ_RW_KERNEL(q_rwu_f16_d128, 128, false, VOX_SM90_BWD_XV_UQ)
VOX_SM90_BWD_DKDVQ_RW_KERNEL(q_rwu_bf16_d64, 64, true, VOX_SM90_BWD_XV_UQ)
VOX_SM90_BWD_DKDVQ_RW_KERNEL(q_rwu_f16_d64, 64, false, VOX_SM90_BWD_XV_UQ)
VOX_SM90_BWD_DKDVQ_RW_KERNEL(q_rwl_bf16_d128, 128, true, VOX_SM90_BWD_XV_UQ | VOX_SM90_BWD_XV_LATE)
VOX_SM90_BWD_DKDVQ_RW_KERNEL(q_rwl_f16_d128, 128, false, VOX_SM90_BWD_XV_UQ | VOX_SM90_BWD_XV_LATE)
VOX_SM90_BWD_DKDVQ_RW_KERNEL(q_rwl_bf16_d64, 64, true, VOX_SM90_BWD_XV_UQ | VOX_SM90_BWD_XV_LATE)
VOX_SM90_BWD_DKDVQ_RW_KERNEL(q_rwl_f16_d64, 64, false, VOX_SM90_BWD_XV_UQ | VOX_SM90_BWD_XV_LATE)
VOX_SM90_BWD_DKDVQ_RW_KERNEL(q_rwbrk_bf16_d128, 128, true, VOX_SM90_BWD_XV_BRK | VOX_SM90_BWD_XV_UQ)
