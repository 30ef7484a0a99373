/* Ring depths and dynamic shared memory of the Hopper attention CTAs, defined
 * once for the kernels (attention_{forward,backward}_sm90.cuh), their
 * harnesses' host side (*_host.h) and the backend (../cuda_sm90.c). Plain C
 * macros, no vendor header. */
#pragma once
#include <stddef.h>

/* Forward: K/V stages of the ring; the membership byte map is NB rounded up to 16. */
#define VOX_SM90_STAGES(D) ((D) == 128 ? 6 : 12)
#define VOX_SM90_NB_PAD(NB) (((NB) + 15) / 16 * 16)
/* 16 zero V rows (the P V operand of a stage whose V holds Inf/NaN where some rows do not attend) */
#define VOX_SM90_ZROWS_BYTES(D) (16 * (D) * 2)
/* 1 KB alignment slack, the ring, zero rows, per stage barriers + info (24 B), row tables (2 KB),
 * byte map, slack */
#define VOX_SM90_SMEM_BYTES(D, nb_pad)                                                                     \
    (1024 + (size_t)VOX_SM90_STAGES(D) * 2 * 64 * (D) * 2 + VOX_SM90_ZROWS_BYTES(D) +                    \
     (size_t)VOX_SM90_STAGES(D) * 24 + 2048 + (size_t)(nb_pad) * 2 + 64)

/* Backward (dq and dkdv kernels): streamed stages; 1 KB alignment slack, 2 x 2 resident tiles
 * (one pair per consumer), STAGES x 2 streamed tiles, meta */
#define VOX_SM90_BWD_STAGES(D) ((D) == 128 ? 4 : 8)
#define VOX_SM90_BWD_SMEM_BYTES(D) \
    (1024 + (size_t)(4 + 2 * VOX_SM90_BWD_STAGES(D)) * 64 * (D) * 2 + 544 * (size_t)VOX_SM90_BWD_STAGES(D) + 16)
/* Backward grid of dq and dkdv: PACK, two 64-row units (tiles of blocks) of one head per CTA
 * (ceil(units/2) per head); else one unit per CTA */
#define VOX_SM90_BWD_CTAS(BH, NB, V, PACK) \
    ((PACK) ? (BH) * (((NB) * ((V) / 64) + 1) / 2) : (BH) * (NB) * ((V) / 64))
