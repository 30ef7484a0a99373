/* kv_select's three-pass kernel for the TOPK rule (session 50; included by
 * kv_select.cuh after kv_select_mma.cuh, whose prepared keys, wgmma steps and
 * sweep it uses): vox_kv_select_fast_kb_tp, at head_dim 128 in sm_90a code.
 *
 * The tensor-core fast kernel (vox_kv_select_fast_kb_ss) writes every score of
 * its 64-row tile to a per-CTA slice and reads each row back for phase 2 (448 MB
 * each way on a hunyuan-720p build). This kernel never stores a score: it
 * sweeps the head's keys three times per tile, recomputing the same products in
 * the same order (vox_km_sweep: the scores are bitwise phase 1's each time), and
 * keeps only per-row state on chip:
 *   1. the rows' largest and smallest video score;
 *   2. a histogram of VOX_KT_NBIN bins a row, linear over [min, max] (vox_kf_bin_in,
 *      16-bit counts two to a word in shared memory); then one warp per row finds
 *      the bin B where the count from the top reaches n (vox_kf_bin_find);
 *   3. a bit per video block of a bin above B (a word per 32 keys, per row, into
 *      the CTA's scratch slice) and B's blocks as (value bits, index) in any order
 *      (behind a per-row counter, into the slice).
 * Then one warp per row finishes as vox_kf_topk does from the same artefacts: T
 * (the rem-th largest of B's values), the window, the band's exact f64 scores
 * where it is split (vox_kf_topk_band), bits for B's blocks above the window,
 * the taken band blocks and the own block, and one popcount-prefix compaction of
 * the row's words (index order) followed by the global blocks. The certificate
 * is vox_kf_topk's: a block of a bin above B is above thi, of a bin below it
 * below tlo. A row it cannot certify (a range f32 cannot bin, B over
 * VOX_KT_CAND blocks, the window leaving B, a bound that fails, a non-finite
 * value in the tile) goes to the exact rows kernel (vox_kv_select_rows) through
 * the row list, where vox_kf_topk would have used its old path too.
 * Dynamic shared memory: the staged chunks (2 x 32 KB at the first 1024-byte
 * boundary), A (32 KB), the histograms (64 x VOX_KT_NBIN x 2 bytes); the 8
 * warps' vox_kf_work over the chunks in the finish. Scratch slice per CTA:
 * 64 x 2 nch words of bits, then 64 x VOX_KT_CAND (value, index) pairs
 * (gpu_kv_select sizes it). */
#if VOX_HAVE_MMA_SYNC || defined(VOX_KT_FINISH_ONLY) /* the latter: tools/kv_emu, the finish alone on the host */

/* VOX_KT_NBIN: pass 2's bins a row (kv_select.cuh: 12 KB for 64 rows, 2 CTAs a multiprocessor still fit) */
static_assert(VOX_KT_CAND == VOX_KF_CAND, "the launcher sizes the candidates as vox_kf_topk caps them");

/* The per-row finish (one warp): row r of the tile (query block i), its words of bits and B's candidates in
 * the slice. Returns 1 (list and count written) or 0 (the exact path: nothing written). */
template <bool BRK>
__device__ int vox_kt_finish(const unsigned *bits, const uint2 *cand, int WB, int B, int rem, int cnt, int n,
                             float inv, float nb0, float amax, const float *q, const float *kh, int NB, int NBv,
                             int i, int *crow, int *count, const vox_kv_select_args &a, double Es, double delta,
                             vox_kf_work *w)
{
    const int lane = threadIdx.x % VOX_WARP_SIZE;
    unsigned *cv = w->msum[0], *cj = w->msum[1], *wb = (unsigned *)w->hist; /* WB <= 256 words */
    for (int k = lane; k < cnt; k += VOX_WARP_SIZE) {
        const uint2 c = cand[k];
        cv[k] = c.x, cj[k] = c.y;
    }
    for (int x = lane; x < WB; x += VOX_WARP_SIZE)
        wb[x] = bits[x];
    VOX_SYNCWARP();
    float thi;
    const int t = vox_kf_topk_band<BRK, VOX_KT_NBIN>(cv, cj, cnt, rem, n - rem, B, inv, nb0, amax, q, kh, a, n, Es,
                                                     delta, w, &thi, [&](int j, bool take) {
                                                         if (take)
                                                             atomicOr(wb + j / 32, 1u << (j % 32));
                                                     });
    if (t <= 0)
        return 0; /* -1 too: no old path here, the exact one */
    /* B's blocks above the window, and the own block */
    for (int k = lane; k < cnt; k += VOX_WARP_SIZE)
        if (__uint_as_float(cv[k]) > thi)
            atomicOr(wb + cj[k] / 32, 1u << (cj[k] % 32));
    if (lane == 0)
        atomicOr(wb + i / 32, 1u << (i % 32));
    VOX_SYNCWARP();
    /* ordered compaction: the words in order, each word's bits from the lowest */
    int base = 0;
    for (int x0 = 0; x0 < WB; x0 += VOX_WARP_SIZE) {
        unsigned v = x0 + lane < WB ? wb[x0 + lane] : 0u;
        int tot, p = vox_ks_scan(__popc(v), &tot);
        while (v) {
            const int bit = __ffs(v) - 1;
            crow[base + p++] = 32 * (x0 + lane) + bit;
            v &= v - 1u;
        }
        base += tot;
    }
    for (int j = NBv + lane; j < NB; j += VOX_WARP_SIZE)
        crow[base + j - NBv] = j;
    if (lane == 0)
        *count = base + NB - NBv;
    return 1;
}
#endif

#if VOX_HAVE_MMA_SYNC

/* The kernel (top of this file); BRK: vox_kf_topk_band's deliberate break (tests only). Elsewhere than in
 * sm_90a code the default kernel's body (the launcher only takes this one on sm_90 at head_dim 128). */
template <bool BRK>
__device__ __forceinline__ void vox_kt_select(const vox_kv_select_bufs &b, const vox_kv_select_args &a)
{
#if VOX_HAVE_WGMMA
    __shared__ double red[VOX_MAX_WARPS];
    __shared__ float2 rext[2 * VOX_KM_ROWS]; /* pass 1's extremes (vox_km_ext_put) */
    __shared__ float rinv[VOX_KM_ROWS], rnb[VOX_KM_ROWS];
    __shared__ int rB[VOX_KM_ROWS], rrem[VOX_KM_ROWS], rcnt[VOX_KM_ROWS], rc[VOX_KM_ROWS];
    __shared__ int rowctr;
    const float *qbar = vox_ptr<const float>(b.qbar), *kbar = vox_ptr<const float>(b.kbar);
    int *list = vox_ks_list(b, a);
    const int *start = vox_ptr<const int>(b.kv_start);
    int *count = vox_ptr<int>(b.kv_count), *cols = vox_ptr<int>(b.kv_cols);
    const int NB = (int)a.NB, NBv = (int)a.NBv, D = 128, lane = threadIdx.x % VOX_WARP_SIZE;
    const int warp = threadIdx.x / VOX_WARP_SIZE, nw = VOX_KM_THREADS / VOX_WARP_SIZE, g = lane >> 2;
    const int mt = warp & 3, wg = warp >> 2, r0 = 16 * mt + g, CH = 8 * 8 * VOX_WARP_SIZE;
    const i64 S = vox_ks_stride(a.NBv), nch = (a.NBv + VOX_KM_KEYS - 1) / VOX_KM_KEYS;
    const int WB = (int)(2 * nch); /* words of bits a row */
    unsigned *bits = (unsigned *)(vox_ks_slices(b, a) + vox_km_kb_bytes(a) + (i64)blockIdx.x * a.per_block);
    uint2 *cand = (uint2 *)(bits + VOX_KM_ROWS * WB);
    const uint4 *frags = vox_km_frags(b, a);
    const unsigned s0 = vox_smem_addr(vox_dyn_smem), sa = (s0 + 1023u) & ~1023u, aa = sa + 2u * CH * 16u;
    uint4 *ks = (uint4 *)(vox_dyn_smem + (sa - s0));
    unsigned char *as = (unsigned char *)(ks + 2 * CH);
    unsigned *hist = (unsigned *)(as + 32768);
    constexpr int HW = VOX_KT_NBIN / 2; /* histogram words a row */
    vox_kf_work *work = (vox_kf_work *)ks; /* the finish's work spaces, over the chunks */
    const vox_kf_bound eb = vox_km_bound((double)D);
    int n = a.max_blocks < NBv ? (int)a.max_blocks : NBv; /* TOPK's count (the launcher: 0 < n < NBv) */
    if (n < a.min_blocks)
        n = a.min_blocks < NBv ? (int)a.min_blocks : NBv;
    const unsigned long long pk = vox_km_policy(true);
    const vox_km_tiling T = vox_km_tiles(a, NBv); /* the tiles as vox_km_select takes them */
    for (i64 t = blockIdx.x; t < T.F + a.BH * T.per; t += gridDim.x) {
        i64 bh, i0;
        int cap;
        vox_km_tile(T, t, &bh, &i0, &cap);
        if (i0 == 0)
            vox_ks_dense_globals(start, count, cols, bh, NB, NBv, VOX_KM_THREADS);
        const int nrows = NBv - i0 < cap ? (int)(NBv - i0) : cap;
        if (threadIdx.x == 0)
            rowctr = nw;
        if (nrows <= 0)
            continue; /* CTA-uniform; no barrier skipped that others wait at */
        const float4 *meta = vox_km_meta(b, a) + bh * nch * 8;
        int nonfinite;
        float nkmax, iq0, iq1;
        {
            unsigned ah[8][4], al[8][4];
            vox_km_tile_start<true>(frags, meta, qbar, bh, i0, nrows, NB, nch, mt, ks, pk, ah, al, &iq0, &iq1,
                                    &nonfinite, &nkmax);
            if (wg == 0) { /* A as wgmma's operand, published by the sweep's first barrier */
#pragma unroll
                for (int s = 0; s < 8; s++)
                    vox_km_a_put(as, r0, s, lane & 3, ah[s], al[s]);
            }
        }
        /* pass 1: the extremes */
        vox_km_ext ext = {-INFINITY, INFINITY, -INFINITY, INFINITY};
        vox_km_sweep(frags, meta, bh, nch, ks, sa, aa, pk, [&](i64 n0, const float *run, float ik, int) {
            vox_km_store<true, false>(nullptr, S, NBv, nrows, r0, n0, run, iq0, iq1, ik, &ext);
        });
        vox_km_ext_put(ext, rext, 4);
        const int bad = __syncthreads_or(nonfinite); /* also publishes rext */
        const float nk2 = (float)block_reduce<true>((double)nkmax, red);
        if (!bad) { /* CTA-uniform */
            if (threadIdx.x < VOX_KM_ROWS) { /* the rows' bins: vox_kf_topk's */
                const int r = threadIdx.x;
                const float amax = fmaxf(rext[r].x, rext[64 + r].x), amin = fminf(rext[r].y, rext[64 + r].y);
                float inv, nb0;
                const bool ok = vox_kf_bins<VOX_KT_NBIN>(amax, amin, &inv, &nb0) && r < nrows;
                rinv[r] = ok ? inv : 0.f, rnb[r] = ok ? nb0 : 0.f, rB[r] = ok ? 0 : -1, rc[r] = 0;
            }
            for (int x = threadIdx.x; x < VOX_KM_ROWS * HW; x += VOX_KM_THREADS)
                hist[x] = 0u;
            vox_km_stage_kb<true>(frags, bh, nch, 0, 8, ks, pk); /* after the sweep's last barrier */
            __syncthreads(); /* the rows' bins and the zeroed histograms seen */
            float inv[2], nb[2];
            bool ok[2];
#pragma unroll
            for (int e = 0; e < 2; e++)
                inv[e] = rinv[r0 + 8 * e], nb[e] = rnb[r0 + 8 * e], ok[e] = rB[r0 + 8 * e] >= 0;
            /* pass 2: the histograms */
            vox_km_sweep(frags, meta, bh, nch, ks, sa, aa, pk, [&](i64 n0, const float *run, float ik, int) {
                const i64 j = n0 + 2 * (threadIdx.x & 3);
#pragma unroll
                for (int e = 0; e < 2; e++)
#pragma unroll
                    for (int c = 0; c < 2; c++)
                        if (ok[e] && j + c < NBv) {
                            const int bin = vox_kf_bin_in(run[2 * e + c] * (e ? iq1 : iq0) * ik, inv[e], nb[e]);
                            atomicAdd(hist + (r0 + 8 * e) * HW + (bin >> 1), (bin & 1) ? 65536u : 1u);
                        }
            });
            vox_km_stage_kb<true>(frags, bh, nch, 0, 8, ks, pk); /* pass 3's first chunk, during the search */
            for (int r = warp; r < nrows; r += nw) /* the rows' boundary bins */
                if (rB[r] >= 0) {
                    const unsigned *hr = hist + r * HW;
                    vox_kf_bin_find<VOX_KT_NBIN>(n, &rB[r], &rrem[r], &rcnt[r], [&](int x) {
                        return (int)(hr[x >> 1] >> (16 * (x & 1)) & 0xffffu);
                    });
                }
            __syncthreads();
            int Bb[2];
#pragma unroll
            for (int e = 0; e < 2; e++)
                Bb[e] = ok[e] && rcnt[r0 + 8 * e] <= VOX_KT_CAND ? rB[r0 + 8 * e] : -1;
            /* pass 3: bits above B, B's blocks */
            unsigned m[2] = {0u, 0u};
            vox_km_sweep(frags, meta, bh, nch, ks, sa, aa, pk, [&](i64 n0, const float *run, float ik, int jt) {
                const i64 j = n0 + 2 * (threadIdx.x & 3);
#pragma unroll
                for (int e = 0; e < 2; e++)
#pragma unroll
                    for (int c = 0; c < 2; c++)
                        if (Bb[e] >= 0 && j + c < NBv) {
                            const float v = run[2 * e + c] * (e ? iq1 : iq0) * ik;
                            const int bin = vox_kf_bin_in(v, inv[e], nb[e]), r = r0 + 8 * e;
                            if (bin > Bb[e]) {
                                m[e] |= 1u << (8 * jt + 2 * (threadIdx.x & 3) + c);
                            } else if (bin == Bb[e]) {
                                const int k = atomicAdd(&rc[r], 1);
                                if (k < VOX_KT_CAND)
                                    cand[r * VOX_KT_CAND + k] = make_uint2(__float_as_uint(v), (unsigned)(j + c));
                            }
                        }
                if (jt == 3) { /* the warp's word of the chunk: the quad's bits joined */
#pragma unroll
                    for (int e = 0; e < 2; e++) {
                        m[e] |= VOX_SHFL_XOR(m[e], 1);
                        m[e] |= VOX_SHFL_XOR(m[e], 2);
                    }
                    const int e = threadIdx.x & 1, r = r0 + 8 * e;
                    if ((threadIdx.x & 2) == 0 && r < nrows)
                        bits[r * WB + (int)(n0 >> 5)] = e ? m[1] : m[0];
                    m[0] = m[1] = 0u;
                }
            });
            /* (the sweep's last barrier: every bit, candidate and count written and seen by the CTA) */
        }
        /* the finish: the rows to the warps as they come free */
        int nx = lane == 0 ? atomicAdd(&rowctr, 1) : 0;
        for (int r = warp; r < nrows;) {
            nx = VOX_SHFL(nx, 0);
            const i64 m = bh * NB + i0 + r;
            int done = 0;
            if (!bad && rB[r] >= 0 && rcnt[r] <= VOX_KT_CAND && rc[r] == rcnt[r]) {
                const double nq2 = vox_kf_nq2(qbar + m * D, D);
                const vox_kf_rb rb = vox_kf_row_bound(a, nk2, nq2, eb);
                if (vox_kf_rb_ok(a, rb)) {
                    const float amax = fmaxf(rext[r].x, rext[64 + r].x);
                    done = vox_kt_finish<BRK>(bits + r * WB, cand + r * VOX_KT_CAND, WB, rB[r], rrem[r], rcnt[r], n,
                                              rinv[r], rnb[r], amax, qbar + m * D, kbar + bh * NB * D, NB, NBv,
                                              (int)(i0 + r), cols + start[m], count + m, a, vox_kf_rb_es(a, rb),
                                              rb.delta, work + warp);
                }
            }
            if (!done && lane == 0)
                vox_ks_list_add(list, a, bh, m); /* for vox_kv_select_rows */
            VOX_SYNCWARP(); /* the work space read before the next row overwrites it */
            r = nx;
            nx = lane == 0 && r < nrows ? atomicAdd(&rowctr, 1) : 0;
        }
        __syncthreads(); /* before the next tile rewrites the chunks (work spaces), the rows' state and rowctr */
    }
#else
    vox_km_select<true, VOX_KF_NEW>(b, a);
#endif
}

VOX_KERNEL void __launch_bounds__(VOX_KM_THREADS, 2)
    vox_kv_select_fast_kb_tp(VOX_PARAM vox_kv_select_bufs b, VOX_PARAM vox_kv_select_args a)
{
    vox_kt_select<false>(b, a);
}
/* with vox_kf_topk_band's deliberate break (VOXATTN_KV_SELECT_FAST_BREAK with the three-pass kernel; tests only) */
VOX_KERNEL void __launch_bounds__(VOX_KM_THREADS, 2)
    vox_kv_select_fast_kb_tp_brk(VOX_PARAM vox_kv_select_bufs b, VOX_PARAM vox_kv_select_args a)
{
    vox_kt_select<true>(b, a);
}

#endif
