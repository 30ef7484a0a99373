/* query_select's fast kernel (CUDA and HIP), vox_query_select_<dtype>: a
 * certified f32 path per window; the blocks it cannot certify are marked
 * (kept_count = -1) for vox_query_select_exact_<dtype> (query_select.cuh),
 * which redoes them exactly.
 *
 * One CTA of VOX_QS_THREADS threads per (bh, block), grid-stride over as many
 * CTAs as stay resident. The CTA is VOX_QF_WIN groups of VOX_QF_G lanes; each
 * group takes one window of the block (more windows than groups: in turns).
 * Lane i of a group loads 16-byte chunks i, i + G, ... of every row of its
 * window (8 rows x 16 bytes in flight per lane, a coalesced pass over the
 * window; element by element when q or D is not 16-byte aligned) and sums the
 * products of the 36 Gram entries a <= b in f32 (sequential fmaf over its
 * elements); a transposed butterfly over the group's lanes (4 levels, the
 * last one a plain pairwise sum) then leaves entry 5*(i/2) + j in lane i's
 * g[j]. On CUDA the CTA keeps the rows of its next two blocks on their way
 * into L2 (a prefetch per 128-byte line, no registers), so its loads wait for
 * L2 rather than DRAM.
 *
 * Error bound. With u = 2^-24, L = ceil(ceil(D / VEC) / G) * VEC the terms
 * of one lane (VEC elements per chunk: 8 for f16/bf16, 4 for f32) and
 * n = L + log2(G), every product x_ae x_be is rounded at most n times on its
 * way into entry g~_ab (once per fmaf of its lane after it, once per tree
 * level), so |g~_ab - g_ab| <= gamma_n sum_e |x_ae x_be| <= gamma_n |x_a| |x_b|
 * with gamma_n = n u / (1 - n u), plus underflow: with every squared norm
 * g~_aa in [2^-40, 2^100] (else the window is uncertain unless it keeps every
 * row: NaN, Inf, zero, tiny or huge rows), |x_e| <= 2^50 and each of the at
 * most D + 15 operations on a nonzero value (the zero padding adds exactly)
 * errs by <= 2^-76 absolutely (a flushed sub-normal input or result), so the
 * absolute part is <= (D + 64) 2^-76 <= (D + 64) 2^-36 |x_a| |x_b|. The
 * cosine of the rounded Gram entries then differs from the exact cosine by
 * at most 2.1 gamma_n + 3 (D + 64) 2^-36. It is evaluated in f64 as
 * c~_ab = (g~_ab r_a) r_b with r_a = 1 / sqrt(g~_aa) (a division rounded to
 * nearest, a sqrt within 1 ulp: relative error < 8.01 * 2^-53 < 2^-50 in
 * all), and the reference's own f64 sums, sqrt and division put its cosine
 * within (D + 8) 2^-52 of the exact one, so
 *   eps = (2.1 gamma_n + 3 (D + 64) 2^-36 + (D + 8) 2^-52 + 2^-48)(1 + 2^-20)
 * bounds |c~ - c_ref| for every pair (D = 128 bf16: n = 12, eps ~ 1.5e-6).
 * Keep: the centre and the k-1 least similar to it by c~ (ties: lower slot)
 * are the reference's when every pruned row's c~ exceeds every kept
 * non-centre row's c~ by more than 2 eps (every kept cosine is then below
 * every pruned one; fl(c~_p - c~_k) > 2 eps implies the exact difference is).
 * Fill: a pruned row's source is the kept row of largest c~ when every other
 * kept row's c~ is more than 2 eps below it (no tie is then possible).
 * A window that fails any of these, or has more than VOX_QF_M rows, sends its
 * block to the exact kernel, which rewrites the block's fill_src, kept rows
 * and count. */

#define VOX_QF_M 8                             /* rows of the largest window the f32 path takes */
#define VOX_QF_G 16                            /* lanes per window */
#define VOX_QF_NG 40                           /* the 36 Gram entries a <= b, padded to 5 per lane pair */
#define VOX_QF_WIN (VOX_QS_THREADS / VOX_QF_G) /* windows in flight per CTA */
#if VOX_GPU_HIP
#define VOX_QF_BOUNDS __launch_bounds__(VOX_QS_THREADS)
#else
#define VOX_QF_BOUNDS __launch_bounds__(VOX_QS_THREADS, VOX_QS_CTAS)
#endif

/* Index of Gram entry (a, b), a <= b < VOX_QF_M. */
__device__ __forceinline__ constexpr int vox_qf_tri(int a, int b)
{
    return a * VOX_QF_M - a * (a - 1) / 2 + (b - a);
}

/* The elements of a 16-byte chunk (four little-endian words) as floats,
 * exactly: VEC of them. */
template <class DT> struct vox_qf_chunk;
template <> struct vox_qf_chunk<vox_t_f32> {
    enum { VEC = 4 };
    static __device__ __forceinline__ float at(const unsigned (&w)[4], int e) { return __uint_as_float(w[e]); }
    static __device__ __forceinline__ unsigned bits(float x, int) { return __float_as_uint(x); }
};
template <> struct vox_qf_chunk<vox_t_bf16> {
    enum { VEC = 8 };
    static __device__ __forceinline__ float at(const unsigned (&w)[4], int e)
    {
        return __uint_as_float(e % 2 ? w[e / 2] & 0xffff0000u : w[e / 2] << 16);
    }
    static __device__ __forceinline__ unsigned bits(u16 x, int e) { return (unsigned)x << (16 * (e % 2)); }
};
template <> struct vox_qf_chunk<vox_t_f16> {
    enum { VEC = 8 };
    static __device__ __forceinline__ float at(const unsigned (&w)[4], int e)
    {
        return vox_f16_to_f32((u16)(w[e / 2] >> (16 * (e % 2))));
    }
    static __device__ __forceinline__ unsigned bits(u16 x, int e) { return (unsigned)x << (16 * (e % 2)); }
};

/* Elements e0 .. e0+VEC-1 of row p (those below D; the rest 0) as four
 * words: one 16-byte load when ALIGNED (q and D allow it), else scalar. */
template <class DT, bool ALIGNED>
__device__ __forceinline__ void vox_qf_load(const typename DT::T *p, i64 e0, i64 D, unsigned (&w)[4])
{
    typedef vox_qf_chunk<DT> C;
    if (ALIGNED) {
        const uint4 v = *(const uint4 *)(p + e0);
        w[0] = v.x, w[1] = v.y, w[2] = v.z, w[3] = v.w;
        return;
    }
    w[0] = w[1] = w[2] = w[3] = 0;
#pragma unroll
    for (int e = 0; e < C::VEC; e++)
        if (e0 + e < D)
            w[e * 4 / C::VEC] |= C::bits(p[e0 + e], e);
}

/* Sum of g[0 .. H) over the lanes of a group, level S (lane bit S) down to 1:
 * while H is even a transposed step (the lane keeps the half of the values
 * its bit S selects, its partner's copy added), then plain pairwise sums. */
template <int S, int H> __device__ __forceinline__ void vox_qf_reduce(float (&g)[VOX_QF_NG])
{
    if constexpr (S > 0) {
        if constexpr (H % 2 == 0) {
            const bool up = threadIdx.x & S;
#pragma unroll
            for (int k = 0; k < H / 2; k++) {
                const float send = up ? g[k] : g[k + H / 2], keep = up ? g[k + H / 2] : g[k];
                g[k] = keep + VOX_SHFL_XOR(send, S);
            }
            vox_qf_reduce<S / 2, H / 2>(g);
        } else {
#pragma unroll
            for (int k = 0; k < H; k++)
                g[k] += VOX_SHFL_XOR(g[k], S); /* a + b == b + a: both lanes agree */
            vox_qf_reduce<S / 2, H>(g);
        }
    }
}
static_assert(VOX_QF_G == 16 && VOX_QF_NG == 40, "vox_qf_gram's layout: 40 = 2^3 * 5 entries over 16 lanes");

/* gs[vox_qf_tri(a, b)] = the f32 Gram matrix of the m (<= VOX_QF_M) rows at
 * qh + roff[a] (zero rows past m); every lane of the warp calls it (m = 0 for
 * a group without a window); gs: the group's VOX_QF_NG floats. */
template <class DT, bool ALIGNED>
__device__ __forceinline__ void vox_qf_gram(const typename DT::T *qh, const i64 *roff, int m, i64 D, float *gs)
{
    typedef vox_qf_chunk<DT> C;
    const int lane = threadIdx.x % VOX_QF_G;
    float g[VOX_QF_NG];
#pragma unroll
    for (int k = 0; k < VOX_QF_NG; k++)
        g[k] = 0.f;
    const i64 chunks = (D + C::VEC - 1) / C::VEC;
    for (i64 c = lane; c < chunks; c += VOX_QF_G) {
        unsigned w[VOX_QF_M][4];
#pragma unroll
        for (int a = 0; a < VOX_QF_M; a++) {
            w[a][0] = w[a][1] = w[a][2] = w[a][3] = 0;
            if (a < m)
                vox_qf_load<DT, ALIGNED>(qh + roff[a], c * C::VEC, D, w[a]);
        }
#pragma unroll
        for (int e = 0; e < C::VEC; e++) {
            float x[VOX_QF_M];
#pragma unroll
            for (int a = 0; a < VOX_QF_M; a++)
                x[a] = C::at(w[a], e);
#pragma unroll
            for (int a = 0; a < VOX_QF_M; a++)
#pragma unroll
                for (int b = a; b < VOX_QF_M; b++)
                    g[vox_qf_tri(a, b)] = fmaf(x[a], x[b], g[vox_qf_tri(a, b)]);
        }
    }
    vox_qf_reduce<VOX_QF_G / 2, VOX_QF_NG>(g);
    if (lane % 2 == 0)
#pragma unroll
        for (int j = 0; j < 5; j++)
            gs[5 * (lane / 2) + j] = g[j];
}

/* Shared memory of one group: its window's Gram entries, 1/|x_a|, the
 * cosines to the centre and the keep flags (0 past the window's rows). */
struct vox_qf_group {
    float g[VOX_QF_NG];
    double r[VOX_QF_M], c[VOX_QF_M];
    unsigned char k[VOX_QF_M]; /* read as one 8-byte word */
};
static_assert(VOX_QF_M == 8 && sizeof(vox_qf_group) % 8 == 0, "vox_qf_group.k: one aligned 8-byte word");

/* Window w of the block (-1: none; every lane of the warp calls it): its
 * rows' keep flags into kept (local slots) and its pruned rows' fill_src,
 * or false for a lane that saw the window cannot be certified. The block's
 * rows are at qh + roff[local slot]; base = bh*S. Lane l < m takes row l; the
 * loops over the window's rows run VOX_QF_M times (predicated past m), so
 * they unroll. */
template <class DT, bool ALIGNED>
__device__ bool vox_qf_window(const typename DT::T *qh, const i64 *roff, const int *windows, int w, i64 base, i64 s0,
                              i64 D, double eps, unsigned char *kept, int *fill, vox_qf_group &sh)
{
    const int l = threadIdx.x % VOX_QF_G;
    int first = 0, m = 0, cl = 0, keep = 0;
    if (w >= 0)
        first = windows[4 * w], m = windows[4 * w + 1], cl = windows[4 * w + 2] - first, keep = windows[4 * w + 3];
    const bool big = m > VOX_QF_M, row = l < m && !big, item = row && l != cl;
    vox_qf_gram<DT, ALIGNED>(qh, roff + (first - s0), big ? 0 : m, D, sh.g);
    VOX_SYNCWARP();
    const int lr = row ? l : 0, l0 = lr * (2 * VOX_QF_M - 1 - lr) / 2; /* vox_qf_tri(lr, b) = l0 + b, b >= lr */
    const float n = sh.g[l0 + lr];
    const bool bad = row && !(n >= 0x1p-40f && n <= 0x1p100f);
    const double r = row && !bad ? 1.0 / sqrt((double)n) : 0.0;
    if (row)
        sh.r[l] = r;
    VOX_SYNCWARP();
    /* c~(l, u) for every row u (stale past m: never used), and c, the one to the centre */
    double cr[VOX_QF_M], c = 0;
#pragma unroll
    for (int u = 0; u < VOX_QF_M; u++) {
        cr[u] = (double)sh.g[lr < u ? l0 + u : vox_qf_tri(u, u) + lr - u] * r * sh.r[u];
        c = u == cl ? cr[u] : c;
    }
    if (item)
        sh.c[l] = c;
    VOX_SYNCWARP();
    /* keep the centre and the keep-1 least similar to it (ties: lower slot) */
    double cc[VOX_QF_M];
    int rank = 0;
#pragma unroll
    for (int u = 0; u < VOX_QF_M; u++) {
        cc[u] = sh.c[u];
        rank += (u < m) & (u != cl) & (u != l) & ((cc[u] < c) | ((cc[u] == c) & (u < l))); /* no branches */
    }
    const bool k = row && (l == cl || rank < keep - 1);
    if (row)
        kept[first - s0 + l] = (unsigned char)k;
    if (l < VOX_QF_M)
        sh.k[l] = (unsigned char)k;
    VOX_SYNCWARP();
    /* a row that is not finite, zero, tiny or huge: certain only when every row is kept */
    bool unsure = big || (bad && keep < m);
    if (row && !k) {
        /* fill: the kept row of largest c~; certified when every other kept
         * row's c~ is more than 2 eps below it, and the keep when every kept
         * row's but the centre's is more than 2 eps below this row's */
        const unsigned long long km = *(const unsigned long long *)sh.k; /* byte u: row u kept */
        double best = -INFINITY;
        int src = cl;
#pragma unroll
        for (int u = 0; u < VOX_QF_M; u++)
            if ((km >> (8 * u) & 1u) && cr[u] > best)
                best = cr[u], src = u;
#pragma unroll
        for (int u = 0; u < VOX_QF_M; u++)
            if (km >> (8 * u) & 1u)
                unsure |= ((u != cl) & !(c - cc[u] > 2.0 * eps)) | ((u != src) & !(best - cr[u] > 2.0 * eps));
        fill[base + first + l] = first + src;
    }
    VOX_SYNCWARP(); /* sh read before the next window rewrites it */
    return !unsure;
}

/* j + dj mod NB for j, dj in [0, NB): a grid-stride step's block (no 64-bit
 * division per item). */
__device__ __forceinline__ i64 vox_qf_step(i64 j, i64 dj, i64 NB)
{
    return j + dj >= NB ? j + dj - NB : j + dj;
}

/* Hint: the V rows of block row mn, block jn of its head (when there is one
 * and it is a video block), into L2: a block copy's rows in one sweep; the
 * caller's rows (tok) one per thread, its token *tk loaded by the previous
 * call (so no load waits here) for this call's block, and the next token
 * (block row mn2, block jn2) loaded for the next call, not used here. */
template <class DT>
__device__ __forceinline__ void vox_qf_prefetch(const typename DT::T *q, i64 mn, i64 jn, i64 mn2, i64 jn2, i64 items,
                                                i64 NB, i64 NBv, i64 V, i64 D, const vox_query_select_args &a, int *tk)
{
#if VOX_GPU_CUDA
    const i64 bytes = D * (i64)sizeof(typename DT::T);
    if (a.tok) {
        const vox_rows_view<typename DT::T> v = vox_rows_of(q, mn >= 0 && mn < items ? mn / NB : 0, a);
        if (mn >= 0 && mn < items && jn < NBv && *tk >= 0) {
            const char *p = (const char *)v.x + *tk * v.st * (i64)sizeof(typename DT::T);
            for (i64 o = 0; o < bytes; o += 128)
                asm volatile("prefetch.global.L2 [%0];" ::"l"(p + o));
        }
        *tk = mn2 < items && jn2 < NBv && threadIdx.x < V ? v.tok[jn2 * V + threadIdx.x] : -1;
        return;
    }
    if (mn < 0 || mn >= items || jn >= NBv)
        return;
    const char *p = (const char *)(q + mn * V * D); /* row (bh*NB + j)*V: the block's first */
    for (i64 o = (i64)threadIdx.x * 128; o < V * bytes; o += VOX_QS_THREADS * 128)
        asm volatile("prefetch.global.L2 [%0];" ::"l"(p + o));
#else
    (void)q, (void)mn, (void)jn, (void)mn2, (void)jn2, (void)items, (void)NB, (void)NBv, (void)V, (void)D, (void)a,
        (void)tk;
#endif
}

template <class DT, bool ALIGNED>
__device__ void query_select(const typename DT::T *q, const int *win_ptr, const int *windows, const int *valid,
                             int *kept_count, int *kept_rows, int *fill, i64 BH, i64 NB, i64 NBv, i64 V, i64 D,
                             const vox_query_select_args &a)
{
    /* alternate video blocks take alternate halves: no barrier between one's
     * compaction and the next one's start (a barrier of the block between
     * orders two uses of a half) */
    __shared__ unsigned char kept[2][256];
    __shared__ vox_qf_group sh[VOX_QF_WIN];
    __shared__ i64 roff[256]; /* the block's rows: offsets from its head's origin */
    typedef vox_qf_chunk<DT> C;
    const int tid = threadIdx.x, grp = tid / VOX_QF_G;
    const i64 items = BH * NB;
    /* eps (header): n = L + log2(VOX_QF_G) roundings per product */
    const double n = (double)(((D + C::VEC - 1) / C::VEC + VOX_QF_G - 1) / VOX_QF_G * C::VEC + 4);
    const double gn = n * 0x1p-24 < 0.5 ? n * 0x1p-24 / (1.0 - n * 0x1p-24) : INFINITY;
    const double eps = (2.1 * gn + 3.0 * (D + 64) * 0x1p-36 + (D + 8) * 0x1p-52 + 0x1p-48) * (1.0 + 0x1p-20);
    const i64 step = gridDim.x, dj = step % NB;
    i64 j = blockIdx.x % NB;
    int ptok = -1; /* vox_qf_prefetch's token in flight */
    {
        const i64 j1 = vox_qf_step(j, dj, NB), j2 = vox_qf_step(j1, dj, NB);
        vox_qf_prefetch<DT>(q, -1, 0, blockIdx.x + step, j1, items, NB, NBv, V, D, a, &ptok); /* loads only */
        vox_qf_prefetch<DT>(q, blockIdx.x + step, j1, blockIdx.x + 2 * step, j2, items, NB, NBv, V, D, a, &ptok);
    }
    int par = 0;
    for (i64 m = blockIdx.x; m < items; m += step, j = vox_qf_step(j, dj, NB)) {
        const i64 base = (m - j) * V, s0 = j * V; /* base: bh*S */
        const i64 j2 = vox_qf_step(vox_qf_step(j, dj, NB), dj, NB);
        vox_qf_prefetch<DT>(q, m + 2 * step, j2, m + 3 * step, vox_qf_step(j2, dj, NB), items, NB, NBv, V, D, a, &ptok);
        if (j >= NBv) {
            vox_qs_global_block(fill, kept_rows, kept_count, base, s0, V, valid[j], m, tid, VOX_QS_THREADS);
            continue;
        }
        unsigned char *kp = kept[par ^= 1];
        const vox_rows_view<typename DT::T> qv = vox_rows_of(q, (m - j) / NB, a);
        for (i64 r = tid; r < V; r += VOX_QS_THREADS) {
            fill[base + s0 + r] = (int)(s0 + r);
            kp[r] = 0;
            roff[r] = qv.slot(s0 + r) * qv.st; /* negative for padding: never read */
        }
        __syncthreads();
        bool unsure = false;
        const int w1 = win_ptr[j + 1];
        for (int w0 = win_ptr[j]; w0 < w1; w0 += VOX_QF_WIN)
            unsure |= !vox_qf_window<DT, ALIGNED>(qv.x, roff, windows, w0 + grp < w1 ? w0 + grp : -1, base, s0, D,
                                                  eps, kp, fill, sh[grp]);
        if (__syncthreads_or(unsure)) { /* the exact kernel redoes the block */
            if (tid == 0)
                kept_count[m] = -1;
            continue;
        }
        if (tid < VOX_WARP_SIZE)
            vox_qs_compact(kp, m, V, kept_count, kept_rows);
    }
}

#define VOX_QUERY_SELECT_KERNEL(NAME, DT)                                                                  \
    VOX_KERNEL void VOX_QF_BOUNDS vox_query_select_##NAME(vox_query_select_bufs b, vox_query_select_args a) \
    {                                                                                                      \
        const int vec = vox_qf_chunk<DT>::VEC;                                                             \
        const bool aligned = b.q % 16 == 0 && a.D % vec == 0 && a.st % vec == 0 && a.sh % vec == 0 &&       \
                             a.sb % vec == 0;                                                              \
        const DT::T *q = vox_ptr<const DT::T>(b.q);                                                        \
        const int *win_ptr = vox_ptr<const int>(b.win_ptr), *windows = vox_ptr<const int>(b.windows),      \
                  *valid = vox_ptr<const int>(b.valid);                                                    \
        int *kc = vox_ptr<int>(b.kept_count), *kr = vox_ptr<int>(b.kept_rows), *fill = vox_ptr<int>(b.fill_src); \
        if (aligned)                                                                                       \
            query_select<DT, true>(q, win_ptr, windows, valid, kc, kr, fill, a.BH, a.NB, a.NBv, vox_i64(a.V), \
                                   vox_i64(a.D), a);                                                       \
        else                                                                                               \
            query_select<DT, false>(q, win_ptr, windows, valid, kc, kr, fill, a.BH, a.NB, a.NBv,           \
                                    vox_i64(a.V), vox_i64(a.D), a);                                        \
    }
VOX_EACH_DTYPE(VOX_QUERY_SELECT_KERNEL)
