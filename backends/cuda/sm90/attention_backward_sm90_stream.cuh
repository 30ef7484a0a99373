/* The streaming side of the Hopper attention backward's dq and dkdv kernels
 * (attention_backward_sm90.cuh, whose header comment has the design): the
 * shared-memory map and barriers, the producer warp (BwdStream: 64-row tiles
 * and per-membership 16-row chunk queues; bwd_produce: the resident tiles and
 * the merged union of the CTA's two block lists), the fixer warp (zeroes the
 * staged rows that must contribute nothing, then releases the stage to the
 * consumers), and the map from a CTA to its units. Included by
 * attention_backward_sm90.cuh after VoxSm90BwdParams and the VOX_SM90_BWD_*
 * stage-info macros. */
#pragma once

namespace vox_sm90 {

/* shared-memory accesses at a shared address: 32-bit store, two floats, 16 zero bytes; 32-bit load */
__device__ __forceinline__ void st_shared(uint32_t a, int v)
{
    asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(a), "r"(v) : "memory");
}
__device__ __forceinline__ void st_shared2(uint32_t a, float2 v)
{
    asm volatile("st.shared.v2.f32 [%0], {%1, %2};\n" ::"r"(a), "f"(v.x), "f"(v.y) : "memory");
}
__device__ __forceinline__ void st_shared_zero16(uint32_t a)
{
    asm volatile("st.shared.v4.b32 [%0], {%1, %1, %1, %1};\n" ::"r"(a), "r"(0) : "memory");
}
__device__ __forceinline__ unsigned ld_shared(uint32_t a)
{
    unsigned v;
    asm volatile("ld.shared.b32 %0, [%1];\n" : "=r"(v) : "r"(a) : "memory");
    return v;
}
/* generic-proxy shared-memory writes before async-proxy (wgmma, TMA) accesses, and the reverse */
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

/* Shared-memory map of the dq / dkdv kernels of one scheme (base 1024-aligned; PACK: 4 resident
 * tiles, else 2: VOX_SM90_BWD_RES; the atomic-dQ schemes: their area after the ring,
 * VOX_SM90_BWD_DQ_AREA). */
template <int D, int PACK> struct BwdSmem {
    static constexpr int STAGES = VOX_SM90_BWD_STAGES(D, PACK);
    static constexpr int RES = VOX_SM90_BWD_RES(PACK);
    static constexpr int TILE = 64 * D * 2;          /* one [64][D] f16/bf16 tile */
    static constexpr bool ATOMIC = VOX_SM90_BWD_IS_ATOMIC(PACK);
    static constexpr bool RW = PACK == VOX_SM90_BWD_ATOMIC_RW; /* the reduce-adds issued by the reducer warp */
    uint32_t res, ring;                              /* resident pairs (res_of); stage s at ring + s*2*TILE */
    uint32_t full0, empty0, ready0, resbar, redbar;  /* mbarriers: full[s] = full0 + 8s, ... */
    volatile int *info;                              /* [STAGES]: -1 = end, else 4 chunk counts (bytes) + members */
    float *rowl2, *rowdl;                            /* [STAGES][64] (dkdv: the staged rows' l2, delta) */
    unsigned char *gring;                            /* generic pointer to the ring */
    /* atomic dQ: consumer c's dS^T tile at dsb + 8192c (ATOMIC_DB: odd stages' at + 16384), the
     * f32 dQ staging tile (D/32 boxes of [64 rows][32 f32], 8 KB apart, 128B-swizzled), the
     * stages' chunk slots (slot_at), mbarriers dsbar (dS^T tiles written, staging free) and
     * stbar (staging written; ATOMIC: and dS^T tiles read) */
    uint32_t dsb, stg, dsbar, stbar;
    /* RW (VOX_SM90_BWD_ATOMIC_RW): mbarriers sfbar (the reducer's bulk reads of the staging tile done: it may
     * be rewritten; 1 arrival) and qdbar (every consumer thread's dQ product of the stage done: the dS^T tiles
     * may be rewritten; 256), and rslot: the staged tile's chunk counts (-1: the end) and 4 chunk rows,
     * written by the first consumer thread before its stbar arrival, read by the reducer after stbar */
    uint32_t sfbar, qdbar, rslot;
    unsigned char *gdsb, *gstg;
    /* grouped units (VoxSm90BwdParams.qgrp: dq, PACK 0; kgrp: the packed dkdv): the membership bytes of the NB
     * blocks (dq: bit k, chunk k's query block lists the block; dkdv: bit 4c + k, chunk k of consumer c's unit, a
     * 64-key unit all 4 bits), VOX_SM90_BWD_QGRP_BYTES(NB) after meta and the split producer's area */
    uint32_t memb;
    /* consumer c's resident tiles (Q, dO_eff or K, V): the second at + TILE */
    __device__ __forceinline__ uint32_t res_of(int c) const { return res + 2 * c * TILE; }
    /* producer side, as 32-bit shared addresses (keeps the 40-register producer free of 64-bit
     * pointers): info[s]; rowl2, rowdl */
    __device__ __forceinline__ uint32_t info_at(int s) const { return full0 + 24 * STAGES + 16 + 4 * s; }
    __device__ __forceinline__ uint32_t rowl2_at(int s, int o) const
    {
        return full0 + 32 * STAGES + 16 + 4 * (64 * s + o);
    }
    __device__ __forceinline__ uint32_t rowdl_at(int s, int o) const { return rowl2_at(s, o) + 256 * STAGES; }
    /* atomic dQ: the first absolute row of chunk c of stage s ([STAGES][4] ints ending the atomic
     * area 16 bytes before meta: an offset from full0); a 64-row tile stage stores only ~row in
     * slot 0 (negative; a chunk stage's slot 0 is never empty) */
    __device__ __forceinline__ uint32_t slot_at(int s, int c) const { return full0 - 16 - 16 * (STAGES - s) + 4 * c; }
    /* the split producer (VOXATTN_SM90_BWD_PRODUCER, PACK 1; VOX_SM90_BWD_CMD_AREA after meta): mbarrier cmd[s]
     * (the meta warp's stage s written: info and the 4 chunk rows) and the chunk rows [STAGES][4] */
    __device__ __forceinline__ uint32_t cmdbar_at(int s) const { return full0 + 544 * STAGES + 16 + 8 * s; }
    __device__ __forceinline__ uint32_t cmd_at(int s, int c) const
    {
        return full0 + 552 * STAGES + 16 + 16 * s + 4 * c;
    }
    /* the packed dkdv's grouped key units (PACK 1): stage s's membership word (8 bits per streamed chunk j: bits
     * 8j + 4c + k, chunk k of consumer c's unit lists chunk j's block) */
    __device__ __forceinline__ uint32_t cmw_at(int s) const { return full0 + 568 * STAGES + 16 + 4 * s; }
    __device__ __forceinline__ BwdSmem(unsigned char *raw_ptr)
    {
        const uint32_t raw = smem_u32(raw_ptr);
        const uint32_t base = (raw + 1023u) & ~1023u;
        if (VOX_SM90_BWD_SLACK(D, PACK) == 0 && base != raw) /* no slack allocated (VOX_SM90_BWD_PK5) */
            __trap();
        unsigned char *gb = raw_ptr + (base - raw);
        res = base, ring = base + RES * TILE;
        gring = gb + RES * TILE;
        unsigned char *area = gb + (RES + 2 * STAGES) * TILE;
        dsb = base + (RES + 2 * STAGES) * TILE, stg = dsb + VOX_SM90_BWD_DS_TILES(PACK) * 8192;
        gdsb = area, gstg = area + VOX_SM90_BWD_DS_TILES(PACK) * 8192;
        sfbar = stg + 64 * D * 4, qdbar = sfbar + 8, rslot = sfbar + 16; /* RW only: VOX_SM90_BWD_RW_BYTES */
        dsbar = stg + 64 * D * 4 + VOX_SM90_BWD_RW_BYTES(PACK) + 16 * STAGES, stbar = dsbar + 8;
        unsigned char *meta = area + VOX_SM90_BWD_DQ_AREA(D, PACK);
        full0 = smem_u32(meta), empty0 = full0 + 8 * STAGES, ready0 = empty0 + 8 * STAGES;
        resbar = ready0 + 8 * STAGES, redbar = resbar + 8;
        info = (volatile int *)(meta + 24 * STAGES + 16);
        rowl2 = (float *)(meta + 32 * STAGES + 16);
        rowdl = rowl2 + 64 * STAGES;
        memb = full0 + 544 * STAGES + 16 + (uint32_t)VOX_SM90_BWD_CMD_AREA(D, PACK);
    }
};

/* Whether a kernel's consumers take the stages straight from the producer (DIRECT: the
 * alternating dq, main's path: each consumer waits on full[s] of its own stages only, zeroes
 * their dead K/V rows itself and releases them alone; no fixer, two end markers) instead of
 * through the fixer (ready[s], every stage for both consumers). */
#define VOX_SM90_BWD_DIRECT(DKDV, PACK) (!(DKDV) && !(PACK))

/* Barrier setup shared by dq and dkdv: full[s] gets one arrival per producer lane (+ tx bytes; split:
 * the meta warp's 32 lanes and the TMA warp's one), ready[s] one per fixer lane, empty[s] one per
 * consumer thread (both warpgroups) and fixer lane, DIRECT one per thread of the computing warpgroup;
 * split: cmd[s] the meta warp's lane 0; redbar (the end-of-CTA exchanges, bwd_exchange) and the
 * atomic-dQ scheme's dsbar, stbar one per consumer thread. */
template <class SM> __device__ __forceinline__ void bwd_init_barriers(const SM &sm, bool direct, bool split = false)
{
    if (threadIdx.x == 0) {
        for (int s = 0; s < SM::STAGES; s++) {
            mbar_init(sm.full0 + 8 * s, split ? 33 : 32);
            if (split)
                mbar_init(sm.cmdbar_at(s), 1);
            mbar_init(sm.ready0 + 8 * s, 32);
            mbar_init(sm.empty0 + 8 * s, direct ? 128 : 256 + 32);
        }
        mbar_init(sm.resbar, 1);
        mbar_init(sm.redbar, 256);
        if (SM::ATOMIC) {
            mbar_init(sm.dsbar, 256);
            mbar_init(sm.stbar, 256);
        }
        if (SM::RW) {
            mbar_init(sm.sfbar, 1);
            mbar_init(sm.qdbar, 256);
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
}

/* Producer lane: claim the next stage (wait until its last consumer released it). */
template <class SM> __device__ __forceinline__ int bwd_claim(const SM &sm, int it)
{
    const int s = it % SM::STAGES, k = it / SM::STAGES;
    mbar_wait(sm.empty0 + 8 * s, (k & 1) ^ 1);
    return s;
}
/* Producer, lane 0: a [64][D] tile of rows row.. of a tensor map into dst (64-column boxes). */
template <int D> __device__ __forceinline__ void bwd_tile(uint32_t dst, const CUtensorMap *map, int row, uint32_t bar)
{
#pragma unroll
    for (int h = 0; h < D / 64; h++)
        tma_load_2d(dst + h * 8192, map, h * 64, row, bar);
}

/* Producer warp, all 32 lanes in step: the streamed side as ring stages (two tensors A, B per
 * stage: dq K, V; dkdv Q, dO_eff plus the rows' l2 and delta). Lane 0 writes the stage's info
 * (atomic dQ: and its chunks' first rows, slot_at) and issues the TMA copies (SP, the split
 * producer's meta warp: writes the stage's 4 chunk rows, cmd_at, and arrives on cmd[s] instead;
 * the TMA warp, bwd_tma_stream, issues the copies); in dkdv lane L
 * stages the l2 and delta of the stage's rows 2L, 2L+1 (SP: by cp.async, rows_async)
 * (global loads issued before the stage is claimed, so their latency hides behind the wait;
 * shared stores after it); then every lane arrives on the full barrier. So every value the
 * fixer and the consumers read with plain loads reaches them through a plain store that its own
 * thread's arrival orders (bulk copies of the l2/delta rows were flagged by racecheck), and no stage
 * byte is left from an earlier use of the stage. `block` takes one streamed block (its first
 * slot, valid count and membership bits), `finish` flushes the chunk queues and ends the stream.
 * One chunk queue per membership Q + 1 (consumer 0, 1, both): np[Q] chunks, their counts in
 * pc[Q]; lane 4Q + c holds the first row of chunk c of queue Q (crows). Queue Q is only ever
 * indexed with a constant (template), so it stays in registers. */
/* CM (grouped units): each streamed block comes with the mask of the chunks that list it. CM 1 (dq's,
 * VoxSm90BwdParams.qgrp): 4 bits, the unit's chunks (query blocks); a stage's 16-bit membership word (bits
 * 4j..4j+3: the mask of the block of its streamed chunk j) is stored at rowl2_at(s, 0), unused by dq. CM 2 (the
 * packed dkdv's, kgrp): 8 bits, 4 per consumer's unit; the stage's 32-bit word (bits 8j..8j+7) at cmw_at(s). Both
 * before the stage's arrival. A queued chunk's mask rides in lane 12 + 4Q + c of crows (the rows use lanes 0..11). */
template <int D, bool DKDV, int PACK, int SP = 0, int CM = 0> struct BwdStream {
    static constexpr int CMW = CM == 2 ? 8 : 4; /* mask bits per streamed chunk */
    using SM = BwdSmem<D, PACK>;
    const SM &sm;
    const VoxSm90BwdParams &p;              /* dkdv: l2 and delta (lse[BH*S + row]) of the rows */
    const CUtensorMap *ta, *tb, *tac, *tbc; /* 64-row and 16-row box maps of A and B */
    int it, lane, np[3], crows;             /* stages issued; chunks queued; see above */
    int bal;                                /* dq: one-unit stages given to consumer 0 minus to 1 */
    unsigned pc[3];                         /* the queued chunks' counts (bytes) */
    __device__ __forceinline__ BwdStream(const SM &sm_, const VoxSm90BwdParams &p_, const CUtensorMap *a,
                                         const CUtensorMap *b, const CUtensorMap *ac, const CUtensorMap *bc, int lane_)
        : sm(sm_), p(p_), ta(a), tb(b), tac(ac), tbc(bc), it(0), lane(lane_), bal(0)
    {
#pragma unroll
        for (int q = 0; q < 3; q++)
            np[q] = 0, pc[q] = 0;
        crows = 0;
    }
    /* dkdv: l2 and delta of rows src, src+1 (absolute) when live, else l2 = +inf (not live) */
    __device__ __forceinline__ void load_rows(int src, bool live, float2 &l, float2 &d) const
    {
        l = make_float2(VOX_SM90_INF, VOX_SM90_INF), d = make_float2(0.f, 0.f);
        if (DKDV && live) {
            l = __ldg((const float2 *)(p.l2 + src));
            d = __ldg((const float2 *)(p.lse + p.BH * p.NB * p.V + src));
        }
    }
    /* the split producer's meta warp (SP; dkdv): this lane's rows src, src+1 of stage s, l2 and delta copied
     * by cp.async (8 bytes each) when live, tracked by full[s] (cp.async.mbarrier.arrive: the pending count
     * raised now, lowered when they complete), so no register waits for them; rows not live get l2 = +inf,
     * delta 0 by plain stores; then the lane's own arrival (it orders lane 0's info and command stores) */
    __device__ __forceinline__ void rows_async(int s, int src, bool live) const
    {
        const uint32_t dl = sm.rowl2_at(s, 2 * lane), dd = sm.rowdl_at(s, 2 * lane), full = sm.full0 + 8 * s;
        if (live) {
            asm volatile("cp.async.ca.shared.global [%0], [%1], 8;\n" ::"r"(dl), "l"(p.l2 + src) : "memory");
            asm volatile("cp.async.ca.shared.global [%0], [%1], 8;\n" ::"r"(dd), "l"(p.lse + p.BH * p.NB * p.V + src)
                         : "memory");
            asm volatile("cp.async.mbarrier.arrive.shared::cta.b64 [%0];\n" ::"r"(full) : "memory");
        } else {
            st_shared2(dl, make_float2(VOX_SM90_INF, VOX_SM90_INF));
            st_shared2(dd, make_float2(0.f, 0.f));
        }
        mbar_arrive(full);
    }
    /* after lane 0's copies of stage s: this lane's l2/delta rows (dkdv), then its arrival */
    __device__ __forceinline__ void publish(int s, float2 l, float2 d) const
    {
        if (DKDV) {
            st_shared2(sm.rowl2_at(s, 2 * lane), l);
            st_shared2(sm.rowdl_at(s, 2 * lane), d);
        }
        mbar_arrive(sm.full0 + 8 * s);
    }
    /* The tags of a stage that the units mb list (VOX_SM90_BWD_MEMBER bits): dkdv and stages both
     * list, mb itself; dq, a stage one unit lists goes to the consumer that has computed fewer such
     * stages so far (ties: the unit's own), so a pair with lists of unequal length keeps both
     * consumers busy. A function of the lists alone: deterministic. */
    __device__ __forceinline__ unsigned tag(unsigned mb)
    {
        if (DKDV || mb == VOX_SM90_BWD_MEMBERS)
            return mb;
        const bool x = mb == VOX_SM90_BWD_MEMBER(1), k = x ? bal >= 0 : bal > 0;
        bal += k ? -1 : 1;
        return VOX_SM90_BWD_MEMBER(k) | (x ? VOX_SM90_BWD_UNIT1 : 0u);
    }
    /* CM: the stage's membership word, by lane 0 before its arrivals */
    __device__ __forceinline__ void cm_word(int s, unsigned v) const
    {
        st_shared(CM == 2 ? sm.cmw_at(s) : sm.rowl2_at(s, 0), (int)v);
    }
    /* one stage: 64-row boxes from row.., chunk counts and tags `counts` (CM: one block, members cmk) */
    __device__ __forceinline__ void tile(int row, unsigned counts, unsigned cmk = 0xffu)
    {
        float2 l, d;
        if (!SP)
            load_rows(row + 2 * lane, true, l, d);
        const int s = bwd_claim(sm, it++);
        if (CM && lane == 0) /* every chunk of the tile is the one block's */
            cm_word(s, CM == 2 ? (cmk & 0xffu) * 0x01010101u : (cmk & 0xfu) * 0x1111u);
        if (SP && lane == 0) { /* the split producer: the stage's command for the TMA warp */
            st_shared(sm.info_at(s), (int)counts);
#pragma unroll
            for (int c = 0; c < 4; c++)
                st_shared(sm.cmd_at(s, c), row + 16 * c);
            mbar_arrive(sm.cmdbar_at(s));
        } else if (lane == 0) {
            const uint32_t full = sm.full0 + 8 * s, buf = sm.ring + s * 2 * SM::TILE;
            st_shared(sm.info_at(s), (int)counts);
            mbar_tx(full, 2 * SM::TILE);
            bwd_tile<D>(buf, ta, row, full);
            bwd_tile<D>(buf + SM::TILE, tb, row, full);
        }
        if (SM::ATOMIC && lane == 1) /* the chunks' first rows: row + 16c, marked by ~row in slot 0 */
            st_shared(sm.slot_at(s, 0), ~row);
        if (SP)
            rows_async(s, row + 2 * lane, true);
        else
            publish(s, l, d);
    }
    /* one stage: the np[Q] (1..4) chunks of queue Q, empty slots zero-filled; empties the queue */
    template <int Q> __device__ __forceinline__ void chunks()
    {
        float2 l, d;
        const int crow = __shfl_sync(0xffffffffu, crows, 4 * Q + (lane >> 3)); /* this lane's chunk */
        if (!SP)
            load_rows(crow + 2 * (lane & 7), (lane >> 3) < np[Q], l, d);
        const int s = bwd_claim(sm, it++);
        const uint32_t full = sm.full0 + 8 * s, buf = sm.ring + s * 2 * SM::TILE;
        const unsigned tg = tag((unsigned)(Q + 1) << 5); /* every lane: bal stays warp-uniform */
        unsigned cmv = 0u;
        if (CM)
#pragma unroll
            for (int c = 0; c < 4; c++) {
                const unsigned m = (unsigned)__shfl_sync(0xffffffffu, crows, 12 + 4 * Q + c);
                cmv |= c < np[Q] ? (m & ((1u << CMW) - 1u)) << (CMW * c) : 0u;
            }
        if (lane == 0) {
            st_shared(sm.info_at(s), (int)(pc[Q] | tg));
            if (CM)
                cm_word(s, cmv);
            if (!SP)
                mbar_tx(full, 2 * SM::TILE);
        }
#pragma unroll
        for (int c = 0; c < 4; c++) {
            const int r = __shfl_sync(0xffffffffu, crows, 4 * Q + c);
            if (lane == 0) {
                const int row = c < np[Q] ? r : -16; /* an empty slot: a box wholly before row 0 */
                if (SM::ATOMIC)
                    st_shared(sm.slot_at(s, c), row);
                if (SP) /* the split producer: chunk rows for the TMA warp */
                    st_shared(sm.cmd_at(s, c), row);
                else
#pragma unroll
                    for (int h = 0; h < D / 64; h++) {
                        tma_load_2d(buf + h * 8192 + c * 2048, tac, h * 64, row, full);
                        tma_load_2d(buf + SM::TILE + h * 8192 + c * 2048, tbc, h * 64, row, full);
                    }
            }
        }
        if (SP && lane == 0)
            mbar_arrive(sm.cmdbar_at(s));
        if (SP)
            rows_async(s, crow + 2 * (lane & 7), (lane >> 3) < np[Q]);
        else
            publish(s, l, d);
        np[Q] = 0, pc[Q] = 0;
    }
    /* chunk rows row..row+n-1 (n <= 16) into queue Q; a full queue is issued */
    template <int Q> __device__ __forceinline__ void push(int row, int n, unsigned cmk = 0xffu)
    {
        pc[Q] |= (unsigned)n << (8 * np[Q]);
        crows = lane == 4 * Q + np[Q] ? row : crows;
        if (CM)
            crows = lane == 12 + 4 * Q + np[Q] ? (int)cmk : crows;
        if (++np[Q] == 4)
            chunks<Q>();
    }
    /* a streamed block: first slot `row` (absolute), n valid rows (its first n slots), members mb (CM: and the
     * mask cmk of the unit's chunks that list it) */
    __device__ __forceinline__ void block(int row, int n, unsigned mb, unsigned cmk = 0xffu)
    {
#pragma unroll 1
        for (; n > 48; row += 64, n -= 64)
            tile(row, (n >= 64 ? (unsigned)VOX_SM90_BWD_FULL : 0x00101010u | (unsigned)(n - 48) << 24) | tag(mb),
                 cmk);
#pragma unroll 1
        for (; n > 0; row += 16, n -= 16) {
            const int c = n < 16 ? n : 16;
            if (mb == VOX_SM90_BWD_MEMBER(0))
                push<0>(row, c, cmk);
            else if (mb == VOX_SM90_BWD_MEMBER(1))
                push<1>(row, c, cmk);
            else
                push<2>(row, c, cmk);
        }
    }
    /* the queued chunks, then the end marker (the fixer and both consumers read it; DIRECT: two,
     * one for each consumer) */
    __device__ __forceinline__ void finish()
    {
        if (np[0] > 0)
            chunks<0>();
        if (np[1] > 0)
            chunks<1>();
        if (np[2] > 0)
            chunks<2>();
#pragma unroll
        for (int e = 0; e < (VOX_SM90_BWD_DIRECT(DKDV, PACK) ? 2 : 1); e++) {
            const int s = bwd_claim(sm, it++);
            if (lane == 0) {
                st_shared(sm.info_at(s), -1);
                if (SP) /* the TMA warp reads the end, arrives on full[s] and returns */
                    mbar_arrive(sm.cmdbar_at(s));
            }
            mbar_arrive(sm.full0 + 8 * s);
        }
        if (SP) /* the meta warp's row copies done before it exits */
            asm volatile("cp.async.wait_all;\n" ::: "memory");
    }
};

/* Fixer: dead-row bits of two chunks (rows past each one's count) from the low two bytes of
 * a stage's counts: bit r = row r of the 32 rows of the pair. */
__device__ __forceinline__ unsigned bwd_dead(unsigned cn)
{
    return ((0xffffu << (cn & 0xffu)) & 0xffffu) | (((0xffffu << ((cn >> 8) & 0xffu)) & 0xffffu) << 16);
}

/* Fixer (warp 1 of the producer warpgroup), all 32 lanes: for every stage, after its full barrier,
 * zero the rows of both staged [64][D] tiles that must contribute nothing (dq and dkdv: past their
 * chunk's count; dkdv also rows that are not live, l2 = +inf), make the writes visible to wgmma
 * (fence.proxy.async) and release the stage to the consumers (ready[s]); its arrival on empty[s]
 * orders its own accesses before the stage's next fill directly. A 128B-swizzled row keeps
 * its 128 bytes per 64-column box, so a row is 2 * D/64 * 8 chunks of 16 bytes, one per lane.
 * 32-bit shared addresses only: the fixer runs under the producer warpgroup's 40 registers. */
template <int D, bool DKDV, int PACK>
__device__ __forceinline__ void bwd_fix(const BwdSmem<D, PACK> &sm, int lane)
{
    using SM = BwdSmem<D, PACK>;
    constexpr int H = D / 64, CH = 2 * H * 8;
#pragma unroll 1
    for (int it = 0;; it++) {
        const int s = it % SM::STAGES;
        mbar_wait(sm.full0 + 8 * s, (it / SM::STAGES) & 1);
        const int info = (int)ld_shared(sm.info_at(s));
        if (info >= 0) {
            const unsigned cn = (unsigned)info & ~VOX_SM90_BWD_TAGS, inf = 0x7f800000u;
            unsigned dead0 = 0, dead1 = 0;
            if (cn != (unsigned)VOX_SM90_BWD_FULL)
                dead0 = bwd_dead(cn), dead1 = bwd_dead(cn >> 16);
            if (DKDV) {
                dead0 |= __ballot_sync(0xffffffffu, ld_shared(sm.rowl2_at(s, lane)) == inf);
                dead1 |= __ballot_sync(0xffffffffu, ld_shared(sm.rowl2_at(s, lane + 32)) == inf);
            }
            if (dead0 | dead1) {
                const uint32_t tb = sm.ring + s * 2 * SM::TILE;
#pragma unroll 1
                for (int q = 0; q < 2; q++) {
                    unsigned dead = q ? dead1 : dead0;
                    while (dead) {
                        const int r = 32 * q + __ffs(dead) - 1;
                        dead &= dead - 1;
                        for (int x = lane; x < CH; x += 32) {
                            const int t = x / (H * 8), h = (x >> 3) % H, c = x & 7;
                            st_shared_zero16(tb + t * SM::TILE + h * 8192 + r * 128 + c * 16);
                        }
                    }
                }
                fence_proxy_async();
            }
        }
        mbar_arrive(sm.ready0 + 8 * s);
        if (info < 0)
            return;
        mbar_arrive(sm.empty0 + 8 * s);
    }
}

/* Consumer: wait until stage `it` is released by the fixer; its info word */
template <class SM> __device__ __forceinline__ int bwd_ready(const SM &sm, int it)
{
    const int s = it % SM::STAGES;
    mbar_wait(sm.ready0 + 8 * s, (it / SM::STAGES) & 1);
    return sm.info[s];
}

/* VOX_SM90_BWD_FASTREADY (compile time, default 0; the dkdv consumers): a stage the fixer leaves as
 * it is (no chunk count short of 16 and, in dkdv, every row live) is taken straight after its full
 * barrier instead of after the fixer's ready arrival (one warp wake-up less per stage on the
 * consumers' path); a stage with rows to zero still waits for ready[s]. Each consumer warp makes
 * the fixer's test itself (the info word, and a ballot over the 64 rows' l2 == +inf), so both
 * decide the same. Parities stay right: a consumer waits full[s] of fill k + 1 only after empty[s]
 * of fill k completed, which needs the fixer's arrival on empty[s], made after its ready[s]
 * arrival of fill k; so ready[s] is never a whole phase behind the consumer's wait. Same
 * arithmetic (bitwise the same dk, dv). */
#ifndef VOX_SM90_BWD_FASTREADY
#define VOX_SM90_BWD_FASTREADY 0
#endif
template <class SM, bool DKDV> __device__ __forceinline__ int bwd_ready_fast(const SM &sm, int it, int lane)
{
    const int s = it % SM::STAGES, ph = (it / SM::STAGES) & 1;
    mbar_wait(sm.full0 + 8 * s, ph);
    const int info = sm.info[s];
    bool clean = info < 0 || ((unsigned)info & ~VOX_SM90_BWD_TAGS) == (unsigned)VOX_SM90_BWD_FULL;
    if (DKDV && info >= 0) {
        const float l0 = sm.rowl2[64 * s + lane], l1 = sm.rowl2[64 * s + lane + 32];
        clean = clean && !__any_sync(0xffffffffu, __float_as_uint(l0) == 0x7f800000u ||
                                                      __float_as_uint(l1) == 0x7f800000u);
    }
    if (!clean)
        mbar_wait(sm.ready0 + 8 * s, ph);
    return info;
}

/* The unit (a 64-row tile of a block: dq query rows, dkdv keys) of consumer c. PACK: with U =
 * NB * V/64 units per head (unit u = tile u % (V/64) of block u / (V/64)), CTA x of head bh
 * (vox_sm90_bwd_cta: grid CTA b is x = b mod ceil(U/2) of head b / ceil(U/2), unless p.front puts the
 * global blocks' CTAs first) takes units 2x and 2x + 1; consumer 1 of a head's last CTA has none
 * when U is odd (has = false; the fields then name unit U-1: in range, never stored). Alternating:
 * unit x, for both consumers. */
struct BwdUnit {
    long long m, row0; /* block bh*NB + i; absolute first row of the tile */
    int nv;            /* valid rows of the tile (block_valid[i] - 64 part, clamped to 0..64) */
    bool has;
    int ch;            /* runit: >= 0 a chunk unit (its index in the head's table: blocks p.runit[4 ch ..]; m,
                        * row0 name its first block), else -1 */
};
template <int PACK> __device__ __forceinline__ BwdUnit bwd_unit(const VoxSm90BwdParams &p, int c)
{
    const int parts = p.V >> 6;
    /* grouped units: P positions of unit codes (dq: ordq, PACK 0; the packed dkdv: ordkv, its front positions as
     * many as without groups) */
    const bool grp = PACK ? PACK == 1 && p.kgrp != nullptr : p.qgrp != nullptr;
    const long long U = p.NB * parts, P0 = PACK ? (U + 1) / 2 : U, P = grp ? (PACK ? p.nku : p.nqu) : P0;
    long long bh, x;
    vox_sm90_bwd_cta_f(blockIdx.x, p.BH, P, vox_sm90_bwd_front(P0, U, PACK != 0, p.front, p.V), &bh, &x);
    long long u = PACK ? 2 * x + c : x;
    const int *ord = PACK ? p.ordkv : p.ordq;
    if (ord) /* the unit order (vox_attn_bwd_sm90_order) */
        u = __ldg(ord + bh * (PACK ? 2 * P : P) + u);
    BwdUnit r;
    if (grp && u < 0) { /* group -1 - u: m, row0 name its first block (V = 64) */
        r.ch = (int)(-1 - u);
        r.m = bh * p.NB + __ldg((PACK ? p.kgrp : p.qgrp) + 4 * r.ch);
        r.row0 = r.m * p.V;
        r.nv = 64, r.has = true;
        return r;
    }
    r.has = u < U;
    u = r.has ? u : U - 1;
    const long long i = u / parts;
    const int part = (int)(u - i * parts), nv = p.block_valid[i] - part * 64;
    r.m = bh * p.NB + i;
    r.row0 = r.m * p.V + part * 64;
    r.nv = nv < 0 ? 0 : nv > 64 ? 64 : nv;
    r.ch = -1;
    return r;
}

/* The packed dkdv's unit of consumer c: as bwd_unit, or with p.runit (PACK only) unit u of the
 * head's table (VoxSm90BwdParams.runit): a tile {i, part} as bwd_unit's, or a chunk unit {~i0, ..}
 * (ch = u; nv = 64: its chunks' counts are per warp, bwd_chunk_block). */
template <int PACK> __device__ __forceinline__ BwdUnit bwd_unit_kv(const VoxSm90BwdParams &p, int c)
{
    if (!PACK || !p.runit)
        return bwd_unit<PACK>(p, c);
    /* nunit < 0: a device-built table (vox_attn_bwd_sm90_runits), its count at runit[-4], the usual grid */
    const long long U = p.nunit >= 0 ? p.nunit : __ldg(p.runit - 4);
    const long long P = p.nunit >= 0 ? (U + 1) / 2 : (p.NB * (p.V >> 6) + 1) / 2, bh = blockIdx.x / P;
    long long u = 2 * (blockIdx.x - bh * P) + c;
    BwdUnit r;
    r.has = u < U;
    u = r.has ? u : U - 1;
    const int e0 = __ldg(p.runit + 4 * u), part = __ldg(p.runit + 4 * u + 1);
    const long long i = e0 < 0 ? ~e0 : e0;
    const int nv = e0 < 0 ? 64 : __ldg(p.block_valid + i) - part * 64;
    r.m = bh * p.NB + i;
    r.row0 = r.m * p.V + (e0 < 0 ? 0 : part * 64);
    r.nv = nv < 0 ? 0 : nv > 64 ? 64 : nv;
    r.ch = e0 < 0 ? (int)u : -1;
    return r;
}
/* dq's grouped units: block of chunk k (0..3) of group g, -1 if that chunk is empty */
__device__ __forceinline__ int bwd_qgrp_block(const VoxSm90BwdParams &p, int g, int k)
{
    return __ldg(p.qgrp + 4 * g + k);
}
__device__ __forceinline__ void atom_or_shared(uint32_t a, unsigned v)
{
    asm volatile("red.shared.or.b32 [%0], %1;\n" ::"r"(a), "r"(v) : "memory");
}
/* Grouped units' membership bytes (sm.memb, one per block; the producer warp, all lanes): cleared; the entries of a
 * list OR-ed in (`bits` into each listed block's byte); walked in ascending block order, 32 words = 128 blocks at a
 * time (the valid counts of a word's listed blocks loaded by its lane), every listed block streamed once by st (CM 1,
 * dq: both members, the byte's low 4 bits as the mask; CM 2, the packed dkdv: members by the nibbles, the byte as
 * the mask), then the end. */
__device__ __forceinline__ void bwd_memb_clear(uint32_t memb, long long NB, int lane)
{
    for (int x = lane; x < (int)((NB + 3) >> 2); x += 32)
        st_shared(memb + 4 * x, 0);
    __syncwarp();
}
__device__ __forceinline__ void bwd_memb_or(uint32_t memb, const int *list, int n, unsigned bits, int lane)
{
    for (int e = lane; e < n; e += 32) {
        const int x = __ldg(list + e);
        atom_or_shared(memb + 4 * (x >> 2), bits << (8 * (x & 3)));
    }
}
template <int D, bool DKDV, int PACK, int SP, int CM>
__device__ __forceinline__ void bwd_memb_walk(uint32_t memb, const VoxSm90BwdParams &p,
                                              BwdStream<D, DKDV, PACK, SP, CM> &st, long long hb, int lane)
{
    static_assert(CM == 1 || CM == 2, "a grouped stream");
    __syncwarp();
    const int nw = (int)((p.NB + 3) >> 2);
#pragma unroll 1
    for (int w0 = 0; w0 < nw; w0 += 32) {
        const unsigned wv = w0 + lane < nw ? ld_shared(memb + 4 * (w0 + lane)) : 0u;
        unsigned nv = 0u; /* the valid counts of the word's listed blocks (V = 64: a byte each) */
#pragma unroll
        for (int j = 0; j < 4; j++)
            if ((wv >> (8 * j)) & 0xffu)
                nv |= (unsigned)__ldg(p.block_valid + 4 * (w0 + lane) + j) << (8 * j);
        unsigned bal = __ballot_sync(0xffffffffu, wv != 0u);
        while (bal) {
            const int l = __ffs(bal) - 1;
            bal &= bal - 1;
            const unsigned v = __shfl_sync(0xffffffffu, wv, l), n4 = __shfl_sync(0xffffffffu, nv, l);
#pragma unroll 1
            for (int j = 0; j < 4; j++) {
                const unsigned cm = (v >> (8 * j)) & (CM == 1 ? 0xfu : 0xffu);
                if (cm)
                    st.block((int)(hb + (long long)(4 * (w0 + l) + j) * p.V), (int)((n4 >> (8 * j)) & 0xffu),
                             CM == 1 ? VOX_SM90_BWD_MEMBERS
                                     : ((cm & 0xfu) ? VOX_SM90_BWD_MEMBER(0) : 0u) |
                                           ((cm & 0xf0u) ? VOX_SM90_BWD_MEMBER(1) : 0u),
                             cm);
            }
        }
    }
    st.finish();
}
/* dq's producer warp for grouped unit g of head bh (VoxSm90BwdParams.qgrp; the alternating scheme, DIRECT): lane 0
 * loads the resident Q and dO_eff as 4 chunks of 16 rows (16-row maps qc, gc; an empty chunk loads chunk 0's block
 * again: its rows are never live); the warp streams the union of the 4 KV lists by membership bytes (bit k: chunk
 * k's list; bwd_memb_walk). Each chunk's rows meet the blocks of its own list in ascending order, as a unit of its
 * own would (the stage split between the consumers differs). */
template <int D>
__device__ __forceinline__ void bwd_produce_qgrp(const BwdSmem<D, 0> &sm, const VoxSm90BwdParams &p,
                                                 const CUtensorMap *tk, const CUtensorMap *tv, const CUtensorMap *tkc,
                                                 const CUtensorMap *tvc, const CUtensorMap *qc, const CUtensorMap *gc,
                                                 int g, long long bh, int lane)
{
    using SM = BwdSmem<D, 0>;
    const long long R = p.BH * p.NB, hb = bh * p.NB * p.V;
    if (lane == 0) {
        const int b0 = bwd_qgrp_block(p, g, 0);
        mbar_tx(sm.resbar, 2 * SM::TILE);
#pragma unroll 1
        for (int k = 0; k < 4; k++) {
            int b = bwd_qgrp_block(p, g, k);
            b = b < 0 ? b0 : b;
            const int row = (int)(hb + (long long)b * p.V);
#pragma unroll
            for (int h = 0; h < D / 64; h++) {
                tma_load_2d(sm.res_of(0) + h * 8192 + k * 2048, qc, h * 64, row, sm.resbar);
                tma_load_2d(sm.res_of(0) + SM::TILE + h * 8192 + k * 2048, gc, h * 64, row, sm.resbar);
            }
        }
        mbar_arrive(sm.resbar);
    }
    bwd_memb_clear(sm.memb, p.NB, lane);
#pragma unroll 1
    for (int k = 0; k < 4; k++) {
        const int b = bwd_qgrp_block(p, g, k);
        if (b < 0)
            continue;
        const long long m = bh * p.NB + b;
        bwd_memb_or(sm.memb, p.mask + __ldg(p.mask + m), __ldg(p.mask + R + m), 1u << k, lane);
    }
    BwdStream<D, false, 0, 0, 1> st(sm, p, tk, tv, tkc, tvc, lane);
    bwd_memb_walk(sm.memb, p, st, hb, lane);
}
/* Block of chunk k (0..3) of chunk unit ch (the packed dkdv: a key-unit table's unit, p.runit, or a group,
 * p.kgrp), -1 if that chunk is empty */
__device__ __forceinline__ int bwd_chunk_block(const VoxSm90BwdParams &p, int ch, int k)
{
    if (p.kgrp)
        return __ldg(p.kgrp + 4 * ch + k);
    const int e = __ldg(p.runit + 4 * ch + k);
    return k ? e : ~e;
}

/* The packed dkdv's stream for a pair with a grouped key unit (VoxSm90BwdParams.kgrp; the producer warp, SP: the
 * meta warp): the union of both units' transposed lists by membership bytes (bit 4c + k: chunk k of consumer c's
 * group; bits 4c..4c+3: a 64-key unit), streamed by bwd_memb_walk (members by the nibbles, the byte as the mask).
 * Each chunk meets the blocks of its own list in ascending order, as the ascending merge gives a unit of its own. */
template <int D, int PACK, int SP>
__device__ __forceinline__ void bwd_merge_grp(const BwdSmem<D, PACK> &sm, const VoxSm90BwdParams &p,
                                              BwdStream<D, true, PACK, SP, 2> &st, long long bh0, int b0, int ch0,
                                              int b1, int ch1, long long hb, int lane)
{
    /* unit c: group ch_c >= 0, else the 64-key unit of block b_c (b_c < 0: none, or no valid key) */
    const long long R = p.BH * p.NB;
    bwd_memb_clear(sm.memb, p.NB, lane);
#pragma unroll 1
    for (int c = 0; c < 2; c++) {
        const int ch = c ? ch1 : ch0, bu = c ? b1 : b0;
#pragma unroll 1
        for (int k = 0; k < (ch >= 0 ? 4 : 1); k++) {
            const int b = ch >= 0 ? bwd_chunk_block(p, ch, k) : bu;
            if (b < 0) /* an empty chunk; no unit */
                continue;
            const long long m = bh0 + b;
            bwd_memb_or(sm.memb, p.mask + __ldg(p.mask + 2 * R + m), __ldg(p.mask + 3 * R + m),
                        (ch >= 0 ? 1u << k : 0xfu) << (4 * c), lane);
        }
    }
    bwd_memb_walk(sm.memb, p, st, hb, lane);
}

/* The packed schemes' merge order (params.asc; the library's VOXATTN_SM90_BWD_ASCENDING, the
 * harness's VOX_BWD_ASC). asc = 1: ascending block order (the union of the sorted lists, session
 * 8). asc = 0 (default): where the two lists' next blocks differ, the next stage's parity picks the
 * unit (even: unit 0's next block, odd: unit 1's), so one-unit stages alternate between the
 * consumers (stateless: a bool spilled the 40-register producer). In ascending order, random lists
 * (union/sum ~0.94) give runs of one consumer's blocks; a run longer than the ring (4 stages at
 * D = 128) leaves the other consumer nothing to compute. A block both lists hold is still streamed
 * once with both members when the two heads meet; one that the order passes by is streamed once
 * per unit (more L2 reads, no more math; identical lists never split). Each unit still receives
 * its own list in its order, so dk and dv are bitwise the same in both orders (the packed dq's
 * balancing may give other stages away: rounding of its dq can differ; the library's dq is
 * alternating, PACK = 0, which this does not touch). H200 harness (session 12, NOTES.md): dkdv
 * -2.8% at ragged hunyuan BSA 10% in one sitting, within noise in another. */
/* Producer, one lane: the resident tiles of bwd_produce (and of the split producer's TMA warp) */
template <int D, int PACK>
__device__ __forceinline__ void bwd_resident(const BwdSmem<D, PACK> &sm, const VoxSm90BwdParams &p,
                                             const CUtensorMap *ra, const CUtensorMap *rb, int row_a, int row_b,
                                             int nres, long long hb, const CUtensorMap *rac, const CUtensorMap *rbc,
                                             int ch_a, int ch_b)
{
    mbar_tx(sm.resbar, nres * 2 * BwdSmem<D, PACK>::TILE);
#pragma unroll 1
    for (int c = 0; c < nres; c++) {
        const int ch = c ? ch_b : ch_a;
        if (ch < 0) {
            bwd_tile<D>(sm.res_of(c), ra, c ? row_b : row_a, sm.resbar);
            bwd_tile<D>(sm.res_of(c) + BwdSmem<D, PACK>::TILE, rb, c ? row_b : row_a, sm.resbar);
            continue;
        }
        /* a chunk unit (dkdv, p.runit): chunk k = 16 rows of its block into rows 16k.. (the
         * swizzle is the address's: chunk k lands as rows 16k.. of a 64-row box); an empty
         * chunk loads its unit's first block again (no keys of it are used: count 0) */
#pragma unroll 1
        for (int k = 0; k < 4; k++) {
            int b = bwd_chunk_block(p, ch, k);
            b = b < 0 ? bwd_chunk_block(p, ch, 0) : b;
            const int row = (int)(hb + (long long)b * p.V);
#pragma unroll
            for (int h = 0; h < D / 64; h++) {
                tma_load_2d(sm.res_of(c) + h * 8192 + k * 2048, rac, h * 64, row, sm.resbar);
                tma_load_2d(sm.res_of(c) + BwdSmem<D, PACK>::TILE + h * 8192 + k * 2048, rbc, h * 64, row,
                            sm.resbar);
            }
        }
    }
    mbar_arrive(sm.resbar);
}
/* bwd_produce's stream: the merged union of the two lists, then the end (st.finish) */
template <int D, bool DKDV, int PACK, int SP>
__device__ __forceinline__ void bwd_merge(const VoxSm90BwdParams &p, BwdStream<D, DKDV, PACK, SP> &st, int la, int ca,
                                          int lb, int cb, long long hb)
{
    int ia = 0, ib = 0;
    if (SP) { /* the split producer's meta warp: the lists' next heads loaded before the block's stages */
        int a = ca > 0 ? __ldg(p.mask + la) : 0x7fffffff, b = cb > 0 ? __ldg(p.mask + lb) : 0x7fffffff;
#pragma unroll 1
        while (ia < ca || ib < cb) {
            int x = a < b ? a : b;
            if (!p.asc && a != b && ia < ca && ib < cb) /* one-unit blocks by stage parity */
                x = st.it & 1 ? b : a;
            const unsigned mb = (a == x ? VOX_SM90_BWD_MEMBER(0) : 0u) | (b == x ? VOX_SM90_BWD_MEMBER(1) : 0u);
            ia += a == x, ib += b == x;
            const int n = __ldg(p.block_valid + x);
            if (a == x)
                a = ia < ca ? __ldg(p.mask + la + ia) : 0x7fffffff;
            if (b == x)
                b = ib < cb ? __ldg(p.mask + lb + ib) : 0x7fffffff;
            st.block((int)(hb + (long long)x * p.V), n, mb);
        }
    } else {
#pragma unroll 1
        while (ia < ca || ib < cb) {
            const int a = ia < ca ? __ldg(p.mask + la + ia) : 0x7fffffff;
            const int b = ib < cb ? __ldg(p.mask + lb + ib) : 0x7fffffff;
            int x = a < b ? a : b;
            if (PACK && !p.asc && a != b && ia < ca && ib < cb) /* one-unit blocks by stage parity */
                x = st.it & 1 ? b : a;
            const unsigned mb = (a == x ? VOX_SM90_BWD_MEMBER(0) : 0u) | (b == x ? VOX_SM90_BWD_MEMBER(1) : 0u);
            ia += a == x, ib += b == x;
            st.block((int)(hb + (long long)x * p.V), __ldg(p.block_valid + x), mb);
        }
    }
    st.finish();
}
/* The producer warp of both kernels: the resident tiles of the CTA's nres (1, 2) units (64-row
 * boxes of ra and rb at rows row_a, row_b) into res_of(c), then the union of the block lists
 * p.mask[la ..+ ca) and p.mask[lb ..+ cb) (head offset hb) streamed by st, merged: a block both
 * list is streamed once with both members (asc = 0: where the two heads meet),
 * every other one with its list's. The alternating
 * scheme passes one list twice (both members everywhere). Each element of each list is streamed
 * exactly once whatever their order; sorted lists give their union in ascending block order
 * (p.asc) or with the one-unit blocks alternating between the units (default). */
/* SP 3 (VOXATTN_SM90_BWD_SAFEALT): bwd_merge's split-producer walk, except where the two heads differ: the stage
 * parity names the unit whose block goes first (even 0, odd 1), and its head, when the larger one, is taken first
 * only if the other list's next entry is beyond it, i.e. it is in one list only (the lists are sorted). Each list
 * keeps its order and no shared block is split (session 12's parity alternation split them: 3.7% slower). */
template <int D, bool DKDV, int PACK, int SP>
__device__ __forceinline__ void bwd_merge_sa(const VoxSm90BwdParams &p, BwdStream<D, DKDV, PACK, SP> &st, int la,
                                             int ca, int lb, int cb, long long hb)
{
    int ia = 0, ib = 0;
#pragma unroll 1
    while (ia < ca || ib < cb) {
        const int a = ia < ca ? __ldg(p.mask + la + ia) : 0x7fffffff;
        const int b = ib < cb ? __ldg(p.mask + lb + ib) : 0x7fffffff;
        int x = a < b ? a : b;
        if (ia < ca && ib < cb) { /* both lists have a head (an exhausted one's is 0x7fffffff) */
            if ((st.it & 1) && a < b && (ia + 1 >= ca || __ldg(p.mask + la + ia + 1) > b))
                x = b;
            else if (!(st.it & 1) && b < a && (ib + 1 >= cb || __ldg(p.mask + lb + ib + 1) > a))
                x = a;
        }
        const unsigned mb = (a == x ? VOX_SM90_BWD_MEMBER(0) : 0u) | (b == x ? VOX_SM90_BWD_MEMBER(1) : 0u);
        ia += a == x, ib += b == x;
        st.block((int)(hb + (long long)x * p.V), __ldg(p.block_valid + x), mb);
    }
    st.finish();
}
template <int D, bool DKDV, int PACK, int PF = 0>
__device__ __forceinline__ void bwd_produce(const BwdSmem<D, PACK> &sm, const VoxSm90BwdParams &p,
                                            BwdStream<D, DKDV, PACK> &st,
                                            const CUtensorMap *ra, const CUtensorMap *rb, int row_a, int row_b,
                                            int nres, int la, int ca, int lb, int cb, long long hb, int lane,
                                            const CUtensorMap *rac = nullptr, const CUtensorMap *rbc = nullptr,
                                            int ch_a = -1, int ch_b = -1)
{
    if (lane == 0)
        bwd_resident<D, PACK>(sm, p, ra, rb, row_a, row_b, nres, hb, rac, rbc, ch_a, ch_b);
    if (PF && !PACK) {
        /* VOX_SM90_BWD_DQ_PF (the alternating scheme: both "lists" are the unit's one list, every block
         * streamed with both members): the list read by the lanes a window of 32 entries at a time, the
         * next window's entries loaded while this one is streamed, each block's valid count by one
         * gathered load per window (entries from the window before: already there), both handed out by
         * shuffles. Before, each stage waited on two dependent global loads (the entry, then its count):
         * the dq producer never filled the ring (ncu, session 19: the consumers' full-barrier wait 27.7%
         * of the stall samples, the producer's empty-slot wait 0.3%). Same blocks, same order, same
         * stages: bitwise the same dq. */
        int xn = lane < ca ? __ldg(p.mask + la + lane) : 0;
#pragma unroll 1
        for (int w = 0; w < ca; w += 32) {
            const int x = xn, n = ca - w < 32 ? ca - w : 32;
            const int v = lane < n ? __ldg(p.block_valid + x) : 0;
            xn = w + 32 + lane < ca ? __ldg(p.mask + la + w + 32 + lane) : 0;
#pragma unroll 1
            for (int j = 0; j < n; j++)
                st.block((int)(hb + (long long)__shfl_sync(0xffffffffu, x, j) * p.V), __shfl_sync(0xffffffffu, v, j),
                         VOX_SM90_BWD_MEMBER(0) | VOX_SM90_BWD_MEMBER(1));
        }
        st.finish();
        return;
    }
    bwd_merge<D, DKDV, PACK, 0>(p, st, la, ca, lb, cb, hb);
}

/* The split producer's TMA warp (template SP of attn_bwd_dkdv; one lane): for every stage, once the meta warp's
 * command is there (cmd[s]: BwdStream<.., SP> claimed the stage and wrote its info word and 4 chunk
 * rows), the copies of both tensors into it: 64-row boxes where the 4 rows are contiguous (a tile
 * stage: the same bytes as 4 chunk boxes, the 128B swizzle being the address's), else a 16-row box per
 * chunk (an empty slot's row -16: a box wholly before row 0, zero-filled); then its arrival on full[s]
 * (count 33: the meta warp's 32 lanes and this one), also on the end marker, after which it returns. */
template <int D, int PACK>
__device__ __forceinline__ void bwd_tma_stream(const BwdSmem<D, PACK> &sm, const CUtensorMap *ta,
                                               const CUtensorMap *tb, const CUtensorMap *tac, const CUtensorMap *tbc)
{
    using SM = BwdSmem<D, PACK>;
#pragma unroll 1
    for (int it = 0;; it++) {
        const int s = it % SM::STAGES;
        mbar_wait(sm.cmdbar_at(s), (it / SM::STAGES) & 1);
        const uint32_t full = sm.full0 + 8 * s, buf = sm.ring + s * 2 * SM::TILE;
        if ((int)ld_shared(sm.info_at(s)) < 0) {
            mbar_arrive(full);
            return;
        }
        const int r0 = (int)ld_shared(sm.cmd_at(s, 0)), r1 = (int)ld_shared(sm.cmd_at(s, 1));
        const int r2 = (int)ld_shared(sm.cmd_at(s, 2)), r3 = (int)ld_shared(sm.cmd_at(s, 3));
        mbar_tx(full, 2 * SM::TILE);
        if (r1 == r0 + 16 && r2 == r0 + 32 && r3 == r0 + 48) {
            bwd_tile<D>(buf, ta, r0, full);
            bwd_tile<D>(buf + SM::TILE, tb, r0, full);
        } else {
#pragma unroll
            for (int c = 0; c < 4; c++) {
                const int row = c == 0 ? r0 : c == 1 ? r1 : c == 2 ? r2 : r3;
#pragma unroll
                for (int h = 0; h < D / 64; h++) {
                    tma_load_2d(buf + h * 8192 + c * 2048, tac, h * 64, row, full);
                    tma_load_2d(buf + SM::TILE + h * 8192 + c * 2048, tbc, h * 64, row, full);
                }
            }
        }
        mbar_arrive(full);
    }
}

/* Consumer: whether stage `it` with info word `info` is consumer cw's to compute */
template <int PACK> __device__ __forceinline__ bool bwd_mine(int info, int it, int cw)
{
    return PACK ? ((unsigned)info & VOX_SM90_BWD_MEMBER(cw)) != 0u : (it & 1) == cw;
}

} // namespace vox_sm90
