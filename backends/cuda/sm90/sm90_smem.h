/* Ring depths and dynamic shared memory of the Hopper attention CTAs, defined
 * once for the kernels (attention_{forward,backward}_sm90.cuh), their
 * harnesses' host side (*_host.h) and the backend (../cuda_sm90.c). Plain C
 * macros, no vendor header. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Forward, per kernel (D, NWG = consumer warpgroups). QSMEM: Q lives in shared memory (192 rows
 * x 128 columns, 48 KB, S = Q K^T as an SS wgmma) in the 3-warpgroup D = 128 kernel, which has
 * 160 registers per consumer thread; the others keep Q in registers. K/V stages of the ring:
 * D = 128 6 (5 next to the 48 KB of Q), D = 64 12. The membership byte map is NB rounded up to 16. */
#define VOX_SM90_QSMEM(D, NWG) ((D) == 128 && (NWG) == 3)
#define VOX_SM90_QS_BYTES(D, NWG) (VOX_SM90_QSMEM(D, NWG) ? (size_t)(NWG) * 64 * (D) * 2 : (size_t)0)
#define VOX_SM90_STAGES(D, NWG) ((D) == 128 ? (VOX_SM90_QSMEM(D, NWG) ? 5 : 6) : 12)
#define VOX_SM90_NB_PAD(NB) (((NB) + 15) / 16 * 16)
/* 16 zero V rows (the P V operand of a stage whose V holds Inf/NaN where some rows do not attend) */
#define VOX_SM90_ZROWS_BYTES(D) (16 * (D) * 2)
/* 1 KB alignment slack, the ring, Q (QSMEM), zero rows, per stage barriers + info (16 + 16 B),
 * row tables (2 KB), byte map, slack */
#define VOX_SM90_SMEM_BYTES(D, NWG, nb_pad)                                                                \
    (1024 + (size_t)VOX_SM90_STAGES(D, NWG) * 2 * 64 * (D) * 2 + VOX_SM90_QS_BYTES(D, NWG) +             \
     VOX_SM90_ZROWS_BYTES(D) + (size_t)VOX_SM90_STAGES(D, NWG) * 32 + 2048 + (size_t)(nb_pad) * 2 + 64)
/* Consumer warpgroups of the D = 128 forward when no switch says otherwise (VOXATTN_SM90_NWG=2|3
 * in the library and bench_sm90): 3 (192 rows per CTA) for V = 64 blocks, 2 for larger blocks
 * (a V = 128 block fills 128 of the 192 rows; the third warpgroup would idle without pruning) */
#define VOX_SM90_NWG_D128(V) ((V) == 64 ? 3 : 2)
/* Packing of the forward's items (the device planner vox_attn_sm90_plan and the host planner
 * vox_sm90_plan_host): at most VOX_SM90_GMAX query blocks per CTA (the stage info's 16-bit
 * membership per chunk), and the blocks with rows in one 64-row window (one consumer
 * warpgroup) within VOX_SM90_WGMAX consecutive positions of the item (the consumer's 8-bit chunk
 * masks). The greedy rule, given the item's g blocks so far (g > 0), their rows tot and gfirst
 * (the position of the first block with rows in the window of row tot - 1): a block of r rows
 * starts a new item when VOX_SM90_PACK_CLOSE(g, tot, r, gfirst, maxrows) is true; after
 * adding it at position g (tot not yet increased), VOX_SM90_PACK_FIRST(g, tot, r, gfirst) is the
 * new gfirst. With 16-row blocks (BSA keep 0.25 at V = 64) 12 blocks fill 192 rows. */
#define VOX_SM90_GMAX 16
#define VOX_SM90_WGMAX 8
#define VOX_SM90_PACK_CLOSE(g, tot, r, gfirst, maxrows)                                                    \
    ((tot) + (r) > (maxrows) || (g) == VOX_SM90_GMAX ||                                                    \
     ((r) > 0 && (tot) % 64 != 0 && (g) - (gfirst) >= VOX_SM90_WGMAX))
#define VOX_SM90_PACK_FIRST(g, tot, r, gfirst)                                                             \
    ((r) > 0 && ((tot) % 64 == 0 || ((tot) + (r) - 1) / 64 > (tot) / 64) ? (g) : (gfirst))

/* The device planner vox_attn_sm90_plan: VOX_SM90_PLAN_WARPS warps per planning CTA (one CTA per
 * head) and its dynamic shared memory for NB blocks: the pair tests' bitmaps (one per warp,
 * ceil(NB/32) words each), the jump tables (2 x (NB + 1) u16), the rows (NB u16), the start marks
 * (2 x NB bytes). NB < 65535 (u16 positions; the forward kernel's byte map allows ~14000).
 * VOX_SM90_PLAN_OLD_SMEM: session 11's planner (vox_attn_sm90_plan_old, VOXATTN_SM90_PLAN_OLD). */
#define VOX_SM90_PLAN_WARPS 32
#define VOX_SM90_PLAN_SMEM(NB)                                                                             \
    ((size_t)VOX_SM90_PLAN_WARPS * 4 * (((size_t)(NB) + 31) / 32) + 4 * ((size_t)(NB) + 1) + 4 * (size_t)(NB) + 16)
#define VOX_SM90_PLAN_OLD_SMEM(NB) ((size_t)(NB) * 2)
/* The planner's sampled axis choice needs NB <= VOX_SM90_PLAN_MAXNB (its bitmaps) and a video grid
 * (gt, gh, gw blocks) within NB; VOX_SM90_PLAN_GRID_OK says whether it has both. Then the global
 * blocks (text tokens) take positions NBv = gt*gh*gw .. NB - 1 of each head's order, and
 * vox_attn_sm90_plan puts the items holding one of them (they list every KV block: several times
 * a video item's K/V stream) into a front region of VOX_SM90_PLAN_FRONT item slots, NB - NBv per
 * head (an item holding a global block holds at least one, so a head has at most that many; unused
 * slots are {0, 0}, G = 0: skipped), ahead of the counted items, so that the persistent forward
 * grid claims them first instead of last (the tail: NOTES.md, session 12). The attention kernel's
 * item count is then *n_items_dev + params.n_items with params.n_items = VOX_SM90_PLAN_FRONT;
 * the front region and the counted items together fit the BH*NB item slots (a counted item holds
 * at least one video block). session 11's planner (vox_attn_sm90_plan_old) has no front region. */
#define VOX_SM90_PLAN_MAXNB 8192
#define VOX_SM90_PLAN_GRID_OK(NB, gt, gh, gw)                                                              \
    ((gt) > 0 && (gh) > 0 && (gw) > 0 && (int64_t)(gt) * (gh) * (gw) <= (int64_t)(NB) &&                  \
     (int64_t)(NB) <= VOX_SM90_PLAN_MAXNB)
#define VOX_SM90_PLAN_FRONT(BH, NB, gt, gh, gw)                                                            \
    (VOX_SM90_PLAN_GRID_OK(NB, gt, gh, gw) ? (int64_t)(BH) * ((int64_t)(NB) - (int64_t)(gt) * (gh) * (gw)) : (int64_t)0)
/* The device planner's mode bits (its last argument; the library: VOXATTN_SM90_ORDER):
 *   VOX_SM90_PLAN_M_FRONT  the front region above (session 12);
 *   VOX_SM90_PLAN_M_EDGE   the position order puts a head's partial video blocks (block_valid < V: the
 *                          grid's ragged edges) first, then its full ones, each in the axis order; taken
 *                          only where VOX_SM90_PLAN_EDGE_OK: no pruning and one full block fills an item
 *                          (V = maxrows, e.g. V = 128 on 2 warpgroups), so the full blocks' items stay
 *                          one block each and the partial ones pack up to maxrows rows of neighbours
 *                          instead of one 32-row item per column (hunyuan 4,4,8). Not where a full block
 *                          leaves room (V = 128 on 3 warpgroups: the old order packs F + P + P, the edge
 *                          order F alone: the H200 check counted 2573 items against 2517);
 *   VOX_SM90_PLAN_M_RAGGED the head's counted items that hold a partial block (the longest K/V streams:
 *                          the union of several lists) are claimed before its others (each class in chain
 *                          order), so the persistent grid ends on full-block items (the tail).
 * EDGE changes the items of partial blocks (results change by rounding only: a row's key order follows
 * its item's masks); FRONT and RAGGED move items only (bitwise the same results). */
#define VOX_SM90_PLAN_M_FRONT 1
#define VOX_SM90_PLAN_M_EDGE 2
#define VOX_SM90_PLAN_M_RAGGED 4
#define VOX_SM90_PLAN_EDGE_OK(V, maxrows, pruned) (!(pruned) && (V) >= (maxrows))
/*   VOX_SM90_PLAN_M_SPLIT  (session 14; the library's default, VOXATTN_SM90_SPLIT=0 off) where VOX_SM90_PLAN_SPLIT_OK:
 *                          no pruning and 2 maxrows = 3 V (V = 128 on the 3-warpgroup kernel, 192 rows).
 *                          The edge order as above (partial video blocks first, packed greedily up to
 *                          maxrows, not past the first full block); then the full video blocks f, f+1,
 *                          ... in items that split a block's rows: positions f + 3j (the block, then the
 *                          first V/2 rows of f + 3j + 1) and f + 3j + 1 (its last V/2 rows, then block
 *                          f + 3j + 2), so three full blocks fill two 192-row items (an item streams the
 *                          union of two neighbours' lists); the global (text) blocks after them greedily.
 *                          The item's second word is then G | skip << 16 (VOX_SM90_ITEM_G / _SKIP):
 *                          its rows start skip rows into its first block, and rows past maxrows
 *                          (the second half of its last block) are the next item's. */
#define VOX_SM90_PLAN_M_SPLIT 8
#define VOX_SM90_PLAN_SPLIT_OK(V, maxrows, pruned) (!(pruned) && 2 * (maxrows) == 3 * (V))
/*   VOX_SM90_PLAN_M_COLS   (session 15, with _SPLIT where it applies; the library's default, VOXATTN_SM90_SPLIT=edge
 *                          off) a
 *                          head whose columns (ext = the packing axis' block count consecutive positions of
 *                          the axis order) are uniform (every block but a column's last has the rows of the
 *                          column's first, at least VOX_SM90_PLAN_COLS_MINROWS; a one-block column's block has rows) keeps the axis order (no edge
 *                          partition) and cuts each column's rows at every multiple of maxrows: an item starts
 *                          in the block that holds the cut (skip = the cut's row in it) and ends at the next
 *                          cut or the column's end, so a column's partial last block rides with its own
 *                          column's last rows (one list's neighbour) instead of with other columns' partial
 *                          blocks. Other heads take _SPLIT's items. MINROWS bounds an item's blocks (at most
 *                          192/16 + 2 <= VOX_SM90_GMAX) and those in a 64-row window (<= VOX_SM90_WGMAX). */
#define VOX_SM90_PLAN_M_COLS 16
#define VOX_SM90_PLAN_COLS_MINROWS 16
/* An item's second word: the block count G and the rows skipped in its first block (split items) */
#define VOX_SM90_ITEM_G(w) ((int)((unsigned)(w) & 0xffffu))
#define VOX_SM90_ITEM_SKIP(w) ((int)((unsigned)(w) >> 16))
/* The slot vox_attn_sm90_plan writes item hidx (0-based in head bh's chain) to: the head's first
 * first_long items (no global block; first_long = the index of the item that holds position NBv,
 * or the head's item count) at front + base + hidx (base: the head's offset from the counter), the
 * others at bh * ngf + hidx - first_long (ngf = NB - NBv front slots per head; front = BH * ngf).
 * tests/test_sm90_pack.c checks the layout on the host with this macro. */
#define VOX_SM90_PLAN_SLOT(bh, hidx, first_long, ngf, front, base)                                         \
    ((hidx) < (first_long) ? (int64_t)(front) + (int64_t)(base) + (hidx)                                   \
                           : (int64_t)(bh) * (ngf) + ((hidx) - (first_long)))

/* Backward (dq and dkdv kernels), per scheme PACK: 0 alternating (one 64-row unit per CTA, one
 * resident pair), 1 packed (two units per CTA, one resident pair per consumer), and for dkdv only
 * the atomic-dQ schemes (packed, and dQ = dS K of every streamed tile added into an f32
 * accumulator by TMA reduce-add, FA3's 5 GEMMs): VOX_SM90_BWD_ATOMIC (one dS^T tile per consumer;
 * every consumer thread waits until the dQ tile is staged, which frees the dS^T tiles) and
 * VOX_SM90_BWD_ATOMIC_DB (two per consumer, by stage parity: only the issuing thread waits).
 * Resident tiles, streamed stages (D = 128: 4 packed stages fit next to 4 resident tiles, 5 next
 * to 2, 3 next to 4 and the atomic area); the atomic area: the consumers' dS^T tiles (8 KB each),
 * the f32 dQ staging tile [64][D], the stages' chunk slots (16 B each), two mbarriers; 1 KB
 * alignment slack, the resident tiles, STAGES x 2 streamed tiles, the atomic area, meta */
#define VOX_SM90_BWD_ATOMIC 2
#define VOX_SM90_BWD_ATOMIC_DB 3
/* VOX_SM90_BWD_ATOMIC_RW (session 20, VOXATTN_SM90_BWD_DKDVQ_VAR): ATOMIC with the reduce-adds issued by
 * a producer-warpgroup warp (the REDUCER) instead of a consumer thread: 48 more bytes in the atomic area
 * (after the staging tile: mbarriers sfbar, qdbar, the staged tile's counts and chunk rows) */
#define VOX_SM90_BWD_ATOMIC_RW 4
#define VOX_SM90_BWD_RW_BYTES(PACK) ((PACK) == VOX_SM90_BWD_ATOMIC_RW ? 48 : 0)
#define VOX_SM90_BWD_IS_ATOMIC(PACK) ((PACK) >= VOX_SM90_BWD_ATOMIC)
#define VOX_SM90_BWD_DS_TILES(PACK) ((PACK) == VOX_SM90_BWD_ATOMIC_DB ? 4 : 2)
#define VOX_SM90_BWD_RES(PACK) ((PACK) ? 4 : 2)
/* VOX_SM90_BWD_PK5 (compile time, 0 unless defined; an experiment): the packed scheme at D = 128
 * with 5 stages instead of 4, which fits only without the 1 KB alignment slack (232,112 bytes of
 * the 232,448 opt-in): the kernel then requires the dynamic shared memory to start 1024-aligned
 * (it traps otherwise; on sm_90 it starts after the driver's 1 KB) */
#ifndef VOX_SM90_BWD_PK5
#define VOX_SM90_BWD_PK5 0
#endif
#define VOX_SM90_BWD_STAGES(D, PACK)                                                                       \
    ((D) == 128 ? (VOX_SM90_BWD_IS_ATOMIC(PACK) ? 3 : (PACK) ? (VOX_SM90_BWD_PK5 ? 5 : 4) : 5) : 8)
#define VOX_SM90_BWD_SLACK(D, PACK) ((VOX_SM90_BWD_PK5 && (D) == 128 && (PACK) == 1) ? 0 : 1024)
#define VOX_SM90_BWD_DQ_AREA(D, PACK)                                                                        \
    (VOX_SM90_BWD_IS_ATOMIC(PACK) ? VOX_SM90_BWD_DS_TILES(PACK) * (size_t)8192 + 64 * (size_t)(D) * 4 +  \
                                        VOX_SM90_BWD_RW_BYTES(PACK) + 16 * (size_t)VOX_SM90_BWD_STAGES(D, PACK) + \
                                        16                                                                   \
                                  : 0)
/* the packed scheme's split producer (SP of attn_bwd_dkdv, VOXATTN_SM90_BWD_PRODUCER): per stage an mbarrier and 4
 * chunk rows after meta (BwdSmem::cmdbar_at, cmd_at), then the grouped key units' membership word per stage
 * (BwdSmem::cmw_at; VoxSm90BwdParams.kgrp) */
#define VOX_SM90_BWD_CMD_AREA(D, PACK) ((PACK) == 1 ? 28 * (size_t)VOX_SM90_BWD_STAGES(D, PACK) : 0)
#define VOX_SM90_BWD_SMEM_BYTES(D, PACK)                                                               \
    (VOX_SM90_BWD_SLACK(D, PACK) + (size_t)(VOX_SM90_BWD_RES(PACK) + 2 * VOX_SM90_BWD_STAGES(D, PACK)) * 64 * (D) * 2 + \
     VOX_SM90_BWD_DQ_AREA(D, PACK) + 544 * (size_t)VOX_SM90_BWD_STAGES(D, PACK) + 16 + VOX_SM90_BWD_CMD_AREA(D, PACK))
/* dq's grouped units (VoxSm90BwdParams.qgrp, session 22) and the packed dkdv's (kgrp, session 23): the membership
 * bytes of NB blocks after meta (BwdSmem::memb), added to the kernel's dynamic shared memory */
#define VOX_SM90_BWD_QGRP_BYTES(NB) ((((size_t)(NB) + 3) / 4 * 4 + 15) / 16 * 16)
/* the small blocks that dq's grouped units take: 1..16 valid rows */
#define VOX_SM90_BWD_QGRP_SMALL(v) ((v) >= 1 && (v) <= 16)
/* Backward grid of dq and dkdv: PACK, two 64-row units (tiles of blocks) of one head per CTA
 * (ceil(units/2) per head); else one unit per CTA */
#define VOX_SM90_BWD_CTAS(BH, NB, V, PACK) \
    ((PACK) ? (BH) * (((NB) * ((V) / 64) + 1) / 2) : (BH) * (NB) * ((V) / 64))
/* The packed dkdv / dkdv_q grid with a key-unit table (VoxSm90BwdParams.runit: U units per head) */
#define VOX_SM90_BWD_CTAS_U(BH, U) ((BH) * (((U) + 1) / 2))
/* Key units of the packed dkdv / dkdv_q with the partial blocks' keys packed (VoxSm90BwdParams.runit,
 * NOTES.md session 16): a block with more than 16 valid keys (or none) keeps its unit (one 64-key
 * tile), blocks with 1..16 are taken 4 at a time in block order as the 16-row chunks of one unit
 * (first all 64-key units in block order, then the chunk units; the last group may be short: slots
 * -1). V = 64 only. vox_attn_bwd_sm90_runits builds the same table on the device. Only
 * for masks where the blocks of a group have the same transposed list in every head (a dense mask:
 * every list is all blocks): the unit streams its first block's list. Writes up to NB units of 4
 * ints into out; returns their count, 0 when nothing packs (V != 64, fewer than 2 such blocks:
 * leave runit NULL). */
static inline long long vox_sm90_bwd_runits(const int *block_valid, long long NB, long long V, int *out)
{
    long long n = 0, np = 0;
    int g[4] = {-1, -1, -1, -1}, ng = 0;
    if (V != 64)
        return 0;
    for (long long i = 0; i < NB; i++) { /* the normal blocks' units first */
        const int nv = block_valid[i];
        if (!(nv > 0 && nv <= 16)) {
            out[4 * n] = (int)i, out[4 * n + 1] = 0, out[4 * n + 2] = -1, out[4 * n + 3] = -1;
            n++;
        }
    }
    for (long long i = 0; i < NB; i++) { /* then the small blocks, 4 per unit */
        const int nv = block_valid[i];
        if (nv > 0 && nv <= 16) {
            g[ng++] = (int)i, np++;
            if (ng == 4) {
                out[4 * n] = ~g[0], out[4 * n + 1] = g[1], out[4 * n + 2] = g[2], out[4 * n + 3] = g[3];
                n++, ng = 0, g[1] = g[2] = g[3] = -1;
            }
        }
    }
    if (ng > 0) {
        out[4 * n] = ~g[0], out[4 * n + 1] = g[1], out[4 * n + 2] = g[2], out[4 * n + 3] = g[3];
        n++;
    }
    return np < 2 ? 0 : n;
}

/* The library's scheme per kernel (H200 timings, NOTES.md session 8): dq alternating with 5
 * stages, dkdv packed; the atomic-dQ mode runs dkdv as VOX_SM90_BWD_DKDVQ_PACK and no dq:
 * VOX_SM90_BWD_ATOMIC (one dS^T tile per consumer), faster than _DB in every harness config
 * measured (session 9; session 15: dense 1057 vs 1090 ms, ragged 50% 561 vs 589, 25% 315 vs 323); since session 20
 * the library's default dkdv_q kernels are _q_rwu_ (VOX_SM90_BWD_ATOMIC_RW, the reduce-adds on a producer-warpgroup
 * warp; VOXATTN_SM90_BWD_DKDVQ_VAR=0: these) */
#define VOX_SM90_BWD_DQ_PACK 0
#define VOX_SM90_BWD_DKDV_PACK 1
#define VOX_SM90_BWD_DKDVQ_PACK VOX_SM90_BWD_ATOMIC

#ifdef __CUDACC__
#define VOX_SM90_HD __host__ __device__
#else
#define VOX_SM90_HD
#endif
/* The backward's grid order (dq, dkdv, dkdv_q; VoxSm90BwdParams.front, session 17): grid CTA b of BH * P
 * (P CTAs per head over its U units of V/64 tiles per block; pk: 2 units per CTA, CTA x holding units 2x,
 * 2x + 1) is CTA *x of head *bh. front <= 0: head after head (x = b mod P). front > 0: the F CTAs of each
 * head that hold units of its last `front` blocks (the global / text blocks: the longest lists) come
 * first, all heads (b < BH F), then the other P - F of every head in head order, so the long units
 * start at once instead of in the last wave. A bijection for any front (tests/test_sm90_pack.c). */
/* F, the front CTAs per head of that order (0 for front <= 0); also the host's, for the CTA-order tables
 * (cuda_sm90.c, vox_attn_bwd_sm90_order). */
static inline VOX_SM90_HD long long vox_sm90_bwd_front(long long P, long long U, int pk, int front, int V)
{
    if (front <= 0)
        return 0;
    const long long fu = (long long)front * (V / 64) < U ? (long long)front * (V / 64) : U;
    return pk ? P - (U - fu) / 2 : fu;
}
/* the same order for a grid of P positions per head, the last F of them first (the packed dkdv's grouped key units:
 * fewer positions, the front ones as without groups) */
static inline VOX_SM90_HD void vox_sm90_bwd_cta_f(long long b, long long BH, long long P, long long F, long long *bh,
                                                  long long *x)
{
    if (b < BH * F) {
        *bh = b / F, *x = P - F + (b - *bh * F);
    } else {
        const long long r = b - BH * F, Q = P - F;
        *bh = r / Q, *x = r - *bh * Q;
    }
}
/* The packed dkdv's grouped key units (VoxSm90BwdParams.kgrp, V = 64; the host's grid and the order kernel): the
 * units the groups are taken from, those of the ceil(NB / 2) - F pairs of block order before the F front pairs (at
 * most NB) */
static inline VOX_SM90_HD long long vox_sm90_bwd_kgrp_units(long long NB, long long F)
{
    const long long n = 2 * ((NB + 1) / 2 - F);
    return n < NB ? n : NB;
}
static inline VOX_SM90_HD void vox_sm90_bwd_cta(long long b, long long BH, long long P, long long U, int pk, int front,
                                                int V, long long *bh, long long *x)
{
    vox_sm90_bwd_cta_f(b, BH, P, vox_sm90_bwd_front(P, U, pk, front, V), bh, x);
}

/* The greedy rule's state at an item's start is (g, tot) = (0, 0), and gfirst is set by the item's
 * first block with rows before it is read (VOX_SM90_PACK_CLOSE reads it only when tot % 64 != 0):
 * an item that starts at position x ends at the same position whatever came before x. This is
 * that position (the start of the next item) for rows[0..nb) of one head (each >= 0): at most
 * x + VOX_SM90_GMAX. The device planner computes it for every x at once and follows the chain
 * from 0; the host planner's items are that chain (tests/test_sm90_pack.c). */
static inline VOX_SM90_HD int vox_sm90_plan_next(const unsigned short *rows, int x, int nb, int maxrows)
{
    int y = x, g = 0, tot = 0, gfirst = 0;
    for (; y < nb; y++) {
        const int r = rows[y];
        if (g > 0 && VOX_SM90_PACK_CLOSE(g, tot, r, gfirst, maxrows))
            break;
        gfirst = VOX_SM90_PACK_FIRST(g, tot, r, gfirst);
        g++, tot += r;
    }
    return y;
}

/* Host plan (same packing as the device plan kernel; plain C, also
 * called by tests/test_sm90_pack.c): rows[m] = processed rows
 * of row block m; writes {m0, G} pairs into items (room for BH*NB pairs);
 * returns the item count. */
static inline int vox_sm90_plan_host(const int *rows, int64_t BH, int64_t NB, int *items, int maxrows)
{
    int n = 0;
    for (int64_t bh = 0; bh < BH; bh++) {
        int tot = 0, g = 0, gfirst = 0;
        int64_t start = 0;
        for (int64_t i = 0; i < NB; i++) {
            int64_t m = bh * NB + i;
            int r = rows[m] < 0 ? 0 : rows[m];
            if (g > 0 && VOX_SM90_PACK_CLOSE(g, tot, r, gfirst, maxrows)) {
                items[2 * n] = (int)start, items[2 * n + 1] = g, n++;
                g = 0, tot = 0;
            }
            if (g == 0)
                start = m;
            gfirst = VOX_SM90_PACK_FIRST(g, tot, r, gfirst);
            g++, tot += r;
        }
        if (g > 0)
            items[2 * n] = (int)start, items[2 * n + 1] = g, n++;
    }
    return n;
}
