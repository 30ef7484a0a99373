/* Block-sparse attention forward for Hopper (sm_90a): wgmma + TMA + mbarriers,
 * warp-specialized. Implements the vox_op_attention contract (core/backend.h).
 * Launch interface and tensor-map encoding: attention_forward_sm90_host.h.
 * Measurements and what limits them: NOTES.md (same folder).
 *
 * CTA = 1 producer warpgroup + NWG consumer warpgroups (NWG = 2: 384 threads,
 * NWG = 3: 512 threads), one CTA per SM (~200-220 KB shared memory):
 *   producer: builds the union of the KV lists of the CTA's query blocks as a
 *        membership word per KV block in shared memory, then warp 0 walks it
 *        in ascending block order and streams K and V with
 *        cp.async.bulk.tensor.2d (128B swizzle, 64-column boxes) into a
 *        STAGES-deep ring of 64-key stages, one full/empty mbarrier pair per
 *        stage: 64 valid keys of one block as one 64-row box, the valid keys
 *        of partial blocks (a grid's ragged edges) as 16-key chunks, four per
 *        stage (16-row boxes), so padding slots cost at most 15 keys per
 *        block instead of 64 - valid. Each stage carries, per 16-key chunk,
 *        the membership mask (which of the CTA's query blocks list that KV
 *        block) and the valid-key count, published by the stage's arrival.
 *   consumers: each owns 64 query rows, gathered row by row from global (so
 *        kept rows of query pruning cost nothing extra) into registers, or
 *        (QSM = VOX_SM90_QSMEM: NWG = 3 at D = 128, where 160 registers per
 *        consumer thread leave no room for 32 of Q) into shared memory in the
 *        K tile's swizzled layout, 48 KB next to a 5-stage ring.
 *        Per tile: S = Q K^T (wgmma m64n64k16, A = Q regs or smem, B = K smem),
 *        masking (padding keys, rows whose block does not list this KV block),
 *        online softmax in f32 (exp2 domain, scale folded), O += P V (wgmma
 *        m64nDk16, A = P regs, B = V smem read MN-major). The P V product of
 *        tile t runs on the tensor cores while tile t+1's softmax runs (FA3
 *        intra-warpgroup overlap). A consumer skips tiles none of its rows'
 *        blocks list (flushing its pending P V first, so no stage is held).
 * The rows of a CTA (at most 64*NWG) are the processed rows (valid rows, or
 * kept rows) of G <= VOX_SM90_GMAX (16) consecutive query blocks of one head,
 * concatenated; rows 64w..64w+63 go to consumer w, whose blocks lie within 8
 * consecutive positions (VOX_SM90_WGMAX; the stage info's 16-bit chunk masks
 * become 8-bit masks relative to the warpgroup's first block, stage_mask). A
 * plan (the `items` array, {m0, G} per CTA) packs blocks greedily; without
 * pruning that is 3 blocks of V=64 (NWG = 3) or one block of V=128 per CTA (NWG = 2; the library's
 * default since session 14: 1.5 blocks of V=128 on NWG = 3, VOX_SM90_PLAN_M_SPLIT, items G | skip << 16),
 * with keep 0.5 six blocks of V=64 (NWG = 3), with keep 0.25 twelve, etc. Packing
 * saves work when the packed blocks' KV lists overlap (neighbouring query
 * blocks of real video masks do); for unrelated lists the union costs as
 * much as separate CTAs.
 * (2-CTA clusters with multicast K/V and ping-pong turn-taking between the
 * consumers were measured slower: NOTES.md; clusters were removed, ping-pong
 * stays behind params.pingpong.)
 *
 * Requirements: V a power of two >= 64, D in {64,128}, NB <= ~14000 (shared memory;
 * ~6000 for the QSM kernel), V <= 64 * NWG,
 * BH*S < 2^31, q/k/v/o rows 16-byte aligned (contiguous [BH][S][D]).
 * NaN in a row's q makes that row's o and lse NaN (as the sm_80 kernel).
 * Inf/NaN in K or V reaches only the rows that attend the key (docs/numerics.md).
 * K: scores of keys a row does not attend are replaced (select) by -inf, so K
 * never needs care. V: the P V wgmma multiplies every key of a stage by every
 * row, and 0 x Inf = NaN. The plan launch flags every KV block whose V holds
 * an Inf/NaN (params.vbad, vflags below: one read of V); the producer marks
 * the chunks of flagged blocks in the stage info, and only a stage with a
 * marked chunk that some row of the warpgroup does not attend runs its P V on
 * zero rows and adds the attended keys in f32 instead (poisoned / pv_fix).
 * The kernel is compiled twice (SAFE): the fast variant has none of that code
 * and takes the heads with no flagged block, the safe (_nf) variant the others;
 * both are launched on the same grid and each CTA returns at once in the
 * variant that is not its own (head_flagged: one read of the head's flag words),
 * so with finite V the cost is the flag read and one near-empty launch.
 * Every consumer thread arrives on the empty barriers itself (compute-sanitizer
 * racecheck: an arrival orders only the arriving thread's own prior accesses).
 * The fast variant's producer lane arrives (arrive.expect_tx) before issuing a
 * stage's copies, as before; the safe variant's after them, since its pv_fix
 * reads stage V with plain loads.
 * A row's keys are visited in an order fixed by the CTA's masks (whole tiles
 * in ascending block order, chunks when four are pending): deterministic.
 * params.persist (the library's default): a grid of one CTA per SM loops over
 * the items (next_item: a counter per variant, the other variant's heads
 * skipped by params.hflag); the producer sends the next item with each item's
 * end marker and streams it while the consumers finish (NOTES.md, session 10).
 * params.qtok / otok: q read from, o and lse written to the caller's tensors.
 */
#pragma once
#include <cuda.h>
#include <stdint.h>
#include "sm90_args.h"
#include "sm90_smem.h"
#include "sm90_wgmma.cuh"


#define VOX_SM90_THREADS 384 /* 2 consumer warpgroups; (NWG + 1) * 128 in general */
/* VOX_SM90_GMAX (sm90_smem.h): query blocks per CTA at most */
/* Stage info, second word: per 16-key chunk c one byte, the valid key count (0..16) in its
 * low 5 bits and VOX_SM90_CBAD when the chunk's KV block has a non-finite V (params.vbad). */
#define VOX_SM90_CBAD 0x80u
#define VOX_SM90_CCNT(c4, c) (((c4) >> (8 * (c))) & 0x1fu)


#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 900) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define VOX_SM90_ENABLED 1
#else
#define VOX_SM90_ENABLED 0
#endif

namespace vox_sm90 {

__device__ __forceinline__ uint32_t smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }
__device__ __forceinline__ void st_shared_s32(uint32_t a, int v) { asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(a), "r"(v) : "memory"); }
__device__ __forceinline__ int ld_shared_s32(uint32_t a)
{
    int v;
    asm volatile("ld.shared.u32 %0, [%1];\n" : "=r"(v) : "r"(a) : "memory");
    return v;
}

__device__ __forceinline__ void mbar_init(uint32_t bar, int count)
{
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint32_t bar, int parity)
{
    asm volatile("{\n.reg .pred P1;\nLAB_WAIT:\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 P1, [%0], %1;\n"
                 "@P1 bra DONE;\nbra LAB_WAIT;\nDONE:\n}\n" ::"r"(bar),
                 "r"(parity)
                 : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar)
{
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
/* expect tx bytes on the current phase without arriving (the arrival comes after the copies are issued) */
__device__ __forceinline__ void mbar_tx(uint32_t bar, int bytes)
{
    asm volatile("mbarrier.expect_tx.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
/* arrive and expect tx bytes on the current phase (the copies are issued after the arrival) */
__device__ __forceinline__ void mbar_arrive_tx(uint32_t bar, int bytes)
{
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void tma_load_2d(uint32_t dst, const CUtensorMap *map, int c0, int c1, uint32_t bar)
{
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], "
                 "[%4];\n" ::"r"(dst),
                 "l"((unsigned long long)map), "r"(c0), "r"(c1), "r"(bar)
                 : "memory");
}
template <int ID, int N> __device__ __forceinline__ void named_bar() { asm volatile("bar.sync %0, %1;\n" ::"n"(ID), "n"(N) : "memory"); }

__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void wg_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory"); }
template <int N> __device__ __forceinline__ void fence_regs(float *r)
{
#pragma unroll
    for (int i = 0; i < N; i++)
        asm volatile("" : "+f"(r[i])::"memory");
}
template <int N> __device__ __forceinline__ void fence_regs_u(unsigned *r)
{
#pragma unroll
    for (int i = 0; i < N; i++)
        asm volatile("" : "+r"(r[i])::"memory");
}

/* Shared-memory matrix descriptor, 128-byte swizzle. */
__device__ __forceinline__ unsigned long long desc_sw128(uint32_t addr, uint32_t lbo, uint32_t sbo)
{
    return (unsigned long long)((addr & 0x3FFFF) >> 4) | ((unsigned long long)((lbo >> 4) & 0x3FFF) << 16) |
           ((unsigned long long)((sbo >> 4) & 0x3FFF) << 32) | (1ull << 62);
}

/* Descriptor d advanced by `bytes` (a multiple of 16) along its tile: the start-address field (bits
 * 0-13, address >> 4) plus bytes >> 4; no carry into the leading-offset bits (16..) while the address
 * stays below 256 KB, which a CTA's shared window does (227 KB + 1 KB). Forward and backward. */
__device__ __forceinline__ unsigned long long desc_adv(unsigned long long d, uint32_t bytes)
{
    return (d & 0xffffffff00000000ull) | (uint32_t)((uint32_t)d + (bytes >> 4));
}
/* A warp-uniform shared address as lane 0's: the compiler cannot prove a stage's tile addresses uniform
 * (they follow the stage loop, whose exit reads shared memory), so it builds every descriptor in vector
 * registers and moves both halves to uniform registers (R2UR) per wgmma; from a shuffle of lane 0 it
 * keeps the descriptor in uniform registers, a uniform add and move per k-step. Forward and backward. */
__device__ __forceinline__ uint32_t sm90_uniform(uint32_t a) { return __shfl_sync(0xffffffffu, a, 0); }

#include "../../gpu/kernels/pack2.cuh"

#define VOX_SM90_INF __int_as_float(0x7f800000)

/* Whether any of the 8 f16/bf16 values in v is Inf or NaN: exponent all ones, E = the exponent
 * mask of two packed values (VOX_SM90_EXP2(bf)). */
#define VOX_SM90_EXP2(bf) ((bf) ? 0x7f807f80u : 0x7c007c00u)
__device__ __forceinline__ bool any_nonfinite8(uint4 v, unsigned E)
{
    bool r = false;
    const unsigned w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const unsigned x = (w[i] & E) ^ E;
        r |= (x & 0xffffu) == 0u || (x >> 16) == 0u;
    }
    return r;
}
/* The two f16/bf16 values of a packed pair as floats (lo = bits 0..15). */
template <bool BF> __device__ __forceinline__ void unpack2(unsigned u, float &lo, float &hi)
{
    if (BF) {
        lo = __uint_as_float(u << 16), hi = __uint_as_float(u & 0xffff0000u);
    } else {
        float a, b;
        asm("{\n.reg .f16 l, h;\nmov.b32 {l, h}, %2;\ncvt.f32.f16 %0, l;\ncvt.f32.f16 %1, h;\n}\n"
            : "=f"(a), "=f"(b)
            : "r"(u));
        lo = a, hi = b;
    }
}

/* Block index (within head bh) of block g of the item starting at m0 = bh*NB + x0. */
__device__ __forceinline__ long long item_block(const VoxSm90AttnParams &p, long long m0, long long bh, int g)
{
    return p.order ? (long long)p.order[m0 + g] : m0 + g - bh * p.NB;
}

__device__ __forceinline__ float ex2(float x)
{
#ifdef VOX_DIAG_NOEXP
    return x;
#else
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
#endif
}

/* y = 2^x where p != 0, y unchanged elsewhere: a predicated MUFU op, no branch */
__device__ __forceinline__ void ex2p(float &y, float x, unsigned p)
{
    asm("{\n.reg .pred q;\nsetp.ne.u32 q, %2, 0;\n@q ex2.approx.ftz.f32 %0, %1;\n}\n" : "+f"(y) : "f"(x), "r"(p));
}

/* Whether some KV block of head bh has a non-finite V (params.vbad; NULL: yes). Every thread
 * of the CTA calls it (one barrier); a head's nw = ceil(NB/32) words are read once. */
__device__ __forceinline__ bool head_flagged(const VoxSm90AttnParams &p, long long bh)
{
    if (!p.vbad)
        return true;
    const long long nw = (p.NB + 31) >> 5;
    unsigned any = 0u;
    for (long long w = threadIdx.x; w < nw; w += blockDim.x)
        any |= p.vbad[bh * nw + w];
    return __syncthreads_or(any != 0u) != 0;
}

/* persist: the next item for this variant (one thread calls it), or -1 when none is left. Items
 * come in plan order from the variant's counter (work[0], work[1]); the fast variant skips the
 * items of flagged heads, the safe one the others and returns at once when no head is flagged. */
template <bool SAFE> __device__ __forceinline__ int next_item(const VoxSm90AttnParams &p)
{
    const int n_items = *(volatile const int *)p.n_items_dev + p.n_items; /* + the planner's front region */
    if (SAFE && !*(volatile int *)(p.work + 2))
        return -1;
    while (true) {
        const int i = atomicAdd(p.work + (SAFE ? 1 : 0), 1);
        if (i >= n_items)
            return -1;
        const int m0 = p.items[2 * i], G = p.items[2 * i + 1];
        if (G > 0 && (p.hflag[m0 / p.NB] != 0u) == SAFE)
            return i;
    }
}

/* Harness-only variants (VAR bits; the library's kernels are VAR = 0; bench_sm90 instantiates the
 * others to A/B them at keep < 1, NOTES.md session 12):
 *   HOLD: a consumer whose next stage is not its own keeps its P V pending (the stage held) while
 *         the stages it skips stay within the ring (it waits for stage X while holding stage P
 *         only if X < P + STAGES, so the producer never needs the held slot first: no deadlock),
 *         instead of flushing at the first skipped stage (which ends the intra-warpgroup overlap);
 *   SKIPDEAD: the exp2 of a row none of whose blocks lists any chunk of the tile is predicated off
 *         (P = 0 there, as exp2(-inf); a warp whose rows all are such issues no MUFU work);
 *   SKIPBR: the same as a warp-uniform branch around masking, max and exp2 (spills);
 *   RING4: ablation, one ring stage fewer (how much the ring's depth couples the consumers);
 *   STREAM: ablation, the consumers skip every stage (wrong output: the producer's stream alone);
 *   NOSOFTMAX: ablation, S and P V run but softmax does nothing (wrong output);
 *   TS: the CTA's first and last globaltimer go to ((unsigned long long *)params.sweep_pos)[2 CTA],
 *       [2 CTA + 1] (the persistent grid's tail). */
#define VOX_SM90_VAR_HOLD 1
#define VOX_SM90_VAR_SKIPDEAD 2
#define VOX_SM90_VAR_STREAM 4
#define VOX_SM90_VAR_NOSOFTMAX 8
#define VOX_SM90_VAR_TS 16
#define VOX_SM90_VAR_SKIPBR 64 /* SKIPDEAD as a warp-uniform branch (ptxas: ~130 B of spills) */
#define VOX_SM90_VAR_RING4 128 /* ablation: one ring stage fewer (the coupling of the consumers) */
#define VOX_SM90_VAR_BREAK 32 /* with SKIPDEAD: the dead path leaves P = the raw scores (the check must fail) */
/* UDESC (session 19; the library's bf16 D = 128 3-warpgroup kernels, VOXATTN_SM90_UDESC=0 the others): the
 * consumers build a stage's wgmma descriptors once from warp-uniform addresses (sm90_uniform: ptxas then
 * keeps them in uniform registers) and advance them per k-step by a constant in the start-address field
 * (desc_adv), Q's once per item, instead of rebuilding both descriptors of every wgmma from byte
 * addresses (add, mask, shift, or, two R2UR each: the phase-B path from the full barrier to the S wait
 * 146 -> 85 SASS instructions); as the backward's VOX_SM90_BWD_IS 1. Same wgmmas on the same addresses:
 * results bitwise those of VAR 0. H200 (NOTES.md, session 19): -3.7% (wan-14b grid), -3.9% (4,4,8). */
#define VOX_SM90_VAR_UDESC 512
__device__ __forceinline__ unsigned long long gtimer()
{
    unsigned long long t;
    asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t));
    return t;
}

/* SAFE = false: the fast variant, for heads whose V is finite (no poisoned / pv_fix code at
 * all); SAFE = true: the safe variant, for heads with a flagged block. Each CTA runs in exactly
 * one of the two launches (head_flagged), decided on the device. */
template <int D, bool BF, int NWG, bool SAFE, int VAR = 0>
__device__ __forceinline__ void attn_fwd(const VoxSm90AttnParams &p, const CUtensorMap *tmK, const CUtensorMap *tmV,
                                         const CUtensorMap *tmK16, const CUtensorMap *tmV16)
{
#if VOX_SM90_ENABLED
    /* RING4 (harness ablation): one ring stage fewer than the shared memory holds */
    constexpr int STAGES = VOX_SM90_STAGES(D, NWG) - ((VAR & VOX_SM90_VAR_RING4) ? 1 : 0);
    constexpr bool QSM = VOX_SM90_QSMEM(D, NWG); /* Q in shared memory, S as an SS wgmma */
    /* the P V of tile t overlaps tile t+1's S and softmax, except in the safe variant of the QSM
     * kernel (with pv_fix that spills at 160 registers; it only runs heads with Inf/NaN in V) */
    constexpr bool OVERLAP = !(SAFE && QSM);
    constexpr int HALVES = D / 64;             /* 64-column boxes per tile */
    constexpr int TILE_BYTES = 64 * D * 2;     /* K or V tile of 64 keys */
    constexpr int STAGE_BYTES = 2 * TILE_BYTES;
    constexpr int KSTEPS = D / 16;
    extern __shared__ unsigned char vox_sm90_smem[];

    const int n_items = p.n_items_dev ? *p.n_items_dev + p.n_items : p.n_items;
    if constexpr ((VAR & VOX_SM90_VAR_TS) != 0) /* stored at once: no register lives through the kernel */
        if (threadIdx.x == 0 && p.sweep_pos)
            ((unsigned long long *)p.sweep_pos)[2 * blockIdx.x] = gtimer();

    const uint32_t raw = smem_u32(vox_sm90_smem);
    const uint32_t base = (raw + 1023u) & ~1023u;
    unsigned char *gb = vox_sm90_smem + (base - raw);
    const uint32_t ring = base;
    /* QSM: Q of consumer w at qs + w * TILE_BYTES, laid out as a K tile (64 rows, 64-column
     * halves 8 KB apart, 128B swizzle) */
    const uint32_t qs = ring + STAGES * STAGE_BYTES;
    constexpr int ZOFF = STAGES * STAGE_BYTES + (int)VOX_SM90_QS_BYTES(D, NWG);
    /* 16 zero rows of V (VOX_SM90_ZROWS_BYTES: 16 x D, 1 KB aligned): the P V operand of a
     * "poisoned" stage (see pv_fix) */
    const uint32_t zrows = ring + ZOFF;
    unsigned char *meta = gb + ZOFF + VOX_SM90_ZROWS_BYTES(D);
    const uint32_t full0 = smem_u32(meta), empty0 = full0 + 8 * STAGES;
    /* per stage 4 words: the 4 chunk masks (16 bits each: chunks 0, 1 in word 0, 2, 3 in word 1),
     * the 4 chunk key counts (8 bits each), one unused */
    volatile unsigned *info = (volatile unsigned *)(meta + 16 * STAGES);
    int *rslot = (int *)(meta + 32 * STAGES + 12);
    rslot = (int *)(((uintptr_t)rslot + 15) & ~(uintptr_t)15);
    int *rsrc = rslot + 64 * NWG;
    unsigned char *bm = (unsigned char *)(rslot + 256 * 2);

    const int tid = threadIdx.x, wg = tid >> 7;
    const long long NB = p.NB;
    const int V = p.V;
    const long long S = NB * (long long)V;
    /* persist: the first item is handed over in *snext (in the rest of the row-table area, after
     * rslot and rsrc); the next ones go with the end marker of the previous item's stream (its
     * first info word), and within the producer warpgroup through *snext again */
    const uint32_t snext = smem_u32(rslot + 504);
    int item0;
    if (!p.persist) { /* one item per CTA: blockIdx.x */
        item0 = blockIdx.x;
        if (item0 >= n_items || p.items[2 * item0 + 1] <= 0)
            return;
        if (head_flagged(p, p.items[2 * item0] / NB) != SAFE)
            return; /* the other variant's CTA */
    } else {
        if (tid == 0)
            st_shared_s32(snext, next_item<SAFE>(p));
        __syncthreads();
        item0 = ld_shared_s32(snext); /* rewritten after the __syncthreads below */
        if (item0 < 0)
            return;
    }

    if (tid == 0) {
        for (int s = 0; s < STAGES; s++) {
            mbar_init(full0 + 8 * s, 1);
            mbar_init(empty0 + 8 * s, 128 * NWG); /* every consumer thread arrives (see release) */
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
    int it = 0; /* ring stages taken so far (producer warp 0; every consumer thread), over all items */

    if (wg == 0) {
        /* ---------------- producer ---------------- */
        if (NWG == 2)
            asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
        else
            asm volatile("setmaxnreg.dec.sync.aligned.u32 32;\n"); /* 128*32 + 384*160 = 64K (24 spills) */
        for (int item = item0;;) {
        const int m0 = p.items[2 * item], G = VOX_SM90_ITEM_G(p.items[2 * item + 1]);
        const long long bh = m0 / NB;
        for (int x = tid * 16; x < 2 * p.nb_pad; x += 128 * 16)
            *(uint4 *)(bm + x) = make_uint4(0, 0, 0, 0);
        named_bar<1, 128>();
        /* membership map: 16 bits per KV block, bit g = query block g lists it */
        for (int g = 0; g < G; g++) {
            const long long blk = item_block(p, m0, bh, g), m = bh * NB + blk;
            const int rows = p.kept_count ? p.kept_count[m] : p.block_valid[blk];
            if (rows <= 0)
                continue;
            const int st = p.kv_start[m], cnt = p.kv_count[m];
            for (int c = tid; c < cnt; c += 128) {
                int col = p.kv_cols[st + c];
                atomicOr((unsigned *)(bm + 4 * (col >> 1)), (1u << g) << ((col & 1) * 16));
            }
        }
        named_bar<1, 128>();
        if (tid < 32) {
            const int lane = tid;
            /* Stages carry 64 keys: one block's 64 consecutive valid keys (one box per
             * 64 columns), or four 16-key chunks (partial blocks: a chunk holds up to 16
             * valid keys of one block; 16-row boxes placed at 2 KB steps give the same
             * 128B-swizzled layout as one 64-row box, the swizzle repeating every 8 rows).
             * A stage's info: per chunk c (16 columns) the membership mask (a bit per query
             * block of the item, VOX_SM90_GMAX <= 16: bits 16(c&1).. of word c>>1) and the
             * valid key count + VOX_SM90_CBAD (byte c of the third word; counts 16 for a
             * whole tile); a count word 0xffffffff ends the stream. Unused chunk slots load a
             * box wholly before row 0 (TMA fills zeros; mask 0, count 0). Whole tiles go
             * out as they come, chunks when four are pending: a row's keys are visited in
             * an order fixed by the masks (whole tiles ascending, chunks ascending), so
             * results stay deterministic. */
            int pend = 0, prow[4] = {0, 0, 0, 0};
            unsigned pmlo = 0u, pmhi = 0u, pcnt = 0u;
            auto emit = [&](int row, unsigned mlo, unsigned mhi, unsigned c4, bool whole) {
                if (lane == 0) {
                    const int s = it % STAGES, k = it / STAGES;
                    mbar_wait(empty0 + 8 * s, (k & 1) ^ 1);
                    const uint32_t fb = full0 + 8 * s, dk = ring + s * STAGE_BYTES, dv = dk + TILE_BYTES;
                    info[4 * s] = mlo, info[4 * s + 1] = mhi, info[4 * s + 2] = c4; /* published by the arrival below */
                    /* fast variant: main's order (arrive.expect_tx, then the copies); safe: the
                     * arrival after the copies (pv_fix reads stage V with plain loads) */
                    if (!SAFE)
                        row >= 0 ? mbar_arrive_tx(fb, STAGE_BYTES) : mbar_arrive(fb);
                    if (row >= 0) { /* else the end marker: no data */
                        if (SAFE)
                            mbar_tx(fb, STAGE_BYTES);
                        if (whole) {
#pragma unroll
                            for (int h = 0; h < HALVES; h++) {
                                tma_load_2d(dk + h * 8192, tmK, h * 64, row, fb);
                                tma_load_2d(dv + h * 8192, tmV, h * 64, row, fb);
                            }
                        } else {
#pragma unroll
                            for (int c = 0; c < 4; c++) {
                                /* unused chunk slots: a box wholly before row 0 (TMA fills zeros) */
                                const int r = c < pend ? prow[c] : -16;
#pragma unroll
                                for (int h = 0; h < HALVES; h++) {
                                    tma_load_2d(dk + h * 8192 + c * 2048, tmK16, h * 64, r, fb);
                                    tma_load_2d(dv + h * 8192 + c * 2048, tmV16, h * 64, r, fb);
                                }
                            }
                        }
                    }
                    if (SAFE)
                        mbar_arrive(fb); /* after the info words and the copies it publishes */
                }
                it++;
                if (!whole)
                    pend = 0, pmlo = 0u, pmhi = 0u, pcnt = 0u;
            };
            const int nch = (int)((NB + 31) >> 5);
            for (int chx = 0; chx < nch; chx++) {
                const int j0 = chx << 5;
                const int j = j0 + lane;
                const unsigned msk = j < NB ? ((const unsigned short *)bm)[j] : 0u;
                unsigned ball = __ballot_sync(0xffffffffu, msk != 0);
                /* valid keys of block j, plus VOX_SM90_CBAD << 16 when its V is flagged */
                const unsigned vb = !SAFE ? 0u : p.vbad ? p.vbad[(int)bh * nch + chx] : 0xffffffffu;
                const int nv = msk ? p.block_valid[j] | (int)(((vb >> lane) & 1u) * (VOX_SM90_CBAD << 16)) : 0;
                while (ball) {
                    const int b = __ffs(ball) - 1;
                    ball &= ball - 1;
                    const int mj = __shfl_sync(0xffffffffu, (int)msk, b);
                    const int nvb = __shfl_sync(0xffffffffu, nv, b);
                    const int nvj = nvb & 0xffff, row0 = ((int)bh * (int)NB + j0 + b) * V;
                    const unsigned bad = (unsigned)nvb >> 16; /* VOX_SM90_CBAD or 0 */
                    for (int off = 0; off < nvj;) {
                        if (nvj - off >= 64) { /* a whole 64-key tile of one block (pending chunks wait) */
                            emit(row0 + off, (unsigned)mj * 0x00010001u, (unsigned)mj * 0x00010001u,
                                 (16u | bad) * 0x01010101u, true);
                            off += 64;
                            continue;
                        }
                        const int nt = nvj - off < 16 ? nvj - off : 16; /* a 16-key chunk */
                        prow[pend] = row0 + off;
                        if (pend < 2)
                            pmlo |= (unsigned)mj << (16 * pend);
                        else
                            pmhi |= (unsigned)mj << (16 * (pend - 2));
                        pcnt |= ((unsigned)nt | bad) << (8 * pend);
                        off += 16;
                        if (++pend == 4)
                            emit(0, pmlo, pmhi, pcnt, false);
                    }
                }
            }
            if (pend > 0)
                emit(0, pmlo, pmhi, pcnt, false);
            /* persist: the next item (-1: none) rides on the end marker; the ring is STAGES
             * stages ahead of the consumers, so the fetch's latency is hidden */
            const int nxt = p.persist && lane == 0 ? next_item<SAFE>(p) : -1;
            emit(-1, (unsigned)nxt, 0u, 0xffffffffu, false); /* end of the stream */
            if (lane == 0)
                st_shared_s32(snext, nxt);
        }
        if (!p.persist)
            break;
        /* the producer goes on with the next item while the consumers finish this one */
        named_bar<10, 128>(); /* *snext written (rewritten only after the next item's named_bar 1) */
        item = ld_shared_s32(snext);
        if (item < 0)
            break;
        }
    } else {
        /* ---------------- consumers ---------------- */
        if (NWG == 2)
            asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
        else
            asm volatile("setmaxnreg.inc.sync.aligned.u32 160;\n");
        for (int item = item0;;) {
        const int m0 = p.items[2 * item], G = VOX_SM90_ITEM_G(p.items[2 * item + 1]);
        /* split items (VOX_SM90_PLAN_M_SPLIT): the rows start skip rows into block 0; rows past
         * 64 * NWG (the rest of the last block) belong to the next item */
        const int skip = VOX_SM90_ITEM_SKIP(p.items[2 * item + 1]);
        const int bh = m0 / (int)NB;
        const int ctid = tid - 128, cw = wg - 1, w = (tid >> 5) & 3, lane = tid & 31;
        const int gq = lane >> 2, cq = lane & 3;
        int pre[VOX_SM90_GMAX + 1];
        pre[0] = 0;
#pragma unroll
        for (int g = 0; g < VOX_SM90_GMAX; g++) {
            int r = 0;
            if (g < G) {
                const long long blk = item_block(p, m0, bh, g);
                r = p.kept_count ? p.kept_count[bh * NB + blk] : p.block_valid[blk];
                r = g == 0 ? r - skip : r;
                r = r < 0 ? 0 : r;
            }
            pre[g + 1] = pre[g] + r;
        }
        if (ctid < 64 * NWG) {
            int R = ctid, slot = -1, src = 0;
#pragma unroll
            for (int g = 0; g < VOX_SM90_GMAX; g++) {
                if (R >= pre[g] && R < pre[g + 1]) {
                    int loc = R - pre[g] + (g == 0 ? skip : 0);
                    const long long blk = item_block(p, m0, bh, g);
                    src = g;
                    slot = (int)(blk * V + (p.kept_count ? p.kept_rows[(bh * NB + blk) * V + loc] : loc));
                }
            }
            rslot[R] = slot;
            rsrc[R] = src;
        }
        unsigned wm0 = 0u, wm1 = 0u, wmask = 0u;
#pragma unroll
        for (int g = 0; g < VOX_SM90_GMAX; g++) {
            if (pre[g + 1] > pre[g] && pre[g] < 64 && pre[g + 1] > 0)
                wm0 |= 1u << g;
            if (pre[g + 1] > pre[g] && pre[g] < 128 && pre[g + 1] > 64)
                wm1 |= 1u << g;
            if (pre[g + 1] > pre[g] && pre[g] < 64 * cw + 64 && pre[g + 1] > 64 * cw)
                wmask |= 1u << g;
        }
        /* This warpgroup's query blocks are glo..glo+7 at most (the planners keep the blocks with
         * rows in one 64-row window within 8 consecutive positions of the item): the consumer
         * works on 8-bit chunk masks relative to glo (stage_mask), wmask and the rows' src too */
        const int glo = wmask ? __ffs((int)wmask) - 1 : 0;
        wmask >>= glo;
        if constexpr ((VAR & VOX_SM90_VAR_STREAM) != 0)
            wmask = 0u; /* ablation: every stage skipped */
        /* the 16-bit chunk masks of info words a (chunks 0, 1) and b (2, 3) as 8-bit masks
         * relative to glo, chunk c in byte c (bits of blocks past glo + 7 may remain: no row
         * or wmask bit of this warpgroup reads them) */
        auto stage_mask = [glo](unsigned a, unsigned b) {
            return __byte_perm((a >> glo) & 0x00ff00ffu, (b >> glo) & 0x00ff00ffu, 0x6420);
        };
        const bool pp = NWG == 2 && p.pingpong != 0;
        /* release a stage: every consumer thread arrives. An arrival releases the arriving
         * thread's own prior accesses (PTX memory model; compute-sanitizer racecheck checks
         * exactly that): each thread read the stage's info words, which the producer lane
         * rewrites after the empty barrier, so each thread must arrive itself (one arrival
         * per warp after __syncwarp is flagged by racecheck as a WAR hazard on info). */
        auto release = [&](int st) { mbar_arrive(empty0 + 8 * st); };
        /* the blocks that list some chunk of a stage */
        auto anyof = [](unsigned m4) { return (m4 | (m4 >> 8) | (m4 >> 16) | (m4 >> 24)) & 0xffu; };
        int nshared = 0;
        /* turn-taking on tiles both warpgroups use: WG1 issues first, then WG2 (mg: the OR of the
         * stage's two mask words, blocks of the item as bits 0..15) */
        auto turn_begin = [&](unsigned mg) {
            const unsigned any16 = (mg | (mg >> 16)) & 0xffffu;
            if (pp && (any16 & wm0) && (any16 & wm1)) {
                if (cw == 1)
                    named_bar<4, 256>();
                else if (nshared > 0)
                    named_bar<3, 256>();
                return true;
            }
            return false;
        };
        auto turn_end = [&](bool sh) {
            if (sh) {
                nshared++;
                if (cw == 1)
                    asm volatile("bar.arrive 3, 256;\n" ::: "memory");
                else
                    asm volatile("bar.arrive 4, 256;\n" ::: "memory");
            }
        };
        if (SAFE) { /* the zero rows (the fast variant never reads them) */
            for (int x = ctid; x < VOX_SM90_ZROWS_BYTES(D) / 16; x += 128 * NWG)
                *(uint4 *)(gb + ZOFF + 16 * x) = make_uint4(0, 0, 0, 0);
            asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); /* zero rows: read by wgmma */
        }
        named_bar<2, 128 * NWG>();

        const int R0 = cw * 64 + w * 16 + gq, R1 = R0 + 8;
        const int sl0 = rslot[R0], sl1 = rslot[R1];
        const int src0 = max(rsrc[R0] - glo, 0), src1 = max(rsrc[R1] - glo, 0); /* rows not processed: 0 */
        const long long hb = (long long)bh * S;
        /* the q row of slot sl (sl < 0: a row never read): the block copy, or (qtok) the caller's */
        auto qrow = [&](int sl) -> const unsigned short * {
            const unsigned short *q = (const unsigned short *)p.q;
            if (sl < 0)
                return q;
            if (!p.qtok)
                return q + (hb + sl) * D;
            const int b = bh / p.heads, hh = bh - b * p.heads;
            return q + b * p.q_sb + hh * p.q_sh + (long long)p.qtok[sl] * p.q_st;
        };
        /* Q: registers (A operand fragments of S = Q K^T), or QSM: this warpgroup's 64 rows
         * gathered row by row into shared memory (two threads per row, 128 bytes each, in the
         * 128B-swizzled K-major layout), made visible to the async proxy (wgmma reads it) and
         * synced within the warpgroup (named barrier 5 + cw) */
        unsigned qf[QSM ? 1 : KSTEPS][4];
        if constexpr (QSM) {
            const int lt = tid & 127, r = lt >> 1, h = lt & 1, sl = rslot[cw * 64 + r];
            const uint4 *qr = (const uint4 *)(qrow(sl) + h * 64);
            unsigned char *qd = gb + STAGES * STAGE_BYTES + cw * TILE_BYTES + h * 8192 + r * 128;
#pragma unroll
            for (int c = 0; c < 8; c++)
                *(uint4 *)(qd + ((c ^ (r & 7)) << 4)) = sl >= 0 ? __ldg(qr + c) : make_uint4(0, 0, 0, 0);
            asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
            asm volatile("bar.sync %0, 128;\n" ::"r"(5 + cw) : "memory");
        } else {
            const unsigned *q0 = (const unsigned *)qrow(sl0);
            const unsigned *q1 = (const unsigned *)qrow(sl1);
#pragma unroll
            for (int kk = 0; kk < KSTEPS; kk++) {
                qf[kk][0] = sl0 >= 0 ? __ldg(q0 + kk * 8 + cq) : 0u;
                qf[kk][1] = sl1 >= 0 ? __ldg(q1 + kk * 8 + cq) : 0u;
                qf[kk][2] = sl0 >= 0 ? __ldg(q0 + kk * 8 + 4 + cq) : 0u;
                qf[kk][3] = sl1 >= 0 ? __ldg(q1 + kk * 8 + 4 + cq) : 0u;
            }
        }
        const float sl2 = p.scale_log2;
        float oacc[D / 2];
#pragma unroll
        for (int i = 0; i < D / 2; i++)
            oacc[i] = 0.f;
        float sacc[32];
        unsigned pf[16];
        float mr0 = -VOX_SM90_INF, mr1 = -VOX_SM90_INF, lr0 = 0.f, lr1 = 0.f;
        const uint32_t vlbo = p.vt_swap ? 1024u : (uint32_t)(64 * 128), vsbo = p.vt_swap ? (uint32_t)(64 * 128) : 1024u;
        constexpr bool UD = (VAR & VOX_SM90_VAR_UDESC) != 0;
        /* UDESC: Q's descriptor (QSM) once per item, from a warp-uniform address */
        unsigned long long dq0 = 0ull;
        if constexpr (UD && QSM)
            dq0 = desc_sw128(sm90_uniform(qs + cw * TILE_BYTES), 16, 1024);
        int prev_s = -1, prev_it = 0; /* prev_it: the ring index (it) of the pending stage (HOLD) */
        bool prev_pz = false;      /* the pending P V's stage is poisoned (pv_fix) */
        unsigned prev_m4 = 0u, prev_c4 = 0u;

        /* O += P V of stage s; pz (a poisoned stage, see poisoned): B = the zero rows instead of V
         * (16 rows, halves 2 KB apart), its keys then go through pv_fix */
        auto issue_pv = [&](int s, bool pz) {
#ifdef VOX_DIAG_NOPV
            wg_commit();
            return;
#endif
            const uint32_t vb = ring + s * STAGE_BYTES + TILE_BYTES;
            unsigned long long dv0 = 0ull; /* UDESC: one descriptor per stage */
            if constexpr (UD)
                dv0 = desc_sw128(sm90_uniform(vb), vlbo, vsbo);
#pragma unroll
            for (int kk = 0; kk < 4; kk++) {
                unsigned long long dsc;
                if constexpr (UD)
                    dsc = pz ? desc_sw128(zrows, 2048u, 1024u) : desc_adv(dv0, kk * 2048);
                else
                    dsc = pz ? desc_sw128(zrows, 2048u, 1024u) : desc_sw128(vb + kk * 2048, vlbo, vsbo);
                if (D == 128)
                    vox_wgmma_m64n128k16_rs<BF, 1>(oacc, pf + 4 * kk, dsc, 1);
                else
                    vox_wgmma_m64n64k16_rs<BF, 1>(oacc, pf + 4 * kk, dsc, 1);
            }
            wg_commit();
        };

        /* Non-finite V (docs/numerics.md: an Inf/NaN in v_u reaches only rows that attend u).
         * The P V wgmma multiplies every key of a stage by every row of the warpgroup; a row
         * that does not attend a key has P = 0 there, and 0 x Inf = NaN. A stage is poisoned
         * for this warpgroup when one of its chunks is flagged (VOX_SM90_CBAD: its block's V
         * holds an Inf/NaN somewhere) and some row here does not attend all of its slots (keys
         * past the chunk's count, i.e. padding slots, or a block not listed by one of the
         * warpgroup's query blocks); zero-filled chunk slots (count 0) hold no V. Then the
         * stage's P V runs on the zero rows and pv_fix adds each row's attended keys one by
         * one in f32. Uniform over the warpgroup (info words only); never with finite V. */
        auto poisoned = [&](unsigned m4, unsigned c4) {
            if (!SAFE || !(c4 & VOX_SM90_CBAD * 0x01010101u))
                return false;
            bool r = false;
#pragma unroll
            for (int c = 0; c < 4; c++) {
                const unsigned cnt = VOX_SM90_CCNT(c4, c), mk = (m4 >> (8 * c)) & 0xffu;
                r |= ((c4 >> (8 * c)) & VOX_SM90_CBAD) && cnt > 0u && (cnt < 16u || (mk & wmask) != wmask);
            }
            return r;
        };
        /* O += P V of a poisoned stage s for the keys each row attends, from the packed P (pf,
         * the values the wgmma would use) and V in shared memory (128B-swizzled rows) */
        auto pv_fix = [&](int s, unsigned m4, unsigned c4) {
            const unsigned char *vt = gb + s * STAGE_BYTES + TILE_BYTES;
#pragma unroll 1
            for (int q = 0; q < 4; q++) { /* the quad lane holding keys 8j + 2q, +1 */
                const int sl = (lane & ~3) | q;
#pragma unroll
                for (int j = 0; j < 8; j++) {
                    const unsigned u0 = __shfl_sync(0xffffffffu, pf[4 * (j >> 1) + 2 * (j & 1)], sl);
                    const unsigned u1 = __shfl_sync(0xffffffffu, pf[4 * (j >> 1) + 2 * (j & 1) + 1], sl);
                    float pa[2], pb[2];
                    unpack2<BF>(u0, pa[0], pa[1]);
                    unpack2<BF>(u1, pb[0], pb[1]);
                    const int c = j >> 1, cnt = (int)VOX_SM90_CCNT(c4, c);
                    const bool in0 = (m4 >> (8 * c + src0)) & 1u, in1 = (m4 >> (8 * c + src1)) & 1u;
#pragma unroll
                    for (int hf = 0; hf < 2; hf++) {
                        const int k = 8 * j + 2 * q + hf;
                        const bool kv = (k & 15) < cnt, a0 = kv && in0, a1 = kv && in1;
                        const unsigned char *vr = vt + k * 128;
#pragma unroll
                        for (int jj = 0; jj < D / 8; jj++) {
                            float v0, v1;
                            unpack2<BF>(*(const unsigned *)(vr + (jj >> 3) * 8192 + (((jj & 7) ^ (k & 7)) << 4) + 4 * cq),
                                        v0, v1);
                            if (a0)
                                oacc[4 * jj + 0] = fmaf(pa[hf], v0, oacc[4 * jj + 0]),
                                              oacc[4 * jj + 1] = fmaf(pa[hf], v1, oacc[4 * jj + 1]);
                            if (a1)
                                oacc[4 * jj + 2] = fmaf(pb[hf], v0, oacc[4 * jj + 2]),
                                              oacc[4 * jj + 3] = fmaf(pb[hf], v1, oacc[4 * jj + 3]);
                        }
                    }
                }
            }
        };

        auto issue_s = [&](int s) {
            const uint32_t kb = ring + s * STAGE_BYTES, qb = qs + cw * TILE_BYTES;
            unsigned long long dk0 = 0ull; /* UDESC: one descriptor per stage */
            if constexpr (UD)
                dk0 = desc_sw128(sm90_uniform(kb), 16, 1024);
#pragma unroll
            for (int kk = 0; kk < KSTEPS; kk++) {
                const uint32_t off = (kk >> 2) * 8192 + (kk & 3) * 32;
                unsigned long long dsc;
                if constexpr (UD)
                    dsc = desc_adv(dk0, off);
                else
                    dsc = desc_sw128(kb + off, 16, 1024);
                if constexpr (QSM && UD)
                    vox_wgmma_m64n64k16_ss<BF, 0, 0>(sacc, desc_adv(dq0, off), dsc, kk > 0);
                else if constexpr (QSM)
                    vox_wgmma_m64n64k16_ss<BF, 0, 0>(sacc, desc_sw128(qb + off, 16, 1024), dsc, kk > 0);
                else
                    vox_wgmma_m64n64k16_rs<BF, 0>(sacc, qf[kk], dsc, kk > 0);
            }
            wg_commit();
        };
        /* mask (per 16-key chunk: does the row's block list it, which keys are valid)
         * + online softmax on sacc (scores unscaled until exp2); returns the rescale factors */
        auto softmax = [&](unsigned m4, unsigned c4, float &al0, float &al1) {
#ifdef VOX_DIAG_NOSOFTMAX
            al0 = al1 = 1.f;
            return;
#endif
            if constexpr ((VAR & VOX_SM90_VAR_NOSOFTMAX) != 0) {
                al0 = al1 = 1.f;
                return;
            }
            const unsigned o0 = (m4 >> src0) & 0x01010101u, o1 = (m4 >> src1) & 0x01010101u;
            /* SKIPBR: a warp none of whose rows is listed in any chunk (every score masked) branches
             * around the masking, max and exp2: its max stays -inf and P = 0, what they give */
            const bool live = (VAR & VOX_SM90_VAR_SKIPBR) == 0 || __any_sync(0xffffffffu, (o0 | o1) != 0u);
            float mx0 = -VOX_SM90_INF, mx1 = -VOX_SM90_INF;
            if (live) {
            if (c4 != 0x10101010u || o0 != 0x01010101u || o1 != 0x01010101u) {
#pragma unroll
                for (int j = 0; j < 8; j++) {
                    const int g = j >> 1, l = (j & 1) * 8 + cq * 2, cnt = (int)VOX_SM90_CCNT(c4, g);
                    const bool ok0 = (o0 >> (8 * g)) & 1u, ok1 = (o1 >> (8 * g)) & 1u;
                    const bool v0 = l < cnt, v1 = l + 1 < cnt;
                    sacc[4 * j + 0] = (v0 && ok0) ? sacc[4 * j + 0] : -VOX_SM90_INF;
                    sacc[4 * j + 1] = (v1 && ok0) ? sacc[4 * j + 1] : -VOX_SM90_INF;
                    sacc[4 * j + 2] = (v0 && ok1) ? sacc[4 * j + 2] : -VOX_SM90_INF;
                    sacc[4 * j + 3] = (v1 && ok1) ? sacc[4 * j + 3] : -VOX_SM90_INF;
                }
            }
#pragma unroll
            for (int j = 0; j < 8; j++) {
                mx0 = fmaxf(mx0, fmaxf(sacc[4 * j + 0], sacc[4 * j + 1]));
                mx1 = fmaxf(mx1, fmaxf(sacc[4 * j + 2], sacc[4 * j + 3]));
            }
            mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
            mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
            mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
            mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
            }
            const float mn0 = fmaxf(mr0, mx0), mn1 = fmaxf(mr1, mx1);
            const float b0 = mn0 == -VOX_SM90_INF ? 0.f : mn0, b1 = mn1 == -VOX_SM90_INF ? 0.f : mn1;
            al0 = ex2((mr0 - b0) * sl2), al1 = ex2((mr1 - b1) * sl2);
            mr0 = mn0, mr1 = mn1;
            float ps0 = 0.f, ps1 = 0.f;
            const float cc0 = b0 * sl2, cc1 = b1 * sl2;
            if (!live) {
#pragma unroll
                for (int j = 0; j < 32; j++)
                    sacc[j] = 0.f;
            } else if ((VAR & VOX_SM90_VAR_SKIPDEAD) != 0 && fabsf(cc0) < 1e30f && fabsf(cc1) < 1e30f) {
                /* a row none of whose chunks is listed has every score at -inf: its exp2s (0) are
                 * predicated off (a warp whose rows are all such issues no MUFU work); BREAK (a
                 * deliberate break for the harness check) keeps the raw scores there */
                const unsigned l0 = o0 != 0u, l1 = o1 != 0u;
#pragma unroll
                for (int j = 0; j < 8; j++) {
                    float y0 = (VAR & VOX_SM90_VAR_BREAK) ? sacc[4 * j + 0] : 0.f, y1 = (VAR & VOX_SM90_VAR_BREAK) ? sacc[4 * j + 1] : 0.f;
                    float y2 = (VAR & VOX_SM90_VAR_BREAK) ? sacc[4 * j + 2] : 0.f, y3 = (VAR & VOX_SM90_VAR_BREAK) ? sacc[4 * j + 3] : 0.f;
                    ex2p(y0, fmaf(sacc[4 * j + 0], sl2, -cc0), l0);
                    ex2p(y1, fmaf(sacc[4 * j + 1], sl2, -cc0), l0);
                    ex2p(y2, fmaf(sacc[4 * j + 2], sl2, -cc1), l1);
                    ex2p(y3, fmaf(sacc[4 * j + 3], sl2, -cc1), l1);
                    sacc[4 * j + 0] = y0, sacc[4 * j + 1] = y1, sacc[4 * j + 2] = y2, sacc[4 * j + 3] = y3;
                    ps0 += sacc[4 * j + 0] + sacc[4 * j + 1];
                    ps1 += sacc[4 * j + 2] + sacc[4 * j + 3];
                }
            } else if (fabsf(cc0) < 1e30f && fabsf(cc1) < 1e30f) {
#pragma unroll
                for (int j = 0; j < 8; j++) {
                    sacc[4 * j + 0] = ex2(fmaf(sacc[4 * j + 0], sl2, -cc0));
                    sacc[4 * j + 1] = ex2(fmaf(sacc[4 * j + 1], sl2, -cc0));
                    sacc[4 * j + 2] = ex2(fmaf(sacc[4 * j + 2], sl2, -cc1));
                    sacc[4 * j + 3] = ex2(fmaf(sacc[4 * j + 3], sl2, -cc1));
                    ps0 += sacc[4 * j + 0] + sacc[4 * j + 1];
                    ps1 += sacc[4 * j + 2] + sacc[4 * j + 3];
                }
            } else {
#pragma unroll
                for (int j = 0; j < 8; j++) {
                    sacc[4 * j + 0] = ex2((sacc[4 * j + 0] - b0) * sl2);
                    sacc[4 * j + 1] = ex2((sacc[4 * j + 1] - b0) * sl2);
                    sacc[4 * j + 2] = ex2((sacc[4 * j + 2] - b1) * sl2);
                    sacc[4 * j + 3] = ex2((sacc[4 * j + 3] - b1) * sl2);
                    ps0 += sacc[4 * j + 0] + sacc[4 * j + 1];
                    ps1 += sacc[4 * j + 2] + sacc[4 * j + 3];
                }
            }
            lr0 = lr0 * al0 + ps0;
            lr1 = lr1 * al1 + ps1;
        };
        auto rescale_pack = [&](float al0, float al1) {
            if (__any_sync(0xffffffffu, al0 != 1.f || al1 != 1.f)) {
#pragma unroll
                for (int j = 0; j < D / 8; j++) {
                    oacc[4 * j + 0] *= al0, oacc[4 * j + 1] *= al0;
                    oacc[4 * j + 2] *= al1, oacc[4 * j + 3] *= al1;
                }
            }
#pragma unroll
            for (int kk = 0; kk < 4; kk++) {
                pf[4 * kk + 0] = vox_pack2<BF>(sacc[8 * kk + 0], sacc[8 * kk + 1]);
                pf[4 * kk + 1] = vox_pack2<BF>(sacc[8 * kk + 2], sacc[8 * kk + 3]);
                pf[4 * kk + 2] = vox_pack2<BF>(sacc[8 * kk + 4], sacc[8 * kk + 5]);
                pf[4 * kk + 3] = vox_pack2<BF>(sacc[8 * kk + 6], sacc[8 * kk + 7]);
            }
        };
        auto fence_all = [&]() {
            fence_regs<32>(sacc);
            fence_regs<D / 2>(oacc);
            fence_regs_u<16>(pf);
        };

        /* the pending P V (of stage prev_s) now, its pv_fix, the stage released */
        auto flush_pv = [&]() {
            fence_all();
            wg_fence();
            issue_pv(prev_s, prev_pz);
            wg_wait<0>();
            fence_all();
            if (prev_pz)
                pv_fix(prev_s, prev_m4, prev_c4);
            release(prev_s);
            prev_s = -1;
        };

        bool done = false;
        int nxt = -1; /* persist: the next item, from the end marker's first info word */
        while (!done) {
            /* phase A: no P V pending; find this warpgroup's next tile */
            int s;
            unsigned m4, c4, mg;
            while (true) {
                s = it % STAGES;
                mbar_wait(full0 + 8 * s, (it / STAGES) & 1);
                {
                    const unsigned ma = info[4 * s], mb = info[4 * s + 1];
                    c4 = info[4 * s + 2];
                    m4 = c4 == 0xffffffffu ? ma : stage_mask(ma, mb), mg = ma | mb;
                }
                it++;
                if (c4 == 0xffffffffu || (anyof(m4) & wmask))
                    break;
                release(s);
            }
            if (c4 == 0xffffffffu) {
                nxt = (int)m4;
                break;
            }
            {
                fence_all();
                const bool sh = turn_begin(mg);
                wg_fence();
                issue_s(s);
                turn_end(sh);
                const bool pz = poisoned(m4, c4);
                wg_wait<0>();
                fence_all();
                float al0, al1;
                softmax(m4, c4, al0, al1);
                rescale_pack(al0, al1);
                prev_s = s, prev_pz = pz, prev_m4 = m4, prev_c4 = c4, prev_it = it - 1;
            }
            if constexpr (!OVERLAP) {
                flush_pv(); /* this tile's P V now; the next tile from phase A */
            } else {
                /* phase B: the previous tile's P V is pending */
                while (true) {
                    s = it % STAGES;
                    mbar_wait(full0 + 8 * s, (it / STAGES) & 1);
                    {
                        const unsigned ma = info[4 * s], mb = info[4 * s + 1];
                        c4 = info[4 * s + 2];
                        m4 = c4 == 0xffffffffu ? ma : stage_mask(ma, mb), mg = ma | mb;
                    }
                    it++;
                    if (c4 == 0xffffffffu) {
                        nxt = (int)m4;
                        done = true;
                        break;
                    }
                    if (!(anyof(m4) & wmask)) {
                        if constexpr ((VAR & VOX_SM90_VAR_HOLD) != 0) {
                            /* the next wait is for ring index it: fine while the held stage's slot
                             * is not the one it needs (it < prev_it + STAGES) */
                            if (it - prev_it < STAGES) {
                                release(s);
                                continue;
                            }
                        }
                        flush_pv(); /* so its stage is released (the producer may need it) */
                        release(s);
                        break;
                    }
                    fence_all();
                    const bool sh = turn_begin(mg);
                    wg_fence();
                    issue_s(s);
                    issue_pv(prev_s, prev_pz);
                    turn_end(sh);
                    const bool pz = poisoned(m4, c4);
                    wg_wait<1>();
                    fence_regs<32>(sacc);
                    float al0, al1;
                    softmax(m4, c4, al0, al1);
                    wg_wait<0>();
                    fence_all();
                    if (prev_pz)
                        pv_fix(prev_s, prev_m4, prev_c4);
                    release(prev_s);
                    rescale_pack(al0, al1);
                    prev_s = s, prev_pz = pz, prev_m4 = m4, prev_c4 = c4, prev_it = it - 1;
                }
            }
        }
        if (prev_s >= 0)
            flush_pv();
        release((it - 1) % STAGES); /* the end marker's stage (the next item's producer reuses it) */
        if (cw == 0 && nshared > 0)
            named_bar<3, 256>(); /* the other warpgroup's last turn signal */
        /* epilogue */
        float l0 = lr0, l1 = lr1;
        l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
        l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
        l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
        l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
        unsigned short *ob = (unsigned short *)p.o;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int sl = ((volatile int *)rslot)[h ? R1 : R0]; /* (re-read: fewer live registers) */
            const float l = h ? l1 : l0, mr = h ? mr1 : mr0;
            if (sl < 0)
                continue;
            const float inv = (l > 0.f || l != l) ? 1.f / l : 0.f;
            /* block layout, or (otok) the caller's row of slot sl: D contiguous elements */
            long long orow_off = (hb + sl) * D, lse_off = hb + sl;
            if (p.otok) {
                const int b = bh / p.heads, hh = bh - b * p.heads, t = p.otok[sl];
                orow_off = b * p.o_sb + hh * p.o_sh + t * p.o_st;
                lse_off = b * p.l_sb + hh * p.l_sh + t * p.l_st;
            }
            unsigned *orow = (unsigned *)(ob + orow_off);
#pragma unroll
            for (int j = 0; j < D / 8; j++)
                orow[j * 4 + cq] = vox_pack2<BF>(oacc[4 * j + 2 * h] * inv, oacc[4 * j + 2 * h + 1] * inv);
            if (cq == 0 && p.lse)
                p.lse[lse_off] = (l > 0.f || l != l) ? (mr * sl2 + log2f(l)) * 0.69314718055994531f : -VOX_SM90_INF;
        }
        if (!p.persist)
            break;
        /* every consumer warpgroup done with rslot, rsrc and the zero rows before the next item's */
        named_bar<2, 128 * NWG>();
        item = nxt;
        if (item < 0)
            break;
        }
    }
    if constexpr ((VAR & VOX_SM90_VAR_TS) != 0) {
        __syncthreads();
        if (tid == 0 && p.sweep_pos) {
            unsigned long long *ts = (unsigned long long *)p.sweep_pos;
            ts[2 * blockIdx.x + 1] = gtimer();
        }
    }
#endif
}

} // namespace vox_sm90

/* Kernel parameters: the params, then the K and V tensor maps with 64-row boxes
 * (whole tiles) and with 16-row boxes (chunks of partial blocks). */
#define VOX_SM90_KERNEL_TV(NAME, D, BF, NWG, THREADS, SAFE, VAR)                                             \
    extern "C" __global__ void __launch_bounds__(THREADS, 1)                                                 \
        NAME(const __grid_constant__ VoxSm90AttnParams p, const __grid_constant__ CUtensorMap tmK,         \
             const __grid_constant__ CUtensorMap tmV, const __grid_constant__ CUtensorMap tmK16,           \
             const __grid_constant__ CUtensorMap tmV16)                                                    \
    {                                                                                                      \
        vox_sm90::attn_fwd<D, BF, NWG, SAFE, VAR>(p, &tmK, &tmV, &tmK16, &tmV16);                           \
    }
#define VOX_SM90_KERNEL_T(NAME, D, BF, NWG, THREADS, SAFE)                                                   \
    VOX_SM90_KERNEL_TV(NAME, D, BF, NWG, THREADS, SAFE, VOX_SM90_LIB_VAR)
/* Each kernel comes twice: NAME (fast variant, heads with finite V) and NAME_nf (safe variant,
 * heads with a non-finite V flag); launch both on the same grid, NAME first (host.h). */
/* The VAR bits of the library's kernels (both variants) */
#ifndef VOX_SM90_LIB_VAR
#define VOX_SM90_LIB_VAR 0
#endif
/* A harness variant (VAR bits above) of the fast kernel */
#define VOX_SM90_KERNEL_VAR(NAME, D, BF, NWG, THREADS, VAR) VOX_SM90_KERNEL_TV(NAME, D, BF, NWG, THREADS, false, VAR)
#define VOX_SM90_KERNEL_PAIR(NAME, D, BF, NWG, THREADS)                                                     \
    VOX_SM90_KERNEL_T(NAME, D, BF, NWG, THREADS, false)                                                    \
    VOX_SM90_KERNEL_T(NAME##_nf, D, BF, NWG, THREADS, true)
#define VOX_SM90_KERNEL(NAME, D, BF) VOX_SM90_KERNEL_PAIR(NAME, D, BF, 2, VOX_SM90_THREADS)
#define VOX_SM90_KERNEL_W3(NAME, D, BF) VOX_SM90_KERNEL_PAIR(NAME, D, BF, 3, 512)

/* Device-side plan: one CTA of 256 threads per head.
 * 1. The packing order. Packing pays where the packed query blocks' KV lists
 *    overlap (one K/V tile then feeds both consumer warpgroups). Video blocks
 *    that are neighbours along w, h or t have the most similar lists, and
 *    which axis wins depends on the head (a "spatial" head attends within its
 *    frame, a "temporal" one across frames at the same place). With the
 *    block grid known (gt*gh*gw video blocks), the warps sample up to
 *    VOX_SM90_PLAN_PAIRS pairs per axis, evenly spread, each pair = two
 *    consecutive blocks of that axis' order (that axis fastest), count the
 *    columns the pair shares (a bitmap of the first list in shared memory,
 *    the second list's first VOX_SM90_PLAN_TEST entries tested), and the order
 *    with the most shared columns wins (ties: raster order, w fastest).
 *    order[bh*NB + x] = the block at position x; global blocks keep their
 *    places after the video blocks.
 * 2. The CTA packs consecutive positions greedily (processed rows <= maxrows,
 *    at most VOX_SM90_GMAX blocks, at most VOX_SM90_WGMAX positions per
 *    consumer warpgroup: VOX_SM90_PACK_CLOSE in sm90_smem.h) from the rows
 *    staged in shared memory, in parallel (every position's next item start,
 *    the chain from 0 by pointer jumping: see vox_attn_sm90_plan), and writes
 *    {m0 = bh*NB + x0, G} items at an atomically reserved offset (a head's
 *    items contiguous, ascending). *counter must be 0 before the launch; the attention
 *    kernel reads the count through params.n_items_dev on a grid of BH*NB CTAs
 *    (the upper bound), those past the count exiting at once.
 * Results do not depend on the order: every row still walks its own list in
 * ascending block order. Dynamic shared memory: VOX_SM90_PLAN_SMEM(NB) (sm90_smem.h).
 * 3. The same launch computes the attention kernel's non-finite V flags
 *    (params.vbad): CTAs BH.. of the grid (BH + BH * ceil(NB/32) CTAs) run
 *    vflags, overlapping the BH planning CTAs. */
#define VOX_SM90_PLAN_THREADS 256
#define VOX_SM90_PLAN_PAIRS 16
#define VOX_SM90_PLAN_TEST 128
/* VOX_SM90_PLAN_MAXNB (sm90_smem.h): the sampling's bitmaps; larger NB: raster order */
namespace vox_sm90 {
/* Block at position x of the order with axis a fastest (0: w, 1: h, 2: t). */
__device__ __forceinline__ int plan_order(int a, int x, int gt, int gh, int gw)
{
    if (a == 1) { /* x = (t*gw + w)*gh + h */
        const int h = x % gh, r = x / gh, w = r % gw, t = r / gw;
        return (t * gh + h) * gw + w;
    }
    if (a == 2) { /* x = (h*gw + w)*gt + t */
        const int t = x % gt, r = x / gt, w = r % gw, h = r / gw;
        return (t * gh + h) * gw + w;
    }
    return x;
}

/* Non-finite V flags: word u = bh * nw + j0 / 32 of vbad (nw = ceil(NB/32)), bit j - j0 = some
 * V value of block j of head bh is Inf or NaN, over all V slots of the block (valid and
 * padding: every row a forward stage can load). One CTA per word (any multiple of 32 threads); its 32 blocks
 * are contiguous in v ([BH][S][D]). Reads V once: BH*S*D*2 bytes. */
__device__ __forceinline__ void vflags(const uint4 *v, long long NB, int V, int D, unsigned E, unsigned *vbad,
                                       long long u, unsigned *hflag, int *anyflag)
{
    __shared__ unsigned word;
    const long long nw = (NB + 31) >> 5, bh = u / nw, j0 = (u - bh * nw) << 5;
    const int per = V * D / 8, sh = __ffs(per) - 1; /* 16-byte units per block (a power of two) */
    const int n = (int)(NB - j0 < 32 ? NB - j0 : 32) * per;
    const uint4 *b = v + (bh * NB + j0) * per;
    if (threadIdx.x == 0)
        word = 0u;
    __syncthreads();
    unsigned bits = 0u;
#pragma unroll 8
    for (int e = threadIdx.x; e < n; e += blockDim.x)
        bits |= (unsigned)any_nonfinite8(__ldcs(b + e), E) << (e >> sh);
    bits = __reduce_or_sync(0xffffffffu, bits);
    if ((threadIdx.x & 31) == 0 && bits)
        atomicOr(&word, bits);
    __syncthreads();
    if (threadIdx.x == 0) {
        vbad[u] = word;
        if (word && hflag) /* the persistent kernels' per-head and any flags */
            atomicOr(hflag + bh, 1u), atomicOr(anyflag, 1);
    }
}
} // namespace vox_sm90

/* V from the caller's tensor into the block layout (as permute_to: dst[bh][s] = the row of token
 * tok[s] of (b, h) at v + b*sb + h*sh + tok[s]*st, zeros for padding slots) and, in the same pass,
 * its non-finite flags as vflags (vbad words; hflag[bh] and *anyflag set where a word is not 0;
 * both zeroed before). One CTA of VOX_SM90_PLAN_THREADS per vbad word u = bh*nw + j0/32 (32
 * blocks); 16-byte units (rows 16-byte aligned: v, sb, sh, st multiples of 8 elements). */
extern "C" __global__ void __launch_bounds__(VOX_SM90_PLAN_THREADS)
    vox_attn_sm90_permute_v(const unsigned short *v, long long sb, long long sh, long long st, int heads,
                            const int *tok, uint4 *dst, long long NB, int V, int D, int bf16, unsigned *vbad,
                            unsigned *hflag, int *anyflag)
{
    __shared__ unsigned word;
    const long long u = blockIdx.x, nw = (NB + 31) >> 5, bh = u / nw, j0 = (u - bh * nw) << 5;
    const int row = D / 8, rsh = __ffs(row) - 1;   /* 16-byte units per row (a power of two) */
    const int per = V * row, bsh = __ffs(per) - 1; /* per block */
    const int n = (int)(NB - j0 < 32 ? NB - j0 : 32) * per;
    const long long b = bh / heads, h = bh - b * heads;
    const unsigned short *src = v + b * sb + h * sh;
    uint4 *out = dst + (bh * NB + j0) * per;
    const int *tk = tok + j0 * V;
    const unsigned E = VOX_SM90_EXP2(bf16);
    if (threadIdx.x == 0)
        word = 0u;
    __syncthreads();
    unsigned bits = 0u;
#pragma unroll 4
    for (int e = threadIdx.x; e < n; e += VOX_SM90_PLAN_THREADS) {
        const int t = tk[e >> rsh];
        const uint4 x = t >= 0 ? __ldcs((const uint4 *)(src + (long long)t * st) + (e & (row - 1))) : make_uint4(0, 0, 0, 0);
        out[e] = x;
        bits |= (unsigned)vox_sm90::any_nonfinite8(x, E) << (e >> bsh);
    }
    bits = __reduce_or_sync(0xffffffffu, bits);
    if ((threadIdx.x & 31) == 0 && bits)
        atomicOr(&word, bits);
    __syncthreads();
    if (threadIdx.x == 0) {
        vbad[u] = word;
        if (word)
            atomicOr(hflag + bh, 1u), atomicOr(anyflag, 1);
    }
}

namespace vox_sm90 {
/* The packing axis of head bh (0: w fastest, 1: h, 2: t; 0 without a usable grid): warps [0, nwarps)
 * test up to VOX_SM90_PLAN_PAIRS sampled pairs of neighbours per axis (bitmap of a's KV blocks,
 * count of b's first VOX_SM90_PLAN_TEST blocks in it; bits: one bitmap of `stride` >= ceil(NB/32)
 * words per warp) and the axis with the most shared blocks wins (the first on ties). Integer
 * sums: the same axis whatever the warp count. Called by every thread; ends with a barrier. */
__device__ __forceinline__ int plan_axis(const int *kv_start, const int *kv_count, const int *kv_cols, long long NB,
                                         long long bh, int gt, int gh, int gw, bool grid_ok, int nwarps,
                                         unsigned *bits, int stride, int *sums)
{
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const long long NBv = (long long)gt * gh * gw;
    if (tid < 3)
        sums[tid] = 0;
    __syncthreads();
    if (grid_ok && NBv >= 4) {
        const int ext[3] = {gw, gh, gt};
        const int npair = (int)(NBv / 2) < VOX_SM90_PLAN_PAIRS ? (int)(NBv / 2) : VOX_SM90_PLAN_PAIRS;
        const int nw = (int)((NB + 31) >> 5);
        unsigned *wb = bits + (long long)warp * stride;
        for (int job = warp; job < 3 * npair; job += nwarps) {
            const int a = job / npair, k = job % npair;
            if (ext[a] < 2)
                continue;
            const int x = 2 * (int)(((long long)k * (NBv / 2)) / npair);
            const long long ma = bh * NB + plan_order(a, x, gt, gh, gw);
            const long long mb = bh * NB + plan_order(a, x + 1, gt, gh, gw);
            const int sa = kv_start[ma], ca = kv_count[ma], sb = kv_start[mb];
            const int cb = kv_count[mb] < VOX_SM90_PLAN_TEST ? kv_count[mb] : VOX_SM90_PLAN_TEST;
            for (int w = lane; w < nw; w += 32)
                wb[w] = 0u;
            __syncwarp();
            for (int c = lane; c < ca; c += 32) {
                const int col = kv_cols[sa + c];
                if (col >= 0 && col < NB)
                    atomicOr(&wb[col >> 5], 1u << (col & 31));
            }
            __syncwarp();
            int hit = 0;
            for (int c = lane; c < cb; c += 32) {
                const int col = kv_cols[sb + c];
                hit += (col >= 0 && col < NB) ? (int)((wb[col >> 5] >> (col & 31)) & 1u) : 0;
            }
            for (int o = 16; o > 0; o >>= 1)
                hit += __shfl_xor_sync(0xffffffffu, hit, o);
            if (lane == 0)
                atomicAdd(&sums[a], hit);
            __syncwarp();
        }
    }
    __syncthreads();
    int axis = 0;
    if (grid_ok) {
        if (sums[1] > sums[axis])
            axis = 1;
        if (sums[2] > sums[axis])
            axis = 2;
    }
    return axis;
}

/* order[bh*NB + x] = the block at position x of the packing order (axis; raster past the grid's
 * NBv blocks or without a usable grid) and rows[x] its processed rows (kept_count, else
 * block_valid; < 0 read as 0). Grid-stride over the CTA's threads. */
__device__ __forceinline__ void plan_rows(const int *kept_count, const int *block_valid, long long NB, long long bh,
                                          int axis, bool grid_ok, int gt, int gh, int gw, int *order,
                                          unsigned short *rows)
{
    const long long NBv = (long long)gt * gh * gw;
    for (long long x = threadIdx.x; x < NB; x += blockDim.x) {
        const int blk = (grid_ok && x < NBv) ? plan_order(axis, (int)x, gt, gh, gw) : (int)x;
        order[bh * NB + x] = blk;
        const int r = kept_count ? kept_count[bh * NB + blk] : block_valid[blk];
        rows[x] = (unsigned short)(r < 0 ? 0 : r);
    }
}
} // namespace vox_sm90

/* The planner's next item start after start x (the marks m of the chain; nbi when none): where
 * the item starting at x ends. */
static __device__ __forceinline__ int vox_sm90_plan_chain_next(const unsigned char *m, int x, int nbi)
{
    int e = x + 1;
    while (e < nbi && !m[e])
        e++;
    return e;
}

/* Exclusive prefix sum of v over the CTA's threads in thread order (every thread calls it: barriers);
 * *total = the sum. wsum: VOX_SM90_PLAN_WARPS ints of shared memory, tot_s one more. */
static __device__ __forceinline__ int vox_sm90_plan_scan(int v, int *wsum, int *tot_s, int *total)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    int incl = v;
    for (int o = 1; o < 32; o <<= 1) {
        const int y = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o)
            incl += y;
    }
    __syncthreads(); /* earlier readers of wsum done */
    if (lane == 31)
        wsum[warp] = incl;
    __syncthreads();
    if (warp == 0) {
        const int w = lane < nwarps ? wsum[lane] : 0;
        int wi = w;
        for (int o = 1; o < 32; o <<= 1) {
            const int y = __shfl_up_sync(0xffffffffu, wi, o);
            if (lane >= o)
                wi += y;
        }
        if (lane < nwarps)
            wsum[lane] = wi - w;
        if (lane == 31)
            *tot_s = wi;
    }
    __syncthreads();
    *total = *tot_s;
    return wsum[warp] + incl - v;
}

/* VOX_SM90_PLAN_M_COLS (sm90_smem.h): the cut of a uniform column (ext positions, rc rows each but the
 * last, rlast) at its position j (r rows): start = a cut (a multiple of maxrows of the column's rows)
 * falls in j's rows; then skip = the cut's row in block j, next = the column position of the next
 * item's start (ext: the column's end), G = the item's blocks (to the one holding its last row). */
struct vox_sm90_cut {
    bool start;
    int skip, next, G;
};
static __device__ __forceinline__ vox_sm90_cut vox_sm90_plan_cut(int j, int ext, int rc, int r, int rlast, int maxrows)
{
    const int P = j * rc, tot = (ext - 1) * rc + rlast, k = (P + maxrows - 1) / maxrows, e = maxrows * (k + 1);
    vox_sm90_cut c;
    c.start = maxrows * k < P + r;
    c.skip = maxrows * k - P;
    c.next = e >= tot ? ext : min(e / rc, ext - 1);
    c.G = (e >= tot ? ext - 1 : min((e - 1) / rc, ext - 1)) - j + 1;
    return c;
}

/* Whether the item that starts at position x (ending at e) holds a partial block (pf: a byte per position). */
static __device__ __forceinline__ bool vox_sm90_plan_item_partial(const unsigned char *pf, int x, int e)
{
    bool r = false;
    for (int y = x; y < e; y++)
        r |= pf[y] != 0;
    return r;
}

/* The device planner: one CTA of VOX_SM90_PLAN_WARPS warps per head bh < BH (the packing axis,
 * vox_sm90::plan_axis; the order and rows, plan_rows), then CTAs BH.. the non-finite V flags
 * (vflags; grid BH + BH*ceil(NB/32) when V is not scanned elsewhere). Dynamic shared memory
 * VOX_SM90_PLAN_SMEM(NB). The packing is the greedy rule of vox_sm90_plan_host
 * (VOX_SM90_PACK_CLOSE/_FIRST), whose state at an item's start is always (g, tot) = (0, 0) and
 * whose gfirst is set by the item's first block with rows before it is read: the item that starts
 * at position x ends where it would end wherever x was reached from, so
 *   1. next[x] = the start of the item after one that starts at x (each thread its positions,
 *      at most VOX_SM90_GMAX steps each);
 *   2. the items are the chain 0, next[0], next[next[0]], ... < NB: pointer jumping marks it in
 *      about log2(items) rounds (round k: the chain nodes of steps [0, 2^k) in one mark buffer,
 *      those of [0, 2^(k+1)) written into the other, next^(2^(k+1)) = next^(2^k) composed with
 *      itself; ends when next^(2^k)[0] = NB);
 *   3. a block-wide exclusive scan of the marks gives each start its index; item {bh*NB + x,
 *      next[x] - x} (next start = the next mark, at most GMAX positions on) written by the thread
 *      that holds x;
 *   4. with a grid (VOX_SM90_PLAN_GRID_OK), the items that hold a global block (the head's last
 *      ones, from the item that holds position NBv on) go to the front region, slots
 *      [bh*(NB-NBv), (bh+1)*(NB-NBv)) (unused ones {0, 0}), the others at VOX_SM90_PLAN_FRONT +
 *      base, base = one atomicAdd of their count on counter. The persistent forward grid claims
 *      items in index order, so the text items (every KV block listed: ~2.6 ms each at hunyuan-720p
 *      keep 0.25, against a CTA's ~21 ms) now start first instead of last (session 12: the CTAs sat
 *      idle 2.4-2.8 ms on average at the end). The kernel's count: *counter + params.n_items
 *      (= VOX_SM90_PLAN_FRONT). Without VOX_SM90_PLAN_M_FRONT in mode (the library's
 *      VOXATTN_SM90_ORDER=plain): no front region, every item counted, each head's items
 *      contiguous (session 11's and plan6's layout);
 *   5. VOX_SM90_PLAN_M_RAGGED (sm90_smem.h): among a head's counted items, those holding a partial
 *      block first (a second scan), each class in chain order;
 *   and before 1., VOX_SM90_PLAN_M_EDGE (where VOX_SM90_PLAN_EDGE_OK): the positions put the
 *   partial video blocks first, then the full ones (a scan: a stable partition of the axis order);
 *   VOX_SM90_PLAN_M_SPLIT / _COLS: split items (G | skip << 16), next[] of 1. from the fixed pattern or
 *   the column cuts (vox_sm90_plan_cut) instead of the greedy rule.
 * With mode = VOX_SM90_PLAN_M_FRONT or 0: items (as a set), order and the items per head in order
 * are those of vox_attn_sm90_plan_old (the serial loop it replaces, kept for comparison:
 * VOXATTN_SM90_PLAN_OLD, no front region); in every mode the items are those of
 * vox_sm90_plan_host on the order written. */
extern "C" __global__ void __launch_bounds__(VOX_SM90_PLAN_WARPS * 32)
    vox_attn_sm90_plan(const int *kept_count, const int *block_valid, const int *kv_start, const int *kv_count,
                       const int *kv_cols, long long NB, int *items, int *counter, int maxrows, int *order, int gt,
                       int gh, int gw, long long BH, const uint4 *v, int V, int D, int bf16, unsigned *vbad,
                       unsigned *hflag, int *anyflag, int mode)
{
    if (blockIdx.x >= BH) {
        vox_sm90::vflags(v, NB, V, D, VOX_SM90_EXP2(bf16), vbad, blockIdx.x - BH, hflag, anyflag);
        return;
    }
    const int T = blockDim.x; /* VOX_SM90_PLAN_WARPS * 32 (the shared memory has bitmaps for as many warps) */
    extern __shared__ __align__(16) unsigned char vox_sm90_plan_smem[];
    __shared__ int sums[3], wsum[VOX_SM90_PLAN_WARPS], base_s, nh_s, first_long_s, tot_s;
    const int nbi = (int)NB, nw = (nbi + 31) >> 5;
    unsigned *bits = (unsigned *)vox_sm90_plan_smem;                          /* [WARPS][nw] */
    unsigned short *jmp = (unsigned short *)(bits + VOX_SM90_PLAN_WARPS * nw); /* [2][NB + 1] */
    unsigned short *rows = jmp + 2 * (nbi + 1);                                /* [NB] */
    unsigned char *mark = (unsigned char *)(rows + nbi);                       /* [2][NB] */
    const long long bh = blockIdx.x;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const bool grid_ok = VOX_SM90_PLAN_GRID_OK(NB, gt, gh, gw);
    const int axis =
        vox_sm90::plan_axis(kv_start, kv_count, kv_cols, NB, bh, gt, gh, gw, grid_ok, T >> 5, bits, nw, sums);
    /* 0. order and rows (vox_sm90::plan_rows' positions; VOX_SM90_PLAN_M_EDGE: a stable partition,
     * the partial video blocks first, sm90_smem.h), over contiguous spans of E positions per thread;
     * pf[x] = the block at position x is partial (block_valid < V), in the pair tests' bitmaps (dead) */
    const int E = (nbi + T - 1) / T, x0 = tid * E < nbi ? tid * E : nbi, x1 = x0 + E < nbi ? x0 + E : nbi;
    const int nbv_grid = grid_ok ? gt * gh * gw : nbi;
    /* VOX_SM90_PLAN_M_SPLIT (sm90_smem.h): the edge partition, then split items over the full blocks;
     * with VOX_SM90_PLAN_M_COLS, a head of uniform columns instead cuts each column at every maxrows rows
     * (cols; the axis order, no edge partition; split3: the other heads) */
    const bool split_any = (mode & VOX_SM90_PLAN_M_SPLIT) && grid_ok && VOX_SM90_PLAN_SPLIT_OK(V, maxrows, kept_count != nullptr);
    const int ext = axis == 0 ? gw : axis == 1 ? gh : gt;
    bool cols = false;
    if (split_any && (mode & VOX_SM90_PLAN_M_COLS)) { /* uniform: whole CTA, barrier */
        bool ok = true;
        for (int x = x0; x < x1 && x < nbv_grid; x++) {
            const int j = x % ext, r = block_valid[vox_sm90::plan_order(axis, x, gt, gh, gw)];
            if (j < ext - 1) {
                const int rc = block_valid[vox_sm90::plan_order(axis, x - j, gt, gh, gw)];
                ok = ok && r == rc && rc >= VOX_SM90_PLAN_COLS_MINROWS;
            } else if (j == 0) /* a one-block column: rows (it starts an item) */
                ok = ok && r > 0;
        }
        cols = __syncthreads_and(ok) != 0;
    }
    const bool split = split_any && !cols;
    const bool edge =
        split || ((mode & VOX_SM90_PLAN_M_EDGE) && grid_ok && VOX_SM90_PLAN_EDGE_OK(V, maxrows, kept_count != nullptr));
    const bool ragged = (mode & VOX_SM90_PLAN_M_RAGGED) != 0;
    unsigned char *pf = (unsigned char *)bits;
    int np_full = 0; /* split: the first full video block's position */
    {
        int np_tot = 0, np = 0;
        if (edge) {
            for (int x = x0; x < x1 && x < nbv_grid; x++)
                np += block_valid[vox_sm90::plan_order(axis, x, gt, gh, gw)] < V;
            np = vox_sm90_plan_scan(np, wsum, &tot_s, &np_tot);
        }
        np_full = np_tot;
        for (int x = x0; x < x1; x++) {
            const int blk = (grid_ok && x < nbv_grid) ? vox_sm90::plan_order(axis, x, gt, gh, gw) : x;
            const bool part = block_valid[blk] < V;
            int pos = x;
            if (edge && x < nbv_grid) {
                pos = part ? np : np_tot + (x - np);
                np += part;
            }
            order[bh * NB + pos] = blk;
            const int r = kept_count ? kept_count[bh * NB + blk] : block_valid[blk];
            rows[pos] = (unsigned short)(r < 0 ? 0 : r);
            pf[pos] = part;
        }
    }
    __syncthreads();
    /* 1. next[x] into jmp[0]; the marks: {0} in both buffers */
    for (int x = tid; x < nbi; x += T) {
        int nx;
        if (cols && x < nbv_grid) { /* a uniform column's cuts (non-starts: never on the chain) */
            const int j = x % ext, c0 = x - j;
            const vox_sm90_cut ct = vox_sm90_plan_cut(j, ext, rows[c0], rows[x], rows[c0 + ext - 1], maxrows);
            nx = ct.start ? c0 + ct.next : x + 1;
        } else if (!split || x >= nbv_grid)
            nx = vox_sm90_plan_next(rows, x, nbi, maxrows);
        else if (x < np_full) /* partial blocks: greedy, not past the first full block */
            nx = vox_sm90_plan_next(rows, x, np_full, maxrows);
        else { /* full blocks: items start at f + 3j (skip 0) and f + 3j + 1 (skip V/2) */
            const int d = (x - np_full) % 3;
            nx = x + (d == 1 ? 2 : 1);
            nx = nx < nbv_grid ? nx : nbv_grid;
        }
        jmp[x] = (unsigned short)nx;
        mark[x] = mark[nbi + x] = x == 0;
    }
    if (tid == 0)
        jmp[nbi] = jmp[2 * nbi + 1] = (unsigned short)nbi;
    /* 2. pointer jumping */
    int cur = 0;
    for (;;) {
        __syncthreads();
        const unsigned short *jc = jmp + cur * (nbi + 1);
        if (nbi == 0 || jc[0] == nbi)
            break;
        unsigned short *jn = jmp + (cur ^ 1) * (nbi + 1);
        const unsigned char *mc = mark + cur * nbi;
        unsigned char *mn = mark + (cur ^ 1) * nbi;
        for (int x = tid; x < nbi; x += T) {
            const int j = jc[x];
            if (mc[x]) {
                mn[x] = 1;
                if (j < nbi)
                    mn[j] = 1;
            }
            jn[x] = jc[j];
        }
        cur ^= 1;
    }
    /* 3. scan of the marks over contiguous spans of E positions per thread, then the items */
    const unsigned char *m = mark + cur * nbi;
    int cnt = 0;
    for (int x = x0; x < x1; x++)
        cnt += m[x];
    int incl = cnt;
    for (int o = 1; o < 32; o <<= 1) {
        const int y = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o)
            incl += y;
    }
    if (lane == 31)
        wsum[warp] = incl;
    __syncthreads();
    if (warp == 0) {
        const int w = lane < (T >> 5) ? wsum[lane] : 0;
        int wi = w;
        for (int o = 1; o < 32; o <<= 1) {
            const int y = __shfl_up_sync(0xffffffffu, wi, o);
            if (lane >= o)
                wi += y;
        }
        if (lane < (T >> 5))
            wsum[lane] = wi - w; /* exclusive */
        if (lane == 31)
            nh_s = wi, first_long_s = wi; /* the head's items; the first one with a global block: none yet */
    }
    __syncthreads();
    /* 4. the front region (VOX_SM90_PLAN_FRONT, sm90_smem.h): with a grid, the items holding a global
     * position (>= NBv; the last ones of the chain, from the one that holds position NBv on) go to
     * the head's ngf = NB - NBv slots at bh * ngf, the others (nh - n_long, counted) at front +
     * base, base from the counter; unused front slots get {0, 0} */
    const int nbv = grid_ok && (mode & VOX_SM90_PLAN_M_FRONT) ? gt * gh * gw : nbi, ngf = nbi - nbv;
    const long long front = BH * (long long)ngf; /* VOX_SM90_PLAN_FRONT */
    const int hidx0 = wsum[warp] + incl - cnt; /* the head index of this thread's first start */
    if (ngf > 0) {
        int hidx = hidx0;
        for (int x = x0; x < x1; x++)
            if (m[x]) {
                const int e = vox_sm90_plan_chain_next(m, x, nbi);
                if (x <= nbv && nbv < e)
                    first_long_s = hidx; /* one item holds position nbv (< NB) */
                hidx++;
            }
    }
    __syncthreads();
    const int first_long = first_long_s;
    /* 5. VOX_SM90_PLAN_M_RAGGED: the counted items (index < first_long) that hold a partial block
     * first (nr of them, rr before this thread's first start), the others after them */
    int nr = 0, rr = 0;
    if (ragged) {
        int hidx = hidx0;
        for (int x = x0; x < x1; x++)
            if (m[x]) {
                rr += hidx < first_long && vox_sm90_plan_item_partial(pf, x, vox_sm90_plan_chain_next(m, x, nbi));
                hidx++;
            }
        rr = vox_sm90_plan_scan(rr, wsum, &tot_s, &nr);
    }
    if (tid == 0)
        base_s = atomicAdd(counter, first_long);
    for (int k = nh_s - first_long + tid; k < ngf; k += T)
        *(int2 *)(items + 2 * (bh * ngf + k)) = make_int2(0, 0);
    __syncthreads();
    int hidx = hidx0;
    for (int x = x0; x < x1; x++)
        if (m[x]) {
            const int e = vox_sm90_plan_chain_next(m, x, nbi);
            int h2 = hidx;
            if (ragged && hidx < first_long) {
                const bool part = vox_sm90_plan_item_partial(pf, x, e);
                h2 = part ? rr : nr + (hidx - rr);
                rr += part;
            }
            const long long idx = VOX_SM90_PLAN_SLOT(bh, h2, first_long, ngf, front, base_s);
            int gw2 = e - x;
            if (cols && x < nbv_grid) { /* a column cut: G blocks from skip (the last may go past maxrows rows) */
                const int j = x % ext, c0 = x - j;
                const vox_sm90_cut ct = vox_sm90_plan_cut(j, ext, rows[c0], rows[x], rows[c0 + ext - 1], maxrows);
                gw2 = ct.G | ct.skip << 16;
            } else if (split && x >= np_full && x < nbv_grid) { /* a split item (VOX_SM90_ITEM_G / _SKIP) */
                const int d = (x - np_full) % 3;
                if (d == 0 && e < nbv_grid)
                    gw2 += 1; /* and the first V/2 rows of block e */
                else if (d == 1)
                    gw2 |= (V / 2) << 16; /* from row V/2 of its first block */
            }
            *(int2 *)(items + 2 * idx) = make_int2((int)(bh * NB + x), gw2);
            hidx++;
        }
}

/* Session 11's planner (VOXATTN_SM90_PLAN_OLD; kept for comparison): VOX_SM90_PLAN_THREADS threads,
 * VOX_SM90_PLAN_OLD_SMEM(NB) bytes of dynamic shared memory, the same arguments, grid and results
 * as vox_attn_sm90_plan; thread 0 packs in a serial loop over the NB positions, twice (count, then
 * write). */
extern "C" __global__ void __launch_bounds__(VOX_SM90_PLAN_THREADS)
    vox_attn_sm90_plan_old(const int *kept_count, const int *block_valid, const int *kv_start, const int *kv_count,
                           const int *kv_cols, long long NB, int *items, int *counter, int maxrows, int *order,
                           int gt, int gh, int gw, long long BH, const uint4 *v, int V, int D, int bf16,
                           unsigned *vbad, unsigned *hflag, int *anyflag)
{
    if (blockIdx.x >= BH) {
        vox_sm90::vflags(v, NB, V, D, VOX_SM90_EXP2(bf16), vbad, blockIdx.x - BH, hflag, anyflag);
        return;
    }
    extern __shared__ unsigned short vox_sm90_plan_rows[];
    __shared__ unsigned bits[VOX_SM90_PLAN_THREADS / 32][VOX_SM90_PLAN_MAXNB / 32];
    __shared__ int sums[3];
    const long long bh = blockIdx.x;
    const bool grid_ok = gt > 0 && gh > 0 && gw > 0 && (long long)gt * gh * gw <= NB && NB <= VOX_SM90_PLAN_MAXNB;
    const int axis = vox_sm90::plan_axis(kv_start, kv_count, kv_cols, NB, bh, gt, gh, gw, grid_ok,
                                         VOX_SM90_PLAN_THREADS / 32, &bits[0][0], VOX_SM90_PLAN_MAXNB / 32, sums);
    vox_sm90::plan_rows(kept_count, block_valid, NB, bh, axis, grid_ok, gt, gh, gw, order, vox_sm90_plan_rows);
    __syncthreads();
    if (threadIdx.x != 0)
        return;
    int base = 0;
    for (int write = 0; write < 2; write++) {
        int n = 0, tot = 0, g = 0, gfirst = 0;
        long long start = 0;
        for (long long x = 0; x < NB; x++) {
            const int r = vox_sm90_plan_rows[x];
            if (g > 0 && VOX_SM90_PACK_CLOSE(g, tot, r, gfirst, maxrows)) {
                if (write)
                    items[2 * (base + n)] = (int)(bh * NB + start), items[2 * (base + n) + 1] = g;
                n++, g = 0, tot = 0;
            }
            if (g == 0)
                start = x;
            gfirst = VOX_SM90_PACK_FIRST(g, tot, r, gfirst);
            g++, tot += r;
        }
        if (g > 0) {
            if (write)
                items[2 * (base + n)] = (int)(bh * NB + start), items[2 * (base + n) + 1] = g;
            n++;
        }
        if (!write)
            base = atomicAdd(counter, n);
    }
}
