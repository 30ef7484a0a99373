/* query_select's staged warp kernel (CUDA and HIP), vox_query_select_stage_<dtype>,
 * the default on NVIDIA sm_80+: the warp kernel's arithmetic (query_select_warp.cuh:
 * one warp per (bh, block), VOX_QW_GROUPS windows per turn, 8 lanes per window, the
 * same f32 Gram sums in the same order, the same certificates, the same in-place
 * exact path vox_qw_exact, the same compaction: the same decisions bit for bit)
 * with the block's rows read from shared memory instead of global memory.
 *
 * Why: the warp kernel reads each turn's rows with plain loads (8 x 16 bytes per
 * lane in flight, then none while it sums them) and sits at ~1.5 TB/s on the H200
 * with 16 warps per multiprocessor. Here each warp copies its next block's valid
 * rows (16-byte cp.async, .cg: L2 only, no registers held) into its row buffer
 * while it works on the current block, so a block's 16 KB (hunyuan: 64 rows x 256
 * bytes) is in flight per warp with no register cost, and the Gram loop reads
 * shared memory (a group's 8 lanes read 128 consecutive bytes of one row: no bank
 * conflict).
 *
 * Pipeline per warp (items t, t + stride, ... of the grid-stride walk):
 * - the caller's tokens of a block (slot_token, V ints) come one block ahead by
 *   4-byte cp.async into one of two token stages (none for a block copy: slot =
 *   token);
 * - at block t: wait for the copies issued so far (rows of t, tokens of t +
 *   stride), then issue the rows of t + stride (read through its token stage) and
 *   the tokens of t + 2 stride, one commit group. With one row buffer (default,
 *   a.chunk bit 4 clear) the issue waits until the block's last turn has read its
 *   rows (right after that turn's Gram loop); with two (bit 4) it comes at the
 *   block's start, a whole block ahead;
 * - the exact path, the rare windows it redoes, reads global memory as before.
 * a.chunk bit 5 (VOXATTN_QUERY_SELECT_STAGE_BREAK, a deliberate break for the tests) stores
 * rows 2i and 2i+1 of each block in each other's place.
 * Item order: t itself (bh-major, as the warp kernel), or with a.chunk bit 3
 * j-major (t = j * BH + bh: the warps in flight read the heads of the same tokens,
 * whole [H, D] token rows of the caller's layout, instead of one head's 256 bytes
 * of every token).
 *
 * With qbar (third parameter, nonzero only with VOXATTN_QUERY_SELECT_MEANS=1, gpu_query_select) the warp
 * also writes block_means' q output for the block: after the block's last turn (every keep flag final) the
 * mean of its kept rows from the row buffer (vox_qs_block_mean: lane e takes elements e, e + 32, ...; f64
 * sums over the kept local slots ascending = kept_rows' order; bitwise block_means'), a global block's valid
 * rows from global memory, nothing for a marked block (a window over 8 rows: the exact kernel writes its
 * mean). With one row buffer the next block's issue then waits for that pass (it would overwrite the rows):
 * it moves from right after the last turn's Gram loop to after the means, i.e. behind the last turn's
 * decision and the mean pass (backends/cuda/NOTES.md, session 17). Two buffers: unchanged (issued at the
 * block's start into the other buffer).
 * Dynamic shared memory per warp: nbuf * V * chunks 16-byte chunks, then (caller's
 * layout) 2 * V ints, rounded up to 16 bytes (VOX_QSS_WARP_BYTES, query_select.cuh; the launcher
 * uses the same). Warps per CTA: blockDim.x / 32 (<= VOX_QW_WARPS). Without
 * cp.async (HIP, sm < 80, the host emulator tools/qs_emu) the copies are plain
 * 16- and 4-byte loads and stores, the same pipeline. */

#if VOX_GPU_HIP
#define VOX_QSS_BOUNDS __launch_bounds__(VOX_QS_THREADS)
#else
#define VOX_QSS_BOUNDS __launch_bounds__(VOX_QS_THREADS, VOX_QSS_CTAS)
#endif

#if VOX_HAVE_MMA_SYNC
__device__ __forceinline__ void vox_qss_cp16(void *dst, const void *src)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"((unsigned)__cvta_generic_to_shared(dst)),
                 "l"(src));
}
__device__ __forceinline__ void vox_qss_cp4(void *dst, const void *src)
{
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"((unsigned)__cvta_generic_to_shared(dst)),
                 "l"(src));
}
__device__ __forceinline__ void vox_qss_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void vox_qss_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }
#else
__device__ __forceinline__ void vox_qss_cp16(void *dst, const void *src) { *(uint4 *)dst = *(const uint4 *)src; }
__device__ __forceinline__ void vox_qss_cp4(void *dst, const void *src) { *(int *)dst = *(const int *)src; }
__device__ __forceinline__ void vox_qss_commit() {}
__device__ __forceinline__ void vox_qss_wait_all() {}
#endif

/* The output index bh * NB + j of the warp walk's item t. */
__device__ __forceinline__ i64 vox_qss_item(i64 t, i64 BH, i64 NB, bool jmajor)
{
    if (!jmajor)
        return t;
    const i64 j = t / BH;
    return (t - j * BH) * NB + j;
}

/* The staged block's q mean of its kept rows (VOXATTN_QUERY_SELECT_MEANS) from the row buffer `rows`
 * (local slot r at rows + r * D elements): block_means' result bitwise (vox_qs_block_mean's contract).
 * f32 elements: vox_qs_block_mean. f16/bf16: lane l takes the 32-bit words l, l + 32, ... of a row (two
 * elements each: conflict-free shared loads), walks only the kept rows (ballot masks, ascending), and widens
 * each element to f64 without a conversion instruction with block_means' code (half_bits.cuh: the element
 * times 2^-S by moving bits, S = 896 bf16, 1008 f16, exact for subnormals too; the sums of those are the
 * unscaled sums times 2^-S bitwise, see block_means.cuh's header), scaled back by 2^S at the end. An Inf/NaN element (exponent all ones) is noted per element: the result is
 * then the reference's (NaN after a NaN or both infinities, else that infinity). */
template <class DT> struct vox_qsm_half : vox_half_bf16 { /* f32: not used (vox_qs_block_mean) */
    enum { HALF = 0 };
};
template <> struct vox_qsm_half<vox_t_bf16> : vox_half_bf16 {
    enum { HALF = 1 };
};
template <> struct vox_qsm_half<vox_t_f16> : vox_half_f16 {
    enum { HALF = 1 };
};
/* 0 finite, 1 NaN, 2 +Inf, 4 -Inf (H: half_bits.cuh's format) */
template <class H> __device__ __forceinline__ int vox_qsm_special(unsigned h)
{
    if (!H::is_special(h))
        return 0;
    return H::is_nan(h) ? 1 : (h & 0x8000u) ? 4 : 2;
}
__device__ __forceinline__ float vox_qsm_result(double s, int sp, double scale, int n)
{
    if (sp) /* the reference's sum met an Inf or a NaN */
        return (sp & 1) || (sp & 6) == 6 ? __int_as_float(0x7fc00000) : sp & 2 ? VOX_INF : -VOX_INF;
    return (float)(n ? s * scale / (double)n : 0.0);
}
template <class DT>
__device__ __forceinline__ void vox_qss_block_mean(float *qbar, i64 mi, const unsigned char *kept, int nv, i64 D,
                                                   int lane, const void *rows)
{
    typedef vox_qsm_half<DT> H;
    if (!H::HALF) {
        const typename DT::T *rt = (const typename DT::T *)rows;
        vox_qs_block_mean(qbar, mi, kept, (i64)nv, D, lane, VOX_WARP_SIZE,
                          [&](i64 r, i64 e) { return (double)DT::ld(rt + r * D, e); });
        return;
    }
    int n = 0;
    for (int r0 = 0; r0 < nv; r0 += VOX_WARP_SIZE)
        n += __popcll(VOX_BALLOT(r0 + lane < nv && kept[r0 + lane]));
    const int words = (int)(D / 2); /* D % 8 == 0 on the staged path */
    const unsigned *rw = (const unsigned *)rows;
    for (int w0 = 0; w0 < words; w0 += VOX_WARP_SIZE) { /* warp-uniform trips: the ballots below */
        const int w = w0 + lane;
        const bool on = w < words;
        double s0 = 0, s1 = 0;
        int sp0 = 0, sp1 = 0;
        for (int r0 = 0; r0 < nv; r0 += VOX_WARP_SIZE) {
            unsigned long long mk = VOX_BALLOT(r0 + lane < nv && kept[r0 + lane]);
#if defined(VOX_QSM_BREAK) && VOX_QSM_BREAK == 2
            if (r0 + VOX_WARP_SIZE >= nv && mk) /* the block's last kept row left out */
                mk &= ~(1ull << (63 - __clzll((long long)mk)));
#endif
            while (mk) {
                const int r = r0 + __ffsll((long long)mk) - 1;
                mk &= mk - 1;
                if (on) {
                    const unsigned x = rw[(i64)r * words + w];
                    s0 += H::widen1(x & 0xffffu);
                    s1 += H::widen1(x >> 16);
                    sp0 |= vox_qsm_special<H>(x & 0xffffu);
                    sp1 |= vox_qsm_special<H>(x >> 16);
                }
            }
        }
        if (on) {
            qbar[mi * D + 2 * w] = vox_qsm_result(s0, sp0, H::scale(), n);
            qbar[mi * D + 2 * w + 1] = vox_qsm_result(s1, sp1, H::scale(), n);
        }
    }
}

template <class DT>
__device__ void query_select_stage(const typename DT::T *q, const int *win_ptr, const int *windows, const int *valid,
                                   int *kept_count, int *kept_rows, int *fill, i64 BH, i64 NB, i64 NBv, i64 V, i64 D,
                                   const vox_query_select_args &a, float *qbar)
{
    typedef vox_qf_chunk<DT> C;
    typedef typename DT::T T;
    __shared__ vox_qw_warp shw[VOX_QW_WARPS];
    const int lane = threadIdx.x % VOX_WARP_SIZE, wid = threadIdx.x / VOX_WARP_SIZE;
    const int nw = (int)(blockDim.x / VOX_WARP_SIZE);
    const int l = lane % VOX_QW_M, grp = lane / VOX_QW_M, gb = lane - l;
    vox_qw_warp &sh = shw[wid];
    const i64 items = BH * NB;
    const int chunks = (int)(D / C::VEC); /* aligned: D % VEC == 0 */
    const int flags = a.chunk, nbuf = flags & 16 ? 2 : 1;
    const bool jmajor = (flags & 8) != 0;
    const int *tokg = vox_ptr<const int>((unsigned long long)a.tok); /* NULL: a block copy */
    /* this warp's buffers: nbuf row buffers of V rows, then 2 token stages of V ints */
    const i64 per = (i64)nbuf * V * chunks;
    uint4 *rbuf = (uint4 *)vox_dyn_smem + (i64)wid * (VOX_QSS_WARP_BYTES(V, (i64)chunks, nbuf, tokg != nullptr) / 16);
    int *tstage = (int *)(rbuf + per);
    const int lg = (chunks & (chunks - 1)) == 0 ? __ffs(chunks) - 1 : -1; /* log2(chunks) when a power of two */
    const double eps2 = vox_qw_eps2(chunks, C::VEC, D, flags);
    const i64 stride = (i64)gridDim.x * nw;
    const bool means = qbar != nullptr; /* VOXATTN_QUERY_SELECT_MEANS: the blocks' means of their kept rows */

    /* the tokens of item t (a video block's V slots) into token stage s */
    auto copy_tokens = [&](i64 t, int s) {
        if (tokg && t < items) {
            const i64 j = vox_qss_item(t, BH, NB, jmajor) % NB;
            if (j < NBv)
                for (i64 r = lane; r < V; r += VOX_WARP_SIZE)
                    vox_qss_cp4(tstage + s * V + r, tokg + j * V + r);
        }
    };
    /* the nv valid rows of item t into row buffer b (its tokens in stage s), the
     * tokens of t + stride into stage s ^ 1; one commit group */
    auto issue = [&](i64 t, int nv, int s, int b) {
        if (t < items) {
            const i64 mi = vox_qss_item(t, BH, NB, jmajor), bh = mi / NB, j = mi - bh * NB;
            if (j < NBv) {
                const T *qx = vox_rows_of(q, bh, a).x;
                const int *tk = tstage + s * V;
                uint4 *dst = rbuf + (i64)b * V * chunks;
                /* a.chunk bit 5 (VOXATTN_QUERY_SELECT_STAGE_BREAK, tests only): rows 2i and 2i+1 swapped */
                const bool brk = (flags & 32) != 0;
                if (lg >= 0 && chunks <= VOX_WARP_SIZE) {
                    /* a lane keeps one chunk column, so per copy only its row's address is computed (session 27:
                     * the general loop's index and 64-bit address arithmetic was ~25 instructions a copy, a
                     * quarter of the kernel's stall samples; 0.400 -> 0.376 ms at hunyuan-720p keep 0.5) */
                    const int c = lane & (chunks - 1), step = VOX_WARP_SIZE >> lg;
                    const char *src = (const char *)(qx + (i64)c * C::VEC);
                    const i64 stb = a.st * (i64)sizeof(T);
#pragma unroll 4
                    for (int r = lane >> lg; r < nv; r += step) {
                        const int slot = tokg ? tk[r] : (int)(j * V) + r;
                        const int rd = brk && (r ^ 1) < nv ? r ^ 1 : r;
                        vox_qss_cp16(dst + rd * chunks + c, src + (i64)slot * stb);
                    }
                } else {
                    const int total = nv * chunks;
                    for (int x = lane; x < total; x += VOX_WARP_SIZE) {
                        const int r = lg >= 0 ? x >> lg : x / chunks, c = x - r * chunks;
                        const i64 slot = tokg ? (i64)tk[r] : j * V + r;
                        const int rd = brk && (r ^ 1) < nv ? r ^ 1 : r;
                        vox_qss_cp16(dst + rd * chunks + c, qx + slot * a.st + (i64)c * C::VEC);
                    }
                }
            }
        }
        copy_tokens(t + stride, s ^ 1);
        vox_qss_commit();
    };
    auto meta = [&](i64 t, int *nv, int *w0, int *w1) {
        *nv = 0, *w0 = 0, *w1 = 0;
        if (t < items) {
            const i64 j = vox_qss_item(t, BH, NB, jmajor) % NB;
            *nv = valid[j];
            if (j < NBv)
                *w0 = win_ptr[j], *w1 = win_ptr[j + 1];
        }
    };

    /* prologue: the first item's tokens (waited for), its rows, the second's tokens */
    const i64 t0 = (i64)blockIdx.x * nw + wid;
    int nv_n = 0, w0_n = 0, w1_n = 0;
    meta(t0, &nv_n, &w0_n, &w1_n);
    copy_tokens(t0, 1);
    vox_qss_commit();
    vox_qss_wait_all();
    VOX_SYNCWARP();
    issue(t0, nv_n, 1, 0);
    int ts = 1, bt = 0; /* token stage of the current item; row buffer of the current item */
    for (i64 t = t0; t < items; t += stride, ts ^= 1, bt ^= nbuf - 1) {
        const i64 mi = vox_qss_item(t, BH, NB, jmajor), bh = mi / NB, j = mi - bh * NB, base = bh * NB * V,
                  s0 = j * V;
        const int nv = nv_n, w0s = w0_n, w1 = w1_n;
        meta(t + stride, &nv_n, &w0_n, &w1_n);
        vox_qss_wait_all(); /* this item's rows and the next one's tokens */
        VOX_SYNCWARP();
        bool issued = false;
        if (nbuf == 2 || j >= NBv || w0s == w1) {
            issue(t + stride, nv_n, ts ^ 1, bt ^ (nbuf - 1));
            issued = true;
        }
        if (j >= NBv) {
            vox_qs_global_block(fill, kept_rows, kept_count, base, s0, V, nv, mi, lane, VOX_WARP_SIZE);
            if (means) { /* every valid row, from global memory (not staged: a global block's rows are few) */
                const vox_rows_view<T> qv = vox_rows_of(q, bh, a);
                VOX_SYNCWARP(); /* sh.kept of the previous block read */
                for (int r = lane; r < V; r += VOX_WARP_SIZE)
                    sh.kept[r] = (unsigned char)(r < nv);
                VOX_SYNCWARP();
                vox_qs_block_mean(qbar, mi, sh.kept, (i64)nv, D, lane, VOX_WARP_SIZE,
                                  [&](i64 r, i64 e) { return (double)DT::ld(qv.x + qv.slot(s0 + r) * qv.st, e); });
                VOX_SYNCWARP(); /* sh.kept read before the next block rewrites it */
            }
            continue;
        }
        vox_qw_block_start(sh.kept, fill, base, s0, V, nv, lane);
        const uint4 *rows = rbuf + (i64)bt * V * chunks;
        bool big = false;
        for (int w0 = w0s; w0 < w1; w0 += VOX_QW_GROUPS) {
            const int w = w0 + grp;
            int first, m, cl, keep;
            vox_qw_window(windows, w, w1, &first, &m, &cl, &keep, &big);
            const bool row = l < m;
            const uint4 *wrows = rows + (i64)(m > 0 ? first - s0 : 0) * chunks; /* the window's first row */
            /* the Gram matrix of the window's rows (the warp kernel's sums, in its order) */
            float g[VOX_QW_NG];
#pragma unroll
            for (int k = 0; k < VOX_QW_NG; k++)
                g[k] = 0.f;
            for (int c0 = 0; c0 < chunks; c0 += VOX_QW_M) {
                unsigned x4[VOX_QW_M][4];
                const int c = c0 + l;
#pragma unroll
                for (int r = 0; r < VOX_QW_M; r++) {
                    x4[r][0] = x4[r][1] = x4[r][2] = x4[r][3] = 0;
                    if (r < m && c < chunks) {
                        const uint4 v = wrows[r * chunks + c];
                        x4[r][0] = v.x, x4[r][1] = v.y, x4[r][2] = v.z, x4[r][3] = v.w;
                    }
                }
#pragma unroll
                for (int e = 0; e < C::VEC; e++) {
                    float x[VOX_QW_M];
#pragma unroll
                    for (int r = 0; r < VOX_QW_M; r++)
                        x[r] = C::at(x4[r], e);
#pragma unroll
                    for (int r = 0; r < VOX_QW_M; r++)
#pragma unroll
                        for (int s = r; s < VOX_QW_M; s++)
                            g[vox_qf_tri(r, s)] = fmaf(x[r], x[s], g[vox_qf_tri(r, s)]);
                }
            }
            /* the block's rows are read: the next block's in flight (with the means, one row buffer: after them) */
            if (!issued && !means && w0 + VOX_QW_GROUPS >= w1) {
                VOX_SYNCWARP();
                issue(t + stride, nv_n, ts ^ 1, bt);
                issued = true;
            }
            const bool redo = vox_qw_decide(g, sh.g[grp], row, l, gb, m, cl, keep, first, s0, base, eps2, sh.kept, fill);
            if (VOX_ANY(redo)) { /* rare: the exact path reads the rows from global memory */
                const vox_rows_view<T> qv = vox_rows_of(q, bh, a);
                const T *mine = qv.x + (row ? qv.slot(first + l) * qv.st : 0);
                vox_qw_exact<DT, true>(redo, row, mine, m, cl, keep, first, s0, base, D, sh.kept, fill);
            }
            VOX_SYNCWARP(); /* sh.g read before the next turn rewrites it */
        }
        const bool anybig = VOX_ANY(big);
        if (means && !anybig) { /* (a marked block's mean: the exact kernel's) the kept rows, staged */
            vox_qss_block_mean<DT>(qbar, mi, sh.kept, nv, D, lane, rows);
            VOX_SYNCWARP(); /* the rows read before the issue below overwrites them (one row buffer) */
        }
        if (!issued)
            issue(t + stride, nv_n, ts ^ 1, bt);
        vox_qw_compact(anybig, sh.kept, V, mi, lane, kept_count, kept_rows);
        VOX_SYNCWARP(); /* sh.kept read before the next block clears it */
    }
    vox_qss_wait_all(); /* no copy outlives the CTA */
}

/* Taken by the launcher only where 16-byte loads are aligned (q, D and the
 * strides multiples of 16 bytes) and the buffers fit (gpu_query_select). */
#define VOX_QUERY_SELECT_STAGE_KERNEL(NAME, DT)                                                                \
    VOX_KERNEL void VOX_QSS_BOUNDS vox_query_select_stage_##NAME(vox_query_select_bufs b, vox_query_select_args a, \
                                                                 unsigned long long qbar)                     \
    {                                                                                                          \
        query_select_stage<DT>(vox_ptr<const DT::T>(b.q), vox_ptr<const int>(b.win_ptr),                       \
                               vox_ptr<const int>(b.windows), vox_ptr<const int>(b.valid),                     \
                               vox_ptr<int>(b.kept_count), vox_ptr<int>(b.kept_rows),                          \
                               vox_ptr<int>(b.fill_src), a.BH, a.NB, a.NBv, vox_i64(a.V), vox_i64(a.D), a,     \
                               vox_ptr<float>(qbar));                                                          \
    }
VOX_EACH_DTYPE(VOX_QUERY_SELECT_STAGE_KERNEL)
