/* kv_select (core/backend.h): per query row m = bh*NB + i, the KV blocks it
 * attends to (kv_count[m] of them, ascending, from kv_cols[kv_start[m]]),
 * from the f64 softmax of the scaled block-mean scores: cumulative mass
 * (tau), top-k or statistical (z) rule, capped at a.max_blocks (STAT over it:
 * the first max_blocks of the order), plus the min_blocks top-up, the
 * diagonal and the global blocks; a NaN probability ranks last. A video
 * row's list stays within a.room entries (vox_kv_select_room()), the band
 * sweep's speculative one too.
 *
 * The exact path; the CUMULATIVE and TOPK rules first take the fast path of
 * kv_select_fast.cuh (f32 scores with a certified bound, exact re-scoring of
 * the few blocks the bound cannot order), and only the rows it cannot
 * certify come here, through vox_kv_select_rows (STAT: vox_kv_select, every
 * tile).
 *
 * vox_kv_select_kt copies each head's video kbar transposed,
 * kt[(bh*D + e)*S + j] (S: NBv rounded up to 4, zero padded), into the head
 * of b.scratch, so that the score product reads its keys coalesced.
 * vox_kv_select: one CTA of VOX_KS_THREADS threads per (bh, tile of
 * VOX_KS_ROWS video query rows), grid-stride, two CTAs per multiprocessor.
 * Phase 1, the block scores of the tile's rows against every video key block:
 * each thread holds VOX_KS_ROWS x VOX_KS_KPT f64 accumulators (every row, 4
 * consecutive keys), the rows' qbar in shared memory as f64 (read as
 * broadcasts), its keys' kt streamed from global memory one chunk ahead,
 * converted once per key and dim: 64 f64 fma per 4 conversions, 8 broadcast
 * shared loads and one 16-byte global load (VOX_KS_EC dims ahead). Each score is the reference's
 * sequential f64 sum over e = 0..D-1 (the f32 x f32 products are exact in
 * f64, so fma == the reference's multiply-add), i.e. bitwise the reference's
 * s_j. Phase 2 (vox_ks_row, kv_select_row.cuh), one warp per row: max and softmax normaliser, probabilities
 * in place, the rule's count (cumulative: a radix descent with a proven error
 * margin, else an exact replay of the reference's sorted sequential sum), a
 * radix select of the n most probable blocks (ties by index) and one ordered
 * compaction. No serial scans, no per-row global scratch; the scores live in
 * dynamic shared memory (or, when a tile's scores would take more than half
 * of it, in a per-CTA slice of b.scratch after kt and the fast path's row
 * list, a.per_block bytes).
 * Dynamic shared memory: a union (the rows' qbar in phase 1, the warps'
 * histograms in phase 2) of vox_ks_union() bytes, then the scores.
 * (One file per op: kernel names, device and host sections; ../gpu_kernels.h.) */

#define VOX_GPU_KERNELS_kv_select(R, O, M) \
    R(kv_select) R(kv_select_kt) R(kv_select_fast) R(kv_select_rows) O(kv_select_rows_old) O(kv_select_brk) M(kv_select_fast_mma) M(kv_select_kb) \
    M(kv_select_fast_kb) M(kv_select_fast_kb_old) M(kv_select_fast_kb_brk) M(kv_select_fast_kb_p1) \
    M(kv_select_fast_kb_p2) M(kv_select_kb_wg) \
    M(kv_select_fast_kb_wg) M(kv_select_fast_kb_wg_p1) M(kv_select_fast_kb_wgs) M(kv_select_fast_kb_wgs2) \
    M(kv_select_fast_kb_ss) M(kv_select_fast_kb_ss_cb) M(kv_select_fast_kb_ss_p1) \
    M(kv_select_fast_kb_ss_p1ns) M(kv_select_fast_kb_ss_p1nk) M(kv_select_fast_kb_ss_p1nd) M(kv_select_fast_kb_ss_p1nu) \
    M(kv_select_fast_kb_tp) M(kv_select_fast_kb_tp_brk)

/* Tile geometry the kernels and the launcher share. */
#define VOX_KS_ROWS 16 /* query rows per CTA tile of the exact path */
#define VOX_KS_EC 4    /* head dims per streamed chunk */
#define VOX_KF_ROWS 8  /* query rows per CTA tile of the fast path (kv_select_fast.cuh) */
#define VOX_KM_ROWS 64 /* query rows per CTA tile of its tensor-core phase 1 (kv_select_mma.cuh) */
#define VOX_KM_KEYS 64 /* keys per chunk staged in shared memory by that phase 1 */
#define VOX_KT_NBIN 96 /* the three-pass kernel's bins a row (kv_select_tp.cuh; 12 KB for 64 rows) */
#define VOX_KT_CAND 256 /* its boundary bin's blocks a row, at most (= VOX_KF_CAND) */
/* vox_kv_select_rows' CTAs a multiprocessor (<= 128 registers): 16 listed rows at once, so that a
 * hunyuan-720p tau build's ~1,700 take one round, not two (session 30: 0.31-0.34 ms against 0.43 at 2
 * CTAs with the scores in shared memory, though at 4 its scores no longer fit there: their slices in
 * the scratch cost a round ~0.09 ms more) */
#define VOX_KR_MIN_BLOCKS 4
/* The list of the rows the fast kernels cannot certify, per head (session 51): head bh's count at
 * list[bh], its rows m = bh * NB + i (in any order) from list[VOX_KS_LIST_HEAD(BH) + bh * tiles *
 * VOX_KS_ROWS] (room for every video row of the head); VOX_KS_LIST_INTS ints in all, a multiple of 16.
 * vox_kv_select_rows takes a head's rows VOX_KS_THREADS / 32 at a time, so that a CTA's rows share
 * their keys. */
#define VOX_KS_LIST_HEAD(BH) (((BH) + VOX_KS_ROWS - 1) / VOX_KS_ROWS * VOX_KS_ROWS)
#define VOX_KS_LIST_INTS(BH, tiles) (VOX_KS_LIST_HEAD(BH) + (BH) * (tiles) * VOX_KS_ROWS)

#ifdef VOX_GPU_DEVICE

#define VOX_KS_THREADS 128
#define VOX_KS_KPT 4                              /* consecutive key blocks per thread per pass */
#define VOX_KS_KEY 0x7fffffffffffffffull          /* probability bits; bit 63 flags STAT */
#if VOX_GPU_HIP
#define VOX_KS_MIN_BLOCKS 1 /* the whole register file: no spills (2: 364 B/lane on gfx90a) */
#else
#define VOX_KS_MIN_BLOCKS 2 /* two CTAs per SM: 255 registers each */
#endif

#include "kv_select_row.cuh"

/* kt's row stride (elements): NBv rounded up to VOX_KS_KPT. */
__device__ __forceinline__ i64 vox_ks_stride(i64 NBv)
{
    return (NBv + VOX_KS_KPT - 1) / VOX_KS_KPT * VOX_KS_KPT;
}

/* Bytes of kt at the head of b.scratch, rounded up to 256 (gpu_kv_select
 * computes the same). */
__device__ __forceinline__ i64 vox_ks_kt_bytes(const vox_kv_select_args &a)
{
    return (a.BH * a.D * vox_ks_stride(a.NBv) * 4 + 255) / 256 * 256;
}

/* Tiles of VOX_KS_ROWS video query rows (at least one per head). */
__device__ __forceinline__ i64 vox_ks_tiles(const vox_kv_select_args &a)
{
    return a.NBv > 0 ? (a.NBv + VOX_KS_ROWS - 1) / VOX_KS_ROWS : 1;
}

/* The scratch after kt: the rows vox_kv_select_fast could not certify
 * (kv_select_fast.cuh), per head (VOX_KS_LIST_INTS above; vox_kv_select_kt
 * zeroes the counts), a multiple of 64 bytes; then the per-CTA score slices
 * (gpu_kv_select computes the same). */
__device__ __forceinline__ int *vox_ks_list(const vox_kv_select_bufs &b, const vox_kv_select_args &a)
{
    return (int *)(vox_ptr<unsigned char>(b.scratch) + vox_ks_kt_bytes(a));
}
__device__ __forceinline__ unsigned char *vox_ks_slices(const vox_kv_select_bufs &b, const vox_kv_select_args &a)
{
    return (unsigned char *)vox_ks_list(b, a) + VOX_KS_LIST_INTS(a.BH, vox_ks_tiles(a)) * 4;
}
/* Head bh's rows in the list (its count: list[bh]) */
__device__ __forceinline__ int *vox_ks_list_rows(int *list, const vox_kv_select_args &a, i64 bh)
{
    return list + VOX_KS_LIST_HEAD(a.BH) + bh * vox_ks_tiles(a) * VOX_KS_ROWS;
}
/* Row m (of head bh) onto the list, for vox_kv_select_rows */
__device__ __forceinline__ void vox_ks_list_add(int *list, const vox_kv_select_args &a, i64 bh, i64 m)
{
    vox_ks_list_rows(list, a, bh)[atomicAdd(list + bh, 1)] = (int)m;
}

/* A head's dense global query rows (i >= NBv attend to every block),
 * written by the CTA (nthreads threads) that takes the head's first tile. */
__device__ __forceinline__ void vox_ks_dense_globals(const int *start, int *count, int *cols, i64 bh, int NB, int NBv,
                                                     int nthreads)
{
    for (i64 x = threadIdx.x; x < (i64)(NB - NBv) * NB; x += nthreads) {
        i64 i = NBv + x / NB, j = x % NB, m = bh * NB + i;
        cols[start[m] + j] = (int)j;
        if (j == 0)
            count[m] = NB;
    }
}

/* Bytes of the phase-1/phase-2 union for nw warps (the host sizes it with
 * 4 warps, the most a 128-thread CTA has: gpu_kv_select). */
__device__ __forceinline__ i64 vox_ks_union(i64 D, i64 nw)
{
    i64 q = (i64)VOX_KS_ROWS * ((D + VOX_KS_EC - 1) / VOX_KS_EC * VOX_KS_EC) * 8;
    i64 w = nw * (i64)sizeof(vox_ks_work);
    return ((q > w ? q : w) + 15) / 16 * 16;
}

/* Phase 1: sc[r*NBv + j] = s_j of row i0 + r (r < nrows), j < NBv. qs:
 * VOX_KS_ROWS x Dp f64 of shared memory, [e][r], the dims e >= D zero (they
 * add 0*0 to sums that are never -0: bitwise neutral). */
__device__ void vox_ks_scores(const float *qbar, const float *kt, i64 bh, i64 i0, int nrows, i64 NB, int NBv,
                              i64 D, double scale, double *qs, double *sc)
{
    const int tid = threadIdx.x;
    const i64 Dp = (D + VOX_KS_EC - 1) / VOX_KS_EC * VOX_KS_EC, S = vox_ks_stride(NBv), S4 = S / 4;
    for (i64 x = tid; x < VOX_KS_ROWS * Dp; x += VOX_KS_THREADS) {
        i64 e = x / VOX_KS_ROWS, r = x - e * VOX_KS_ROWS;
        qs[x] = r < nrows && e < D ? (double)qbar[(bh * NB + i0 + r) * D + e] : 0.0;
    }
    __syncthreads();
    const float4 *kh = (const float4 *)(kt + bh * D * S);
    const float4 zero = make_float4(0.f, 0.f, 0.f, 0.f);
    for (i64 k = (i64)tid * VOX_KS_KPT; k < NBv; k += VOX_KS_THREADS * VOX_KS_KPT) {
        const float4 *kp = kh + k / 4; /* keys k..k+3 (< S) of dim e: kp[e*S4] */
        double acc[VOX_KS_ROWS][VOX_KS_KPT];
#pragma unroll
        for (int r = 0; r < VOX_KS_ROWS; r++)
#pragma unroll
            for (int kk = 0; kk < VOX_KS_KPT; kk++)
                acc[r][kk] = 0.0;
        /* a ring of the next VOX_KS_EC dims' keys: each slot is reloaded
         * with the dim VOX_KS_EC further on as soon as it is converted */
        float4 ring[VOX_KS_EC];
#pragma unroll
        for (int c = 0; c < VOX_KS_EC; c++)
            ring[c] = c < D ? kp[c * S4] : zero;
        for (i64 e0 = 0; e0 < Dp; e0 += VOX_KS_EC) {
#pragma unroll
            for (int c = 0; c < VOX_KS_EC; c++) {
                const double k0 = ring[c].x, k1 = ring[c].y, k2 = ring[c].z, k3 = ring[c].w;
                const i64 en = e0 + VOX_KS_EC + c;
                ring[c] = en < D ? kp[en * S4] : zero;
                const double2 *q = (const double2 *)(qs + (e0 + c) * VOX_KS_ROWS);
#pragma unroll
                for (int r = 0; r < VOX_KS_ROWS; r += 2) {
                    const double2 qq = q[r / 2];
                    acc[r][0] = fma(qq.x, k0, acc[r][0]);
                    acc[r][1] = fma(qq.x, k1, acc[r][1]);
                    acc[r][2] = fma(qq.x, k2, acc[r][2]);
                    acc[r][3] = fma(qq.x, k3, acc[r][3]);
                    acc[r + 1][0] = fma(qq.y, k0, acc[r + 1][0]);
                    acc[r + 1][1] = fma(qq.y, k1, acc[r + 1][1]);
                    acc[r + 1][2] = fma(qq.y, k2, acc[r + 1][2]);
                    acc[r + 1][3] = fma(qq.y, k3, acc[r + 1][3]);
                }
            }
        }
#pragma unroll
        for (int r = 0; r < VOX_KS_ROWS; r++)
#pragma unroll
            for (int kk = 0; kk < VOX_KS_KPT; kk++)
                if (r < nrows && k + kk < NBv)
                    sc[(i64)r * NBv + k + kk] = acc[r][kk] * scale;
    }
}

/* kt (see the top of this file): one CTA of 256 threads per (bh, 32 keys,
 * 32 dims), a transpose through shared memory, grid-stride. */
VOX_KERNEL void __launch_bounds__(256) vox_kv_select_kt(VOX_PARAM vox_kv_select_bufs b, VOX_PARAM vox_kv_select_args a)
{
    __shared__ float tile[32][33];
    const float *kbar = vox_ptr<const float>(b.kbar);
    float *kt = vox_ptr<float>(b.scratch);
    const i64 S = vox_ks_stride(a.NBv), tj = (S + 31) / 32, te = (a.D + 31) / 32;
    if (blockIdx.x == 0) /* vox_kv_select_fast lists its uncertified rows after this kernel */
        for (i64 x = threadIdx.x; x < a.BH; x += 256)
            vox_ks_list(b, a)[x] = 0;
    const int x = threadIdx.x % 32, y0 = threadIdx.x / 32;
    for (i64 t = blockIdx.x; t < a.BH * tj * te; t += gridDim.x) {
        const i64 bh = t / (tj * te), j0 = (t - bh * tj * te) / te * 32, e0 = (t - bh * tj * te) % te * 32;
        for (int y = y0; y < 32; y += 8) {
            i64 j = j0 + y, e = e0 + x;
            tile[y][x] = j < a.NBv && e < a.D ? kbar[(bh * a.NB + j) * a.D + e] : 0.f;
        }
        __syncthreads();
        for (int y = y0; y < 32; y += 8) {
            i64 e = e0 + y, j = j0 + x;
            if (e < a.D && j < S)
                kt[(bh * a.D + e) * S + j] = tile[x][y];
        }
        __syncthreads();
    }
}

/* The exact path over every tile (top of this file); V: vox_ks_row's variant (VOX_KS_V_*) */
template <int V>
__device__ __forceinline__ void vox_ks_tiles_all(const vox_kv_select_bufs &b, const vox_kv_select_args &a)
{
    const float *qbar = vox_ptr<const float>(b.qbar), *kt = vox_ptr<const float>(b.scratch);
    const int *start = vox_ptr<const int>(b.kv_start);
    int *count = vox_ptr<int>(b.kv_count), *cols = vox_ptr<int>(b.kv_cols);
    const int NB = (int)a.NB, NBv = (int)a.NBv, tid = threadIdx.x;
    const int warp = tid / VOX_WARP_SIZE, nw = VOX_KS_THREADS / VOX_WARP_SIZE;
    const i64 tiles = vox_ks_tiles(a);
    unsigned char *un = vox_dyn_smem;
    double *sc = a.per_block ? (double *)(vox_ks_slices(b, a) + (i64)blockIdx.x * a.per_block)
                             : (double *)(vox_dyn_smem + vox_ks_union(a.D, nw));
    for (i64 t = blockIdx.x; t < a.BH * tiles; t += gridDim.x) {
        const i64 bh = t / tiles, i0 = (t - bh * tiles) * VOX_KS_ROWS;
        if (i0 == 0)
            vox_ks_dense_globals(start, count, cols, bh, NB, NBv, VOX_KS_THREADS);
        const int nrows = NBv - i0 < VOX_KS_ROWS ? (int)(NBv - i0) : VOX_KS_ROWS;
        if (nrows > 0) {
            vox_ks_scores(qbar, kt, bh, i0, nrows, NB, NBv, a.D, a.scale, (double *)un, sc);
            __syncthreads(); /* scores written, the union free for the warps */
            for (int r = warp; r < nrows; r += nw) {
                i64 m = bh * NB + i0 + r;
                vox_ks_row<V>(sc + (i64)r * NBv, NB, NBv, (int)(i0 + r), cols + start[m], count + m, a,
                           (vox_ks_work *)un + warp);
            }
        }
        __syncthreads(); /* before the next tile rewrites the union and the scores */
    }
}

VOX_KERNEL void __launch_bounds__(VOX_KS_THREADS, VOX_KS_MIN_BLOCKS)
    vox_kv_select(VOX_PARAM vox_kv_select_bufs b, VOX_PARAM vox_kv_select_args a)
{
    vox_ks_tiles_all<VOX_KS_V_NEW>(b, a);
}
/* with vox_ks_row's deliberate break (VOXATTN_KV_SELECT_ROWS_BREAK, tests only) */
VOX_KERNEL void __launch_bounds__(VOX_KS_THREADS, VOX_KS_MIN_BLOCKS)
    vox_kv_select_brk(VOX_PARAM vox_kv_select_bufs b, VOX_PARAM vox_kv_select_args a)
{
    vox_ks_tiles_all<VOX_KS_V_BRK>(b, a);
}

/* Bytes of vox_kv_select_rows' shared memory before its scores: the rows'
 * qbar as f64 (nw x Dp), then nw warps' work spaces (gpu_kv_select computes
 * the same with 4 warps). */
__device__ __forceinline__ i64 vox_kr_head(i64 D, i64 nw)
{
    return (nw * ((D + VOX_KS_EC - 1) / VOX_KS_EC * VOX_KS_EC) * 8 + 15) / 16 * 16 + nw * (i64)sizeof(vox_ks_work);
}

/* The exact path for the listed rows (vox_ks_list): one CTA of
 * VOX_KS_THREADS threads takes nw listed rows of one head at a time (a group;
 * a head's groups in turn, grid-stride over all heads' groups; session 51:
 * before, any nw rows of the list, each reading its head's keys), one row per
 * warp; the whole CTA computes the rows' f64 scores (4 consecutive keys per
 * thread, every row's at once: independent chains; each key loaded once for
 * the group's rows; the sequential f64 sum over e as vox_ks_scores: bitwise
 * the reference's s_j), then each warp runs vox_ks_row on its row. Dynamic
 * shared memory: vox_kr_head() bytes, then nw x NBv f64 scores (or those in a
 * per-CTA slice of the scratch, a.per_block bytes). V: vox_ks_row's variant
 * (kv_select_row.cuh; VOX_KS_V_OLD: vox_kv_select_rows_old, VOXATTN_KV_SELECT_ROWS_OLD). */
#define VOX_KR_EC 8 /* head dims of a key chunk loaded at once (the group's rows share them) */
template <int V>
__device__ __forceinline__ void vox_kr_rows(const vox_kv_select_bufs &b, const vox_kv_select_args &a)
{
    __shared__ int grp[2]; /* the CTA's group: its head, its first row in the head's list (-1: none left) */
    const float *qbar = vox_ptr<const float>(b.qbar), *kt = vox_ptr<const float>(b.scratch);
    const int *start = vox_ptr<const int>(b.kv_start);
    int *list = vox_ks_list(b, a), *count = vox_ptr<int>(b.kv_count), *cols = vox_ptr<int>(b.kv_cols);
    const int NB = (int)a.NB, NBv = (int)a.NBv, tid = threadIdx.x, lane = tid % VOX_WARP_SIZE;
    const int warp = tid / VOX_WARP_SIZE, nw = VOX_KS_THREADS / VOX_WARP_SIZE;
    const i64 D = a.D, Dp = (D + VOX_KS_EC - 1) / VOX_KS_EC * VOX_KS_EC, S = vox_ks_stride(NBv), S4 = S / 4;
    double *qs = (double *)vox_dyn_smem;
    vox_ks_work *wk = (vox_ks_work *)(vox_dyn_smem + (nw * Dp * 8 + 15) / 16 * 16);
    double *sc = a.per_block ? (double *)(vox_ks_slices(b, a) + (i64)blockIdx.x * a.per_block)
                             : (double *)(vox_dyn_smem + vox_kr_head(D, nw));
    i64 hc = 0, before = 0; /* warp 0: the heads' chunk of 32 it scans, the groups of the heads before it */
    for (i64 g = blockIdx.x;; g += gridDim.x) {
        if (warp == 0) { /* group g's head: the counts' groups, 32 heads a step, from where the last search stopped */
            int h = -1, k0 = 0;
            for (; hc < a.BH; hc += VOX_WARP_SIZE) {
                const int c = hc + lane < a.BH ? (list[hc + lane] + nw - 1) / nw : 0;
                int tot;
                const int ex = vox_ks_scan(c, &tot);
                const bool in = g >= before + ex && g < before + ex + c; /* one lane at most */
                if (vox_ks_any(in)) {
                    h = (int)vox_warp_max(in ? (long long)(hc + lane) : -1ll);
                    k0 = (int)vox_warp_max(in ? (long long)(g - before - ex) * nw : 0ll);
                    break;
                }
                before += tot;
            }
            if (lane == 0)
                grp[0] = h, grp[1] = k0;
        }
        __syncthreads();
        const int h = grp[0], k0 = grp[1];
        if (h < 0)
            break;
        const int n = list[h], rows = n - k0 < nw ? n - k0 : nw;
        const int *hl = vox_ks_list_rows(list, a, h) + k0;
        for (i64 x = tid; x < nw * Dp; x += VOX_KS_THREADS) {
            const i64 r = x / Dp, e = x - r * Dp;
            qs[x] = r < rows && e < D ? (double)qbar[(i64)hl[r] * D + e] : 0.0;
        }
        __syncthreads();
        /* the rows' scores side by side (one head's keys; a missing row against its zero qs): nw
         * independent fma chains per key, each key chunk loaded once */
        const float4 *kh = (const float4 *)(kt + (i64)h * D * S);
        for (i64 k = (i64)tid * VOX_KS_KPT; k < NBv; k += VOX_KS_THREADS * VOX_KS_KPT) {
            double acc[VOX_KS_THREADS / VOX_WARP_SIZE][VOX_KS_KPT] = {};
            for (i64 e0 = 0; e0 < D; e0 += VOX_KR_EC) {
                float4 kv[VOX_KR_EC];
#pragma unroll
                for (int c = 0; c < VOX_KR_EC; c++)
                    kv[c] = e0 + c < D ? kh[k / 4 + (e0 + c) * S4] : make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
                for (int c = 0; c < VOX_KR_EC; c++)
                    if (e0 + c < D) { /* the sequential sum stops at D (no fma with the padding) */
                        const double k0d = kv[c].x, k1d = kv[c].y, k2d = kv[c].z, k3d = kv[c].w;
#pragma unroll
                        for (int r = 0; r < nw; r++) {
                            const double qe = qs[r * Dp + e0 + c];
                            acc[r][0] = fma(qe, k0d, acc[r][0]);
                            acc[r][1] = fma(qe, k1d, acc[r][1]);
                            acc[r][2] = fma(qe, k2d, acc[r][2]);
                            acc[r][3] = fma(qe, k3d, acc[r][3]);
                        }
                    }
            }
#pragma unroll
            for (int r = 0; r < nw; r++)
#pragma unroll
                for (int kk = 0; kk < VOX_KS_KPT; kk++)
                    if (r < rows && k + kk < NBv)
                        sc[(i64)r * NBv + k + kk] = acc[r][kk] * a.scale;
        }
        __syncthreads(); /* scores written */
        if (warp < rows) {
            const i64 m = hl[warp];
            vox_ks_row<V>(sc + (i64)warp * NBv, NB, NBv, (int)(m % NB), cols + start[m], count + m, a, wk + warp);
        }
        __syncthreads(); /* before the next rows rewrite qs, the scores and grp */
    }
}
VOX_KERNEL void __launch_bounds__(VOX_KS_THREADS, VOX_KR_MIN_BLOCKS)
    vox_kv_select_rows(VOX_PARAM vox_kv_select_bufs b, VOX_PARAM vox_kv_select_args a)
{
    vox_kr_rows<VOX_KS_V_NEW>(b, a);
}
VOX_KERNEL void __launch_bounds__(VOX_KS_THREADS, VOX_KR_MIN_BLOCKS)
    vox_kv_select_rows_old(VOX_PARAM vox_kv_select_bufs b, VOX_PARAM vox_kv_select_args a)
{
    vox_kr_rows<VOX_KS_V_OLD>(b, a);
}

#include "kv_select_fast.cuh"
#include "kv_select_mma.cuh"
#include "kv_select_tp.cuh"

#endif

#ifdef VOX_GPU_HOST

/* vox_kv_select_fast_mma (kv_select_mma.cuh) in place of vox_kv_select_fast:
 * where the module has it (NVIDIA sm_80+, not VOXATTN_GPU_SCALAR; for the
 * CUMULATIVE rule not VOXATTN_KV_SELECT_CUMULATIVE_F32 either: its wider
 * bound sends about three times as many rows to the exact path),
 * head_dim a multiple of 16 up to 128, qbar and kbar 16-byte aligned and the
 * shared memory fits (two key chunks of 64 x (D + 16) f32 or 8 row buffers
 * of S f32, then 8 warps' work spaces of 3872 B), and not where its grid
 * would leave CTA slots empty while the f32 kernel's fills them: the f32
 * kernel when BH * ceil(NBv / 64) < 2 * sm_count <= BH * ceil(NBv / 8) (two
 * CTAs per multiprocessor; wan-1.3b's 12 x 8 = 96 tiles of 64 rows on an
 * H200's 132 multiprocessors took 0.251 ms there against the f32 kernel's
 * 0.231 over 768 tiles of 8; when neither fills the machine, the 64-row
 * tiles, which read the keys 8 times less often);
 * its 64 x S f32 scores in a per-CTA slice of the scratch (a capped grid).
 * *kb: the keys prepared by vox_kv_select_kb (unless
 * VOXATTN_KV_SELECT_MMA_INLINE), the slices after them (their staged chunks
 * in shared memory: 2 x 8 key tiles x D / 16 steps x 512 B).
 * Sets the grid, the shared memory and af->per_block, returns 1; else 0. */
static int kv_select_mma(const gpu_dev *g, const vox_kv_select_bufs *b, vox_kv_select_args *af, int64_t *grid,
                         size_t *smem, int *kb)
{
    int room = g->api->set_max_smem ? g->max_smem_optin : g->max_smem;
    *kb = !g->kv_mma_inline && g->fn[GPU_FN_kv_select_kb] && g->fn[GPU_FN_kv_select_fast_kb] &&
          g->fn[GPU_FN_kv_select_fast_kb_old] && g->fn[GPU_FN_kv_select_fast_kb_brk] &&
          g->fn[GPU_FN_kv_select_fast_kb_p1] && g->fn[GPU_FN_kv_select_fast_kb_p2];
    int64_t S = (af->NBv + 3) / 4 * 4, r = 8 * S * 4;
    int64_t k = *kb ? 2 * 8 * (af->D / 16) * 32 * 16 + 1024 : 2 * VOX_KM_KEYS * (af->D + 16) * 4;
    int64_t un = ((k > r ? k : r) + 15) / 16 * 16, need = un + 8 * 3872;
    int64_t tiles = af->BH * ((af->NBv + VOX_KM_ROWS - 1) / VOX_KM_ROWS), slots = 2 * (int64_t)g->sm_count;
    int64_t tiles8 = af->BH * ((af->NBv + VOX_KF_ROWS - 1) / VOX_KF_ROWS);
    if (af->rule == 2 || g->force_scalar || !g->fn[GPU_FN_kv_select_fast_mma] || af->D % 16 || af->D > 128 ||
        (b->qbar | b->kbar) % 16 || af->NBv <= 0 || need > room || (tiles < slots && tiles8 >= slots) ||
        (af->rule == 0 && g->kv_cum_f32))
        return 0;
    af->per_block = (VOX_KM_ROWS * S * 4 + 255) / 256 * 256;
    *grid = gpu_cap_grid(g, tiles, 2);
    *smem = (size_t)need;
    return 1;
}

/* The launcher (this file, kv_select_fast.cuh): vox_kv_select_kt writes kbar
 * transposed (kt, D x S floats per head, S = NBv rounded up to 4) to the head
 * of the scratch, then comes a list of rows (per head: a count, room for every
 * video row; VOX_KS_LIST_INTS), then the per-CTA score slices
 * (when used). CUMULATIVE and TOPK: the fast path, one CTA of 256 threads per
 * tile of 8 video query rows (dynamic shared memory: a union of the rows'
 * qbar as f32 and 8 warps' work spaces of 3872 B, then the tile's 8 x S f32
 * values, or those in a scratch slice when they do not fit), which lists the
 * rows it cannot certify; then vox_kv_select_rows, the exact path on the
 * listed rows: a capped grid of 128-thread CTAs, VOX_KR_MIN_BLOCKS per
 * multiprocessor, one row per warp (the rows' qbar as f64, the 4 warps' work
 * spaces of 5152 B, then 4 x NBv f64 scores where that many CTAs' fit, else
 * a slice). STAT: vox_kv_select, the exact path over every tile: one CTA
 * of 128 threads per tile, two per multiprocessor, a union (the rows' qbar as
 * f64, the 4 warps' work spaces), then the tile's 16 x NBv f64 scores; when
 * those would take more than half the room, each CTA of a capped grid keeps
 * them in its scratch slice instead. The fast path's phase 1 on tensor
 * cores: kv_select_mma above. */
vox_status gpu_kv_select(void *dev, const vox_op_dims *d, const vox_op_kv_select *p)
{
    gpu_dev *g = dev;
    vox_kv_select_bufs b = {.qbar = gpu_dptr(p->qbar), .kbar = gpu_dptr(p->kbar), .kv_start = gpu_dptr(p->kv_start),
                            .kv_count = gpu_dptr(p->kv_count), .kv_cols = gpu_dptr(p->kv_cols), .scratch = 0};
    GPU_OP_ARGS(kv_select);
    enum { ROWS = VOX_KS_ROWS, EC = VOX_KS_EC, WARPS = 4, WORK = 5152, FAST_ROWS = VOX_KF_ROWS, FAST_WARPS = 8,
           FAST_WORK = 3872 };
    int room = g->api->set_max_smem ? g->max_smem_optin : g->max_smem;
    int64_t Dp = (a.D + EC - 1) / EC * EC, tiles = a.NBv > 0 ? (a.NBv + ROWS - 1) / ROWS : 1;
    int64_t S = (a.NBv + 3) / 4 * 4, kt = (a.BH * a.D * S * 4 + 255) / 256 * 256;
    int64_t list = VOX_KS_LIST_INTS(a.BH, tiles) * 4;
    /* VOXATTN_KV_SELECT_EXACT_ALL (tests): every rule on the exact path over every tile (vox_kv_select);
     * VOXATTN_KV_SELECT_ROWS_BREAK: the same with vox_ks_row's deliberate break (vox_kv_select_brk) */
    int brk = g->kv_rows_break && g->fn[GPU_FN_kv_select_brk];
    int fast = a.rule != 2 && !g->kv_exact_all && !brk;
    vox_kv_select_args af = a, ar = a;
    int64_t grid = 0, gridf = 0, gridr = 0;
    size_t smem = 0, smemf = 0, smemr = 0;
    if (!fast) { /* vox_kv_select */
        int64_t q = ROWS * Dp * 8, un = q > WARPS * WORK ? q : WARPS * WORK;
        un = (un + 15) / 16 * 16;
        int64_t scores = (int64_t)ROWS * a.NBv * 8;
        grid = a.BH * tiles, smem = (size_t)(un + scores);
        if (2 * (un + scores) > room) {
            a.per_block = (scores + 255) / 256 * 256;
            grid = gpu_cap_grid(g, grid, 2);
            smem = (size_t)un;
        }
    } else { /* vox_kv_select_fast, then vox_kv_select_rows */
        int64_t qf = FAST_ROWS * Dp * 4, unf = qf > FAST_WARPS * FAST_WORK ? qf : FAST_WARPS * FAST_WORK;
        unf = (unf + 15) / 16 * 16;
        int64_t valf = (int64_t)FAST_ROWS * S * 4;
        gridf = a.BH * (a.NBv > 0 ? (a.NBv + FAST_ROWS - 1) / FAST_ROWS : 1), smemf = (size_t)(unf + valf);
        if (unf + valf > room) {
            af.per_block = (valf + 255) / 256 * 256;
            gridf = gpu_cap_grid(g, gridf, 2);
            smemf = (size_t)unf;
        }
        int64_t head = (WARPS * Dp * 8 + 15) / 16 * 16 + WARPS * WORK, scr = (int64_t)WARPS * a.NBv * 8;
        /* VOX_KR_MIN_BLOCKS CTAs a multiprocessor, each with its scores in shared memory where all of
         * theirs fit, else in a scratch slice; or (VOXATTN_KV_SELECT_ROWS_ABL, timing: every other call)
         * sessions 15-29's 2, their scores in shared memory where they fit */
        const int per_sm = g->kv_rows_abl && g->kv_rows_n++ % 2 ? 2 : VOX_KR_MIN_BLOCKS;
        gridr = gpu_cap_grid(g, (a.BH * a.NBv + WARPS - 1) / WARPS, per_sm);
        smemr = (size_t)(head + scr);
        if (per_sm * (head + scr) > room) {
            ar.per_block = (scr + 255) / 256 * 256;
            smemr = (size_t)head;
        }
    }
    int fnf = GPU_FN_kv_select_fast, kb = 0, fnk = GPU_FN_kv_select_kb;
    int64_t kbytes = 0; /* the prepared keys of vox_kv_select_kb (vox_km_kb_bytes), before the slices */
    if (fast && kv_select_mma(g, &b, &af, &gridf, &smemf, &kb)) {
        fnf = !kb                ? GPU_FN_kv_select_fast_mma
              : g->kv_fast_break ? GPU_FN_kv_select_fast_kb_brk
              : g->kv_fast_old   ? GPU_FN_kv_select_fast_kb_old
                                 : GPU_FN_kv_select_fast_kb;
        if (kb && g->kv_fast_abl) { /* timing ablations in turn (docs/environment.md) */
            static const int fns[4] = {GPU_FN_kv_select_fast_kb, GPU_FN_kv_select_fast_kb_old,
                                       GPU_FN_kv_select_fast_kb_p1, GPU_FN_kv_select_fast_kb_p2};
            fnf = fns[g->kv_abl_n++ % 4];
        }
        /* Session 14: phase 1 by wgmma (sm_90a code, D 128), the keys prepared for it */
        int wg = kb && g->arch == 90 && a.D == 128 && g->fn[GPU_FN_kv_select_kb_wg] &&
                 g->fn[GPU_FN_kv_select_fast_kb_wg] && g->fn[GPU_FN_kv_select_fast_kb_wg_p1];
        /* Session 16: the A fragments in shared memory (kv_select_mma.cuh, vox_km_scores_wg's AM): 32 KB
         * after the two staged chunks, within the union and the warps' work spaces where those are as
         * large, else the launch asks for more (WGS_SMEM bytes: the 1 KB alignment, 2 chunks, A) */
        enum { WGS_SMEM = 1024 + 2 * 32768 + 32768 };
        int wgs = wg && g->fn[GPU_FN_kv_select_fast_kb_wgs] && g->fn[GPU_FN_kv_select_fast_kb_wgs2] &&
                  g->fn[GPU_FN_kv_select_fast_kb_ss] && g->fn[GPU_FN_kv_select_fast_kb_ss_p1] && WGS_SMEM <= room;
        if (wg && g->kv_wg_abl) { /* timing A/B in turn (docs/environment.md) */
            static const int fw[4] = {GPU_FN_kv_select_fast_kb_wg, GPU_FN_kv_select_fast_kb,
                                      GPU_FN_kv_select_fast_kb_wg_p1, GPU_FN_kv_select_fast_kb_p1};
            fnf = fw[g->kv_abl_n++ % 4];
        } else if (wgs && g->kv_wgs_abl) { /* session 16's timing A/B in turn (docs/environment.md): the
                                                * three full kernels (every build's lists valid) */
            static const int fw[3] = {GPU_FN_kv_select_fast_kb_wgs2, GPU_FN_kv_select_fast_kb_wg,
                                      GPU_FN_kv_select_fast_kb_wgs};
            fnf = fw[g->kv_abl_n++ % 3];
        } else if (wgs && g->kv_ss_abl) { /* session 45's timing A/B: _ss and _wgs2 in turn (lists valid) */
            fnf = g->kv_abl_n++ % 2 ? GPU_FN_kv_select_fast_kb_wgs2 : GPU_FN_kv_select_fast_kb_ss;
        } else if (wgs && g->kv_wgs_p1) { /* timing only, no lists: the default's phase 1 alone, then (session 50,
                                            * where the module has them) that storing no score, without its key
                                            * loads, with three steps in flight, with its descriptors advanced by
                                            * adds, in turn */
            static const int fp[5] = {GPU_FN_kv_select_fast_kb_ss_p1, GPU_FN_kv_select_fast_kb_ss_p1ns,
                                      GPU_FN_kv_select_fast_kb_ss_p1nk, GPU_FN_kv_select_fast_kb_ss_p1nd,
                                      GPU_FN_kv_select_fast_kb_ss_p1nu};
            fnf = fp[g->kv_abl_n++ % 5];
            fnf = g->fn[fnf] ? fnf : GPU_FN_kv_select_fast_kb_ss_p1;
        } else if (wg && fnf == GPU_FN_kv_select_fast_kb && !g->kv_p1_old) {
            /* session 45: A read by wgmma from shared memory, L2 hints (_ss); VOXATTN_KV_SELECT_WG_LDA: A
             * loaded into registers per step (_wgs2, sessions 16-44) */
            fnf = !wgs || g->kv_wg_areg                  ? GPU_FN_kv_select_fast_kb_wg
                  : g->kv_wg_serial                      ? GPU_FN_kv_select_fast_kb_wgs
                  : g->kv_wg_lda                         ? GPU_FN_kv_select_fast_kb_wgs2
                                                         : GPU_FN_kv_select_fast_kb_ss;
            /* session 53: _ss with CUMULATIVE on vox_kf_topk's bins (_ss_cb, slower), or (timing) the two in turn */
            if (fnf == GPU_FN_kv_select_fast_kb_ss && g->fn[GPU_FN_kv_select_fast_kb_ss_cb] &&
                (g->kv_cum_abl ? g->kv_abl_n++ % 2 : g->kv_cum_bins))
                fnf = GPU_FN_kv_select_fast_kb_ss_cb;
        }
        /* Session 50: TOPK by the three-pass kernel (kv_select_tp.cuh: no score slices) where it applies:
         * VOXATTN_KV_SELECT_TP, 0 < n < NBv <= 8192 (a row's bits within a warp's work space), not under
         * the switches above; VOXATTN_KV_SELECT_FAST_BREAK: its deliberate break */
        enum { TP_SMEM = WGS_SMEM + 64 * VOX_KT_NBIN * 2 };
        int64_t tpn = a.max_blocks < a.NBv ? a.max_blocks : a.NBv;
        if (tpn < a.min_blocks)
            tpn = a.min_blocks < a.NBv ? a.min_blocks : a.NBv;
        if (wgs && g->kv_tp && a.rule == 1 && tpn > 0 && tpn < a.NBv && a.NBv <= 8192 && TP_SMEM <= room &&
            g->fn[GPU_FN_kv_select_fast_kb_tp] && g->fn[GPU_FN_kv_select_fast_kb_tp_brk] &&
            (fnf == GPU_FN_kv_select_fast_kb_ss || fnf == GPU_FN_kv_select_fast_kb_brk)) {
            fnf = fnf == GPU_FN_kv_select_fast_kb_brk ? GPU_FN_kv_select_fast_kb_tp_brk : GPU_FN_kv_select_fast_kb_tp;
            int64_t nch = (a.NBv + VOX_KM_KEYS - 1) / VOX_KM_KEYS;
            int64_t slice = (VOX_KM_ROWS * 2 * nch * 4 + VOX_KM_ROWS * VOX_KT_CAND * 8 + 255) / 256 * 256;
            af.per_block = af.per_block > slice ? af.per_block : slice;
            smemf = smemf > TP_SMEM ? smemf : TP_SMEM;
        }
        const int fwgs = fnf == GPU_FN_kv_select_fast_kb_wgs || fnf == GPU_FN_kv_select_fast_kb_wgs2 ||
                         fnf == GPU_FN_kv_select_fast_kb_ss || fnf == GPU_FN_kv_select_fast_kb_ss_cb ||
                         fnf == GPU_FN_kv_select_fast_kb_ss_p1 ||
                         fnf == GPU_FN_kv_select_fast_kb_ss_p1ns ||
                         fnf == GPU_FN_kv_select_fast_kb_ss_p1nk || fnf == GPU_FN_kv_select_fast_kb_ss_p1nd ||
                         fnf == GPU_FN_kv_select_fast_kb_ss_p1nu ||
                         fnf == GPU_FN_kv_select_fast_kb_tp || fnf == GPU_FN_kv_select_fast_kb_tp_brk;
        /* (A in shared memory: 32 KB after the two staged chunks) */
        if (fwgs)
            smemf = smemf > WGS_SMEM ? smemf : WGS_SMEM;
        if ((fwgs || fnf == GPU_FN_kv_select_fast_kb_wg || fnf == GPU_FN_kv_select_fast_kb_wg_p1) && !g->kv_wg_break)
            fnk = GPU_FN_kv_select_kb_wg;
        if (kb)
            kbytes = (a.BH * ((a.NBv + VOX_KM_KEYS - 1) / VOX_KM_KEYS) * 8 * ((a.D / 16) * 32 + 1) * 16 + 255) /
                     256 * 256;
    } else {
        kb = 0; /* the f32 kernel (kv_select_mma declined after setting *kb): no prepared keys, no kb launch */
    }
    int64_t slices = grid * a.per_block, slicesf = kbytes + gridf * af.per_block, slicesr = gridr * ar.per_block;
    slices = slices > slicesf ? slices : slicesf;
    slices = slices > slicesr ? slices : slicesr;
    vox_status st = gpu_ensure_scratch(g, (size_t)(kt + list + slices));
    if (st)
        return st;
    b.scratch = g->scratch;
    if (kt > 0) {
        int64_t t = a.BH * ((S + 31) / 32) * ((a.D + 31) / 32);
        st = gpu_launch_op(g, VOX_OP_kv_select, GPU_FN_kv_select_kt, gpu_cap_grid(g, t, 16), 256, 1, 0, &b, &a);
        if (st)
            return st;
    }
    if (!fast)
        return gpu_launch_op(g, VOX_OP_kv_select, brk ? GPU_FN_kv_select_brk : GPU_FN_kv_select, grid, 128, 1, smem,
                             &b, &a);
    if (kb) {
        int64_t t = a.BH * ((a.NBv + VOX_KM_KEYS - 1) / VOX_KM_KEYS);
        st = gpu_launch_op(g, VOX_OP_kv_select, fnk, gpu_cap_grid(g, t, 8), 256, 1, 0, &b, &af);
        if (st)
            return st;
    }
    st = gpu_launch_op(g, VOX_OP_kv_select, fnf, gridf, 256, 1, smemf, &b, &af);
    if (st || kt == 0 || a.NBv == 0)
        return st; /* no video row: no list */
    /* the exact rows: session 15's vox_ks_row, or session 14's (VOXATTN_KV_SELECT_ROWS_OLD; where the
     * module has it); VOXATTN_KV_SELECT_ROWS_ABL alternates the launch configuration above, not these */
    int fnr = GPU_FN_kv_select_rows;
    if (g->fn[GPU_FN_kv_select_rows_old] && g->kv_rows_old)
        fnr = GPU_FN_kv_select_rows_old;
    return gpu_launch_op(g, VOX_OP_kv_select, fnr, gridr, 128, 1, smemr, &b, &ar);
}

#endif
