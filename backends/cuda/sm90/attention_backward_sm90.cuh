/* Block-sparse attention BACKWARD for Hopper (sm_90a): wgmma + TMA + mbarriers,
 * warp-specialized; an ordered mode (rows, dq, dkdv: bitwise reproducible, 7
 * GEMM-equivalents) and an atomic-dQ mode (rows, dkdv_q, dqconv: FA3's 5; dq
 * not bitwise reproducible, dk and dv are). Implements the main kernels of
 * the vox_op_attention_backward contract (core/backend.h) after the shared
 * preprocess (backends/gpu/kernels/attention_backward.cuh: dO_eff written over
 * dout, delta = dO_eff . o into the LSE work half lse[BH*S + slot]).
 * Launch interface: attention_backward_sm90_host.h. Measurements: NOTES.md.
 * This file: the consumers and the kernels; the producer, fixer, shared-memory
 * map and the CTA -> units map: attention_backward_sm90_stream.cuh.
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
 * Atomic dQ (params.dqacc set: rows also zeroes the f32 accumulator dqacc
 * [BH*S][D]; tmDq its tensor map, 16-row x 32-column boxes, 128B swizzle):
 *   dkdv_q: the packed dkdv (scheme VOX_SM90_BWD_ATOMIC, _ATOMIC_DB or
 *         _ATOMIC_RW, the library's default since session 20) also computes, per
 *         streamed tile, dQ = dS K over the CTA's 128 keys: each computing
 *         consumer stores its dS^T ([64 key][64 row], 128B-swizzled, 8 KB)
 *         in shared memory; once both are there (mbarrier dsbar), consumer c
 *         computes dQ columns 64c.. (D = 64: consumer it % 2 all of them)
 *         with SS wgmmas reading dS^T and the resident K tiles MN-major, over
 *         the keys of the stage's members only (4 or 8 k-steps), stages the
 *         f32 block in a swizzled [64][D] tile; once both are staged (stbar)
 *         one thread (the first of consumer 0) adds the tile into dqacc by
 *         cp.reduce.async.bulk.tensor, one 16 x 32 box per (chunk with rows,
 *         32 columns), at the chunks' first rows the producer wrote next to
 *         the stage's info (slot_at). Before its next dsbar arrival that thread
 *         waits until the reduces have read the staging tile. ATOMIC: every
 *         consumer thread waits on stbar, which also frees the dS^T tiles for
 *         the next stage; ATOMIC_DB: two dS^T tiles per consumer (by stage
 *         parity, freed by the next stage's dsbar), only the issuing thread
 *         waits on stbar, the others go on to the next stage. Padding keys'
 *         K rows are zeroed in the resident tiles and their dS^T rows masked,
 *         rows that are not live have dS = 0 (as for dK), so they add 0.
 *         ATOMIC_RW (session 20, VOXATTN_SM90_BWD_DKDVQ_VAR): the reduce-adds
 *         are issued by the REDUCER (lane 0 of warp 3, idle before) after
 *         stbar; the consumers arrive on stbar and go on, waiting only on
 *         qdbar (every consumer's dQ product of the last stage done) before
 *         they rewrite their dS^T tile and on sfbar (the reducer's bulk reads
 *         of the last tile done) before they restage dQ (bwd_reducer).
 *         Shared memory: the dS^T tiles and the staging tile cost 48 KB at
 *         D = 128 (ATOMIC_DB 64 KB), hence 3 stages instead of 4.
 *   dqconv: dq = scale * dqacc on live rows, 0 elsewhere (the dq kernel's
 *         rule).
 * CTA of dq and dkdv (384 threads): warpgroup 0 = producer (warp 0 streams the
 * tiles through a STAGES-deep ring; warp 1, the FIXER, zeroes the staged rows
 * that must contribute nothing, see below), warpgroups 1 and 2 = consumers.
 * Two schemes (template PACK), chosen per kernel (VOX_SM90_BWD_{DQ,DKDV}_PACK in
 * sm90_smem.h; the library: dq alternating, dkdv packed; the harness runs
 * either for either kernel), each with its own resident tiles, stage count and
 * shared-memory size (VOX_SM90_BWD_RES, _STAGES, _SMEM_BYTES):
 *   PACK: a CTA takes TWO neighbouring units of one head
 *     (units 2x, 2x+1 in (block, part) order: raster neighbours along w at
 *     V = 64, the two tiles of one block at V = 128), consumer c owns unit c
 *     (its resident tiles, its f32 accumulators, its own stores). The
 *     producer streams the UNION of the two lists (a merge: a block both list
 *     is streamed once where the two lists meet; one-unit blocks alternate between the units,
 *     unless params.asc), each stage tagged with the consumers that compute it
 *     (bits 5-7 of info's first count byte); every consumer waits for every
 *     stage and computes those tagged for it, so a tile both list feeds 128
 *     rows / keys. An odd
 *     unit count leaves consumer 1 of the head's last CTA without a unit.
 *     dq balances the pair: a stage only one unit lists goes to the consumer
 *     with fewer such stages so far (BwdStream::tag; the stage's unit in
 *     VOX_SM90_BWD_UNIT1), which adds it into a second accumulator (acc2, the
 *     partner's Q/dO_eff tiles and row stats); at the end the two acc2 go
 *     through the ring into the partners' dQ (only when some stage was given).
 *     dkdv has no registers for a second dK/dV: there one consumer may idle
 *     while the other finishes a longer list.
 *   alternating (PACK = false): one unit per CTA (2 resident tiles: 5 stages
 *     at D = 128 where PACK fits 4), both
 *     consumers on it, stage t computed by consumer t % 2, the two partial
 *     sums added through shared memory at the end in a fixed order.
 * Stage handoff: full[s] (producer lanes + TMA bytes) -> fixer -> ready[s]
 * (fixer lanes) -> consumers -> empty[s] (every consumer thread of both
 * warpgroups, computing or not, and the fixer lanes) -> producer; the
 * alternating dq (VOX_SM90_BWD_DIRECT, main's path) has no fixer: consumer
 * t % 2 waits on full[s] itself, zeroes the stage's padding K/V rows
 * (bwd_zero_rows, partial stages only) and alone releases it (empty[s]: its
 * 128 threads); the producer ends with one end marker per consumer. Every
 * barrier arrival follows the arriving thread's own accesses, so
 * compute-sanitizer racecheck sees each handoff ordered.
 * Ragged blocks (block_valid[b] < V; the valid slots of a block are its first
 * block_valid[b], core/layout.c): the streamed side is packed in 16-row
 * CHUNKS so padding costs a quarter tile at most. A stage holds 64 rows as 4
 * chunks of 16, each with its own valid count (info[s] = 4 packed bytes;
 * VOX_SM90_BWD_FULL = 16,16,16,16; the tags sit in bits 5-7 of the first
 * byte, VOX_SM90_BWD_TAGS). Per streamed block with n valid rows: a
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


#define VOX_SM90_BWD_FULL 0x10101010 /* stage counts: 4 chunks of 16 valid rows */
/* stage info tags (bits 5-7 of the first count byte): consumer c computes the stage; both (a stage
 * both units list); the unit of a stage one consumer computes is 1 (dq may give a stage of one
 * unit to the other consumer, which adds it into a second accumulator) */
#define VOX_SM90_BWD_MEMBER(c) (0x20u << (c))
#define VOX_SM90_BWD_MEMBERS 0x60u
#define VOX_SM90_BWD_UNIT1 0x80u
#define VOX_SM90_BWD_TAGS 0xe0u
#define VOX_SM90_BWD_THREADS 384 /* producer warpgroup + 2 consumer warpgroups */

#include "attention_backward_sm90_stream.cuh"

namespace vox_sm90 {

#define VOX_SM90_LOG2E 1.4426950408889634f

/* VOX_SM90_BWD_DQ_SPLIT (compile time, default 1; 0: session 11's stage): the dq stage commits S and
 * dP as two wgmma groups and computes P = exp2(..) after `wait_group 1`, while dP still runs (dS
 * once dP is done); same arithmetic and order (bitwise the same dq). H200 harness (session 12,
 * NOTES.md): dense dq -1.7%, BSA 10% -0.5%, ragged BSA 10% equal. The same split of the dkdv stage
 * (and issuing dV before dS^T) measured slower and is kept on branch bwd8-exp. */
#ifndef VOX_SM90_BWD_DQ_SPLIT
#define VOX_SM90_BWD_DQ_SPLIT 1
#endif

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

/* VOX_SM90_BWD_ISSUE (template IS of the stage code; the library's kernels take
 * VOX_SM90_BWD_IS, the bf16 D = 128 pair also the other one for A/B: VOXATTN_SM90_BWD_ISSUE).
 * IS = 0 (session 17): every wgmma's two descriptors rebuilt from their byte addresses
 * (desc_kmaj / desc_mnmaj: add, mask, shift, or, then both halves into uniform registers: ~14
 * instructions per wgmma on the issuing warp's dependent chain; e17 ncu of dkdv: the S^T / dP^T
 * issue phase 22% of the consumers' samples, longer than the 16 wgmmas it feeds). IS = 1: one
 * descriptor per tile and stage (desc_sw128 once), each k-step's the same plus a constant in the
 * start-address field (desc_adv), and dkdv's partial-stage masks decided once per stage instead of
 * once per 8-column group. Same wgmmas on the same addresses, same arithmetic: bitwise the same
 * dq, dk, dv. H200 (session 18, NOTES.md): the library's backward at hunyuan's grid with 4 heads, BSA 10%,
 * 22.07 / 22.20 / 22.41 ms against 23.61 / 23.89 / 24.03 with IS 0 (-6.8%, interleaved; medians of 20 launches
 * each: dq 9.35 against 9.97 ms, dkdv 12.53 against 13.42), the same gradient hashes. */
#ifndef VOX_SM90_BWD_IS
#define VOX_SM90_BWD_IS 1
#endif
/* VOX_SM90_BWD_DQ_PF (template PF of the dq kernel; the library's dq kernels take it, the bf16 D = 128
 * one also PF 0 for A/B: VOXATTN_SM90_BWD_DQ_PREFETCH=0): 1 = the producer reads its list a window of 32
 * entries at a time (bwd_produce); 0 = one entry and one valid count per stage (session 18). */
#ifndef VOX_SM90_BWD_DQ_PF
#define VOX_SM90_BWD_DQ_PF 1
#endif
/* desc_adv and sm90_uniform (attention_forward_sm90.cuh, beside desc_sw128) step a stage's descriptors. */
/* k-step kk's byte offset in a K-major [64][D] tile (desc_kmaj's) */
__host__ __device__ constexpr uint32_t bwd_koff(int kk) { return (uint32_t)((kk >> 2) * 8192 + (kk & 3) * 32); }

/* Consumer: whether column c (0..63) of a stage is within its chunk's count */
__device__ __forceinline__ bool bwd_col_ok(unsigned cn, int c)
{
    return (int)((cn >> (8 * (c >> 4))) & 0xffu) > (c & 15);
}

/* Consumer warpgroup (DIRECT): zero the rows flagged in dead0 (rows 0-31) / dead1 (32-63) of the
 * two staged [64][D] tiles at tb (a 128B-swizzled row keeps its 128 bytes per 64-column box), then
 * make the writes visible to wgmma and wait for the warpgroup (named barrier 2 + cw). */
template <int D>
__device__ __forceinline__ void bwd_zero_rows(unsigned char *tb, unsigned dead0, unsigned dead1, int ctw, int cw)
{
    constexpr int H = D / 64, CH = 2 * H * 8; /* 16-byte chunks of one row over both tiles */
    for (int e = ctw; e < 64 * CH; e += 128) {
        const int r = e / CH, x = e - r * CH, t = x / (H * 8), h = (x >> 3) % H, c = x & 7;
        if (((r < 32 ? dead0 : dead1) >> (r & 31)) & 1u)
            *(uint4 *)(tb + t * (64 * D * 2) + h * 8192 + r * 128 + c * 16) = make_uint4(0, 0, 0, 0);
    }
    fence_proxy_async();
    if (cw == 0)
        named_bar<2, 128>();
    else
        named_bar<3, 128>();
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
__device__ __forceinline__ void bwd_exchange(uint32_t redbar, int parity)
{
    mbar_arrive(redbar);
    mbar_wait(redbar, parity);
}
template <int N> __device__ __forceinline__ void bwd_reduce_add(const float *red, float *a, int ctw)
{
#pragma unroll
    for (int e = 0; e < N; e++)
        a[e] += red[e * 128 + ctw];
}

/* The row of slot x (absolute, bh*S + slot) of output `o` (0 dq, 1 dk, 2 dv) at out: x of the block
 * layout, or with p.tok the caller's row of the slot's token (NULL for a padding slot, which has
 * none: permute_from writes tokens only). */
template <int D>
__device__ __forceinline__ unsigned short *bwd_out_row(const VoxSm90BwdParams &p, void *out, int o, long long x)
{
    if (!p.tok)
        return (unsigned short *)out + x * D;
    const long long S = p.NB * p.V, bh = x / S, slot = x - bh * S;
    const int t = p.tok[slot];
    if (t < 0)
        return nullptr;
    const long long b = bh / p.heads, h = bh - b * p.heads;
    return (unsigned short *)out + b * p.ostr[3 * o] + h * p.ostr[3 * o + 1] + (long long)t * p.ostr[3 * o + 2];
}

/* Consumer: rows R0 = 16w + lane/4 and R0 + 8 of a [64][D] accumulator (wgmma C layout) scaled
 * into the rows of slots `row0 + R` of output o at out (bwd_out_row), zeros where !on. */
template <int D, bool BF>
__device__ __forceinline__ void bwd_store_rows(const VoxSm90BwdParams &p, void *out, int o, long long row0,
                                               const float *acc, float sc, int R0, int cq, bool on0, bool on1)
{
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const bool on = h ? on1 : on0;
        unsigned *orow = (unsigned *)bwd_out_row<D>(p, out, o, row0 + R0 + 8 * h);
        if (!orow)
            continue;
#pragma unroll
        for (int j = 0; j < D / 8; j++)
            orow[j * 4 + cq] = on ? vox_pack2<BF>(acc[4 * j + 2 * h] * sc, acc[4 * j + 2 * h + 1] * sc) : 0u;
    }
}

/* Block layout: slots 16.. of the block whose first row is `row` (a block of a chunk unit or group: its valid slots
 * are its first <= 16, which the unit's stores write) are padding, zeroed in out by thread t of n */
template <int D> __device__ __forceinline__ void bwd_zero_tail16(void *out, long long row, int V, int t, int n)
{
    uint4 *z = (uint4 *)((unsigned short *)out + (row + 16) * D);
    for (int e = t; e < (V - 16) * (D / 8); e += n)
        z[e] = make_uint4(0u, 0u, 0u, 0u);
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
template <int D, bool BF, int IS>
__device__ __forceinline__ void bwd_mma_rs(float *acc, const unsigned *f, uint32_t tile)
{
    if (IS)
        tile = sm90_uniform(tile);
    const unsigned long long d0 = desc_mnmaj(tile, 0);
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        const unsigned long long d = IS ? desc_adv(d0, kk * 2048) : desc_mnmaj(tile, kk);
        if (D == 128)
            vox_wgmma_m64n128k16_rs<BF, 1>(acc, f + 4 * kk, d, 1);
        else
            vox_wgmma_m64n64k16_rs<BF, 1>(acc, f + 4 * kk, d, 1);
    }
}
/* acc[64 x 64] = A tile x B tile^T, both [64][D] K-major in shared memory. */
template <int D, bool BF, int IS> __device__ __forceinline__ void bwd_mma_ss(float *acc, uint32_t a, uint32_t b)
{
    if (IS) /* the same address in every lane: ptxas keeps the descriptors in uniform registers */
        a = sm90_uniform(a), b = sm90_uniform(b);
    const unsigned long long da = desc_kmaj(a, 0), db = desc_kmaj(b, 0);
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
        if (IS)
            vox_wgmma_m64n64k16_ss<BF, 0, 0>(acc, desc_adv(da, bwd_koff(kk)), desc_adv(db, bwd_koff(kk)), kk > 0);
        else
            vox_wgmma_m64n64k16_ss<BF, 0, 0>(acc, desc_kmaj(a, kk), desc_kmaj(b, kk), kk > 0);
    }
}

/* P = exp2(S sl2 - L) of a 64 x 64 S tile in the wgmma accumulator layout, in place, 0 at the
 * columns past a partial block's cn keys */
template <int MASK> /* as bwd_dkdv_pds: 0 test `part` per column group, 1 masks (part), 2 none */
__device__ __forceinline__ void bwd_p_tile(float *sacc, bool part, unsigned cn, int cq, float sl2, float L0, float L1)
{
#pragma unroll
    for (int j = 0; j < 8; j++) {
        float p0 = ex2(fmaf(sacc[4 * j + 0], sl2, -L0)), p1 = ex2(fmaf(sacc[4 * j + 1], sl2, -L0));
        float p2 = ex2(fmaf(sacc[4 * j + 2], sl2, -L1)), p3 = ex2(fmaf(sacc[4 * j + 3], sl2, -L1));
        if (MASK == 1 || (MASK == 0 && part)) {
            const int c0 = j * 8 + cq * 2;
            const bool ok0 = bwd_col_ok(cn, c0), ok1 = bwd_col_ok(cn, c0 + 1);
            p0 = ok0 ? p0 : 0.f, p2 = ok0 ? p2 : 0.f;
            p1 = ok1 ? p1 : 0.f, p3 = ok1 ? p3 : 0.f;
        }
        sacc[4 * j + 0] = p0, sacc[4 * j + 1] = p1, sacc[4 * j + 2] = p2, sacc[4 * j + 3] = p3;
    }
}

/* bwd_p_tile with the stage's mask decided once (IS: the default kernels) or per column group (session 17's) */
template <int IS>
__device__ __forceinline__ void bwd_p_tile_is(float *sacc, bool part, unsigned cn, int cq, float sl2, float L0, float L1)
{
    if (!IS)
        bwd_p_tile<0>(sacc, part, cn, cq, sl2, L0, L1);
    else if (part)
        bwd_p_tile<1>(sacc, true, cn, cq, sl2, L0, L1);
    else
        bwd_p_tile<2>(sacc, false, cn, cq, sl2, L0, L1);
}

/* dq, one stage of consumer rows (resident Q, dO_eff at rq, rq + TILE; row stats L0, L1 = l2 and
 * D0, D1 = delta of rows R0, R0 + 8) against the staged K, V at kb: acc += dS K. */
/* msel (dq's grouped units: the counts cn of this warp's chunk, zero for the key chunks its query block does not
 * list): dS selected to 0 past the counts too, since those keys' V rows are real data, possibly not finite (0 x Inf). */
template <int D, bool BF, int IS>
__device__ __forceinline__ void bwd_dq_stage(float *acc, float *sacc, float *dpacc, unsigned *df, uint32_t rq,
                                             uint32_t kb, unsigned cn, float L0, float L1, float D0, float D1,
                                             float sl2, int cq, bool msel = false)
{
    const bool part = cn != (unsigned)VOX_SM90_BWD_FULL;
    fence_regs<D / 2>(acc);
    wg_fence();
    bwd_mma_ss<D, BF, IS>(sacc, rq, kb);
    if (VOX_SM90_BWD_DQ_SPLIT) { /* P computed while dP runs (the same values) */
        wg_commit();
        bwd_mma_ss<D, BF, IS>(dpacc, rq + 64 * D * 2, kb + 64 * D * 2);
        wg_commit();
        wg_wait<1>();
        fence_regs<32>(sacc);
        bwd_p_tile_is<IS>(sacc, part, cn, cq, sl2, L0, L1);
        wg_wait<0>();
        fence_regs<32>(sacc);
        fence_regs<32>(dpacc);
    } else {
        bwd_mma_ss<D, BF, IS>(dpacc, rq + 64 * D * 2, kb + 64 * D * 2);
        wg_commit();
        wg_wait<0>();
        fence_regs<32>(sacc);
        fence_regs<32>(dpacc);
        bwd_p_tile_is<IS>(sacc, part, cn, cq, sl2, L0, L1);
    }
#pragma unroll
    for (int j = 0; j < 8; j++) { /* dS = P (dP - delta) */
        sacc[4 * j + 0] *= dpacc[4 * j + 0] - D0;
        sacc[4 * j + 1] *= dpacc[4 * j + 1] - D0;
        sacc[4 * j + 2] *= dpacc[4 * j + 2] - D1;
        sacc[4 * j + 3] *= dpacc[4 * j + 3] - D1;
    }
    if (msel)
#pragma unroll
        for (int j = 0; j < 8; j++) {
            const int c0 = j * 8 + cq * 2;
            const bool ok0 = bwd_col_ok(cn, c0), ok1 = bwd_col_ok(cn, c0 + 1);
            sacc[4 * j + 0] = ok0 ? sacc[4 * j + 0] : 0.f, sacc[4 * j + 2] = ok0 ? sacc[4 * j + 2] : 0.f;
            sacc[4 * j + 1] = ok1 ? sacc[4 * j + 1] : 0.f, sacc[4 * j + 3] = ok1 ? sacc[4 * j + 3] : 0.f;
        }
    bwd_pack_a<BF>(df, sacc);
    fence_regs_u<16>(df);
    wg_fence();
    bwd_mma_rs<D, BF, IS>(acc, df, kb);
    wg_commit();
    wg_wait<0>();
    fence_regs<D / 2>(acc);
}

/* ------------------------------------------------------------------ dq */
template <int D, bool BF, int PACK, int IS, int PF>
__device__ __forceinline__ void attn_bwd_dq(const VoxSm90BwdParams &p, const CUtensorMap *tmQ, const CUtensorMap *tmK,
                                            const CUtensorMap *tmV, const CUtensorMap *tmG, const CUtensorMap *tmKc,
                                            const CUtensorMap *tmVc, const CUtensorMap *tmQc, const CUtensorMap *tmGc)
{
#if VOX_SM90_ENABLED
    using SM = BwdSmem<D, PACK>;
    extern __shared__ unsigned char vox_sm90_smem[];
    const SM sm(vox_sm90_smem);
    const long long R = p.BH * p.NB, S = p.NB * (long long)p.V;
    const int tid = threadIdx.x, wg = tid >> 7, lane = tid & 31;
    constexpr bool DIRECT = VOX_SM90_BWD_DIRECT(false, PACK);
    bwd_init_barriers(sm, DIRECT);

    if (wg == 0) {
        /* ---------------- producer, fixer ---------------- */
        asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
        if constexpr (DIRECT) { /* the alternating scheme only (the harness also builds the packed dq) */
            if (p.qgrp) { /* dq's grouped units */
                const BwdUnit ug = bwd_unit<PACK>(p, 0);
                if (ug.ch >= 0) {
                    if (tid < 32)
                        bwd_produce_qgrp<D>(sm, p, tmK, tmV, tmKc, tmVc, tmQc, tmGc, ug.ch, ug.m / p.NB, lane);
                    else if (tid >= 64 && !p.tok) /* block layout: the chunks' blocks' slots 16.. are padding: 0 */
#pragma unroll 1
                        for (int k = 0; k < 4; k++) {
                            const int b = bwd_qgrp_block(p, ug.ch, k);
                            if (b < 0)
                                continue;
                            bwd_zero_tail16<D>(p.dq, ug.m / p.NB * S + (long long)b * p.V, p.V, tid - 64, 64);
                        }
                    return;
                }
            }
        }
        if (tid >= 64)
            return;
        if (tid >= 32) {
            if (!DIRECT)
                bwd_fix<D, false, PACK>(sm, lane);
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
        BwdStream<D, false, PACK> st(sm, p, tmK, tmV, tmKc, tmVc, lane);
        bwd_produce<D, false, PACK, PF>(sm, p, st, tmQ, tmG, (int)u0.row0, (int)u1.row0, two ? 2 : 1, p.mask[u0.m], c0,
                              PACK ? p.mask[u1.m] : p.mask[u0.m], PACK ? c1 : c0, u0.m / p.NB * S, lane);
        return;
    }
    /* ---------------- consumers ---------------- */
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
    const int cw = wg - 1, w = (tid >> 5) & 3, ctw = tid & 127, cq = lane & 3;
    const int R0 = w * 16 + (lane >> 2);
    const BwdUnit un = bwd_unit<PACK>(p, cw), uo = bwd_unit<PACK>(p, cw ^ 1); /* own, partner's */
    /* dq's grouped units (p.qgrp, DIRECT): warp w's rows R0, R0 + 8 are rows lane/4, 8 + lane/4 of chunk w's block qb
     * (row0 = its first row - 16w); an empty chunk (qb < 0) has no live row and stores nothing */
    const bool grp = DIRECT && un.ch >= 0;
    const int qb = grp ? bwd_qgrp_block(p, un.ch, w) : 0;
    const long long row0 = grp ? un.m / p.NB * S + (long long)(qb < 0 ? 0 : qb) * p.V - 16 * w : un.row0;
    const long long dl = p.BH * S;
    const bool qlive = !grp || qb >= 0;
    const float L0 = qlive ? p.l2[row0 + R0] : VOX_SM90_INF, L1 = qlive ? p.l2[row0 + R0 + 8] : VOX_SM90_INF;
    const float D0 = qlive ? p.lse[dl + row0 + R0] : 0.f, D1 = qlive ? p.lse[dl + row0 + R0 + 8] : 0.f;
    /* the partner's rows, for the stages of its unit given to this consumer (PACK) */
    const float M0 = PACK ? p.l2[uo.row0 + R0] : 0.f, M1 = PACK ? p.l2[uo.row0 + R0 + 8] : 0.f;
    const float E0 = PACK ? p.lse[dl + uo.row0 + R0] : 0.f, E1 = PACK ? p.lse[dl + uo.row0 + R0 + 8] : 0.f;
    const float sl2 = p.scale_log2;
    const uint32_t rq = sm.res_of(PACK ? cw : 0); /* resident Q, dO_eff */
    float acc[D / 2], acc2[D / 2];                /* own unit; the partner's (PACK: stages given here) */
#pragma unroll
    for (int e = 0; e < D / 2; e++)
        acc[e] = acc2[e] = 0.f;
    float sacc[32], dpacc[32];
    unsigned df[16];
    bool given = false; /* some stage of the CTA went to the other unit's partner (same in both) */
    mbar_wait(sm.resbar, 0);
    if (DIRECT) {
        for (int it = cw;; it += 2) { /* DIRECT: consumer cw's stages cw, cw + 2, ... */
            const int s = it % SM::STAGES, k = it / SM::STAGES;
            /* An odd ring (5 stages at D = 128) gives slot s's uses to the two consumers in turn: use k - 1 was
             * the other consumer's. If that use's TMA fill were still landing (fills can complete out of
             * order under memory pressure), full[s]'s parity for use k would read as already complete (phase
             * k - 1 pending has the other parity) and this consumer would take the older stage's data and info.
             * Waiting first for the release of use k - 1 (empty[s], the producer's own wait) rules that out:
             * the other consumer released it only after its fill landed. Session 20. */
            if ((SM::STAGES & 1) && k > 0)
                mbar_wait(sm.empty0 + 8 * s, (k & 1) ^ 1);
            mbar_wait(sm.full0 + 8 * s, k & 1);
            const int info = sm.info[s];
            if (info < 0)
                break;
            const unsigned cn = (unsigned)info & ~VOX_SM90_BWD_TAGS;
            const uint32_t kb = sm.ring + s * 2 * SM::TILE;
            if (cn != (unsigned)VOX_SM90_BWD_FULL) /* keys past their chunk's count: zero their K, V rows */
                bwd_zero_rows<D>(sm.gring + s * 2 * SM::TILE, bwd_dead(cn), bwd_dead(cn >> 16), ctw, cw);
            if (grp) { /* the key chunks whose block this warp's query block does not list count 0 for it */
                const unsigned cm16 = ld_shared(sm.rowl2_at(s, 0));
                unsigned keep = 0u;
#pragma unroll
                for (int j = 0; j < 4; j++)
                    keep |= ((cm16 >> (4 * j + w)) & 1u) ? 0xffu << (8 * j) : 0u;
                const unsigned cnw = cn & (p.qbrk ? ~0u : keep);
                bwd_dq_stage<D, BF, IS>(acc, sacc, dpacc, df, rq, kb, cnw, L0, L1, D0, D1, sl2, cq, cnw != cn);
            } else {
                bwd_dq_stage<D, BF, IS>(acc, sacc, dpacc, df, rq, kb, cn, L0, L1, D0, D1, sl2, cq);
            }
            mbar_arrive(sm.empty0 + 8 * s); /* every thread: an arrival orders only its own accesses */
        }
    } else {
        for (int it = 0;; it++) {
            const int info = bwd_ready(sm, it);
            if (info < 0)
                break;
            const int s = it % SM::STAGES;
            const unsigned tg = (unsigned)info & VOX_SM90_BWD_TAGS;
            /* a stage one consumer computes, for the other's unit */
            const bool gv = PACK && (tg & VOX_SM90_BWD_MEMBERS) != VOX_SM90_BWD_MEMBERS &&
                            ((tg & VOX_SM90_BWD_UNIT1) != 0u) != ((tg & VOX_SM90_BWD_MEMBER(1)) != 0u);
            given |= gv;
            if (bwd_mine<PACK>(info, it, cw)) {
                const unsigned cn = (unsigned)info & ~VOX_SM90_BWD_TAGS;
                const uint32_t kb = sm.ring + s * 2 * SM::TILE;
                if (gv)
                    bwd_dq_stage<D, BF, IS>(acc2, sacc, dpacc, df, sm.res_of(cw ^ 1), kb, cn, M0, M1, E0, E1, sl2, cq);
                else
                    bwd_dq_stage<D, BF, IS>(acc, sacc, dpacc, df, rq, kb, cn, L0, L1, D0, D1, sl2, cq);
            }
            mbar_arrive(sm.empty0 + 8 * s); /* every thread: an arrival orders only its own accesses */
        }
    }
    if (PACK) {
        if (given) {
            /* each consumer's acc2 (the partner's unit) through the ring into the partner's acc:
             * the first exchange orders both warpgroups' last (waited) wgmma reads of the ring
             * before the stores, fence.proxy.async the async-proxy reads before generic writes */
            float *red = (float *)sm.gring;
            bwd_exchange(sm.redbar, 0);
            fence_proxy_async();
            bwd_reduce_store<D / 2>(red + cw * 128 * (D / 2), acc2, ctw);
            bwd_exchange(sm.redbar, 1);
            bwd_reduce_add<D / 2>(red + (cw ^ 1) * 128 * (D / 2), acc, ctw);
        }
        if (un.has)
            bwd_store_rows<D, BF>(p, p.dq, 0, row0, acc, p.scale, R0, cq, L0 != VOX_SM90_INF, L1 != VOX_SM90_INF);
        return;
    }
    /* alternating: consumer 1's partial dQ into consumer 0's, through the resident Q, dO_eff pair
     * (128 x D/2 floats = its 2 x 64 x D halves; as main's kernel, so the 2 resident tiles leave
     * room for 5 stages at D = 128). The first exchange orders both warpgroups' last (waited)
     * wgmma reads of the pair before consumer 1's stores, fence.proxy.async the async-proxy reads
     * before generic writes; the second the stores before consumer 0's reads. */
    static_assert(128 * (D / 2) * 4 == 2 * SM::TILE, "dq reduction: the resident pair");
    float *red = (float *)(sm.gring - 2 * SM::TILE);
    bwd_exchange(sm.redbar, 0);
    fence_proxy_async();
    if (cw == 1)
        bwd_reduce_store<D / 2>(red, acc, ctw);
    bwd_exchange(sm.redbar, 1);
    if (cw == 0) {
        bwd_reduce_add<D / 2>(red, acc, ctw);
        if (qlive)
            bwd_store_rows<D, BF>(p, p.dq, 0, row0, acc, p.scale, R0, cq, L0 != VOX_SM90_INF, L1 != VOX_SM90_INF);
    }
#endif
}

/* ------------------------------------------------------------------ atomic dQ (dkdvq) */
/* cp.reduce.async.bulk (TMA reduce-add, shared -> global, bulk groups of the issuing thread): a box
 * of map at columns c0.., rows c1.. from src; commit; wait until the groups' shared-memory reads
 * are done (the staging may be rewritten) or until they are complete. */
__device__ __forceinline__ void tma_reduce_add_2d(const CUtensorMap *map, uint32_t src, int c0, int c1)
{
    asm volatile("cp.reduce.async.bulk.tensor.2d.global.shared::cta.add.tile.bulk_group [%0, {%1, %2}], [%3];\n" ::"l"(
                     (unsigned long long)map),
                 "r"(c0), "r"(c1), "r"(src)
                 : "memory");
}
__device__ __forceinline__ void bulk_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void bulk_wait_read() { asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory"); }
__device__ __forceinline__ void bulk_wait_all() { asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory"); }

/* Consumer: its dS^T (df: A fragments, rows = keys R0 and R0 + 8, columns = the stage's rows) into
 * its [64 key][64 row] tile at buf, 128B-swizzled like a TMA box (16-byte chunk x of row r at
 * x ^ r % 8): the A operand of dQ = dS K, read MN-major. */
__device__ __forceinline__ void bwd_store_ds(unsigned char *buf, const unsigned *df, int R0, int cq)
{
#pragma unroll
    for (int x = 0; x < 8; x++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int r = R0 + 8 * h;
            *(unsigned *)(buf + r * 128 + ((x ^ (r & 7)) << 4) + 4 * cq) = df[2 * x + h];
        }
}
/* XV (template of attn_bwd_dkdv: dkdv_q variant bits, session 20): VOX_SM90_BWD_XV_UQ bwd_mma_dq's descriptors advanced
 * per k-step; VOX_SM90_BWD_XV_BRK (with VOX_SM90_BWD_ATOMIC_RW, tests only) the reducer drops chunk 3 of every dQ
 * tile */
#define VOX_SM90_BWD_XV_BRK 1
#define VOX_SM90_BWD_XV_UQ 2
/* VOX_SM90_BWD_XV_LATE (with ATOMIC_RW): a consumer's fence.proxy.async after its dQ staging stores and its stbar
 * arrival are made at the next stage, after its S^T / dP^T wgmmas are issued (the end: after the loop), so the fence's
 * wait for the stores (e20 ncu: the fence and the arrival ~330 cycles a stage) runs under the tensor work; the reducer
 * starts that much later, with most of a stage to spare before the consumers need the staging again (sfbar) */
#define VOX_SM90_BWD_XV_LATE 4
/* acc[64 rows x 64] = sum over the stage's members m of dS_m (the dS^T tile at ds + 8192m, MN-major)
 * x columns 64h.. of K_m (the resident [64][D] tile of unit m at k0 + m * kstep, MN-major). */
/* UQ (the dkdv_q variant bit VOX_SM90_BWD_XV_UQ, session 20): both descriptors built once per product and advanced
 * per k-step by a constant in the start-address field (desc_adv), as VOX_SM90_BWD_IS 1 does for the other products,
 * instead of rebuilt from byte addresses per wgmma (e20 ncu: the dQ issue ~390 cycles a stage for 8 wgmmas, the
 * S^T / dP^T issue ~300 for 16; SASS of the 8-step path 87 -> 66 instructions). Not from sm90_uniform addresses:
 * with that shuffle ptxas spilled 4 bytes in the 40-register producer. Same wgmmas on the same addresses. */
template <bool BF, int UQ = 0>
__device__ __forceinline__ void bwd_mma_dq(float *acc, uint32_t ds, uint32_t k0, uint32_t kstep, unsigned mem, int h)
{
    const bool both = (mem & VOX_SM90_BWD_MEMBERS) == VOX_SM90_BWD_MEMBERS;
    const int m = (mem & VOX_SM90_BWD_MEMBER(0)) ? 0 : 1;
    if (UQ && both) {
        const uint32_t a = ds, b = k0 + h * 8192;
        const unsigned long long da = desc_mnmaj(a, 0), db = desc_mnmaj(b, 0);
        wg_fence();
#pragma unroll
        for (int kk = 0; kk < 8; kk++)
            vox_wgmma_m64n64k16_ss<BF, 1, 1>(acc, desc_adv(da, (kk >> 2) * 8192 + (kk & 3) * 2048),
                                             desc_adv(db, (kk >> 2) * kstep + (kk & 3) * 2048), kk > 0);
        wg_commit();
        wg_wait<0>();
    } else if (UQ) {
        const uint32_t a = ds + m * 8192, b = k0 + m * kstep + h * 8192;
        const unsigned long long da = desc_mnmaj(a, 0), db = desc_mnmaj(b, 0);
        wg_fence();
#pragma unroll
        for (int kk = 0; kk < 4; kk++)
            vox_wgmma_m64n64k16_ss<BF, 1, 1>(acc, desc_adv(da, kk * 2048), desc_adv(db, kk * 2048), kk > 0);
        wg_commit();
        wg_wait<0>();
    } else if (both) {
        wg_fence();
#pragma unroll
        for (int kk = 0; kk < 8; kk++)
            vox_wgmma_m64n64k16_ss<BF, 1, 1>(acc, desc_mnmaj(ds + (kk >> 2) * 8192, kk & 3),
                                             desc_mnmaj(k0 + (kk >> 2) * kstep + h * 8192, kk & 3), kk > 0);
        wg_commit();
        wg_wait<0>();
    } else {
        wg_fence();
#pragma unroll
        for (int kk = 0; kk < 4; kk++)
            vox_wgmma_m64n64k16_ss<BF, 1, 1>(acc, desc_mnmaj(ds + m * 8192, kk),
                                             desc_mnmaj(k0 + m * kstep + h * 8192, kk), kk > 0);
        wg_commit();
        wg_wait<0>();
    }
    fence_regs<32>(acc);
}
/* Consumer thread: its dS^T stores (if any) made visible to wgmma, then its arrival on dsbar; the
 * issuing thread first waits until the last reduce-adds have read the staging tile, which the
 * consumers rewrite after waiting on dsbar. */
template <class SM> __device__ __forceinline__ void bwd_ds_arrive(const SM &sm, bool iss)
{
    fence_proxy_async();
    if (iss)
        bulk_wait_read();
    mbar_arrive(sm.dsbar);
}
/* Consumer: rows R0, R0 + 8 of a [64][64] f32 dQ block (wgmma C layout; columns 64h..) into the
 * staging tile: D/32 boxes of [64 rows][32 f32] 8 KB apart, 128B-swizzled (16-byte chunk x of
 * row r at x ^ r % 8), so a 16-row chunk c of box b is the TMA box at b * 8192 + c * 2048. */
__device__ __forceinline__ void bwd_stage_dq(unsigned char *stg, const float *acc, int h, int R0, int cq)
{
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
            const int r = R0 + 8 * e, c = 64 * h + 8 * j + 2 * cq, x = (c & 31) >> 2;
            *(float2 *)(stg + (c >> 5) * 8192 + r * 128 + ((x ^ (r & 7)) << 4) + (c & 3) * 4) =
                make_float2(acc[4 * j + 2 * e], acc[4 * j + 2 * e + 1]);
        }
}
/* The issuing thread: the staged dQ tile added into dqacc, per chunk with rows (count byte of cn
 * > 0) at its first absolute row sl[c], one 16-row x 32-column box per column box. */
template <int D>
__device__ __forceinline__ void bwd_reduce_dq(const CUtensorMap *tmDq, uint32_t stg, unsigned cn, const int *sl)
{
#pragma unroll
    for (int c = 0; c < 4; c++)
        if ((cn >> (8 * c)) & 0xffu)
#pragma unroll
            for (int b = 0; b < D / 32; b++)
                tma_reduce_add_2d(tmDq, stg + b * 8192 + c * 2048, 32 * b, sl[c]);
    bulk_commit();
}
/* VOX_SM90_BWD_ATOMIC_RW: the reducer (lane 0 of warp 3, in the producer warpgroup: idle in dkdv_q otherwise).
 * Per stage: waits until both consumers have staged their dQ block (stbar: every consumer thread's arrival after
 * its staging stores and fence.proxy.async), reads the tile's chunk counts and rows (rslot; counts -1: the end),
 * issues the reduce-adds, waits until they have read the staging tile and releases it (sfbar), which the
 * consumers wait for before they stage the next stage's block. Before it returns, the last reduce-adds
 * complete. The consumers never wait on stbar: their only per-stage rendezvous is dsbar. */
template <int D, int XV, class SM> __device__ __forceinline__ void bwd_reducer(const SM &sm, const CUtensorMap *tmDq)
{
#pragma unroll 1
    for (int it = 0;; it++) {
        mbar_wait(sm.stbar, it & 1);
        const int cn = (int)ld_shared(sm.rslot);
        if (cn < 0)
            break;
        int sl[4];
#pragma unroll
        for (int c = 0; c < 4; c++)
            sl[c] = (int)ld_shared(sm.rslot + 4 + 4 * c);
        /* VOX_SM90_BWD_XV_BRK (a test's break, VOXATTN_SM90_BWD_DKDVQ_VAR=brk): chunk 3's rows never added */
        bwd_reduce_dq<D>(tmDq, sm.stg, (XV & VOX_SM90_BWD_XV_BRK) ? (unsigned)cn & 0xffffffu : (unsigned)cn, sl);
        bulk_wait_read();
        mbar_arrive(sm.sfbar);
    }
    bulk_wait_all();
}

/* dkdv, one stage of a consumer: P^T (in st, from S^T) and dS^T = P^T (dP^T - delta) (in dt, from dP^T)
 * with the staged rows' l2 (L) and delta (Dl); MASK 0: columns past their chunk's count zeroed when
 * `part` (tested per 8-column group, session 17's code), 1: zeroed (part known true), 2: none (part
 * known false); AT: padding keys' dS^T rows zeroed (atomic dQ). */
template <bool AT, int MASK>
__device__ __forceinline__ void bwd_dkdv_pds(float *st, float *dt, const float *L, const float *Dl, unsigned cn, int cq,
                                             float sl2, int R0, int nk, bool part)
{
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
        /* columns past their chunk's count: l2 and delta there are not this stage's */
        if (MASK == 1 || (MASK == 0 && part)) {
            const bool ok0 = bwd_col_ok(cn, c), ok1 = bwd_col_ok(cn, c + 1);
            p0 = ok0 ? p0 : 0.f, p2 = ok0 ? p2 : 0.f, p1 = ok1 ? p1 : 0.f, p3 = ok1 ? p3 : 0.f;
            dt[4 * x + 0] = ok0 ? dt[4 * x + 0] : 0.f, dt[4 * x + 2] = ok0 ? dt[4 * x + 2] : 0.f;
            dt[4 * x + 1] = ok1 ? dt[4 * x + 1] : 0.f, dt[4 * x + 3] = ok1 ? dt[4 * x + 3] : 0.f;
        }
        if (AT) { /* padding keys (rows of dS^T): nothing into dQ */
            dt[4 * x + 0] = R0 < nk ? dt[4 * x + 0] : 0.f, dt[4 * x + 1] = R0 < nk ? dt[4 * x + 1] : 0.f;
            dt[4 * x + 2] = R0 + 8 < nk ? dt[4 * x + 2] : 0.f;
            dt[4 * x + 3] = R0 + 8 < nk ? dt[4 * x + 3] : 0.f;
        }
        st[4 * x + 0] = p0, st[4 * x + 1] = p1, st[4 * x + 2] = p2, st[4 * x + 3] = p3;
    }
}

/* ------------------------------------------------------------------ dk, dv */
/* SP (the packed dkdv only; the library's bf16 D = 128 kernel _p2, VOXATTN_SM90_BWD_PRODUCER=1 the SP 0 one): the
 * producer's work on two warps of the producer warpgroup. Session 19's ncu of dkdv (H100, hunyuan's grid, 8 heads,
 * after bwd12): the consumers waited for their next stage (ready[s]) 19% of their time while the one producer warp was
 * busy 78% of its own (per stage: the lists' next entries, block_valid, the rows' l2 / delta as three dependent global
 * loads, and 4 TMA issues each behind an ELECT / R2UR chain: ~1.6k cycles of a ~2.1k-cycle stage), and a 5-stage ring
 * (PK5) gained nothing: the producer's throughput, not the ring's depth, bounds the stages the consumers get in a
 * burst. With SP, warp 2 (idle before; the key-unit padding zeroing moves to warp 3 alone) is the META warp: the merge
 * (bwd_merge: the lists' next heads loaded one block ahead), the chunk queues, the stage claim (empty[s]), the info
 * word and the stage's 4 chunk rows as a command (cmd_at; lane 0 arrives on cmd[s]), and the rows' l2 / delta copied by
 * cp.async, tracked by full[s] (no register waits); warp 0's lane 0 is the TMA warp (bwd_tma_stream): the resident
 * tiles, then per stage, after cmd[s], the copies (64-row boxes where the rows are contiguous) and its arrival on
 * full[s] (33 arrivals). The fixer and the consumers are unchanged; the same bytes reach the same stages: dk, dv
 * bitwise as with SP 0. H200 (session 19, NOTES.md): backward at hunyuan's grid with 4 heads 21.22 / 21.27 ms against
 * 21.48 / 21.50 (-1.1%), dkdv per launch 11.87 against 12.02 ms; the bf16 D = 128 kernel of the library
 * (VOXATTN_SM90_BWD_PRODUCER=1: SP 0). */
template <int D, bool BF, int PACK, int IS, int SP = 0, int XV = 0>
__device__ __forceinline__ void attn_bwd_dkdv(const VoxSm90BwdParams &p, const CUtensorMap *tmQ,
                                              const CUtensorMap *tmK, const CUtensorMap *tmV, const CUtensorMap *tmG,
                                              const CUtensorMap *tmQc, const CUtensorMap *tmGc,
                                              const CUtensorMap *tmDq, const CUtensorMap *tmKc,
                                              const CUtensorMap *tmVc)
{
#if VOX_SM90_ENABLED
    using SM = BwdSmem<D, PACK>;
    constexpr bool AT = SM::ATOMIC;
    extern __shared__ unsigned char vox_sm90_smem[];
    const SM sm(vox_sm90_smem);
    const long long R = p.BH * p.NB, S = p.NB * (long long)p.V;
    const int tid = threadIdx.x, wg = tid >> 7, lane = tid & 31;
    if (PACK && p.runit && p.nunit < 0 && !bwd_unit_kv<PACK>(p, 0).has)
        return; /* a device-built key-unit table: the grid's CTAs past the head's units (all threads) */
    static_assert(!SP || PACK == 1, "the split producer: the packed dkdv only");
    bwd_init_barriers(sm, false, SP != 0);

    if (wg == 0) {
        /* ---------------- producer, fixer ---------------- */
        asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
        if (tid >= (SP ? 96 : 64)) {
            if (SM::RW && tid >= 96) { /* warp 3: the reducer (one lane) */
                if (lane == 0)
                    bwd_reducer<D, XV>(sm, tmDq);
                return;
            }
            /* warps 2, 3 (SP: warp 3; RW: warp 2), idle otherwise: block layout, a chunk unit's (p.runit) blocks'
             * slots 16.. are padding: 0, as a 64-key unit's store writes them (the consumers store slots 0..15) */
            constexpr int ZT = SP ? 96 : 64, ZE = SM::RW ? 96 : 128;
            if (PACK && (p.runit || p.kgrp) && !p.tok)
#pragma unroll 1
                for (int c = 0; c < 2; c++) {
                    const BwdUnit u = bwd_unit_kv<PACK>(p, c);
                    if (u.ch < 0 || !u.has)
                        continue;
#pragma unroll 1
                    for (int k = 0; k < 4; k++) {
                        const int b = bwd_chunk_block(p, u.ch, k);
                        if (b < 0)
                            continue;
                        const long long row = u.m / p.NB * S + (long long)b * p.V;
                        bwd_zero_tail16<D>(p.dk, row, p.V, tid - ZT, ZE - ZT);
                        bwd_zero_tail16<D>(p.dv, row, p.V, tid - ZT, ZE - ZT);
                    }
                }
            return;
        }
        if (tid >= 32 && tid < 64) {
            bwd_fix<D, true, PACK>(sm, lane);
            return;
        }
        const BwdUnit u0 = bwd_unit_kv<PACK>(p, 0), u1 = bwd_unit_kv<PACK>(p, 1);
        const bool two = PACK && u1.has;
        /* a pair with a grouped key unit (p.kgrp): the union of the lists by membership bytes (bwd_merge_grp) */
        const bool grp = PACK == 1 && p.kgrp && (u0.ch >= 0 || (two && u1.ch >= 0));
        if (SP && tid < 32) { /* the split producer's TMA warp (one lane): resident tiles, then the stages */
            if (lane == 0) {
                bwd_resident<D, PACK>(sm, p, tmK, tmV, (int)u0.row0, (int)u1.row0, two ? 2 : 1, u0.m / p.NB * S, tmKc,
                                      tmVc, u0.ch, two ? u1.ch : -1);
                bwd_tma_stream<D, PACK>(sm, tmQ, tmG, tmQc, tmGc);
            }
            return;
        }
        /* a unit without a valid key streams nothing (its dk, dv are 0); a chunk unit streams its
         * first block's list (runit: its blocks' lists are the same) */
        const int c0 = u0.nv > 0 ? p.mask[3 * R + u0.m] : 0, c1 = two && u1.nv > 0 ? p.mask[3 * R + u1.m] : 0;
        if (grp) { /* its units: a group, or a 64-key unit's block (-1: none or no valid key) */
            const long long gh0 = u0.m / p.NB * p.NB;
            const int gb0 = u0.ch < 0 && u0.nv > 0 ? (int)(u0.m - gh0) : -1;
            const int gb1 = two && u1.ch < 0 && u1.nv > 0 ? (int)(u1.m - gh0) : -1, gc1 = two ? u1.ch : -1;
            if (SP) { /* the meta warp (the TMA warp loads the resident tiles) */
                BwdStream<D, true, PACK, SP, 2> st(sm, p, nullptr, nullptr, nullptr, nullptr, lane);
                bwd_merge_grp<D, PACK, SP>(sm, p, st, gh0, gb0, u0.ch, gb1, gc1, u0.m / p.NB * S, lane);
            } else {
                if (lane == 0)
                    bwd_resident<D, PACK>(sm, p, tmK, tmV, (int)u0.row0, (int)u1.row0, two ? 2 : 1, u0.m / p.NB * S,
                                          tmKc, tmVc, u0.ch, two ? u1.ch : -1);
                BwdStream<D, true, PACK, 0, 2> st(sm, p, tmQ, tmG, tmQc, tmGc, lane);
                bwd_merge_grp<D, PACK, 0>(sm, p, st, gh0, gb0, u0.ch, gb1, gc1, u0.m / p.NB * S, lane);
            }
            return;
        }
        if (SP) { /* the split producer's meta warp (warp 2): the merge, the rows' l2 / delta, the commands */
            BwdStream<D, true, PACK, SP> st(sm, p, nullptr, nullptr, nullptr, nullptr, lane);
            if (SP & 2)
                bwd_merge_sa<D, true, PACK, SP>(p, st, p.mask[2 * R + u0.m], c0, p.mask[2 * R + u1.m], c1,
                                                u0.m / p.NB * S);
            else
                bwd_merge<D, true, PACK, SP>(p, st, p.mask[2 * R + u0.m], c0, p.mask[2 * R + u1.m], c1,
                                             u0.m / p.NB * S);
            return;
        }
        BwdStream<D, true, PACK> st(sm, p, tmQ, tmG, tmQc, tmGc, lane);
        bwd_produce<D, true, PACK>(sm, p, st, tmK, tmV, (int)u0.row0, (int)u1.row0, two ? 2 : 1,
                                   p.mask[2 * R + u0.m], c0, PACK ? p.mask[2 * R + u1.m] : p.mask[2 * R + u0.m],
                                   PACK ? c1 : c0, u0.m / p.NB * S, lane, tmKc, tmVc, u0.ch, two ? u1.ch : -1);
        return;
    }
    /* ---------------- consumers ---------------- */
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
    const int cw = wg - 1, w = (tid >> 5) & 3, ctw = tid & 127, cq = lane & 3;
    const int R0 = w * 16 + (lane >> 2);
    const BwdUnit un = bwd_unit_kv<PACK>(p, cw);
    /* a chunk unit (p.runit): warp w's rows 16w.. (wgmma C layout) are chunk w, the first kb's valid
     * keys of block kb: its rows are slots row0 + R0 with row0 = that block's first row - 16w, its
     * keys those with R0 < nk = 16w + valid (kb = -1: none, nothing stored) */
    const int kb = un.ch >= 0 ? bwd_chunk_block(p, un.ch, w) : 0;
    const long long row0 = un.ch >= 0 ? un.m / p.NB * S + (long long)(kb < 0 ? 0 : kb) * p.V - 16 * w : un.row0;
    const int nk = un.ch >= 0 ? 16 * w + (kb < 0 ? 0 : __ldg(p.block_valid + kb)) : un.nv;
    const bool sto = un.has && kb >= 0;
    /* a grouped key unit (p.kgrp): per stage, the streamed chunks whose query block this warp's block does not list
     * count 0 for it (P^T and dS^T selected to 0 there: those rows are real data) */
    const bool cg = PACK == 1 && p.kgrp && un.ch >= 0;
    const int cms = 4 * cw + w; /* this warp's bit in each 8-bit chunk mask of the stage's word */
    const float sl2 = p.scale_log2;
    const uint32_t rk = sm.res_of(PACK ? cw : 0), rv = rk + SM::TILE; /* resident K, V */
    float gk[D / 2], gv[D / 2];
#pragma unroll
    for (int e = 0; e < D / 2; e++)
        gk[e] = gv[e] = 0.f;
    float st[32], dt[32];
    unsigned pf[16], df[16];
    mbar_wait(sm.resbar, 0);
    /* atomic dQ: dQ reads every key row of a member's K tile, so padding keys' K rows (not trusted
     * to be finite) are zeroed first; the exchange orders the zeroes before both consumers' reads */
    const bool iss = AT && tid == 128; /* issues the dQ reduce-adds */
    float qa[AT ? 32 : 1];             /* dQ block: rows of the stage x columns 64 * qh.. */
    const int qh = D == 128 ? cw : 0;
    if (AT) {
        constexpr int H = D / 64;
        if (un.ch < 0) {
            for (int e = ctw; e < (64 - nk) * H * 8; e += 128) {
                const int r = nk + e / (H * 8), h = (e >> 3) % H, c = e & 7;
                st_shared_zero16(rk + h * 8192 + r * 128 + c * 16);
            }
        } else { /* a chunk unit: rows 16k + y with y past chunk k's count (an empty chunk: all 16) */
            for (int e = ctw; e < 64 * H * 8; e += 128) {
                const int r = e / (H * 8), h = (e >> 3) % H, c = e & 7, b = bwd_chunk_block(p, un.ch, r >> 4);
                if (b < 0 || (r & 15) >= __ldg(p.block_valid + b))
                    st_shared_zero16(rk + h * 8192 + r * 128 + c * 16);
            }
        }
        fence_proxy_async();
        bwd_exchange(sm.redbar, 0);
    }
    constexpr bool RW = SM::RW, LATE = RW && (XV & VOX_SM90_BWD_XV_LATE) != 0;
    bool pend = false; /* LATE: this thread's fence and stbar arrival for the last staged tile still to make */
    int it = 0;
    for (;; it++) {
        const int info = VOX_SM90_BWD_FASTREADY ? bwd_ready_fast<SM, true>(sm, it, lane) : bwd_ready(sm, it);
        if (info < 0)
            break;
        const int s = it % SM::STAGES;
        const int db = PACK == VOX_SM90_BWD_ATOMIC_DB ? (it & 1) * 16384 : 0; /* this stage's dS^T pair */
        int sl[4] = {0, 0, 0, 0}; /* atomic dQ: the stage's chunks' first rows (read before release) */
        if (iss) {
            const int s0 = (int)ld_shared(sm.slot_at(s, 0)); /* ~row: a 64-row tile from row */
#pragma unroll
            for (int c = 0; c < 4; c++)
                sl[c] = s0 < 0 ? ~s0 + 16 * c : c ? (int)ld_shared(sm.slot_at(s, c)) : s0;
        }
        if (bwd_mine<PACK>(info, it, cw)) {
            unsigned cn = (unsigned)info & ~VOX_SM90_BWD_TAGS;
            if (cg && !p.kbrk) {
                const unsigned cmw = ld_shared(sm.cmw_at(s)) >> cms;
                unsigned keep = 0u;
#pragma unroll
                for (int j = 0; j < 4; j++)
                    keep |= ((cmw >> (8 * j)) & 1u) ? 0xffu << (8 * j) : 0u;
                cn &= keep;
            }
            const bool part = cn != (unsigned)VOX_SM90_BWD_FULL;
            const uint32_t qb = sm.ring + s * 2 * SM::TILE, gb = qb + SM::TILE;
            const float *L = sm.rowl2 + 64 * s, *Dl = sm.rowdl + 64 * s;
            fence_regs<D / 2>(gk);
            fence_regs<D / 2>(gv);
            wg_fence();
            bwd_mma_ss<D, BF, IS>(st, rk, qb); /* S^T = K Q^T */
            bwd_mma_ss<D, BF, IS>(dt, rv, gb); /* dP^T = V dO^T */
            wg_commit();
            if (LATE && pend) { /* the last stage's staging published while S^T / dP^T run */
                fence_proxy_async();
                mbar_arrive(sm.stbar);
                pend = false;
            }
            wg_wait<0>();
            fence_regs<32>(st);
            fence_regs<32>(dt);
            if (!IS)
                bwd_dkdv_pds<AT, 0>(st, dt, L, Dl, cn, cq, sl2, R0, nk, part);
            else if (part)
                bwd_dkdv_pds<AT, 1>(st, dt, L, Dl, cn, cq, sl2, R0, nk, true);
            else
                bwd_dkdv_pds<AT, 2>(st, dt, L, Dl, cn, cq, sl2, R0, nk, false);
            bwd_pack_a<BF>(pf, st);
            bwd_pack_a<BF>(df, dt);
            if (AT) { /* both consumers' dQ products that read this dS^T tile are done: ATOMIC, those of
                       * the last stage (stbar); ATOMIC_DB, of the stage before (dsbar of the last); RW, those
                       * of the last stage (qdbar) */
                if (RW && it > 0)
                    mbar_wait(sm.qdbar, (it - 1) & 1);
                fence_proxy_async();
                bwd_store_ds(sm.gdsb + db + cw * 8192, df, R0, cq);
                bwd_ds_arrive(sm, iss && !RW);
            }
            fence_regs_u<16>(pf);
            fence_regs_u<16>(df);
            wg_fence();
            bwd_mma_rs<D, BF, IS>(gv, pf, gb); /* dV += P^T dO */
            bwd_mma_rs<D, BF, IS>(gk, df, qb); /* dK += dS^T Q */
            wg_commit();
            wg_wait<0>();
            fence_regs<D / 2>(gk);
            fence_regs<D / 2>(gv);
        }
        /* atomic dQ: once both dS^T tiles of the stage are written (dsbar), consumer c computes the
         * dQ columns 64c.. (D = 128; D = 64: consumer it % 2 all of them) over both members' keys
         * (after its dV, dK products: all three in flight serialize them for want of registers) */
        const bool qon = D == 128 || (it & 1) == cw;
        if (LATE && pend) { /* a stage this consumer does not compute */
            fence_proxy_async();
            mbar_arrive(sm.stbar);
            pend = false;
        }
        if (AT) {
            if (!bwd_mine<PACK>(info, it, cw))
                bwd_ds_arrive(sm, iss && !RW);
            mbar_wait(sm.dsbar, it & 1);
            if (qon)
                bwd_mma_dq<BF, (XV & VOX_SM90_BWD_XV_UQ) != 0>(qa, sm.dsb + db, sm.res_of(0),
                                                               sm.res_of(1) - sm.res_of(0),
                                                               (unsigned)info & VOX_SM90_BWD_MEMBERS, qh);
            fence_regs<D / 2>(gk);
            fence_regs<D / 2>(gv);
            fence_regs<32>(qa);
            if (RW) /* this thread's dQ product (waited) no longer reads the dS^T tiles */
                mbar_arrive(sm.qdbar);
        }
        mbar_arrive(sm.empty0 + 8 * s); /* every thread: an arrival orders only its own accesses */
        if (RW) { /* once the reducer has read the last tile (sfbar), the dQ block staged; no wait after */
            if (it > 0)
                mbar_wait(sm.sfbar, (it - 1) & 1);
            if (qon)
                bwd_stage_dq(sm.gstg, qa, qh, R0, cq);
            if (iss) {
                st_shared(sm.rslot, (int)((unsigned)info & ~VOX_SM90_BWD_TAGS));
#pragma unroll
                for (int c = 0; c < 4; c++)
                    st_shared(sm.rslot + 4 + 4 * c, sl[c]);
            }
            if (LATE) {
                pend = true;
            } else {
                fence_proxy_async();
                mbar_arrive(sm.stbar);
            }
        } else if (AT) { /* the dQ block staged, then one thread adds the tile into dqacc (stbar) */
            if (qon)
                bwd_stage_dq(sm.gstg, qa, qh, R0, cq);
            fence_proxy_async();
            if (PACK == VOX_SM90_BWD_ATOMIC_DB) { /* only the issuing thread waits */
                mbar_arrive(sm.stbar);
                if (iss)
                    mbar_wait(sm.stbar, it & 1);
            } else {
                bwd_exchange(sm.stbar, it & 1);
            }
            if (iss)
                bwd_reduce_dq<D>(tmDq, sm.stg, (unsigned)info & ~VOX_SM90_BWD_TAGS, sl);
        }
    }
    if (RW) { /* the end for the reducer: after its last release (every thread: stbar's phases stay whole) */
        if (LATE && pend) {
            fence_proxy_async();
            mbar_arrive(sm.stbar);
        }
        if (it > 0)
            mbar_wait(sm.sfbar, (it - 1) & 1);
        if (iss)
            st_shared(sm.rslot, -1);
        mbar_arrive(sm.stbar);
    } else if (iss) /* the last reduce-adds complete before the CTA exits */
        bulk_wait_all();
    if (PACK) {
        if (sto) {
            bwd_store_rows<D, BF>(p, p.dv, 2, row0, gv, 1.f, R0, cq, R0 < nk, R0 + 8 < nk);
            bwd_store_rows<D, BF>(p, p.dk, 1, row0, gk, p.scale, R0, cq, R0 < nk, R0 + 8 < nk);
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
    bwd_exchange(sm.redbar, 0);
    if (cw == 0) {
        bwd_reduce_add<D / 2>(red + 128 * (D / 2), gv, ctw);
        bwd_store_rows<D, BF>(p, p.dv, 2, row0, gv, 1.f, R0, cq, R0 < nk, R0 + 8 < nk);
    } else {
        bwd_reduce_add<D / 2>(red, gk, ctw);
        bwd_store_rows<D, BF>(p, p.dk, 1, row0, gk, p.scale, R0, cq, R0 < nk, R0 + 8 < nk);
    }
#endif
}

/* dqconv (atomic dQ): dq = scale * dqacc on live rows (l2 finite), 0 elsewhere: what the dq kernel
 * writes; grid-stride over groups of 8 elements (D = 64 or 128: whole groups per row). */
template <int D, bool BF> __device__ __forceinline__ void attn_bwd_dqconv(const VoxSm90BwdParams &p)
{
    const long long n = p.BH * p.NB * p.V * (D / 8);
    for (long long x = blockIdx.x * (long long)blockDim.x + threadIdx.x; x < n; x += (long long)gridDim.x * blockDim.x) {
        const float4 a = ((const float4 *)p.dqacc)[2 * x], b = ((const float4 *)p.dqacc)[2 * x + 1];
        const bool live = p.l2[x / (D / 8)] != VOX_SM90_INF;
        const float sc = p.scale;
        unsigned short *row = bwd_out_row<D>(p, p.dq, 0, x / (D / 8));
        if (!row)
            continue;
        unsigned *o = (unsigned *)(row + 8 * (x % (D / 8))); /* dq rows are 4-byte aligned */
        o[0] = live ? vox_pack2<BF>(a.x * sc, a.y * sc) : 0u, o[1] = live ? vox_pack2<BF>(a.z * sc, a.w * sc) : 0u;
        o[2] = live ? vox_pack2<BF>(b.x * sc, b.y * sc) : 0u, o[3] = live ? vox_pack2<BF>(b.z * sc, b.w * sc) : 0u;
    }
}

} // namespace vox_sm90

/* rows: l2 of every slot (grid-stride over BH*S); atomic dQ (dqacc set): the accumulator zeroed. */
extern "C" __global__ void vox_attn_bwd_sm90_rows(const __grid_constant__ VoxSm90BwdParams p)
{
    const long long S = p.NB * p.V, n = p.BH * S;
    for (long long x = blockIdx.x * (long long)blockDim.x + threadIdx.x; x < n; x += (long long)gridDim.x * blockDim.x) {
        const long long slot = x % S, i = slot / p.V, r = slot - i * p.V;
        const float l = p.lse[x];
        const bool live = r < p.block_valid[i] && (!p.fill_src || p.fill_src[x] == slot) && l != -VOX_SM90_INF;
        p.l2[x] = live ? l * VOX_SM90_LOG2E : VOX_SM90_INF;
    }
    if (p.dqacc) /* D = 64 or 128: whole float4s per row */
        for (long long x = blockIdx.x * (long long)blockDim.x + threadIdx.x; x < n * (p.D / 4);
             x += (long long)gridDim.x * blockDim.x)
            ((float4 *)p.dqacc)[x] = make_float4(0.f, 0.f, 0.f, 0.f);
}

/* runits (VoxSm90BwdParams.runit built on the device, the library's key units: no host wait): one CTA of
 * 1024 threads writes out[0] = the units per head and from out + 4 the table vox_sm90_bwd_runits
 * (sm90_smem.h) gives for block_valid[0, NB) (V = 64): normal block i (0 or > 16 valid) is unit N_i (the
 * normal blocks before it), small block i (1..16) is slot A_i % 4 of unit Ntot + A_i / 4 (A_i the small
 * blocks before it, Ntot all normal ones); the last group's empty slots -1. The dkdv kernels then take
 * runit = out + 4, nunit = -1 (read out[0]) and the usual grid, CTAs past the units exiting. */
extern "C" __global__ void __launch_bounds__(1024) vox_attn_bwd_sm90_runits(const int *block_valid, long long NB,
                                                                           int *out)
{
    __shared__ int ws[2][32], tot;
    const int t = threadIdx.x, lane = t & 31, wid = t >> 5;
    int n = 0;
    for (long long i = t; i < NB; i += 1024) {
        const int v = block_valid[i];
        n += !(v > 0 && v <= 16);
    }
    if (t == 0)
        tot = 0;
    __syncthreads();
    atomicAdd(&tot, n);
    __syncthreads();
    const long long Ntot = tot, Atot = NB - Ntot;
    long long As = 0, Ns = 0; /* small / normal blocks before the chunk of 1024 */
    for (long long base = 0; base < NB; base += 1024) {
        const long long i = base + t;
        const int v = i < NB ? block_valid[i] : 0;
        const bool sm = i < NB && v > 0 && v <= 16, nm = i < NB && !sm;
        const unsigned bs = __ballot_sync(0xffffffffu, sm), bn = __ballot_sync(0xffffffffu, nm);
        const unsigned lt = (1u << lane) - 1u;
        if (lane == 0)
            ws[0][wid] = __popc(bs), ws[1][wid] = __popc(bn);
        __syncthreads();
        long long ps = 0, pn = 0, cs = 0, cn = 0;
        for (int w = 0; w < 32; w++) {
            ps += w < wid ? ws[0][w] : 0, pn += w < wid ? ws[1][w] : 0;
            cs += ws[0][w], cn += ws[1][w];
        }
        const long long A = As + ps + __popc(bs & lt), N = Ns + pn + __popc(bn & lt);
        if (nm) {
            int *e = out + 4 + 4 * N;
            e[0] = (int)i, e[1] = 0, e[2] = -1, e[3] = -1;
        }
        if (sm) {
            const int sl = (int)(A & 3);
            int *e = out + 4 + 4 * (Ntot + (A >> 2));
            e[sl] = sl ? (int)i : ~(int)i;
            if (A == Atot - 1)
                for (int k = sl + 1; k < 4; k++)
                    e[k] = -1;
        }
        As += cs, Ns += cn;
        __syncthreads(); /* ws is rewritten */
    }
    if (t == 0)
        out[0] = (int)(Ntot + (Atot + 3) / 4);
}

/* order (VoxSm90BwdParams.ordq / ordkv; session 21): CTA 2 bh + kv of 1024 threads for head bh and kernel kv
 * (0 dq, 1 the packed dkdv). The table maps a unit position of head bh (dq: grid position x; dkdv: 2x + c,
 * consumer c of grid position x; vox_sm90_bwd_cta gives x) to the unit that runs there. dq: the units of the
 * positions before the front CTAs (x < P - F) are sorted by a key, ties in unit order; dkdv: its pairs of
 * adjacent key units (2x, 2x + 1), x < P - F, by the key of the first; the front CTAs keep their place. Key: the
 * middle block of the unit's list (dq: the query block's KV list, row_start / row_count; dkdv: the key block's
 * transposed list, col_start / col_count; an empty list keys by the block itself), tiled when the video grid is
 * known (gt x gh x gw blocks, block (t*gh + h)*gw + w; gt = 0: unknown): frame t first, then the spatial tile
 * (2^tsh x 2^tsh places: 4 x 4 by default), then the place in it; global blocks after. So the CTAs resident
 * together stream nearby blocks, which the L2 keeps (in block order a temporal head's ~132 resident CTAs of one
 * frame's rows, lists spanning every frame at their place, stream nearly the whole head). The gradients are
 * bitwise the same in any order (each unit's sums are its own, in its list's order, beside the same partner).
 * Pairing the dkdv units by their keys instead (a temporal head's same place in two frames) measured ~3% SLOWER
 * than block order and changed dk's bits (session 21's mid call, NOTES.md): not done. P - F <= 4096 (the shared
 * array); larger: the identity. brk (tests only, VOXATTN_SM90_BWD_ORDER=brk): not a permutation (one unit twice,
 * one never), which the tests must catch. */
namespace vox_sm90 {
/* The order kernel's helpers (one CTA of 1024 threads, every thread calls them). The ranks of the small video blocks
 * (1..16 valid rows, V = 64) among units [0, nu): thread t takes units 4t..4t+3 (nu <= 4096); rk[j] the rank of unit
 * 4t + j (-1: not small), sb[j] the small units before it; a scan over the CTA (wsum: 33 ints); returns their count. */
__device__ __forceinline__ int bwd_order_ranks(const VoxSm90BwdParams &p, int t, long long nu, int nbv, int *rk,
                                               int *sb, int *wsum)
{
    int c = 0;
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const int x = 4 * t + j;
        const int v = x < nu && x < nbv ? __ldg(p.block_valid + x) : 0;
        sb[j] = c;
        rk[j] = VOX_SM90_BWD_QGRP_SMALL(v) ? c++ : -1;
    }
    int incl = c;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        const int y = __shfl_up_sync(0xffffffffu, incl, o);
        incl += (t & 31) >= o ? y : 0;
    }
    if ((t & 31) == 31)
        wsum[t >> 5] = incl;
    __syncthreads();
    if (t < 32) {
        int ws = wsum[t], wi = ws;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            const int y = __shfl_up_sync(0xffffffffu, wi, o);
            wi += t >= o ? y : 0;
        }
        wsum[t] = wi - ws; /* exclusive */
        if (t == 31)
            wsum[32] = wi;
    }
    __syncthreads();
    const int base = wsum[t >> 5] + incl - c;
#pragma unroll
    for (int j = 0; j < 4; j++)
        sb[j] += base, rk[j] = rk[j] >= 0 ? base + rk[j] : -1;
    return wsum[32];
}
/* the group table of those ranks (the same for every head; head 0's CTA writes it): rank r is chunk r % 4 of group
 * r / 4, the last group's empty chunks -1 */
__device__ __forceinline__ void bwd_order_groups(int *grp, int t, const int *rk, int nsm)
{
#pragma unroll
    for (int j = 0; j < 4; j++)
        if (rk[j] >= 0)
            grp[rk[j]] = 4 * t + j;
    for (int r = nsm + t; r < (nsm + 3) / 4 * 4; r += 1024)
        grp[r] = -1;
}
/* The key of a unit whose list's middle block is mid: tiled when the video grid is known (gt > 0): frame, spatial
 * tile of 2^tsh x 2^tsh places, place in it; global blocks after */
__device__ __forceinline__ unsigned bwd_order_k32(int mid, int gt, int gh, int gw, int tsh)
{
    const int tm = (1 << tsh) - 1, plane = gh * gw, ntw = (gw + tm) >> tsh;
    const int tplane = ((gh + tm) >> tsh) * ntw << (2 * tsh);
    if (gt > 0 && mid < gt * plane) {
        const int tt = mid / plane, r = mid - tt * plane, y = r / gw, w = r - y * gw;
        return (unsigned)(tt * tplane + (((y >> tsh) * ntw + (w >> tsh)) << (2 * tsh)) + ((y & tm) << tsh) + (w & tm));
    }
    return gt > 0 ? (unsigned)(gt * tplane + (mid - gt * plane)) : (unsigned)mid;
}
/* the middle block of block i's list (kv: the transposed one), i itself for an empty list */
__device__ __forceinline__ int bwd_order_mid(const VoxSm90BwdParams &p, long long bh, int i, int kv)
{
    const long long R = p.BH * p.NB, m = bh * p.NB + i;
    const int c = __ldg(p.mask + (kv ? 3 : 1) * R + m);
    return c > 0 ? __ldg(p.mask + __ldg(p.mask + (kv ? 2 : 0) * R + m) + c / 2) : i;
}
/* the sort's size: the least power of two >= n0 */
__device__ __forceinline__ int bwd_order_pow2(long long n0)
{
    int n = 1;
    while (n < n0)
        n <<= 1;
    return n;
}
/* ascending bitonic sort of e[0, n), n a power of two <= 4096 */
__device__ __forceinline__ void bwd_order_sort(unsigned long long *e, int n, int t)
{
    for (int k = 2; k <= n; k <<= 1)
        for (int j = k >> 1; j > 0; j >>= 1) {
            for (int x = t; x < n; x += 1024) {
                const int y = x ^ j;
                if (y > x) {
                    const unsigned long long a = e[x], b = e[y];
                    if ((a > b) == ((x & k) == 0))
                        e[x] = b, e[y] = a;
                }
            }
            __syncthreads();
        }
}
/* The 32-bit key of a unit whose list is block blk's (x: its position, the key when not keyed) */
__device__ __forceinline__ unsigned bwd_order_key32(const VoxSm90BwdParams &p, long long bh, int blk, int kv, int x,
                                                    int keyed, int gt, int gh, int gw, int tsh)
{
    return keyed ? bwd_order_k32(bwd_order_mid(p, bh, blk, kv), gt, gh, gw, tsh) : (unsigned)x;
}
/* e[x] = key(j, x) for the thread's entries x = 4t + j < n, then the sort */
template <class F> __device__ __forceinline__ void bwd_order_keysort(unsigned long long *e, int n, int t, F key)
{
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const int x = 4 * t + j;
        if (x < n)
            e[x] = key(j, x);
    }
    __syncthreads();
    bwd_order_sort(e, n, t);
}
/* a pair's unit code in 16 bits (the sort's payload): a tile u < 0x7fff, group g 0x8000 | g, none (u >= U) 0x7fff */
__device__ __forceinline__ unsigned bwd_order_p16(int code, long long U)
{
    return code < 0 ? 0x8000u | (unsigned)(-1 - code) : code >= U ? 0x7fffu : (unsigned)code;
}
__device__ __forceinline__ int bwd_order_d16(unsigned v, long long U)
{
    return v == 0x7fffu ? (int)U : (v & 0x8000u) ? -1 - (int)(v & 0x7fffu) : (int)v;
}
/* The packed dkdv's order with grouped key units (p.kgrp, V = 64): the n0o pairs of block order before the front
 * ones hold units [0, nu); the small video blocks among them are ranked (the group table: head 0), the others keep
 * block order, then the groups; that sequence is paired anew (an odd count: the last pair's second unit none), the
 * pairs sorted by their first unit's key (a group's: its first block's list), ties by their codes; the front pairs
 * follow at positions n0 = Pk - Fk.. with their units (2 n0o..) as without groups. A table of unit codes. */
__device__ __forceinline__ void bwd_order_kgrp(const VoxSm90BwdParams &p, long long bh, long long Pk, long long Fk,
                                               int brk, int gt, int gh, int gw, int tsh, int nbv, int keyed,
                                               unsigned long long *e, int *wsum)
{
    const int t = threadIdx.x;
    const long long U = p.NB, n0o = (U + 1) / 2 - Fk, nu = vox_sm90_bwd_kgrp_units(U, Fk);
    const long long n0 = Pk - Fk, T = 2 * Pk;
    int *ord = p.ordkv + bh * T;
    for (long long x = 2 * n0 + t; x < T; x += 1024)
        ord[x] = (int)(2 * n0o + (x - 2 * n0));
    int rk[4], sb[4];
    const int nsm = bwd_order_ranks(p, t, nu, nbv, rk, sb, wsum);
    if (bh == 0)
        bwd_order_groups((int *)p.kgrp, t, rk, nsm);
    const long long nn = nu - nsm, Uc = nn + (nsm + 3) / 4;
    /* the sequence: entry = block << 32 | code (a group's first block) */
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const long long x = 4 * t + j;
        if (x >= nu)
            continue;
        if (rk[j] < 0)
            e[x - sb[j]] = (unsigned long long)x << 32 | (unsigned)x;
        else if ((rk[j] & 3) == 0)
            e[nn + (rk[j] >> 2)] = (unsigned long long)x << 32 | (unsigned)(-1 - (rk[j] >> 2));
    }
    __syncthreads();
    unsigned long long a[4], b[4];
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const long long x = 4 * t + j;
        a[j] = x < n0 ? e[2 * x] : 0ull;
        b[j] = x < n0 && 2 * x + 1 < Uc ? e[2 * x + 1] : (unsigned)U;
    }
    __syncthreads();
    bwd_order_keysort(e, bwd_order_pow2(n0), t, [=](int j, int x) {
        if (x >= n0)
            return ~0ull;
        const unsigned k32 = bwd_order_key32(p, bh, (int)(a[j] >> 32), 1, x, keyed, gt, gh, gw, tsh);
        return (unsigned long long)k32 << 32 | bwd_order_p16((int)(unsigned)a[j], U) << 16 |
               bwd_order_p16((int)(unsigned)b[j], U);
    });
    for (long long x = t; x < n0; x += 1024) { /* brk (tests only): the first two positions run one pair twice */
        const unsigned v = (unsigned)e[brk && x == 1 ? 0 : x];
        ord[2 * x] = bwd_order_d16(v >> 16, U), ord[2 * x + 1] = bwd_order_d16(v & 0xffffu, U);
    }
}
} // namespace vox_sm90

extern "C" __global__ void __launch_bounds__(1024) vox_attn_bwd_sm90_order(const __grid_constant__ VoxSm90BwdParams p,
                                                                          long long Pq, long long Fq, long long Pk,
                                                                          long long Fk, int brk, int gt, int gh,
                                                                          int gw, int tsh, int nbv, int keyed)
{
    using namespace vox_sm90;
    __shared__ unsigned long long e[4096];
    __shared__ int wsum[33];
    const int t = threadIdx.x, kv = blockIdx.x & 1, parts = p.V >> 6;
    const long long bh = blockIdx.x >> 1, U = p.NB * parts;
    if (kv && p.kgrp) { /* the packed dkdv's grouped key units */
        bwd_order_kgrp(p, bh, Pk, Fk, brk, gt, gh, gw, tsh, nbv, keyed, e, wsum);
        return;
    }
    const long long P = kv ? Pk : Pq, n0 = P - (kv ? Fk : Fq), T = kv ? 2 * P : P; /* positions of the head */
    const bool grp = !kv && p.qgrp; /* dq's grouped units: P = n' + F positions of unit codes */
    /* grp: the sort runs over the n0u = U - F units of block order (the small video blocks' ranks first), n' of them
     * stay (the others are absorbed into groups), the front positions n'.. keep the front units n0u.. */
    const long long n0u = grp ? U - Fq : n0;
    int *ord = (kv ? p.ordkv : p.ordq) + bh * T;
    const long long done = kv ? 2 * n0 : n0; /* positions the sort writes (dkdv: n0 pairs) */
    for (long long x = done + t; x < T; x += 1024)
        ord[x] = (int)(grp ? n0u + (x - done) : x);
    if (n0u > 4096) { /* grp: the host never asks for more */
        for (long long x = t; x < done; x += 1024)
            ord[x] = (int)x;
        return;
    }
    const int n = bwd_order_pow2(n0u);
    /* grp: the rank of every small video block among those before it */
    int rk[4] = {-1, -1, -1, -1}, sb[4];
    if (grp) {
        const int nsm = bwd_order_ranks(p, t, n0u, nbv, rk, sb, wsum);
        if (bh == 0)
            bwd_order_groups((int *)p.qgrp, t, rk, nsm);
    }
    /* thread t keys units 4t..4t+3 (n <= 4096); payload: the unit code. grp: a small block of rank r % 4 != 0 is
     * absorbed into group r / 4 (key ~0: sorted past the n' that stay), rank r % 4 == 0 carries it (code -1 - r / 4,
     * keyed by its own list); keyed == 0 (VOXATTN_SM90_BWD_ORDER=0): keys in unit order */
    bwd_order_keysort(e, n, t, [=](int j, int x) {
        const bool absorbed = grp && rk[j] >= 0 && (rk[j] & 3) != 0;
        if (x >= n0u || absorbed)
            return ~0ull;
        const int code = grp && rk[j] >= 0 ? -1 - (rk[j] >> 2) : x;
        const long long u = kv ? 2 * (long long)x : x, i = (u < U ? u : U - 1) / parts;
        return (unsigned long long)bwd_order_key32(p, bh, (int)i, kv, x, keyed, gt, gh, gw, tsh) << 32 |
               (unsigned)code;
    });
    for (long long x = t; x < n0; x += 1024) { /* brk (tests only): the first two positions run one unit twice */
        const int s = (int)(unsigned)e[brk && x == 1 ? 0 : x];
        if (kv)
            ord[2 * x] = 2 * s, ord[2 * x + 1] = 2 * s + 1;
        else
            ord[x] = s;
    }
}

/* prep (the caller's layout, no pruned rows): what permute_to of dout and lse into dob and
 * lse[0, BH*S) followed by the shared preprocess gives (backends/gpu/kernels/attention_backward.cuh,
 * attention_backward_prep without fill_src, the same arithmetic): dob[x] = dout[b, h, tok[slot]]
 * (zeros for padding slots), lse[x] = the caller's lse there (0 for padding), lse[BH*S + x] = delta
 * = dout . o, 0 for padding. o is read only here: no block copy of it. D a multiple of 32, <= 128;
 * BH*S < 2^31 (the backward's support check).
 * delta's arithmetic is fixed (session 10's one warp per row; bitwise the same here): 32 partial
 * sums ("leaves") L = 0..31, leaf L the f32 fma chain over e = L + 32c in c order, then the xor
 * butterfly over L (16, 8, 4, 2, 1). Layout: 8 lanes per row, lane i of the row holds leaves
 * 4i..4i+3, i.e. elements 32c + 4i .. +3 of every c: one 8-byte load of dout and of o per c (16-bit
 * loads where a row is not 8-byte aligned); its four chains run in registers; the butterfly's
 * steps 16, 8, 4 are xor shuffles over lanes 4, 2, 1 of the row's eight, steps 2 and 1 adds of its
 * own leaves. A warp takes 8 rows per step (x = 8w + lane/8 and + 4): every load of the step in
 * flight at once after the slot lookups. */
template <bool BF> __device__ __forceinline__ float bwd_h2f(unsigned u)
{
    if (BF)
        return __uint_as_float(u << 16);
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"((unsigned short)u));
    return f;
}
__device__ __forceinline__ uint2 bwd_ld4(const unsigned short *p, bool vec)
{
    if (vec)
        return *(const uint2 *)p;
    return make_uint2((unsigned)p[0] | (unsigned)p[1] << 16, (unsigned)p[2] | (unsigned)p[3] << 16);
}
template <bool BF>
__device__ __forceinline__ void attn_bwd_prep(const unsigned short *dout, long long d_sb, long long d_sh,
                                              long long d_st, const unsigned short *o, long long o_sb,
                                              long long o_sh, long long o_st, const float *lse, long long l_sb,
                                              long long l_sh, long long l_st, const int *tok, const int *valid,
                                              int heads, long long BH, long long NB, int V, int D,
                                              unsigned short *dob, float *lseb)
{
    const unsigned S = (unsigned)(NB * V), n = (unsigned)(BH * S);
    const int lane = threadIdx.x & 31, sub = lane >> 3, i = lane & 7, C = D >> 5;
    const bool vec = (((unsigned long long)dout | (unsigned long long)o) & 7) == 0 &&
                     ((d_sb | d_sh | d_st | o_sb | o_sh | o_st) & 3) == 0;
    const long long steps = ((long long)n + 7) >> 3, warps = (long long)gridDim.x * (blockDim.x >> 5);
    for (long long w = blockIdx.x * (long long)(blockDim.x >> 5) + (threadIdx.x >> 5); w < steps; w += warps) {
        uint2 g[2][4], ov[2][4];
        float lv[2];
        bool live[2];
#pragma unroll
        for (int u = 0; u < 2; u++) {
            const unsigned x = (unsigned)(w * 8) + sub + 4 * u;
            live[u] = false, lv[u] = 0.f;
#pragma unroll
            for (int c = 0; c < 4; c++)
                g[u][c] = ov[u][c] = make_uint2(0u, 0u);
            if (x < n) {
                const unsigned bh = x / S, slot = x - bh * S, blk = slot / (unsigned)V;
                const int t = tok[slot];
                live[u] = (int)(slot - blk * (unsigned)V) < valid[blk] && t >= 0;
                if (live[u]) {
                    const long long b = bh / (unsigned)heads, h = bh - b * heads;
                    const unsigned short *grow = dout + b * d_sb + h * d_sh + (long long)t * d_st + 4 * i;
                    const unsigned short *orow = o + b * o_sb + h * o_sh + (long long)t * o_st + 4 * i;
#pragma unroll
                    for (int c = 0; c < 4; c++)
                        if (c < C)
                            g[u][c] = bwd_ld4(grow + 32 * c, vec), ov[u][c] = bwd_ld4(orow + 32 * c, vec);
                    if (i == 0)
                        lv[u] = lse[b * l_sb + h * l_sh + (long long)t * l_st];
                }
            }
        }
#pragma unroll
        for (int u = 0; u < 2; u++) {
            const unsigned x = (unsigned)(w * 8) + sub + 4 * u;
            float dl[4] = {0.f, 0.f, 0.f, 0.f}; /* leaves 4i + k */
#pragma unroll
            for (int c = 0; c < 4; c++)
                if (c < C) {
                    const unsigned ga[4] = {g[u][c].x & 0xffffu, g[u][c].x >> 16, g[u][c].y & 0xffffu, g[u][c].y >> 16};
                    const unsigned oa[4] = {ov[u][c].x & 0xffffu, ov[u][c].x >> 16, ov[u][c].y & 0xffffu,
                                            ov[u][c].y >> 16};
#pragma unroll
                    for (int k = 0; k < 4; k++)
                        dl[k] = fmaf(bwd_h2f<BF>(ga[k]), bwd_h2f<BF>(oa[k]), dl[k]);
                    if (x < n)
                        *(uint2 *)(dob + (long long)x * D + 32 * c + 4 * i) = g[u][c];
                }
#pragma unroll
            for (int m = 4; m > 0; m >>= 1) /* leaf bits 16, 8, 4 = lane bits 4, 2, 1 */
#pragma unroll
                for (int k = 0; k < 4; k++)
                    dl[k] += __shfl_xor_sync(0xffffffffu, dl[k], m);
            dl[0] += dl[2], dl[1] += dl[3]; /* leaf bit 2 */
            dl[0] += dl[1];                 /* leaf bit 1 */
            if (i == 0 && x < n)
                lseb[x] = lv[u], lseb[n + x] = live[u] ? dl[0] : 0.f;
        }
    }
}

#define VOX_SM90_BWD_PREP_KERNEL(NAME, BF)                                                                    \
    extern "C" __global__ void vox_attn_bwd_sm90_prep_##NAME(                                                 \
        const unsigned short *dout, long long d_sb, long long d_sh, long long d_st, const unsigned short *o,  \
        long long o_sb, long long o_sh, long long o_st, const float *lse, long long l_sb, long long l_sh,     \
        long long l_st, const int *tok, const int *valid, int heads, long long BH, long long NB, int V, int D, \
        unsigned short *dob, float *lseb)                                                                     \
    {                                                                                                         \
        attn_bwd_prep<BF>(dout, d_sb, d_sh, d_st, o, o_sb, o_sh, o_st, lse, l_sb, l_sh, l_st, tok, valid,     \
                          heads, BH, NB, V, D, dob, lseb);                                                    \
    }
VOX_SM90_BWD_PREP_KERNEL(bf16, true)
VOX_SM90_BWD_PREP_KERNEL(f16, false)

/* The dq and dkdv entry points: NAME suffix, D, BF (bf16 else f16), PACK (the scheme: 1 two units
 * per CTA, grid VOX_SM90_BWD_CTAS(BH, NB, V, 1); 0 the alternating scheme, one unit per CTA; dkdv
 * also the atomic-dQ schemes VOX_SM90_BWD_ATOMIC and _ATOMIC_DB, packed with atomic dQ through
 * tmDq, the f32 map of dqacc). The library's set, VOX_SM90_BWD_KERNELS, takes each kernel's
 * scheme from VOX_SM90_BWD_{DQ,DKDV,DKDVQ}_PACK: dq, dkdv, dkdv_q, and dqconv. */
#define VOX_SM90_BWD_ARGS                                                                                     \
    const __grid_constant__ VoxSm90BwdParams p, const __grid_constant__ CUtensorMap tmQ,                      \
        const __grid_constant__ CUtensorMap tmK, const __grid_constant__ CUtensorMap tmV,                     \
        const __grid_constant__ CUtensorMap tmG, const __grid_constant__ CUtensorMap tmQc,                    \
        const __grid_constant__ CUtensorMap tmKc, const __grid_constant__ CUtensorMap tmVc,                   \
        const __grid_constant__ CUtensorMap tmGc, const __grid_constant__ CUtensorMap tmDq
#define VOX_SM90_BWD_DQ_KERNEL_ISPF(NAME, D, BF, PACK, IS, PF)                                                \
    extern "C" __global__ void __launch_bounds__(VOX_SM90_BWD_THREADS, 1)                                     \
        vox_attn_bwd_sm90_dq_##NAME(VOX_SM90_BWD_ARGS)                                                        \
    {                                                                                                         \
        vox_sm90::attn_bwd_dq<D, BF, PACK, IS, PF>(p, &tmQ, &tmK, &tmV, &tmG, &tmKc, &tmVc, &tmQc, &tmGc);    \
    }
#define VOX_SM90_BWD_DQ_KERNEL_IS(NAME, D, BF, PACK, IS) VOX_SM90_BWD_DQ_KERNEL_ISPF(NAME, D, BF, PACK, IS, 0)
#define VOX_SM90_BWD_DKDV_KERNEL_IS(NAME, D, BF, PACK, IS)                                                    \
    extern "C" __global__ void __launch_bounds__(VOX_SM90_BWD_THREADS, 1)                                     \
        vox_attn_bwd_sm90_dkdv_##NAME(VOX_SM90_BWD_ARGS)                                                      \
    {                                                                                                         \
        vox_sm90::attn_bwd_dkdv<D, BF, PACK, IS>(p, &tmQ, &tmK, &tmV, &tmG, &tmQc, &tmGc, &tmDq, &tmKc,      \
                                                 &tmVc);                                                      \
    }
/* the packed dkdv with the split producer (SP 1): the library's bf16 D = 128 kernel; SP 3: with the safe alternating
 * merge (VOXATTN_SM90_BWD_SAFEALT) */
#define VOX_SM90_BWD_DKDV_KERNEL_SP(NAME, D, BF, SP)                                                      \
    extern "C" __global__ void __launch_bounds__(VOX_SM90_BWD_THREADS, 1)                                     \
        vox_attn_bwd_sm90_dkdv_##NAME(VOX_SM90_BWD_ARGS)                                                      \
    {                                                                                                         \
        vox_sm90::attn_bwd_dkdv<D, BF, 1, VOX_SM90_BWD_IS, SP>(p, &tmQ, &tmK, &tmV, &tmG, &tmQc, &tmGc, &tmDq, \
                                                               &tmKc, &tmVc);                                 \
    }
/* the atomic-dQ dkdv with the reducer warp (VOX_SM90_BWD_ATOMIC_RW) and variant bits XV (VOX_SM90_BWD_XV_*: uniform dQ
 * descriptors; a test's break): the library's VOXATTN_SM90_BWD_DKDVQ_VAR=rwu, =brk */
#define VOX_SM90_BWD_DKDVQ_RW_KERNEL(NAME, D, BF, XV)                                                         \
    extern "C" __global__ void __launch_bounds__(VOX_SM90_BWD_THREADS, 1)                                     \
        vox_attn_bwd_sm90_dkdv_##NAME(VOX_SM90_BWD_ARGS)                                                      \
    {                                                                                                         \
        vox_sm90::attn_bwd_dkdv<D, BF, VOX_SM90_BWD_ATOMIC_RW, VOX_SM90_BWD_IS, 0, XV>(                       \
            p, &tmQ, &tmK, &tmV, &tmG, &tmQc, &tmGc, &tmDq, &tmKc, &tmVc);                                    \
    }
#define VOX_SM90_BWD_DQ_KERNEL(NAME, D, BF, PACK)                                                             \
    VOX_SM90_BWD_DQ_KERNEL_ISPF(NAME, D, BF, PACK, VOX_SM90_BWD_IS, VOX_SM90_BWD_DQ_PF)
#define VOX_SM90_BWD_DKDV_KERNEL(NAME, D, BF, PACK) VOX_SM90_BWD_DKDV_KERNEL_IS(NAME, D, BF, PACK, VOX_SM90_BWD_IS)
#define VOX_SM90_BWD_DQCONV_KERNEL(NAME, D, BF)                                                               \
    extern "C" __global__ void vox_attn_bwd_sm90_dqconv_##NAME(const __grid_constant__ VoxSm90BwdParams p)    \
    {                                                                                                         \
        vox_sm90::attn_bwd_dqconv<D, BF>(p);                                                                  \
    }
#define VOX_SM90_BWD_KERNELS(NAME, D, BF)                                                                     \
    VOX_SM90_BWD_DQ_KERNEL(NAME, D, BF, VOX_SM90_BWD_DQ_PACK)                                                 \
    VOX_SM90_BWD_DKDV_KERNEL(NAME, D, BF, VOX_SM90_BWD_DKDV_PACK)                                             \
    VOX_SM90_BWD_DKDV_KERNEL(q_##NAME, D, BF, VOX_SM90_BWD_DKDVQ_PACK)                                        \
    VOX_SM90_BWD_DQCONV_KERNEL(NAME, D, BF)
