/* Block-sparse attention BACKWARD for Hopper (sm_90a): wgmma + TMA + mbarriers,
 * warp-specialized, deterministic (no atomics). Implements the main kernels of
 * the vox_op_attention_backward contract (core/backend.h) after the shared
 * preprocess (backends/gpu/kernels/attention_backward.cuh: dO_eff written over
 * dout, delta = dO_eff . o into the LSE work half lse[BH*S + slot]).
 * Launch interface: attention_backward_sm90_host.h. Measurements: NOTES.md.
 *
 * Three kernels, in this order:
 *   rows: l2[slot] = lse * log2(e) for live rows (valid slot, computed: no
 *         fill_src or fill_src == slot, lse != -inf), +inf otherwise; the
 *         main kernels take "l2 = +inf" as "not live" (P = 0 there).
 *   dq:   UNITS = 64-row tiles of query blocks (bh, i, part); per unit Q and
 *         dO_eff resident in shared memory, the 64-key K/V tiles of the
 *         block's KV list streamed by TMA; per K/V tile S = Q K^T, dP = dO V^T
 *         (wgmma, both operands from shared memory), P = exp2(S*scale*log2e -
 *         l2) (0 past the tile's valid keys), dS = P (dP - delta), dQ += dS K
 *         (wgmma, dS from registers, K read MN-major). dq = scale * dQ, 0 on
 *         rows that are not live.
 *   dkdv: units = 64-key tiles of KV blocks (bh, j, part): K and V resident,
 *         the 64-row Q/dO_eff tiles of the query blocks of j's transposed list
 *         streamed by TMA with their l2 and delta (staged by the producer
 *         warp's lanes, see BwdStream); per tile S^T = K Q^T, dP^T = V dO^T,
 *         P^T, dS^T (as above, per column), dV += P^T dO, dK += dS^T Q.
 *         dk = scale * dK, dv = dV, 0 for padding keys.
 * CTA of dq and dkdv (384 threads): warpgroup 0 = producer (warp 0 streams the
 * tiles through a STAGES-deep ring; warp 1, the FIXER, zeroes the staged rows
 * that must contribute nothing, see below), warpgroups 1 and 2 = consumers.
 * Two schemes (template PACK):
 *   PACK (the library's): a CTA takes TWO neighbouring units of one head
 *     (units 2x, 2x+1 in (block, part) order: raster neighbours along w at
 *     V = 64, the two tiles of one block at V = 128), consumer c owns unit c
 *     (its resident tiles, its f32 accumulators, its own stores: no end-of-CTA
 *     reduction). The producer streams the UNION of the two lists (a merge:
 *     a block both list is streamed once), each stage carrying a membership
 *     bit per consumer; every consumer waits for every stage and computes the
 *     stages its unit lists, so a tile both list feeds 128 rows / keys. An odd
 *     unit count leaves consumer 1 of the head's last CTA without a unit.
 *   alternating (PACK = false; harness A/B only): one unit per CTA, both
 *     consumers on it, stage t computed by consumer t % 2, the two partial
 *     sums added through shared memory at the end in a fixed order.
 * Stage handoff: full[s] (producer lanes + TMA bytes) -> fixer -> ready[s]
 * (fixer lanes) -> consumers -> empty[s] (every consumer thread of both
 * warpgroups, computing or not, and the fixer lanes) -> producer. Every barrier arrival follows
 * the arriving thread's own accesses, so compute-sanitizer racecheck sees
 * each handoff ordered.
 * Ragged blocks (block_valid[b] < V; the valid slots of a block are its first
 * block_valid[b], core/layout.c): the streamed side is packed in 16-row
 * CHUNKS so padding costs a quarter tile at most. A stage holds 64 rows as 4
 * chunks of 16, each with its own valid count (info[s] = 4 packed bytes;
 * VOX_SM90_BWD_FULL = 16,16,16,16; the membership bits sit in bits 5, 6 of the
 * first byte, VOX_SM90_BWD_MEMBER). Per streamed block with n valid rows: a
 * 64-row box per tensor while n > 48 (counts 16,16,16,n-48 for the last one),
 * the remaining 1..48 rows as 16-row boxes (second tensor maps, box rows 16)
 * queued by the producer (one queue per membership: consumer 0, 1, both) and
 * issued 4 per stage (chunks of different blocks with the same membership
 * share a stage; the end flushes the queues; empty chunk slots count 0 and
 * load boxes wholly before row 0, which TMA fills with zeros). One membership per stage keeps every
 * row a consumer multiplies (with P = dS = 0 or not) either listed by its unit
 * or zero, so a non-finite value reaches only units that list it.
 * With the 128B swizzle a 16-row box written at a 2 KB offset inside a
 * 64-column half gives exactly the layout the 64-row box gives there (the
 * swizzle XORs address bits [4:6] with bits [7:9], period 1024 B = 8 rows).
 * The fixer zeroes, in both staged tiles, the rows past each chunk's count
 * (dq: padding keys of K/V, not trusted to be finite) and in dkdv the rows
 * that are not live (padding q/dout, pruned rows); consumers mask P and dS
 * per 16-column group: the same wgmmas run for every stage, only the masks
 * differ. The packing is a function of the lists alone, so results stay
 * bitwise reproducible. P and dS are rounded to f16/bf16 for the second
 * products (as FA2/FA3 and the mma.sync path do).
 *
 * Requirements (attention_backward_sm90_host.h checks them): f16/bf16, D in
 * {64, 128}, V a power of two >= 64, BH*S < 2^31, rows 16-byte aligned.
 */
#pragma once
#include "attention_forward_sm90.cuh"

typedef struct VoxSm90BwdParams {
    const float *lse;      /* [2][BH][S]: the forward's LSE (block layout), then delta */
    float *l2;             /* [BH][S]: written by the rows kernel, read by dq and dkdv */
    void *dq, *dk, *dv;    /* [BH][S][D] */
    const int *mask;       /* the packed forward CSR + transpose (core/backend.h) */
    const int *fill_src;   /* [BH][S] or NULL */
    const int *block_valid;/* [NB] */
    long long BH, NB;
    int V;
    float scale;           /* softmax scale (dq, dk) */
    float scale_log2;      /* scale * log2(e) */
} VoxSm90BwdParams;

#define VOX_SM90_BWD_FULL 0x10101010 /* stage counts: 4 chunks of 16 valid rows */
#define VOX_SM90_BWD_MEMBER(c) (0x20u << (c)) /* stage info: consumer c's unit lists the stage */
#define VOX_SM90_BWD_MEMBERS 0x60u
#define VOX_SM90_BWD_THREADS 384 /* producer warpgroup + 2 consumer warpgroups */

namespace vox_sm90 {

#define VOX_SM90_LOG2E 1.4426950408889634f

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

/* K-major operand (64 rows x D, 128B swizzle, 64-column boxes 8 KB apart), k-step kk of 16 columns */
__device__ __forceinline__ unsigned long long desc_kmaj(uint32_t tile, int kk)
{
    return desc_sw128(tile + (kk >> 2) * 8192 + (kk & 3) * 32, 16, 1024);
}
/* The same tile as an MN-major B operand (K dimension = its 64 rows), k-step kk of 16 rows */
__device__ __forceinline__ unsigned long long desc_mnmaj(uint32_t tile, int kk)
{
    return desc_sw128(tile + kk * 2048, 64 * 128, 1024);
}

/* Shared-memory map of the dq / dkdv kernels (base 1024-aligned). */
template <int D> struct BwdSmem {
    static constexpr int STAGES = VOX_SM90_BWD_STAGES(D);
    static constexpr int TILE = 64 * D * 2;          /* one [64][D] f16/bf16 tile */
    uint32_t res, ring;                              /* resident pairs (res_of); stage s at ring + s*2*TILE */
    uint32_t full0, empty0, ready0, resbar, redbar;  /* mbarriers: full[s] = full0 + 8s, ... */
    volatile int *info;                              /* [STAGES]: -1 = end, else 4 chunk counts (bytes) + members */
    float *rowl2, *rowdl;                            /* [STAGES][64] (dkdv: the staged rows' l2, delta) */
    unsigned char *gring;                            /* generic pointer to the ring */
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
    __device__ __forceinline__ BwdSmem(unsigned char *raw_ptr)
    {
        const uint32_t raw = smem_u32(raw_ptr);
        const uint32_t base = (raw + 1023u) & ~1023u;
        unsigned char *gb = raw_ptr + (base - raw);
        res = base, ring = base + 4 * TILE;
        gring = gb + 4 * TILE;
        unsigned char *meta = gb + (4 + 2 * STAGES) * TILE;
        full0 = smem_u32(meta), empty0 = full0 + 8 * STAGES, ready0 = empty0 + 8 * STAGES;
        resbar = ready0 + 8 * STAGES, redbar = resbar + 8;
        info = (volatile int *)(meta + 24 * STAGES + 16);
        rowl2 = (float *)(meta + 32 * STAGES + 16);
        rowdl = rowl2 + 64 * STAGES;
    }
};

/* Barrier setup shared by dq and dkdv: full[s] gets one arrival per producer lane (+ tx bytes),
 * ready[s] one per fixer lane, empty[s] one per consumer thread (both warpgroups) and fixer lane,
 * redbar one per consumer thread (the alternating scheme's end-of-CTA exchange, bwd_reduce_*). */
template <int D> __device__ __forceinline__ void bwd_init_barriers(const BwdSmem<D> &sm)
{
    if (threadIdx.x == 0) {
        for (int s = 0; s < BwdSmem<D>::STAGES; s++) {
            mbar_init(sm.full0 + 8 * s, 32);
            mbar_init(sm.ready0 + 8 * s, 32);
            mbar_init(sm.empty0 + 8 * s, 256 + 32);
        }
        mbar_init(sm.resbar, 1);
        mbar_init(sm.redbar, 256);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
}

/* Producer lane: claim the next stage (wait until its last consumer released it). */
template <int D> __device__ __forceinline__ int bwd_claim(const BwdSmem<D> &sm, int it)
{
    const int s = it % BwdSmem<D>::STAGES, k = it / BwdSmem<D>::STAGES;
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
 * and issues the TMA copies; in dkdv lane L stages the l2 and delta of the stage's rows 2L, 2L+1
 * (global loads issued before the stage is claimed, so their latency hides behind the wait;
 * shared stores after it); then every lane arrives on the full barrier. So every value the
 * fixer and the consumers read with plain loads reaches them through a plain store that its own
 * thread's arrival orders (bulk copies of the l2/delta rows were flagged by racecheck), and no stage
 * byte is left from an earlier use of the stage. `block` takes one streamed block (its first
 * slot, valid count and membership bits), `finish` flushes the chunk queues and ends the stream.
 * One chunk queue per membership Q + 1 (consumer 0, 1, both): np[Q] chunks, their counts in
 * pc[Q]; lane 4Q + c holds the first row of chunk c of queue Q (crows). Queue Q is only ever
 * indexed with a constant (template), so it stays in registers. */
template <int D, bool DKDV> struct BwdStream {
    using SM = BwdSmem<D>;
    const SM &sm;
    const VoxSm90BwdParams &p;              /* dkdv: l2 and delta (lse[BH*S + row]) of the rows */
    const CUtensorMap *ta, *tb, *tac, *tbc; /* 64-row and 16-row box maps of A and B */
    int it, lane, np[3], crows;             /* stages issued; chunks queued; see above */
    unsigned pc[3];                         /* the queued chunks' counts (bytes) */
    __device__ __forceinline__ BwdStream(const SM &sm_, const VoxSm90BwdParams &p_, const CUtensorMap *a,
                                         const CUtensorMap *b, const CUtensorMap *ac, const CUtensorMap *bc, int lane_)
        : sm(sm_), p(p_), ta(a), tb(b), tac(ac), tbc(bc), it(0), lane(lane_)
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
    /* after lane 0's copies of stage s: this lane's l2/delta rows (dkdv), then its arrival */
    __device__ __forceinline__ void publish(int s, float2 l, float2 d) const
    {
        if (DKDV) {
            st_shared2(sm.rowl2_at(s, 2 * lane), l);
            st_shared2(sm.rowdl_at(s, 2 * lane), d);
        }
        mbar_arrive(sm.full0 + 8 * s);
    }
    /* one stage: 64-row boxes from row.., chunk counts and members `counts` */
    __device__ __forceinline__ void tile(int row, unsigned counts)
    {
        float2 l, d;
        load_rows(row + 2 * lane, true, l, d);
        const int s = bwd_claim<D>(sm, it++);
        if (lane == 0) {
            const uint32_t full = sm.full0 + 8 * s, buf = sm.ring + s * 2 * SM::TILE;
            st_shared(sm.info_at(s), (int)counts);
            mbar_tx(full, 2 * SM::TILE);
            bwd_tile<D>(buf, ta, row, full);
            bwd_tile<D>(buf + SM::TILE, tb, row, full);
        }
        publish(s, l, d);
    }
    /* one stage: the np[Q] (1..4) chunks of queue Q, empty slots zero-filled; empties the queue */
    template <int Q> __device__ __forceinline__ void chunks()
    {
        float2 l, d;
        const int crow = __shfl_sync(0xffffffffu, crows, 4 * Q + (lane >> 3)); /* this lane's chunk */
        load_rows(crow + 2 * (lane & 7), (lane >> 3) < np[Q], l, d);
        const int s = bwd_claim<D>(sm, it++);
        const uint32_t full = sm.full0 + 8 * s, buf = sm.ring + s * 2 * SM::TILE;
        if (lane == 0) {
            st_shared(sm.info_at(s), (int)(pc[Q] | (unsigned)(Q + 1) << 5));
            mbar_tx(full, 2 * SM::TILE);
        }
#pragma unroll
        for (int c = 0; c < 4; c++) {
            const int r = __shfl_sync(0xffffffffu, crows, 4 * Q + c);
            if (lane == 0) {
                const int row = c < np[Q] ? r : -16; /* an empty slot: a box wholly before row 0 */
#pragma unroll
                for (int h = 0; h < D / 64; h++) {
                    tma_load_2d(buf + h * 8192 + c * 2048, tac, h * 64, row, full);
                    tma_load_2d(buf + SM::TILE + h * 8192 + c * 2048, tbc, h * 64, row, full);
                }
            }
        }
        publish(s, l, d);
        np[Q] = 0, pc[Q] = 0;
    }
    /* chunk rows row..row+n-1 (n <= 16) into queue Q; a full queue is issued */
    template <int Q> __device__ __forceinline__ void push(int row, int n)
    {
        pc[Q] |= (unsigned)n << (8 * np[Q]);
        crows = lane == 4 * Q + np[Q] ? row : crows;
        if (++np[Q] == 4)
            chunks<Q>();
    }
    /* a streamed block: first slot `row` (absolute), n valid rows (its first n slots), members mb */
    __device__ __forceinline__ void block(int row, int n, unsigned mb)
    {
#pragma unroll 1
        for (; n > 48; row += 64, n -= 64)
            tile(row, (n >= 64 ? (unsigned)VOX_SM90_BWD_FULL : 0x00101010u | (unsigned)(n - 48) << 24) | mb);
#pragma unroll 1
        for (; n > 0; row += 16, n -= 16) {
            const int c = n < 16 ? n : 16;
            if (mb == VOX_SM90_BWD_MEMBER(0))
                push<0>(row, c);
            else if (mb == VOX_SM90_BWD_MEMBER(1))
                push<1>(row, c);
            else
                push<2>(row, c);
        }
    }
    /* the queued chunks, then the end marker (the fixer and both consumers read it) */
    __device__ __forceinline__ void finish()
    {
        if (np[0] > 0)
            chunks<0>();
        if (np[1] > 0)
            chunks<1>();
        if (np[2] > 0)
            chunks<2>();
        const int s = bwd_claim<D>(sm, it++);
        if (lane == 0)
            st_shared(sm.info_at(s), -1);
        mbar_arrive(sm.full0 + 8 * s);
    }
};

/* Fixer: dead-row bits of two chunks (rows past each one's count) from the low two bytes of
 * a stage's counts: bit r = row r of the 32 rows of the pair. */
__device__ __forceinline__ unsigned bwd_dead(unsigned cn)
{
    return ((0xffffu << (cn & 0xffu)) & 0xffffu) | (((0xffffu << ((cn >> 8) & 0xffu)) & 0xffffu) << 16);
}
/* Consumer: whether column c (0..63) of a stage is within its chunk's count */
__device__ __forceinline__ bool bwd_col_ok(unsigned cn, int c)
{
    return (int)((cn >> (8 * (c >> 4))) & 0xffu) > (c & 15);
}

/* Fixer (warp 1 of the producer warpgroup), all 32 lanes: for every stage, after its full barrier,
 * zero the rows of both staged [64][D] tiles that must contribute nothing (dq and dkdv: past their
 * chunk's count; dkdv also rows that are not live, l2 = +inf), make the writes visible to wgmma
 * (fence.proxy.async) and release the stage to the consumers (ready[s]); its arrival on empty[s]
 * orders its own accesses before the stage's next fill directly. A 128B-swizzled row keeps
 * its 128 bytes per 64-column box, so a row is 2 * D/64 * 8 chunks of 16 bytes, one per lane.
 * 32-bit shared addresses only: the fixer runs under the producer warpgroup's 40 registers. */
template <int D, bool DKDV> __device__ __forceinline__ void bwd_fix(const BwdSmem<D> &sm, int lane)
{
    using SM = BwdSmem<D>;
    constexpr int H = D / 64, CH = 2 * H * 8;
#pragma unroll 1
    for (int it = 0;; it++) {
        const int s = it % SM::STAGES;
        mbar_wait(sm.full0 + 8 * s, (it / SM::STAGES) & 1);
        const int info = (int)ld_shared(sm.info_at(s));
        if (info >= 0) {
            const unsigned cn = (unsigned)info & ~VOX_SM90_BWD_MEMBERS, inf = 0x7f800000u;
            unsigned dead0 = 0, dead1 = 0;
            if (cn != (unsigned)VOX_SM90_BWD_FULL)
                dead0 = bwd_dead(cn), dead1 = bwd_dead(cn >> 16);
            if (DKDV) {
                dead0 |= __ballot_sync(0xffffffffu, ld_shared(sm.rowl2_at(s, lane)) == inf);
                dead1 |= __ballot_sync(0xffffffffu, ld_shared(sm.rowl2_at(s, lane + 32)) == inf);
            }
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
        mbar_arrive(sm.ready0 + 8 * s);
        if (info < 0)
            return;
        mbar_arrive(sm.empty0 + 8 * s);
    }
}

/* Consumer: wait until stage `it` is released by the fixer; its info word */
template <int D> __device__ __forceinline__ int bwd_ready(const BwdSmem<D> &sm, int it)
{
    const int s = it % BwdSmem<D>::STAGES;
    mbar_wait(sm.ready0 + 8 * s, (it / BwdSmem<D>::STAGES) & 1);
    return sm.info[s];
}

/* Consumer: the two f32 partial accumulators of the warpgroups added through shared memory:
 * warpgroup `from` stores `a`, warpgroup `to` adds it into its `a`. red: 128*N floats. */
template <int N>
__device__ __forceinline__ void bwd_reduce_store(float *red, const float *a, int ctw)
{
#pragma unroll
    for (int e = 0; e < N; e++)
        red[e * 128 + ctw] = a[e];
}
/* Consumer: the handoff between bwd_reduce_store and bwd_reduce_add. Every consumer thread arrives on
 * redbar (count 256) after its own stores and waits for the phase to complete before it reads: each
 * store is ordered before every read by the storing thread's own arrival (release) and the reader's
 * wait (acquire). A named barrier (bar.sync 4, 256) orders them as well, but compute-sanitizer's
 * racecheck does not model barriers over part of the CTA and reported every stored word. */
__device__ __forceinline__ void bwd_exchange(uint32_t redbar)
{
    mbar_arrive(redbar);
    mbar_wait(redbar, 0);
}
template <int N> __device__ __forceinline__ void bwd_reduce_add(const float *red, float *a, int ctw)
{
#pragma unroll
    for (int e = 0; e < N; e++)
        a[e] += red[e * 128 + ctw];
}

/* Consumer: rows R0 = 16w + lane/4 and R0 + 8 of a [64][D] accumulator (wgmma C layout) scaled
 * into row `row0 + R` of out ([..][D] f16/bf16), zeros where !on. */
template <int D, bool BF>
__device__ __forceinline__ void bwd_store_rows(void *out, long long row0, const float *acc, float sc, int R0, int cq,
                                               bool on0, bool on1)
{
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const bool on = h ? on1 : on0;
        unsigned *orow = (unsigned *)((unsigned short *)out + (row0 + R0 + 8 * h) * D);
#pragma unroll
        for (int j = 0; j < D / 8; j++)
            orow[j * 4 + cq] = on ? vox_pack2<BF>(acc[4 * j + 2 * h] * sc, acc[4 * j + 2 * h + 1] * sc) : 0u;
    }
}

/* Consumer: pack a 64x64 f32 accumulator into 4 k-steps of A fragments (f16/bf16). */
template <bool BF> __device__ __forceinline__ void bwd_pack_a(unsigned *f, const float *x)
{
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        f[4 * kk + 0] = vox_pack2<BF>(x[8 * kk + 0], x[8 * kk + 1]);
        f[4 * kk + 1] = vox_pack2<BF>(x[8 * kk + 2], x[8 * kk + 3]);
        f[4 * kk + 2] = vox_pack2<BF>(x[8 * kk + 4], x[8 * kk + 5]);
        f[4 * kk + 3] = vox_pack2<BF>(x[8 * kk + 6], x[8 * kk + 7]);
    }
}

/* acc[64 x D] += A (4 k-steps of register fragments) x B (a staged [64][D] tile, read MN-major). */
template <int D, bool BF> __device__ __forceinline__ void bwd_mma_rs(float *acc, const unsigned *f, uint32_t tile)
{
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        if (D == 128)
            vox_wgmma_m64n128k16_rs<BF, 1>(acc, f + 4 * kk, desc_mnmaj(tile, kk), 1);
        else
            vox_wgmma_m64n64k16_rs<BF, 1>(acc, f + 4 * kk, desc_mnmaj(tile, kk), 1);
    }
}
/* acc[64 x 64] = A tile x B tile^T, both [64][D] K-major in shared memory. */
template <int D, bool BF> __device__ __forceinline__ void bwd_mma_ss(float *acc, uint32_t a, uint32_t b)
{
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++)
        vox_wgmma_m64n64k16_ss<BF>(acc, desc_kmaj(a, kk), desc_kmaj(b, kk), kk > 0);
}

/* The unit (a 64-row tile of a block: dq query rows, dkdv keys) of consumer c. PACK: with U =
 * NB * V/64 units per head (unit u = tile u % (V/64) of block u / (V/64)), CTA x of head bh =
 * x / ceil(U/2) takes units 2x' and 2x' + 1 (x' = x mod ceil(U/2)); consumer 1 of a head's last
 * CTA has none when U is odd (has = false; the fields then name unit U-1: in range, never
 * stored). Alternating: unit x of the grid, for both consumers. */
struct BwdUnit {
    long long m, row0; /* block bh*NB + i; absolute first row of the tile */
    int nv;            /* valid rows of the tile (block_valid[i] - 64 part, clamped to 0..64) */
    bool has;
};
template <bool PACK> __device__ __forceinline__ BwdUnit bwd_unit(const VoxSm90BwdParams &p, int c)
{
    const int parts = p.V >> 6;
    const long long U = p.NB * parts, P = PACK ? (U + 1) / 2 : U, bh = blockIdx.x / P;
    long long u = PACK ? 2 * (blockIdx.x - bh * P) + c : blockIdx.x - bh * P;
    BwdUnit r;
    r.has = u < U;
    u = r.has ? u : U - 1;
    const long long i = u / parts;
    const int part = (int)(u - i * parts), nv = p.block_valid[i] - part * 64;
    r.m = bh * p.NB + i;
    r.row0 = r.m * p.V + part * 64;
    r.nv = nv < 0 ? 0 : nv > 64 ? 64 : nv;
    return r;
}

/* The producer warp of both kernels: the resident tiles of the CTA's nres (1, 2) units (64-row
 * boxes of ra and rb at rows row_a, row_b) into res_of(c), then the union of the block lists
 * p.mask[la ..+ ca) and p.mask[lb ..+ cb) (head offset hb) streamed by st, merged: a block both
 * list is streamed once with both members, every other one with its list's. The alternating
 * scheme passes one list twice (both members everywhere). Each element of each list is streamed
 * exactly once whatever their order; sorted lists give their union in ascending block order. */
template <int D, bool DKDV>
__device__ __forceinline__ void bwd_produce(const BwdSmem<D> &sm, const VoxSm90BwdParams &p, BwdStream<D, DKDV> &st,
                                            const CUtensorMap *ra, const CUtensorMap *rb, int row_a, int row_b,
                                            int nres, int la, int ca, int lb, int cb, long long hb, int lane)
{
    if (lane == 0) {
        mbar_tx(sm.resbar, nres * 2 * BwdSmem<D>::TILE);
        for (int c = 0; c < nres; c++) {
            bwd_tile<D>(sm.res_of(c), ra, c ? row_b : row_a, sm.resbar);
            bwd_tile<D>(sm.res_of(c) + BwdSmem<D>::TILE, rb, c ? row_b : row_a, sm.resbar);
        }
        mbar_arrive(sm.resbar);
    }
    int ia = 0, ib = 0;
#pragma unroll 1
    while (ia < ca || ib < cb) {
        const int a = ia < ca ? __ldg(p.mask + la + ia) : 0x7fffffff;
        const int b = ib < cb ? __ldg(p.mask + lb + ib) : 0x7fffffff;
        const int x = a < b ? a : b;
        const unsigned mb = (a == x ? VOX_SM90_BWD_MEMBER(0) : 0u) | (b == x ? VOX_SM90_BWD_MEMBER(1) : 0u);
        ia += a == x, ib += b == x;
        st.block((int)(hb + (long long)x * p.V), __ldg(p.block_valid + x), mb);
    }
    st.finish();
}

/* Consumer: whether stage `it` with info word `info` is consumer cw's to compute */
template <bool PACK> __device__ __forceinline__ bool bwd_mine(int info, int it, int cw)
{
    return PACK ? ((unsigned)info & VOX_SM90_BWD_MEMBER(cw)) != 0u : (it & 1) == cw;
}

/* ------------------------------------------------------------------ dq */
template <int D, bool BF, bool PACK>
__device__ __forceinline__ void attn_bwd_dq(const VoxSm90BwdParams &p, const CUtensorMap *tmQ, const CUtensorMap *tmK,
                                            const CUtensorMap *tmV, const CUtensorMap *tmG, const CUtensorMap *tmKc,
                                            const CUtensorMap *tmVc)
{
#if VOX_SM90_ENABLED
    using SM = BwdSmem<D>;
    extern __shared__ unsigned char vox_sm90_smem[];
    const SM sm(vox_sm90_smem);
    const long long R = p.BH * p.NB, S = p.NB * (long long)p.V;
    const int tid = threadIdx.x, wg = tid >> 7, lane = tid & 31;
    bwd_init_barriers<D>(sm);

    if (wg == 0) {
        /* ---------------- producer, fixer ---------------- */
        asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
        if (tid >= 64)
            return;
        if (tid >= 32) {
            bwd_fix<D, false>(sm, lane);
            return;
        }
        const BwdUnit u0 = bwd_unit<PACK>(p, 0), u1 = bwd_unit<PACK>(p, 1);
        const bool two = PACK && u1.has;
        /* a unit without a live row streams nothing (its dq is 0) */
        const bool live0 = __ballot_sync(0xffffffffu, p.l2[u0.row0 + lane] != VOX_SM90_INF ||
                                                          p.l2[u0.row0 + 32 + lane] != VOX_SM90_INF) != 0;
        const bool live1 = __ballot_sync(0xffffffffu, p.l2[u1.row0 + lane] != VOX_SM90_INF ||
                                                          p.l2[u1.row0 + 32 + lane] != VOX_SM90_INF) != 0;
        const int c0 = live0 ? p.mask[R + u0.m] : 0, c1 = two && live1 ? p.mask[R + u1.m] : 0;
        BwdStream<D, false> st(sm, p, tmK, tmV, tmKc, tmVc, lane);
        bwd_produce<D, false>(sm, p, st, tmQ, tmG, (int)u0.row0, (int)u1.row0, two ? 2 : 1, p.mask[u0.m], c0,
                              PACK ? p.mask[u1.m] : p.mask[u0.m], PACK ? c1 : c0, u0.m / p.NB * S, lane);
        return;
    }
    /* ---------------- consumers ---------------- */
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
    const int cw = wg - 1, w = (tid >> 5) & 3, ctw = tid & 127, cq = lane & 3;
    const int R0 = w * 16 + (lane >> 2);
    const BwdUnit un = bwd_unit<PACK>(p, cw);
    const long long row0 = un.row0;
    const float L0 = p.l2[row0 + R0], L1 = p.l2[row0 + R0 + 8];
    const float D0 = p.lse[p.BH * S + row0 + R0], D1 = p.lse[p.BH * S + row0 + R0 + 8];
    const float sl2 = p.scale_log2;
    const uint32_t rq = sm.res_of(PACK ? cw : 0), rg = rq + SM::TILE; /* resident Q, dO_eff */
    float acc[D / 2];
#pragma unroll
    for (int e = 0; e < D / 2; e++)
        acc[e] = 0.f;
    float sacc[32], dpacc[32];
    unsigned df[16];
    mbar_wait(sm.resbar, 0);
    for (int it = 0;; it++) {
        const int info = bwd_ready<D>(sm, it);
        if (info < 0)
            break;
        const int s = it % SM::STAGES;
        if (bwd_mine<PACK>(info, it, cw)) {
            const unsigned cn = (unsigned)info & ~VOX_SM90_BWD_MEMBERS;
            const bool part = cn != (unsigned)VOX_SM90_BWD_FULL;
            const uint32_t kb = sm.ring + s * 2 * SM::TILE, vb = kb + SM::TILE;
            fence_regs<D / 2>(acc);
            wg_fence();
            bwd_mma_ss<D, BF>(sacc, rq, kb);
            bwd_mma_ss<D, BF>(dpacc, rg, vb);
            wg_commit();
            wg_wait<0>();
            fence_regs<32>(sacc);
            fence_regs<32>(dpacc);
#pragma unroll
            for (int j = 0; j < 8; j++) {
                float p0 = ex2(fmaf(sacc[4 * j + 0], sl2, -L0)), p1 = ex2(fmaf(sacc[4 * j + 1], sl2, -L0));
                float p2 = ex2(fmaf(sacc[4 * j + 2], sl2, -L1)), p3 = ex2(fmaf(sacc[4 * j + 3], sl2, -L1));
                if (part) {
                    const int c0 = j * 8 + cq * 2;
                    const bool ok0 = bwd_col_ok(cn, c0), ok1 = bwd_col_ok(cn, c0 + 1);
                    p0 = ok0 ? p0 : 0.f, p2 = ok0 ? p2 : 0.f;
                    p1 = ok1 ? p1 : 0.f, p3 = ok1 ? p3 : 0.f;
                }
                sacc[4 * j + 0] = p0 * (dpacc[4 * j + 0] - D0);
                sacc[4 * j + 1] = p1 * (dpacc[4 * j + 1] - D0);
                sacc[4 * j + 2] = p2 * (dpacc[4 * j + 2] - D1);
                sacc[4 * j + 3] = p3 * (dpacc[4 * j + 3] - D1);
            }
            bwd_pack_a<BF>(df, sacc);
            fence_regs_u<16>(df);
            wg_fence();
            bwd_mma_rs<D, BF>(acc, df, kb);
            wg_commit();
            wg_wait<0>();
            fence_regs<D / 2>(acc);
        }
        mbar_arrive(sm.empty0 + 8 * s); /* every thread: an arrival orders only its own accesses */
    }
    if (PACK) {
        if (un.has)
            bwd_store_rows<D, BF>(p.dq, row0, acc, p.scale, R0, cq, L0 != VOX_SM90_INF, L1 != VOX_SM90_INF);
        return;
    }
    /* alternating: consumer 1's partial dQ into consumer 0's, through the second resident pair
     * (128 x D/2 floats = its 2 x 64 x D halves), which this scheme leaves unused */
    static_assert(128 * (D / 2) * 4 == 2 * SM::TILE, "dq reduction: a resident pair");
    float *red = (float *)(sm.gring - 2 * SM::TILE);
    if (cw == 1)
        bwd_reduce_store<D / 2>(red, acc, ctw);
    bwd_exchange(sm.redbar);
    if (cw == 0) {
        bwd_reduce_add<D / 2>(red, acc, ctw);
        bwd_store_rows<D, BF>(p.dq, row0, acc, p.scale, R0, cq, L0 != VOX_SM90_INF, L1 != VOX_SM90_INF);
    }
#endif
}

/* ------------------------------------------------------------------ dk, dv */
template <int D, bool BF, bool PACK>
__device__ __forceinline__ void attn_bwd_dkdv(const VoxSm90BwdParams &p, const CUtensorMap *tmQ,
                                              const CUtensorMap *tmK, const CUtensorMap *tmV, const CUtensorMap *tmG,
                                              const CUtensorMap *tmQc, const CUtensorMap *tmGc)
{
#if VOX_SM90_ENABLED
    using SM = BwdSmem<D>;
    extern __shared__ unsigned char vox_sm90_smem[];
    const SM sm(vox_sm90_smem);
    const long long R = p.BH * p.NB, S = p.NB * (long long)p.V;
    const int tid = threadIdx.x, wg = tid >> 7, lane = tid & 31;
    bwd_init_barriers<D>(sm);

    if (wg == 0) {
        /* ---------------- producer, fixer ---------------- */
        asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
        if (tid >= 64)
            return;
        if (tid >= 32) {
            bwd_fix<D, true>(sm, lane);
            return;
        }
        const BwdUnit u0 = bwd_unit<PACK>(p, 0), u1 = bwd_unit<PACK>(p, 1);
        const bool two = PACK && u1.has;
        /* a unit without a valid key streams nothing (its dk, dv are 0) */
        const int c0 = u0.nv > 0 ? p.mask[3 * R + u0.m] : 0, c1 = two && u1.nv > 0 ? p.mask[3 * R + u1.m] : 0;
        BwdStream<D, true> st(sm, p, tmQ, tmG, tmQc, tmGc, lane);
        bwd_produce<D, true>(sm, p, st, tmK, tmV, (int)u0.row0, (int)u1.row0, two ? 2 : 1, p.mask[2 * R + u0.m], c0,
                             PACK ? p.mask[2 * R + u1.m] : p.mask[2 * R + u0.m], PACK ? c1 : c0, u0.m / p.NB * S,
                             lane);
        return;
    }
    /* ---------------- consumers ---------------- */
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
    const int cw = wg - 1, w = (tid >> 5) & 3, ctw = tid & 127, cq = lane & 3;
    const int R0 = w * 16 + (lane >> 2);
    const BwdUnit un = bwd_unit<PACK>(p, cw);
    const long long row0 = un.row0;
    const int nk = un.nv;
    const float sl2 = p.scale_log2;
    const uint32_t rk = sm.res_of(PACK ? cw : 0), rv = rk + SM::TILE; /* resident K, V */
    float gk[D / 2], gv[D / 2];
#pragma unroll
    for (int e = 0; e < D / 2; e++)
        gk[e] = gv[e] = 0.f;
    float st[32], dt[32];
    unsigned pf[16], df[16];
    mbar_wait(sm.resbar, 0);
    for (int it = 0;; it++) {
        const int info = bwd_ready<D>(sm, it);
        if (info < 0)
            break;
        const int s = it % SM::STAGES;
        if (bwd_mine<PACK>(info, it, cw)) {
            const unsigned cn = (unsigned)info & ~VOX_SM90_BWD_MEMBERS;
            const bool part = cn != (unsigned)VOX_SM90_BWD_FULL;
            const uint32_t qb = sm.ring + s * 2 * SM::TILE, gb = qb + SM::TILE;
            const float *L = sm.rowl2 + 64 * s, *Dl = sm.rowdl + 64 * s;
            fence_regs<D / 2>(gk);
            fence_regs<D / 2>(gv);
            wg_fence();
            bwd_mma_ss<D, BF>(st, rk, qb); /* S^T = K Q^T */
            bwd_mma_ss<D, BF>(dt, rv, gb); /* dP^T = V dO^T */
            wg_commit();
            wg_wait<0>();
            fence_regs<32>(st);
            fence_regs<32>(dt);
#pragma unroll
            for (int x = 0; x < 8; x++) {
                const int c = x * 8 + cq * 2; /* columns c, c+1 = staged rows */
                const float2 lc = *(const float2 *)(L + c), dc = *(const float2 *)(Dl + c);
                float p0 = ex2(fmaf(st[4 * x + 0], sl2, -lc.x)), p1 = ex2(fmaf(st[4 * x + 1], sl2, -lc.y));
                float p2 = ex2(fmaf(st[4 * x + 2], sl2, -lc.x)), p3 = ex2(fmaf(st[4 * x + 3], sl2, -lc.y));
                dt[4 * x + 0] = p0 * (dt[4 * x + 0] - dc.x);
                dt[4 * x + 1] = p1 * (dt[4 * x + 1] - dc.y);
                dt[4 * x + 2] = p2 * (dt[4 * x + 2] - dc.x);
                dt[4 * x + 3] = p3 * (dt[4 * x + 3] - dc.y);
                if (part) { /* columns past their chunk's count: l2 and delta there are not this stage's */
                    const bool ok0 = bwd_col_ok(cn, c), ok1 = bwd_col_ok(cn, c + 1);
                    p0 = ok0 ? p0 : 0.f, p2 = ok0 ? p2 : 0.f, p1 = ok1 ? p1 : 0.f, p3 = ok1 ? p3 : 0.f;
                    dt[4 * x + 0] = ok0 ? dt[4 * x + 0] : 0.f, dt[4 * x + 2] = ok0 ? dt[4 * x + 2] : 0.f;
                    dt[4 * x + 1] = ok1 ? dt[4 * x + 1] : 0.f, dt[4 * x + 3] = ok1 ? dt[4 * x + 3] : 0.f;
                }
                st[4 * x + 0] = p0, st[4 * x + 1] = p1, st[4 * x + 2] = p2, st[4 * x + 3] = p3;
            }
            bwd_pack_a<BF>(pf, st);
            bwd_pack_a<BF>(df, dt);
            fence_regs_u<16>(pf);
            fence_regs_u<16>(df);
            wg_fence();
            bwd_mma_rs<D, BF>(gv, pf, gb); /* dV += P^T dO */
            bwd_mma_rs<D, BF>(gk, df, qb); /* dK += dS^T Q */
            wg_commit();
            wg_wait<0>();
            fence_regs<D / 2>(gk);
            fence_regs<D / 2>(gv);
        }
        mbar_arrive(sm.empty0 + 8 * s); /* every thread: an arrival orders only its own accesses */
    }
    if (PACK) {
        if (un.has) {
            bwd_store_rows<D, BF>(p.dv, row0, gv, 1.f, R0, cq, R0 < nk, R0 + 8 < nk);
            bwd_store_rows<D, BF>(p.dk, row0, gk, p.scale, R0, cq, R0 < nk, R0 + 8 < nk);
        }
        return;
    }
    /* alternating: consumer 0 gives its dK to consumer 1, consumer 1 its dV to consumer 0, through
     * the ring (every stage's TMA fill and fixer writes were waited for by both consumers); each
     * adds and stores one. The named barrier orders both warpgroups' last wgmma reads of the ring
     * (waited) before the stores, fence.proxy.async the async-proxy reads before generic writes. */
    named_bar<4, 256>();
    fence_proxy_async();
    float *red = (float *)sm.gring;
    if (cw == 0)
        bwd_reduce_store<D / 2>(red, gk, ctw);
    else
        bwd_reduce_store<D / 2>(red + 128 * (D / 2), gv, ctw);
    bwd_exchange(sm.redbar);
    if (cw == 0) {
        bwd_reduce_add<D / 2>(red + 128 * (D / 2), gv, ctw);
        bwd_store_rows<D, BF>(p.dv, row0, gv, 1.f, R0, cq, R0 < nk, R0 + 8 < nk);
    } else {
        bwd_reduce_add<D / 2>(red, gk, ctw);
        bwd_store_rows<D, BF>(p.dk, row0, gk, p.scale, R0, cq, R0 < nk, R0 + 8 < nk);
    }
#endif
}

} // namespace vox_sm90

/* rows: l2 of every slot (grid-stride over BH*S). */
extern "C" __global__ void vox_attn_bwd_sm90_rows(const __grid_constant__ VoxSm90BwdParams p)
{
    const long long S = p.NB * p.V, n = p.BH * S;
    for (long long x = blockIdx.x * (long long)blockDim.x + threadIdx.x; x < n; x += (long long)gridDim.x * blockDim.x) {
        const long long slot = x % S, i = slot / p.V, r = slot - i * p.V;
        const float l = p.lse[x];
        const bool live = r < p.block_valid[i] && (!p.fill_src || p.fill_src[x] == slot) && l != -VOX_SM90_INF;
        p.l2[x] = live ? l * VOX_SM90_LOG2E : VOX_SM90_INF;
    }
}


/* The dq and dkdv entry points of one variant: NAME suffix, D, BF (bf16 else f16), PACK (two units
 * per CTA, grid VOX_SM90_BWD_CTAS(BH, NB, V, 1); else the alternating scheme, one unit per CTA). */
#define VOX_SM90_BWD_KERNELS(NAME, D, BF, PACK)                                                               \
    extern "C" __global__ void __launch_bounds__(VOX_SM90_BWD_THREADS, 1) vox_attn_bwd_sm90_dq_##NAME(        \
        const __grid_constant__ VoxSm90BwdParams p, const __grid_constant__ CUtensorMap tmQ,                  \
        const __grid_constant__ CUtensorMap tmK, const __grid_constant__ CUtensorMap tmV,                     \
        const __grid_constant__ CUtensorMap tmG, const __grid_constant__ CUtensorMap tmQc,                    \
        const __grid_constant__ CUtensorMap tmKc, const __grid_constant__ CUtensorMap tmVc,                   \
        const __grid_constant__ CUtensorMap tmGc)                                                             \
    {                                                                                                         \
        vox_sm90::attn_bwd_dq<D, BF, PACK>(p, &tmQ, &tmK, &tmV, &tmG, &tmKc, &tmVc);                          \
    }                                                                                                         \
    extern "C" __global__ void __launch_bounds__(VOX_SM90_BWD_THREADS, 1) vox_attn_bwd_sm90_dkdv_##NAME(      \
        const __grid_constant__ VoxSm90BwdParams p, const __grid_constant__ CUtensorMap tmQ,                  \
        const __grid_constant__ CUtensorMap tmK, const __grid_constant__ CUtensorMap tmV,                     \
        const __grid_constant__ CUtensorMap tmG, const __grid_constant__ CUtensorMap tmQc,                    \
        const __grid_constant__ CUtensorMap tmKc, const __grid_constant__ CUtensorMap tmVc,                   \
        const __grid_constant__ CUtensorMap tmGc)                                                             \
    {                                                                                                         \
        vox_sm90::attn_bwd_dkdv<D, BF, PACK>(p, &tmQ, &tmK, &tmV, &tmG, &tmQc, &tmGc);                        \
    }
