/* The arguments of the sm_90a kernels, defined once for the host (cuda_sm90.c) and the device (the .cuh
 * kernels): every pointer field is VOX_DP(T), a T * in device code and a 64-bit device address (uint64_t) on the
 * host, so both see the same layout (LP64: 8 bytes, 8-aligned either way). Passed by value as kernel
 * parameters (__grid_constant__ where a kernel takes the address of a field). Plain C: no vendor header. */
#pragma once
#include <stdint.h>

#ifdef __CUDACC__
#define VOX_DP(T) T *
#else
#define VOX_DP(T) uint64_t
_Static_assert(sizeof(void *) == 8, "the sm90 kernel arguments assume 64-bit device addresses");
#endif

typedef struct VoxSm90AttnParams {
    VOX_DP(const void) q;         /* [BH][S][D] */
    VOX_DP(void) o;               /* [BH][S][D] */
    VOX_DP(float) lse;            /* [BH][S] */
    VOX_DP(const int) kv_start;   /* [BH*NB] */
    VOX_DP(const int) kv_count;   /* [BH*NB] */
    VOX_DP(const int) kv_cols;    /* */
    VOX_DP(const int) kept_count; /* [BH*NB] or NULL */
    VOX_DP(const int) kept_rows;  /* [BH*NB*V] */
    VOX_DP(const int) block_valid;/* [NB] */
    VOX_DP(const int) items;      /* [n_items][2]: {m0 = bh*NB + i0, G}; G = 0: nothing */
    VOX_DP(const int) n_items_dev;/* if non-NULL, the item count is *n_items_dev + n_items (grid may be larger) */
    long long NB;
    int V;
    int n_items;           /* the item count when n_items_dev == NULL; else the device planner's front
                              region (VOX_SM90_PLAN_FRONT, sm90_smem.h: items [0, n_items) before the
                              counted ones; 0 for session 11's planner) */
    int nb_pad;            /* byte-map size in shared memory, >= NB, multiple of 16 */
    float scale_log2;      /* scale * log2(e) */
    int vt_swap;           /* debug: swap LBO/SBO of the V (MN-major) descriptor */
    int pingpong;          /* 1: the two consumer warpgroups take turns issuing on tiles both use */
    VOX_DP(int) sweep_pos;        /* no longer read (session 10: the producer's registers went to the
                              persistent item loop); was: CTAs start their KV sweep where the others are */
    VOX_DP(const int) order;      /* [BH*NB] or NULL: the query blocks of head bh in packing order
                              (vox_attn_sm90_plan); an item's block g is order[m0 + g], else m0 + g - bh*NB */
    VOX_DP(const unsigned) vbad;  /* [BH][(NB+31)/32] or NULL: bit j%32 of word j/32 = V of block j holds an
                              Inf/NaN (vox_attn_sm90_plan writes it); NULL: every block counts as flagged */
    /* The caller's layout (the library's forward without block copies). qtok: slot_token [S]; the
     * q row of slot s of bh = b*heads + h is q + b*q_sb + h*q_sh + qtok[s]*q_st (elements); NULL:
     * q[bh][s]. otok: the same for the o rows (o_*) and the lse (l_*; lse NULL: not written);
     * NULL: o[bh][s], lse[bh*S + s]. */
    VOX_DP(const int) qtok;
    VOX_DP(const int) otok;
    long long q_sb, q_sh, q_st, o_sb, o_sh, o_st, l_sb, l_sh, l_st;
    int heads;
    int persist;           /* 1: a grid of about one CTA per SM loops over the items, taking them from
                              work (next_item); 0: item blockIdx.x, CTAs past the count exit */
    VOX_DP(int) work;             /* persist: [0] the fast kernel's item counter, [1] the _nf kernel's, zeroed
                              before the launches; [2] != 0: some head has a flagged V block */
    VOX_DP(const unsigned) hflag; /* persist: [BH], != 0: some V block of head bh is flagged in vbad */
} VoxSm90AttnParams;

typedef struct VoxSm90BwdParams {
    VOX_DP(const float) lse;      /* [2][BH][S]: the forward's LSE (block layout), then delta */
    VOX_DP(float) l2;             /* [BH][S]: written by the rows kernel, read by dq and dkdv */
    VOX_DP(void) dq;
    VOX_DP(void) dk;
    VOX_DP(void) dv;    /* [BH][S][D] */
    VOX_DP(const int) mask;       /* the packed forward CSR + transpose (core/backend.h) */
    VOX_DP(const int) fill_src;   /* [BH][S] or NULL */
    VOX_DP(const int) block_valid;/* [NB] */
    long long BH, NB;
    int V;
    float scale;           /* softmax scale (dq, dk) */
    float scale_log2;      /* scale * log2(e) */
    int asc;               /* 1: the packed schemes stream the two units' lists in ascending block order
                            * (session 8); 0: one-unit blocks alternate between the units (bwd_produce) */
    VOX_DP(float) dqacc;          /* atomic dQ: f32 [BH][S][D], zeroed by rows, added to by dkdvq, read by dqconv; else NULL */
    int D;                 /* head dim (rows zeroes dqacc) */
    int heads;             /* with tok: H of the caller's [B,H,N,D] */
    VOX_DP(const int) tok;        /* slot_token [S]: dq, dk, dv are the caller's tensors, slot s of bh written to
                            * row (b, h, tok[s]) (padding slots: nothing); NULL: block layout [BH][S][D] */
    long long ostr[9];     /* with tok: element strides (batch, head, token) of dq, dk, dv */
    VOX_DP(const int) runit;      /* packed dkdv / dkdv_q only, NULL: off. The key units of a head (the same for every
                            * head), 4 ints each (vox_sm90_bwd_runits): {i, part, -1, -1} a 64-key tile of
                            * block i, or {~i0, i1, i2, i3} a unit of up to 4 blocks of <= 16 valid keys as
                            * 16-row chunks (i_k = -1: empty chunk); the blocks of one unit must have the same
                            * transposed list in every head (e.g. a dense mask). Grid
                            * VOX_SM90_BWD_CTAS_U(BH, nunit). */
    int nunit;             /* with runit: units per head */
    int front;             /* > 0 (not with runit): the CTAs of every head's last `front` blocks (the global /
                            * text blocks, whose lists are the longest: every row lists them, their rows list
                            * every block) are launched first, all heads, then the others head after head
                            * (vox_sm90_bwd_cta, sm90_smem.h); 0: head after head only (the last head's long
                            * units then start in the last wave and run alone at the end) */
    VOX_DP(int) ordq;
    VOX_DP(int) ordkv;     /* NULL: off. The unit order of dq (PACK 0) and of the packed dkdv (PACK 1): the unit
                            * position of vox_sm90_bwd_cta's grid position x (dq: x; dkdv: 2x + c) runs unit
                            * ord[bh * T + position], T = P (dq) or 2P (dkdv), a permutation of each head's [0, T)
                            * written by vox_attn_bwd_sm90_order (units whose lists overlap run side by side, and
                            * dkdv pairs them: the L2 keeps what they stream; session 21) */
    VOX_DP(const int) qgrp;       /* dq's grouped units (session 22), NULL: off. With V = 64, the video blocks of 1..16
                            * valid rows are taken 4 at a time (block order) as the 16-row chunks of one dq unit,
                            * which streams the union of their KV lists (each stage with its chunks' memberships):
                            * group g = blocks qgrp[4g..4g+3] (-1: an empty chunk), the same in every head. Then
                            * ordq is required and holds unit codes: u >= 0 the tile u as before, u < 0 group
                            * -1 - u; nqu positions per head (vox_attn_bwd_sm90_order writes both tables) */
    int nqu;               /* with qgrp: dq's units (grid positions) per head */
    int qbrk;              /* with qgrp, tests only (VOXATTN_SM90_BWD_QGROUP=brk): every chunk takes every stage */
    VOX_DP(const int) kgrp;       /* the packed dkdv's grouped key units (session 23), NULL: off (ordered mode, not with
                            * runit). With V = 64, the video blocks of 1..16 valid keys are taken 4 at a time (block
                            * order) as the 16-key chunks of one key unit (group g = blocks kgrp[4g..4g+3], -1: an
                            * empty chunk, the same in every head), which streams the union of their transposed
                            * lists, each stage with the memberships of its chunks. Then ordkv is required and holds
                            * unit codes: u >= 0 the tile u as before (u >= U: none), u < 0 group -1 - u; nku
                            * positions (CTAs) per head (vox_attn_bwd_sm90_order writes both tables) */
    int nku;               /* with kgrp: the packed dkdv's positions per head */
    int kbrk;              /* with kgrp, tests only (VOXATTN_SM90_BWD_KGROUP=brk): every chunk takes every stage */
} VoxSm90BwdParams;
