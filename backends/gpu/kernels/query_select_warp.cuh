/* query_select's warp kernel (CUDA and HIP), vox_query_select_warp_<dtype>,
 * the default: one warp per (bh, block), grid-stride, no barrier of the
 * CTA. The warp takes the block's windows VOX_QW_GROUPS at a time, a group
 * of VOX_QW_M = 8 lanes per window, lane l of a group standing for row l of
 * its window.
 *
 * Gram matrix: lane l of a group loads 16-byte chunks l, l + 8, ... of
 * every row of its window (a group's load of one row is one coalesced run
 * of 8 x 16 bytes; element by element when q or D is not 16-byte aligned),
 * sums the 36 products a <= b in f32 (sequential fmaf) and a transposed
 * butterfly over the group's 3 lane bits leaves entries 5l .. 5l+4 in lane
 * l, which the group exchanges through shared memory.
 *
 * Certified f32 decisions, as the CTA kernel's (query_select_fast.cuh:
 * the argument there), but with the cosine evaluated in f32:
 * r_a = 1/sqrt(g~_aa) (IEEE division and square root) and c~_ab =
 * (g~_ab r_a) r_b, within 6.02 u (u = 2^-24) of g~_ab / sqrt(g~_aa g~_bb)
 * (four roundings of relative size u, |c| <= 1.001; with squared norms in
 * [2^-40, 2^100] nothing overflows and an underflowed product errs by less
 * than 2^-100). With L = ceil(ceil(D/VEC)/8) VEC terms per lane and
 * n = L + 3 (three tree levels):
 *   eps = (2.1 gamma_n + 3 (D + 64) 2^-36 + (D + 8) 2^-52 + 6.02 u + 2^-48)(1 + 2^-20)
 * bounds |c~ - c_ref| (D = 128 bf16: n = 19, eps ~ 2.8e-6). Differences of
 * two f32 cosines are compared with 2 eps in f64 (exact: rounding is
 * monotone). The keep set is the reference's when every pruned row's c~
 * exceeds every kept non-centre row's by more than 2 eps, a pruned row's
 * source when every other kept row's c~ is more than 2 eps below it.
 *
 * A window that fails a certificate, or holds a row whose squared norm is
 * outside [2^-40, 2^100] (NaN, Inf, zero, tiny or huge rows), is redone in
 * place by its group on the exact path (vox_qw_exact): the reference's
 * sums, each lane its own sequential f64 sums over e = 0..D-1 (products of
 * f32 values are exact in f64, so every norm, dot and cosine is bitwise the
 * reference's), its comparisons (NaN least similar, ties by slot) and its
 * fill rule (NaN cosines skipped, strict >, else the centre).
 *
 * Latency: each warp prefetches its next block's rows into L2, a block's
 * slot-map and window-list lines into L1 when it starts it, each window's
 * next chunk round into L1 while it sums the current one, and loads the
 * next block's valid count and window range one block ahead (128
 * registers: the chunk loop's indices are 32-bit to stay there).
 *
 * Only a block with a window of more than 8 rows is left to the exact
 * kernel (kept_count = -1). */

#define VOX_QW_M 8                                /* lanes per window: rows of the largest window taken */
#define VOX_QW_NG 40                              /* the 36 Gram entries a <= b, padded to 5 per lane */
#define VOX_QW_GROUPS (VOX_WARP_SIZE / VOX_QW_M)  /* windows per warp turn */
#define VOX_QW_WARPS (VOX_QS_THREADS / VOX_WARP_SIZE) /* warps (block rows in flight) per CTA */
#ifndef VOX_QW_ROUNDS
#define VOX_QW_ROUNDS 1 /* 16-byte chunks of each row a lane loads at once (2 spills at 128 registers) */
#endif
#if VOX_GPU_HIP
#define VOX_QW_BOUNDS __launch_bounds__(VOX_QS_THREADS)
#else
#define VOX_QW_BOUNDS __launch_bounds__(VOX_QS_THREADS, VOX_QW_CTAS)
#endif

/* The shared memory of one warp. */
struct vox_qw_warp {
    float g[VOX_QW_GROUPS][VOX_QW_NG]; /* each group's Gram entries */
    unsigned char kept[256];           /* the block's keep flags (local slots) */
};

/* Row pointers of the window: lane l's own row (l < m), row a's from its lane. */
template <class T> __device__ __forceinline__ const T *vox_qw_row_of(const T *mine, int a)
{
    const int src = (threadIdx.x % VOX_WARP_SIZE) / VOX_QW_M * VOX_QW_M + a;
    return (const T *)(uintptr_t)VOX_SHFL((unsigned long long)(uintptr_t)mine, src);
}

/* The exact path of the windows whose lanes have act set (every lane of the
 * warp calls it: its shuffles and loops are warp-uniform). row: lane l < m;
 * mine: this lane's row; m, cl, keep: the window's length, centre (local to
 * the window), keep count; first: its first slot (absolute). Writes the
 * window's keep flags into kept (local slots, s0 = the block's first slot)
 * and its rows' fill_src. */
template <class DT, bool ALIGNED>
__device__ __forceinline__ void vox_qw_exact(bool act, bool row, const typename DT::T *mine, int m, int cl, int keep,
                                          int first, i64 s0, i64 base, i64 D, unsigned char *kept, int *fill)
{
    typedef vox_qf_chunk<DT> C;
    typedef typename DT::T T;
    const int lane = threadIdx.x % VOX_WARP_SIZE, l = lane % VOX_QW_M, gb = lane - l;
    const bool on = act && row;
    const i64 chunks = (D + C::VEC - 1) / C::VEC;
    /* pass A: the squared norm and the dot with the centre, the reference's order */
    const T *pc = vox_qw_row_of<T>(mine, act ? cl : 0);
    double na = 0, dc = 0;
    if (on)
#pragma unroll 1
        for (i64 c = 0; c < chunks; c++) {
            unsigned w[4], v[4];
            vox_qf_load<DT, ALIGNED>(mine, c * C::VEC, D, w);
            vox_qf_load<DT, ALIGNED>(pc, c * C::VEC, D, v);
#pragma unroll
            for (int e = 0; e < C::VEC; e++)
                if (c * C::VEC + e < D) {
                    const double x = C::at(w, e), y = C::at(v, e);
                    na = fma(x, x, na), dc = fma(x, y, dc);
                }
        }
    const double nc = VOX_SHFL(na, gb + (act ? cl : 0));
    const double ct = on && l != cl ? vox_qs_cosine(dc, na, nc) : 0.0;
    /* keep the centre and the keep-1 least similar (NaN first, ties: lower slot) */
    int rank = 0;
#pragma unroll
    for (int u = 0; u < VOX_QW_M; u++) {
        const double cu = VOX_SHFL(ct, gb + u);
        const bool un = cu != cu, tn = ct != ct;
        if (u < m && u != cl && u != l)
            rank += un != tn ? un : un ? u < l : (cu < ct || (cu == ct && u < l));
    }
    const bool k = on && (l == cl || rank < keep - 1);
    const unsigned km = (unsigned)(VOX_BALLOT(k) >> gb) & 0xffu;
    if (on)
        kept[first - s0 + l] = (unsigned char)k;
    /* pass B: a pruned row's most similar kept row with a comparable cosine
     * (ascending slots, strict >), else the centre; 4 kept rows per pass */
    const bool pr = on && !k;
    unsigned rem = pr ? km : 0u;
    bool found = false;
    double best = 0;
    int src = cl;
    while (VOX_ANY(rem != 0)) {
        int u4[4];
        const T *p4[4];
        double n4[4], d4[4] = {0, 0, 0, 0};
#pragma unroll
        for (int j = 0; j < 4; j++) {
            u4[j] = rem ? __ffs(rem) - 1 : -1;
            rem &= rem - 1;
            p4[j] = vox_qw_row_of<T>(mine, u4[j] < 0 ? 0 : u4[j]);
            n4[j] = VOX_SHFL(na, gb + (u4[j] < 0 ? 0 : u4[j]));
        }
        if (u4[0] >= 0)
#pragma unroll 1
            for (i64 c = 0; c < chunks; c++) {
                unsigned w[4], v[4][4] = {};
                vox_qf_load<DT, ALIGNED>(mine, c * C::VEC, D, w);
#pragma unroll
                for (int j = 0; j < 4; j++)
                    if (u4[j] >= 0)
                        vox_qf_load<DT, ALIGNED>(p4[j], c * C::VEC, D, v[j]);
#pragma unroll
                for (int e = 0; e < C::VEC; e++)
                    if (c * C::VEC + e < D) {
                        const double x = C::at(w, e);
#pragma unroll
                        for (int j = 0; j < 4; j++)
                            d4[j] = fma(x, (double)C::at(v[j], e), d4[j]);
                    }
            }
#pragma unroll
        for (int j = 0; j < 4; j++)
            if (u4[j] >= 0) {
                const double c = vox_qs_cosine(d4[j], na, n4[j]);
                if (c == c && (!found || c > best)) /* strict: ties keep the lower slot */
                    best = c, src = u4[j], found = true;
            }
    }
    if (on)
        fill[base + first + l] = first + (k ? l : src);
}

/* One turn's decision for a group of VOX_QW_M lanes (one window), shared by the warp kernel and the
 * staged kernel (query_select_stage.cuh): the group's Gram entries g reduced into gs (the group's
 * shared entries), then the cosines, the keep flags (the centre and the keep-1 least similar rows),
 * each pruned row's fill source and the f32 certificate (eps2). A certain window's flags and fill go
 * to kept (local slots from s0) and fill here; the result says whether the window must take the
 * exact path, which the caller runs (it knows where its rows are). */
__device__ __forceinline__ bool vox_qw_decide(float (&g)[VOX_QW_NG], float *gs, bool row, int l, int gb, int m, int cl,
                                              int keep, int first, i64 s0, i64 base, double eps2,
                                              unsigned char *kept, int *fill)
{
    vox_qf_reduce<VOX_QW_M / 2, VOX_QW_NG>(g); /* lane l: entries 5l .. 5l+4 */
#pragma unroll
    for (int k = 0; k < 5; k++)
        gs[5 * l + k] = g[k];
    VOX_SYNCWARP();
    /* r_l = 1/|x_l|, c~(l, u) for every row u, c = c~(l, centre) */
    const int lr = row ? l : 0;
    const float nl = gs[vox_qf_tri(lr, lr)];
    const bool bad = row && !(nl >= 0x1p-40f && nl <= 0x1p100f);
    const float rl = row && !bad ? 1.0f / sqrtf(nl) : 0.f;
    float cr[VOX_QW_M], c = 0.f;
#pragma unroll
    for (int u = 0; u < VOX_QW_M; u++) {
        const float ru = VOX_SHFL(rl, gb + u);
        const float gu = gs[lr < u ? vox_qf_tri(lr, u) : vox_qf_tri(u, lr)];
        cr[u] = gu * rl * ru;
        c = u == cl ? cr[u] : c;
    }
    /* keep the centre and the keep-1 least similar to it (ties: lower slot) */
    float cc[VOX_QW_M];
    int rank = 0;
#pragma unroll
    for (int u = 0; u < VOX_QW_M; u++) {
        cc[u] = VOX_SHFL(c, gb + u);
        rank += (u < m) & (u != cl) & (u != l) & ((cc[u] < c) | ((cc[u] == c) & (u < l)));
    }
    const bool k = row && (l == cl || rank < keep - 1);
    const unsigned km = (unsigned)(VOX_BALLOT(k) >> gb) & 0xffu;
    bool unsure = bad;
    int src = l;
    if (row && !k) {
        float best = -INFINITY;
        src = cl;
#pragma unroll
        for (int u = 0; u < VOX_QW_M; u++)
            if ((km >> u & 1u) && cr[u] > best)
                best = cr[u], src = u;
#pragma unroll
        for (int u = 0; u < VOX_QW_M; u++)
            if (km >> u & 1u)
                unsure |= ((u != cl) & !((double)c - (double)cc[u] > eps2)) |
                          ((u != src) & !((double)best - (double)cr[u] > eps2));
    }
    const bool redo = (VOX_BALLOT(unsure) >> gb & 0xffu) != 0; /* the group's window */
    if (row && !redo) {
        kept[first - s0 + l] = (unsigned char)k;
        fill[base + first + l] = first + src;
    }
    return redo;
}

/* The start of a video block, shared by the warp and staged kernels: no slot kept yet, padding
 * slots (nv and past) map to themselves. */
__device__ __forceinline__ void vox_qw_block_start(unsigned char *kept, int *fill, i64 base, i64 s0, i64 V, int nv,
                                                   int lane)
{
    for (i64 r = lane; r < V; r += VOX_WARP_SIZE) {
        kept[r] = 0;
        if (r >= nv) /* padding maps to itself */
            fill[base + s0 + r] = (int)(s0 + r);
    }
}

/* Window w of a block (w < w1, else an empty one) as this lane group reads it: its first row, its row
 * count m (0 when it is too big for VOX_QW_M rows; big records that, and the exact kernel redoes the
 * block), its cluster length and keep count. */
__device__ __forceinline__ void vox_qw_window(const int *windows, int w, int w1, int *first, int *m, int *cl,
                                              int *keep, bool *big)
{
    *first = 0, *m = 0, *cl = 0, *keep = 0;
    if (w < w1)
        *first = windows[4 * w], *m = windows[4 * w + 1], *cl = windows[4 * w + 2] - *first,
        *keep = windows[4 * w + 3];
    *big |= *m > VOX_QW_M;
    if (*m > VOX_QW_M)
        *m = 0;
}

/* A block's result, shared by the warp and staged kernels: -1 when a window was too big (the exact
 * kernel redoes the block), else the ordered compaction of its kept local slots (kept, V of them)
 * into kept_rows and their count. */
__device__ __forceinline__ void vox_qw_compact(bool big, const unsigned char *kept, i64 V, i64 mi, int lane,
                                               int *kept_count, int *kept_rows)
{
    if (big) {
        if (lane == 0)
            kept_count[mi] = -1;
        return;
    }
    int cnt = 0;
    for (i64 r0 = 0; r0 < V; r0 += VOX_WARP_SIZE) {
        const i64 r = r0 + lane;
        const bool kr = r < V && kept[r];
        const unsigned long long bal = VOX_BALLOT(kr);
        if (kr)
            kept_rows[mi * V + cnt + __popcll(bal & ((1ull << lane) - 1))] = (int)r;
        cnt += __popcll(bal);
    }
    if (lane == 0)
        kept_count[mi] = cnt;
}

/* Hint: the valid rows of block row mn (the warp's next one, when there is
 * one and it is a video block) into L2, a 128-byte line per prefetch, so
 * that its loads wait for L2 rather than DRAM. */
template <class T>
__device__ __forceinline__ void vox_qw_prefetch(const T *q, i64 mn, i64 items, i64 NB, i64 NBv, i64 V, i64 D,
                                                const int *valid, const vox_query_select_args &a)
{
#if VOX_GPU_CUDA
    if (mn >= items)
        return;
    const i64 bh = mn / NB, j = mn - bh * NB;
    if (j >= NBv)
        return;
    const vox_rows_view<T> v = vox_rows_of(q, bh, a);
    const i64 bytes = D * (i64)sizeof(T), nv = valid[j];
    for (i64 r = threadIdx.x % VOX_WARP_SIZE; r < nv; r += VOX_WARP_SIZE) {
        const char *p = (const char *)v.row(j * V + r);
        for (i64 o = 0; o < bytes; o += 128)
            asm volatile("prefetch.global.L2 [%0];" ::"l"(p + o));
    }
#else
    (void)q, (void)mn, (void)items, (void)NB, (void)NBv, (void)V, (void)D, (void)valid, (void)a;
#endif
}

/* Block row mi's valid rows and window range (0 past the end; no windows
 * for a global block). */
__device__ __forceinline__ void vox_qw_meta(i64 mi, i64 items, i64 NB, i64 NBv, const int *valid, const int *win_ptr,
                                            int *nv, int *w0, int *w1)
{
    *nv = 0, *w0 = 0, *w1 = 0;
    if (mi < items) {
        const i64 j = mi % NB;
        *nv = valid[j];
        if (j < NBv)
            *w0 = win_ptr[j], *w1 = win_ptr[j + 1];
    }
}

/* The f32 Gram sums' certificate, 2 eps (header: n = L + 3 roundings per product, L the products a
 * lane's group sums per entry), for the warp and the staged kernels; a.chunk bit 0
 * (VOXATTN_QUERY_SELECT_EXACT_ALL, a test switch) makes it infinite, so every window with a pruned
 * row and a kept row besides the centre takes the exact path. */
__device__ __forceinline__ double vox_qw_eps2(int chunks, int vec, i64 D, int flags)
{
    const double n = (double)((chunks + VOX_QW_M - 1) / VOX_QW_M * vec + 3);
    const double gn = n * 0x1p-24 < 0.5 ? n * 0x1p-24 / (1.0 - n * 0x1p-24) : INFINITY;
    return flags & 1 ? INFINITY
                     : 2.0 * (2.1 * gn + 3.0 * (D + 64) * 0x1p-36 + (D + 8) * 0x1p-52 + 6.02 * 0x1p-24 + 0x1p-48) *
                           (1.0 + 0x1p-20);
}

template <class DT, bool ALIGNED>
__device__ void query_select_warp(const typename DT::T *q, const int *win_ptr, const int *windows, const int *valid,
                                  int *kept_count, int *kept_rows, int *fill, i64 BH, i64 NB, i64 NBv, i64 V, i64 D,
                                  const vox_query_select_args &a)
{
    typedef vox_qf_chunk<DT> C;
    typedef typename DT::T T;
    __shared__ vox_qw_warp shw[VOX_QW_WARPS];
    const int lane = threadIdx.x % VOX_WARP_SIZE, wid = threadIdx.x / VOX_WARP_SIZE;
    const int l = lane % VOX_QW_M, grp = lane / VOX_QW_M, gb = lane - l;
    vox_qw_warp &sh = shw[wid];
    const i64 items = BH * NB;
    const int chunks = (int)((D + C::VEC - 1) / C::VEC);
    const double eps2 = vox_qw_eps2(chunks, C::VEC, D, a.chunk);
    const int flags = a.chunk; /* 1 exact path everywhere, 2 no L2 prefetch, 4 no L1 prefetch */
    const i64 stride = (i64)gridDim.x * VOX_QW_WARPS;
    /* the next block's valid rows and window range, loaded one block ahead */
    int nv_n = 0, w0_n = 0, w1_n = 0;
    vox_qw_meta(blockIdx.x * VOX_QW_WARPS + wid, items, NB, NBv, valid, win_ptr, &nv_n, &w0_n, &w1_n);
    for (i64 mi = (i64)blockIdx.x * VOX_QW_WARPS + wid; mi < items; mi += stride) {
        const i64 bh = mi / NB, j = mi - bh * NB, base = bh * NB * V, s0 = j * V;
        const int nv = nv_n, w0s = w0_n, w1 = w1_n;
        vox_qw_meta(mi + stride, items, NB, NBv, valid, win_ptr, &nv_n, &w0_n, &w1_n);
        if (j >= NBv) {
            vox_qs_global_block(fill, kept_rows, kept_count, base, s0, V, nv, mi, lane, VOX_WARP_SIZE);
            continue;
        }
        if (!(flags & 2))
            vox_qw_prefetch<T>(q, mi + stride, items, NB, NBv, V, D, valid, a);
#if VOX_GPU_CUDA
        /* this block's slot map and window list into L1: the later turns' loads of them hit there */
        if (!(flags & 4)) {
            const i64 tb = a.tok ? V * 4 : 0, wb = (i64)(w1 - w0s) * 16;
            if (lane * 128 < tb)
                asm volatile("prefetch.global.L1 [%0];" ::"l"((const char *)(uintptr_t)a.tok + s0 * 4 + lane * 128));
            else if ((lane - (tb + 127) / 128) * 128 < wb)
                asm volatile("prefetch.global.L1 [%0];" ::"l"((const char *)(windows + 4 * (i64)w0s) +
                                                             (lane - (tb + 127) / 128) * 128));
        }
#endif
        vox_qw_block_start(sh.kept, fill, base, s0, V, nv, lane);
        const vox_rows_view<T> qv = vox_rows_of(q, bh, a);
        bool big = false;
        for (int w0 = w0s; w0 < w1; w0 += VOX_QW_GROUPS) {
            const int w = w0 + grp;
            int first, m, cl, keep;
            vox_qw_window(windows, w, w1, &first, &m, &cl, &keep, &big);
            const bool row = l < m;
            const i64 roff = row ? qv.slot(first + l) * qv.st : 0; /* 16-byte aligned (ALIGNED) */
            const T *mine = qv.x + roff;
            const unsigned moff = (unsigned)(roff * (i64)sizeof(T) / 16); /* in 16 bytes: < 2^32 up to 64 GiB */
            /* the Gram matrix of the window's rows */
            float g[VOX_QW_NG];
#pragma unroll
            for (int k = 0; k < VOX_QW_NG; k++)
                g[k] = 0.f;
            /* VOX_QW_ROUNDS chunks of each row per lane in flight at once; warp-uniform trips (shuffles inside) */
            for (int c0 = 0; c0 < chunks; c0 += VOX_QW_ROUNDS * VOX_QW_M) {
                unsigned x4[VOX_QW_ROUNDS][VOX_QW_M][4];
#pragma unroll
                for (int r = 0; r < VOX_QW_M; r++) {
                    const T *p = (const T *)((const char *)qv.x + 16 * (i64)(unsigned)VOX_SHFL(moff, gb + r));
#pragma unroll
                    for (int h = 0; h < VOX_QW_ROUNDS; h++) {
                        const int c = c0 + h * VOX_QW_M + l;
                        x4[h][r][0] = x4[h][r][1] = x4[h][r][2] = x4[h][r][3] = 0;
                        if (r < m && c < chunks)
                            vox_qf_load<DT, ALIGNED>(p, c * C::VEC, D, x4[h][r]);
                    }
#if VOX_GPU_CUDA
                    /* the next trip's chunk into L1 while this one's products are summed */
                    const int cn = c0 + VOX_QW_ROUNDS * VOX_QW_M + l;
                    if (!(flags & 4) && r < m && cn < chunks)
                        asm volatile("prefetch.global.L1 [%0];" ::"l"(p + cn * C::VEC));
#endif
                }
#pragma unroll
                for (int h = 0; h < VOX_QW_ROUNDS; h++)
#pragma unroll
                    for (int e = 0; e < C::VEC; e++) {
                        float x[VOX_QW_M];
#pragma unroll
                        for (int r = 0; r < VOX_QW_M; r++)
                            x[r] = C::at(x4[h][r], e);
#pragma unroll
                        for (int r = 0; r < VOX_QW_M; r++)
#pragma unroll
                            for (int s = r; s < VOX_QW_M; s++)
                                g[vox_qf_tri(r, s)] = fmaf(x[r], x[s], g[vox_qf_tri(r, s)]);
                    }
            }
            const bool redo = vox_qw_decide(g, sh.g[grp], row, l, gb, m, cl, keep, first, s0, base, eps2, sh.kept, fill);
            if (VOX_ANY(redo))
                vox_qw_exact<DT, ALIGNED>(redo, row, mine, m, cl, keep, first, s0, base, D, sh.kept, fill);
            VOX_SYNCWARP(); /* sh.g read before the next turn rewrites it */
        }
        vox_qw_compact(VOX_ANY(big), sh.kept, V, mi, lane, kept_count, kept_rows);
        VOX_SYNCWARP(); /* sh.kept read before the next block clears it */
    }
}

/* Taken by the launcher only where 16-byte loads are aligned (q, D and the
 * strides multiples of 16 bytes); the CTA kernel takes the rest. */
#define VOX_QUERY_SELECT_WARP_KERNEL(NAME, DT)                                                                \
    VOX_KERNEL void VOX_QW_BOUNDS vox_query_select_warp_##NAME(vox_query_select_bufs b, vox_query_select_args a) \
    {                                                                                                        \
        query_select_warp<DT, true>(vox_ptr<const DT::T>(b.q), vox_ptr<const int>(b.win_ptr),               \
                                    vox_ptr<const int>(b.windows), vox_ptr<const int>(b.valid),              \
                                    vox_ptr<int>(b.kept_count), vox_ptr<int>(b.kept_rows),                   \
                                    vox_ptr<int>(b.fill_src), a.BH, a.NB, a.NBv, vox_i64(a.V), vox_i64(a.D), a); \
    }
VOX_EACH_DTYPE(VOX_QUERY_SELECT_WARP_KERNEL)
