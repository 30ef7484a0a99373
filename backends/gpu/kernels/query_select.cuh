/* query_select (core/backend.h): per (bh, video block), keeps each
 * window's centre and its k-1 least similar queries (cosine to the centre; a
 * NaN cosine, from a query holding NaN or Inf, is the least similar), points
 * every pruned row at its most similar kept row with a comparable cosine,
 * else the window centre (fill_src), and compacts the kept rows.
 * The exact path, vox_qs_block: one CTA of VOX_QS_THREADS threads per (bh,
 * block); V <= 256. The block's rows are copied once into shared memory as
 * f32 (exact for every element type; when V*(D+1) floats fit in
 * VOX_QS_SMEM; else read from global memory), and every dot product and
 * squared norm is one thread's sequential f64 sum over e = 0..D-1, as in the
 * reference (the products of f32 values are exact in f64), so every cosine,
 * hence every keep flag and fill source, is bitwise the reference's. Phases: norms and cosines to the centre (a
 * thread per row), ranks (a thread per row), the pruned rows' nearest kept
 * rows (a group of G lanes per pruned row, each scanning every G-th row of
 * the window, then a shuffle reduction), an ordered compaction by warp 0.
 * The first kernel takes a certified f32 path: by default the staged warp
 * kernel (query_select_stage.cuh: the warp kernel's arithmetic on rows each
 * warp copies into shared memory one block ahead; NVIDIA sm_80+) or the warp
 * kernel (query_select_warp.cuh), which redo a window they cannot certify in place
 * on an exact f64 path and marks (kept_count = -1) only blocks with a
 * window of more than 8 rows; or the CTA kernel (query_select_fast.cuh),
 * which marks every block it cannot certify. The exact kernels,
 * vox_query_select_exact_<dtype> (below), redo the marked blocks. The staged
 * and exact kernels take a third parameter, qbar: nonzero (VOXATTN_QUERY_SELECT_MEANS,
 * the staged path only) they also write block_means' q means of the kept rows
 * (vox_qs_block_mean) and the core skips block_means(q).
 * (One file per op: kernel names, device and host sections; ../gpu_kernels.h.) */

#define VOX_GPU_KERNELS_query_select(R, O, M)                                                       \
    R(query_select_f32) R(query_select_f16) R(query_select_bf16) R(query_select_exact_f32) \
        R(query_select_exact_f16) R(query_select_exact_bf16) R(query_select_warp_f32) R(query_select_warp_f16) \
            R(query_select_warp_bf16) R(query_select_stage_f32) R(query_select_stage_f16) R(query_select_stage_bf16)

/* Launch geometry the kernels and the launcher share. */
#define VOX_QS_THREADS 128 /* threads per CTA of both kernels */
#define VOX_QS_CTAS 4      /* CTAs per multiprocessor of the CTA kernel (its launch bounds) */
#define VOX_QW_CTAS 4      /* CTAs per multiprocessor of the warp kernel (its launch bounds, the grid cap) */
#define VOX_QSS_CTAS 3     /* CTAs per multiprocessor of the staged kernel (its launch bounds: 168 registers) */
/* Dynamic shared memory per warp of the staged kernel: nbuf row buffers of V rows of `chunks` 16-byte
 * chunks, then (tok: the caller's layout) two token stages of V ints, in 16-byte units. */
#define VOX_QSS_WARP_BYTES(V, chunks, nbuf, tok) (16 * ((nbuf) * (V) * (chunks) + ((tok) ? (2 * (V) + 3) / 4 : 0)))

#ifdef VOX_GPU_DEVICE

#include "rows_view.cuh"
#include "half_bits.cuh" /* the staged kernel's q means (query_select_stage.cuh) */

#define VOX_QS_SMEM (96 * 1024) /* gpu_query_select uses the same bound */

/* cos from the dot and both squared norms, as the reference (core/backend.h):
 * NaN where a norm is NaN or Inf (a query holds a NaN or an Inf), else 0
 * where a norm is 0, else dot/sqrt(na*nb). x - x == 0 iff x is finite. */
__device__ __forceinline__ double vox_qs_cosine(double dot, double na, double nb)
{
    if (!(na - na == 0) || !(nb - nb == 0))
        return VOX_NAN_F64;
    return na > 0 && nb > 0 ? dot / sqrt(na * nb) : 0.0;
}

/* Row r (local slot) of the block, dim e: from the shared copy (row stride
 * D+1 floats: lanes reading different rows hit different banks) or global
 * (at qh + roff[r]: the head's origin and the row offsets, rows_view.cuh). */
template <class DT> struct vox_qs_rows {
    const float *sm;
    const typename DT::T *qh;
    const i64 *roff;
    i64 D;
    __device__ __forceinline__ double at(i64 r, i64 e) const
    {
        return sm ? (double)sm[r * (D + 1) + e] : (double)DT::ld(qh + roff[r], e);
    }
};

/* sum_e a[e]*b[e] sequentially (and a's squared norm when na) */
template <class DT>
__device__ __forceinline__ double vox_qs_dot(const vox_qs_rows<DT> &x, i64 a, i64 b, double *na)
{
    double dot = 0, n = 0;
    for (i64 e = 0; e < x.D; e++) {
        double u = x.at(a, e), w = x.at(b, e);
        dot = fma(u, w, dot), n = fma(u, u, n);
    }
    if (na)
        *na = n;
    return dot;
}

/* Ordered compaction of block row m's kept rows (one warp). */
__device__ void vox_qs_compact(const unsigned char *kept, i64 m, i64 V, int *kept_count, int *kept_rows)
{
    const int lane = threadIdx.x % VOX_WARP_SIZE;
    int c = 0;
    for (i64 r0 = 0; r0 < V; r0 += VOX_WARP_SIZE) {
        i64 r = r0 + lane;
        const int k = r < V && kept[r], incl = vox_warp_incl(k);
        if (k)
            kept_rows[m * V + c + incl - 1] = (int)r;
        c += VOX_SHFL(incl, VOX_WARP_SIZE - 1);
    }
    if (lane == 0)
        kept_count[m] = c;
}

/* VOXATTN_QUERY_SELECT_MEANS (the staged kernel's path, gpu_query_select): block_means' output for q
 * (block_means.cuh, core/backend.h) written by query_select itself. Threads t of nt (a CTA's or a warp's)
 * take elements e = t, t + nt, ...: element e's sum over the block's kept local slots r ascending
 * (kept_rows' order) of at(r, e) (an element widened to f64: exact), plain f64 adds in that order, then
 * (float)(sum / n), 0 without a kept row: bitwise the reference (backends/cpu/block_means.c), NaN and
 * infinities included. nv: the rows to scan (kept flags of slots >= nv are 0). The compile-time
 * VOX_QSM_BREAK (tools/qs_emu only) is a deliberate break: 1 sums the rows in descending order, 2 leaves
 * out the block's last kept row. */
template <class AT>
__device__ __forceinline__ void vox_qs_block_mean(float *qbar, i64 m, const unsigned char *kept, i64 nv, i64 D, int t,
                                                  int nt, const AT &at)
{
    int n = 0;
    for (i64 r = 0; r < nv; r++)
        n += kept[r] != 0;
    for (i64 e = t; e < D; e += nt) {
        double s = 0;
#if defined(VOX_QSM_BREAK) && VOX_QSM_BREAK == 1
        for (i64 r = nv - 1; r >= 0; r--)
#else
        for (i64 r = 0; r < nv; r++)
#endif
        {
#if defined(VOX_QSM_BREAK) && VOX_QSM_BREAK == 2
            i64 last = nv - 1;
            while (last >= 0 && !kept[last])
                last--;
            if (r == last)
                continue;
#endif
            if (kept[r])
                s += at(r, e);
        }
        qbar[m * D + e] = (float)(n ? s / (double)n : 0.0);
    }
}

/* The exact path for block row m = bh*NB + j (every thread of the CTA;
 * ends with a barrier). in_smem: the CTA's dynamic shared memory holds
 * V*(D+1) floats for the block's rows (else they are read from global
 * memory). */
template <class DT>
__device__ void vox_qs_block(i64 m, const typename DT::T *q, const int *win_ptr, const int *windows, const int *valid,
                             int *kept_count, int *kept_rows, int *fill, i64 NB, i64 NBv, i64 V, i64 D, bool in_smem,
                             const vox_query_select_args &a, float *qbar = nullptr)
{
    __shared__ double nrm[256], cc[256];
    __shared__ int win_of[256], plist[256], np;
    __shared__ unsigned char kept[256];
    __shared__ i64 roff[256]; /* the block's rows (-1: padding, never read) */
    const int tid = threadIdx.x, lane = tid % VOX_WARP_SIZE;
    float *qs = (float *)vox_dyn_smem;
    const i64 S = NB * V;
    const i64 bh = m / NB, j = m - bh * NB, base = bh * S, s0 = j * V;
    const vox_rows_view<typename DT::T> qv = vox_rows_of(q, bh, a);
    const vox_qs_rows<DT> x = {in_smem ? qs : nullptr, qv.x, roff, D};
    for (i64 r = tid; r < V; r += VOX_QS_THREADS) {
        fill[base + s0 + r] = (int)(s0 + r);
        win_of[r] = -1;
        kept[r] = (unsigned char)(j >= NBv && r < valid[j]);
        roff[r] = r < valid[j] ? qv.slot(s0 + r) * qv.st : -1;
    }
    if (tid == 0)
        np = 0;
    __syncthreads();
    if (j < NBv && in_smem)
        for (i64 y = tid; y < V * D; y += VOX_QS_THREADS) {
            i64 r = y / D, e = y - r * D;
            qs[r * (D + 1) + e] = roff[r] >= 0 ? DT::ld(qv.x + roff[r], e) : 0.f;
        }
    __syncthreads();
    if (j < NBv) {
        for (int w = win_ptr[j] + tid; w < win_ptr[j + 1]; w += VOX_QS_THREADS)
            for (int t = windows[4 * w]; t < windows[4 * w] + windows[4 * w + 1]; t++)
                win_of[t - s0] = w;
        __syncthreads();
        /* squared norms, and each row's dot with its window's centre */
        for (i64 r = tid; r < V; r += VOX_QS_THREADS) {
            int w = win_of[r];
            if (w < 0)
                continue;
            i64 ce = windows[4 * w + 2] - s0;
            double na;
            cc[r] = vox_qs_dot<DT>(x, r, ce, &na);
            nrm[r] = na;
        }
        __syncthreads();
        for (i64 r = tid; r < V; r += VOX_QS_THREADS) {
            int w = win_of[r];
            if (w >= 0 && r != windows[4 * w + 2] - s0)
                cc[r] = vox_qs_cosine(cc[r], nrm[r], nrm[windows[4 * w + 2] - s0]);
        }
        __syncthreads();
        /* keep the centre and the k-1 least similar (NaN first, ties: lower slot) */
        for (i64 r = tid; r < V; r += VOX_QS_THREADS) {
            int w = win_of[r];
            if (w < 0)
                continue;
            int first = windows[4 * w], len = windows[4 * w + 1], ce = windows[4 * w + 2], keep = windows[4 * w + 3];
            i64 t = s0 + r;
            if (t == ce) {
                kept[r] = 1;
                continue;
            }
            int rank = 0;
            for (int u = first; u < first + len; u++) {
                if (u == ce || u == t)
                    continue;
                double cu = cc[u - s0], ct = cc[r];
                bool un = cu != cu, tn = ct != ct; /* a NaN cosine is the least similar */
                rank += un != tn ? un : un ? u < t : (cu < ct || (cu == ct && u < t));
            }
            bool k = rank < keep - 1;
            kept[r] = (unsigned char)k;
            if (!k)
                plist[atomicAdd(&np, 1)] = (int)r;
        }
        __syncthreads();
        /* each pruned row: the most similar kept row of its window with a
         * comparable cosine (ties: lower slot), else the centre. G lanes
         * per row scan every G-th slot ascending; trips are warp-uniform */
        const int P = np;
        int G = VOX_QS_THREADS / (P > 0 ? P : 1);
        G = G >= 32 ? 32 : G >= 16 ? 16 : G >= 8 ? 8 : G >= 4 ? 4 : G >= 2 ? 2 : 1;
        const int per = VOX_QS_THREADS / G, g = lane % G;
        for (int i0 = 0; i0 < P; i0 += per) {
            int idx = i0 + tid / G;
            bool found = false;
            double best = 0;
            int src = 0x7fffffff;
            i64 r = 0;
            if (idx < P) {
                r = plist[idx];
                int w = win_of[r], first = windows[4 * w], len = windows[4 * w + 1];
                for (int u = first + g; u < first + len; u += G) {
                    if (!kept[u - s0])
                        continue;
                    double c = vox_qs_cosine(vox_qs_dot<DT>(x, r, u - s0, nullptr), nrm[r], nrm[u - s0]);
                    if (c == c && (!found || c > best)) /* strict: ties keep the lower slot */
                        best = c, src = u, found = true;
                }
            }
            for (int o = G / 2; o > 0; o >>= 1) {
                double ob = VOX_SHFL_XOR(best, o);
                int os = VOX_SHFL_XOR(src, o), of = VOX_SHFL_XOR((int)found, o);
                if (of && (!found || ob > best || (ob == best && os < src)))
                    best = ob, src = os, found = true;
            }
            if (idx < P && g == 0)
                fill[base + s0 + r] = found ? src : windows[4 * win_of[r] + 2]; /* none: the window centre */
        }
    }
    __syncthreads();
    if (tid < VOX_WARP_SIZE)
        vox_qs_compact(kept, m, V, kept_count, kept_rows);
    if (qbar) /* VOXATTN_QUERY_SELECT_MEANS: the block's mean of its kept rows, as block_means */
        vox_qs_block_mean(qbar, m, kept, V, D, tid, VOX_QS_THREADS,
                          [&](i64 r, i64 e) { return x.at(r, e); });
    __syncthreads();
}

/* The exact kernel: every block row m the fast kernel marked (kept_count[m]
 * < 0) through vox_qs_block. Each CTA of a capped grid takes a.chunk (<=
 * VOX_QS_THREADS) rows of kept_count at a time (grid-stride), lists the
 * marked ones and redoes them one after the other: small turns spread the
 * marked blocks over every resident CTA. */
template <class DT>
__device__ void query_select_exact(const typename DT::T *q, const int *win_ptr, const int *windows, const int *valid,
                                   int *kept_count, int *kept_rows, int *fill, i64 BH, i64 NB, i64 NBv, i64 V, i64 D,
                                   const vox_query_select_args &a, float *qbar)
{
    __shared__ int todo[VOX_QS_THREADS], nt;
    const int tid = threadIdx.x, C = a.chunk;
    const bool in_smem = V * (D + 1) * 4 <= VOX_QS_SMEM;
    const i64 items = BH * NB;
    for (i64 m0 = (i64)blockIdx.x * C; m0 < items; m0 += (i64)gridDim.x * C) {
        if (tid == 0)
            nt = 0;
        __syncthreads();
        if (tid < C && m0 + tid < items && kept_count[m0 + tid] < 0)
            todo[atomicAdd(&nt, 1)] = tid;
        __syncthreads();
        const int n = nt;
        for (int i = 0; i < n; i++) /* each ends with a barrier */
            vox_qs_block<DT>(m0 + todo[i], q, win_ptr, windows, valid, kept_count, kept_rows, fill, NB, NBv, V, D,
                             in_smem, a, qbar);
        __syncthreads(); /* nt read before the next turn resets it */
    }
}

#define VOX_QUERY_SELECT_EXACT_KERNEL(NAME, DT)                                                               \
    VOX_KERNEL void __launch_bounds__(VOX_QS_THREADS)                                                         \
        vox_query_select_exact_##NAME(vox_query_select_bufs b, vox_query_select_args a, unsigned long long qbar) \
    {                                                                                                         \
        query_select_exact<DT>(vox_ptr<const DT::T>(b.q), vox_ptr<const int>(b.win_ptr),                      \
                               vox_ptr<const int>(b.windows), vox_ptr<const int>(b.valid),                    \
                               vox_ptr<int>(b.kept_count), vox_ptr<int>(b.kept_rows), vox_ptr<int>(b.fill_src), \
                               a.BH, a.NB, a.NBv, vox_i64(a.V), vox_i64(a.D), a, vox_ptr<float>(qbar));       \
    }
VOX_EACH_DTYPE(VOX_QUERY_SELECT_EXACT_KERNEL)

/* A global (text) block keeps its nv valid rows, each slot its own fill source: threads t of nt
 * (a CTA's or a warp's) of the kernels below. */
__device__ __forceinline__ void vox_qs_global_block(int *fill, int *kept_rows, int *kept_count, i64 base, i64 s0,
                                                    i64 V, int nv, i64 mi, int t, int nt)
{
    for (i64 r = t; r < V; r += nt) {
        fill[base + s0 + r] = (int)(s0 + r);
        if (r < nv)
            kept_rows[mi * V + r] = (int)r;
    }
    if (t == 0)
        kept_count[mi] = nv;
}

#include "query_select_fast.cuh"
#include "query_select_warp.cuh"
#include "query_select_stage.cuh"

#endif

#ifdef VOX_GPU_HOST

/* Two launches, both enqueued. First, on NVIDIA sm_80+ where q, D and the
 * strides allow aligned 16-byte loads and its buffers fit in shared memory,
 * the staged warp kernel (query_select_stage.cuh; VOX_QS_THREADS per CTA with
 * one row buffer per warp, up to VOX_QSS_CTAS CTAs per multiprocessor as the
 * shared memory allows; VOXATTN_QUERY_SELECT_STAGE_BUFS2=1: two row buffers
 * per warp, one warp per CTA; VOXATTN_QUERY_SELECT_HEADS_TOGETHER=1: the walk
 * j-major, a.chunk bit 3). Else (or with VOXATTN_QUERY_SELECT_WARP=1) the warp kernel (query_select_warp.cuh),
 * one warp per (bh, block), VOX_QS_THREADS per CTA, VOX_QW_CTAS CTAs per
 * multiprocessor, grid-stride, where q, D and the strides allow aligned
 * 16-byte loads; else (or with VOXATTN_QUERY_SELECT_CTA=1) the CTA kernel
 * (query_select_fast.cuh), one CTA of VOX_QS_THREADS per (bh, block),
 * VOX_QS_CTAS per multiprocessor, grid-stride, no dynamic shared memory.
 * Then the exact kernel over the blocks the first marked, with a block's
 * rows as f32 in dynamic shared memory when V*(D+1) floats fit in 96 KiB
 * (the kernels' VOX_QS_SMEM; else it reads them from global memory), its
 * CTAs taking 32 block rows per turn, up to 8 per multiprocessor
 * (VOXATTN_QUERY_SELECT_CHUNK128=1: 128 rows per turn, 4 per
 * multiprocessor, as before). VOXATTN_QUERY_SELECT_EXACT_ALL=1 (a test
 * switch) makes the warp kernel take its exact path for every window with
 * a pruned row (a.chunk bit 0 for that launch), VOXATTN_QUERY_SELECT_NO_PREFETCH=1
 * drops its prefetches: each warp's next block into L2 (bit 1), a window's
 * next 16-byte chunks and a block's slot map and window list into L1 (bit 2).
 * VOXATTN_QUERY_SELECT_MEANS=1 (off by default, unmeasured: backends/cuda/NOTES.md, session 17): on the
 * staged kernel's path, with p->qbar, the two kernels also write the q means of the kept rows (bitwise
 * block_means') and set *p->wrote_qbar. */
vox_status gpu_query_select(void *dev, const vox_op_dims *d, const vox_op_query_select *p)
{
    gpu_dev *g = dev;
    vox_query_select_bufs b = {.q = gpu_dptr(p->slot_token.buf ? p->cq.ref : p->q), .win_ptr = gpu_dptr(p->win_ptr), .windows = gpu_dptr(p->windows),
                               .valid = gpu_dptr(d->block_valid), .kept_count = gpu_dptr(p->kept_count),
                               .kept_rows = gpu_dptr(p->kept_rows), .fill_src = gpu_dptr(p->fill_src)};
    GPU_OP_ARGS(query_select);
    a.tok = (int64_t)gpu_dptr(p->slot_token); /* 0: q is a block copy */
    const int64_t items = a.BH * a.NB, rows = (int64_t)a.V * (a.D + 1) * 4;
    const int vec = d->dtype == VOX_F32 ? 4 : 8; /* elements per 16 bytes */
    const int aligned = b.q % 16 == 0 && a.D % vec == 0 && a.st % vec == 0 && a.sh % vec == 0 && a.sb % vec == 0;
    const int warps = g->warp > 0 && g->warp <= VOX_QS_THREADS ? VOX_QS_THREADS / g->warp : 1;
    vox_status st;
    /* the warp kernel's flags: 1 every window with a pruned row exactly, 2 no L2 prefetch, 4 no L1 prefetch */
    a.chunk = (g->qs_exact_all ? 1 : 0) | (g->qs_no_prefetch ? 2 | 4 : 0);
    /* VOXATTN_QUERY_SELECT_ROTATE=K (an A/B in one process), _ROTATE_RUN=R (1): call n takes variant
     * (n / R) % K: 0 the warp kernel, 1 the staged kernel, 2 staged j-major, 3 staged with two buffers, 4
     * staged with two buffers j-major (R = a bench configuration's builds: one variant per configuration) */
    int use_warp = g->qs_warp, bufs2 = g->qs_stage_bufs2, heads = g->qs_heads_together;
    if (g->qs_rotate > 0) {
        const int v = g->qs_calls++ / g->qs_rotate_run % g->qs_rotate;
        use_warp = v == 0, bufs2 = v >= 3, heads = v == 2 || v == 4;
    }
    /* the staged kernel (query_select_stage.cuh): NVIDIA sm_80+ (cp.async), aligned, its buffers in shared memory */
    const int nbuf = bufs2 ? 2 : 1, wpc = bufs2 ? 1 : warps;
    const long long wbytes = VOX_QSS_WARP_BYTES((long long)a.V, (long long)(a.D / vec), nbuf, a.tok != 0);
    const long long cta_bytes = wbytes * wpc;
    /* per multiprocessor: its shared memory (the opt-in limit + 1 KiB) over each CTA's dynamic + static (vox_qw_warp x 4 < 4 KiB) + 1 KiB reserved */
    const int per_sm = g->max_smem_optin > 0 ? (int)((g->max_smem_optin + 1024) / (cta_bytes + 5120)) : 0;
    /* VOXATTN_QUERY_SELECT_MEANS=1 and a qbar to fill (BSA): the staged kernel and the exact kernel write
     * block_means' q means of the kept rows (qbar: their third parameter, 0: not) and the core skips
     * block_means(q) (p->wrote_qbar); every other path leaves them to block_means */
    unsigned long long qbar = 0;
    void *params[] = {&b, &a, &qbar};
    if (aligned && !g->qs_cta && !use_warp && g->arch >= 80 && g->warp == 32 && per_sm >= 1) {
        a.chunk = (g->qs_exact_all ? 1 : 0) | (heads ? 8 : 0) | (nbuf == 2 ? 16 : 0) | (g->qs_stage_break ? 32 : 0);
        /* session 18: VOXATTN_QUERY_SELECT_MEANS_ABL=1 (timing): every other call with the means, from the second */
        if (p->qbar.buf && (g->qs_means_abl ? g->qs_means_n++ % 2 : g->qs_means))
            qbar = gpu_dptr(p->qbar);
        st = gpu_launch(g, VOX_OP_query_select,
                        by_dtype(d->dtype, GPU_FN_query_select_stage_f32, GPU_FN_query_select_stage_f16,
                                 GPU_FN_query_select_stage_bf16),
                        gpu_cap_grid(g, (items + wpc - 1) / wpc,
                                     per_sm < VOX_QSS_CTAS * warps / wpc ? per_sm : VOX_QSS_CTAS * warps / wpc),
                        (unsigned)(32 * wpc), 1, (size_t)cta_bytes, params);
    } else if (aligned && !g->qs_cta)
        st = gpu_launch_op(g, VOX_OP_query_select,
                           by_dtype(d->dtype, GPU_FN_query_select_warp_f32, GPU_FN_query_select_warp_f16,
                                    GPU_FN_query_select_warp_bf16),
                           gpu_cap_grid(g, (items + warps - 1) / warps, VOX_QW_CTAS), VOX_QS_THREADS, 1, 0, &b, &a);
    else
        st = gpu_launch_op(g, VOX_OP_query_select, BY_DTYPE(query_select), gpu_cap_grid(g, items, VOX_QS_CTAS),
                           VOX_QS_THREADS, 1, 0, &b, &a);
    if (st)
        return st;
    int fn = by_dtype(d->dtype, GPU_FN_query_select_exact_f32, GPU_FN_query_select_exact_f16,
                      GPU_FN_query_select_exact_bf16);
    a.chunk = g->qs_chunk128 ? VOX_QS_THREADS : 32;
    st = gpu_launch(g, VOX_OP_query_select, fn,
                    gpu_cap_grid(g, (items + a.chunk - 1) / a.chunk, g->qs_chunk128 ? 4 : 8), VOX_QS_THREADS, 1,
                    rows <= 96 * 1024 ? (size_t)rows : 0, params);
    if (!st && qbar && p->wrote_qbar)
        *p->wrote_qbar = 1;
    return st;
}

#endif
