/* voxattn OpenCL: kv_select's TOPK rule with one warp per query row
 * (vox_kv_select_warp, program PROG_KVW: kv_select.cl then this file; f64
 * devices only, the host takes it for rule TOPK where VOXATTN_OPENCL_KV_WARP
 * allows). Phase 1 is kv_select.cl's (kv_scores_staged, or
 * kv_scores_rowread): the tile's KV_ROWS rows of exact f64 scores s_j (the
 * reference's sums) into the work-group's scratch slice. Phase 2 runs the
 * tile's rows in parallel, row r on warp r (vox_kv_select's phase 2 runs
 * them one after another, each step through work-group barriers): max and
 * sum of exp by warp butterflies (each exp(s_j - max) kept over s_j), p_j =
 * exp(s_j - max) / z written over it
 * (the key: p's bits, as vox_kv_select's), the n-th largest key T and how
 * many keys equal to T go in (rem) by a radix descent of 8 bits per pass
 * over a warp-private histogram in local memory, and the ordered compaction
 * by ballots, 32 blocks per step. The same decisions as vox_kv_select (same
 * p, same T, rem and order; z is summed in another order, as there).
 * Warp ops: KV_WARP 1, inline PTX (NVIDIA sm_70+: bar.warp.sync,
 * shfl.sync, vote.sync.ballot; NVIDIA's 1-D work-groups put 32 consecutive
 * items in a warp); KV_WARP 2 (VOXATTN_OPENCL_KV_WARP=emu), emulated: a
 * work-group of 32 items is the warp, its syncs work-group barriers, its
 * shuffles and ballots through local memory (PoCL runs test_ops kv_select
 * with it). Every warp op is reached by the whole warp (warp-uniform flow:
 * on the emulation, work-group-uniform). */
#ifdef __OPENCL_VERSION__

#ifndef KV_WARP
#define KV_WARP 0
#endif
#if KV_WARP == 1
#define KW_LSZ KV_LSZ
#else
#define KW_LSZ 32 /* the emulation: one warp per work-group */
#endif
#define KW_NW (KW_LSZ / 32) /* warps per work-group */

#if KV_WARP == 1
#define KW_SYNC() asm volatile("bar.warp.sync 0xffffffff;" ::: "memory")
uint kw_shfl_xor(uint x, int o, __local uint *wb, int lane)
{
    (void)wb, (void)lane;
    uint y;
    asm volatile("shfl.sync.bfly.b32 %0, %1, %2, 31, 0xffffffff;" : "=r"(y) : "r"(x), "r"(o));
    return y;
}
uint kw_shfl_up(uint x, int d, __local uint *wb, int lane)
{
    (void)wb, (void)lane;
    uint y;
    asm volatile("shfl.sync.up.b32 %0, %1, %2, 0, 0xffffffff;" : "=r"(y) : "r"(x), "r"(d));
    return y;
}
uint kw_ballot(int p, __local uint *wb, int lane)
{
    (void)wb, (void)lane;
    uint m;
    asm volatile("{\n\t.reg .pred q;\n\tsetp.ne.s32 q, %1, 0;\n\tvote.sync.ballot.b32 %0, q, 0xffffffff;\n\t}"
                 : "=r"(m)
                 : "r"(p));
    return m;
}
#else
#define KW_SYNC() barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE)
uint kw_shfl_xor(uint x, int o, __local uint *wb, int lane)
{
    KW_SYNC();
    wb[lane] = x;
    KW_SYNC();
    return wb[lane ^ o];
}
uint kw_shfl_up(uint x, int d, __local uint *wb, int lane)
{
    KW_SYNC();
    wb[lane] = x;
    KW_SYNC();
    return lane >= d ? wb[lane - d] : x;
}
uint kw_ballot(int p, __local uint *wb, int lane)
{
    KW_SYNC();
    wb[lane] = p != 0;
    KW_SYNC();
    uint m = 0;
    for (int k = 0; k < 32; k++)
        m |= wb[k] << k;
    return m;
}
#endif

#if VOX_USE_FP64
double kw_shfl_xor_d(double x, int o, __local uint *wb, int lane)
{
    const ulong u = as_ulong(x);
    const uint lo = kw_shfl_xor((uint)u, o, wb, lane), hi = kw_shfl_xor((uint)(u >> 32), o, wb, lane);
    return as_double(upsample(hi, lo));
}

/* The warp's max as the reference's `s > mx ? s : mx` (NaN never taken;
 * equal values keep +0 over -0, so that every lane ends with the same bits). */
double kw_max(double x, __local uint *wb, int lane)
{
    for (int o = 16; o > 0; o >>= 1) {
        const double y = kw_shfl_xor_d(x, o, wb, lane);
        x = y > x || (y == x && signbit(x)) ? y : x;
    }
    return x;
}

/* The warp's sum by butterflies (every lane the same bits: each step adds
 * the same two values). */
double kw_sum(double x, __local uint *wb, int lane)
{
    for (int o = 16; o > 0; o >>= 1)
        x += kw_shfl_xor_d(x, o, wb, lane);
    return x;
}

/* Exclusive prefix sum over the warp's lanes. */
uint kw_scan_excl(uint x, __local uint *wb, int lane)
{
    uint s = x;
    for (int d = 1; d < 32; d <<= 1) {
        const uint y = kw_shfl_up(s, d, wb, lane);
        if (lane >= d)
            s += y;
    }
    return s - x;
}

/* The target-th largest (1 <= target < NBv; 0: none, T 0) of the row's keys (the bits of
 * p >= 0): *T, and how many of the keys equal to T go in (*rem; KV_ALL:
 * every one), as kv_descend with_mass 0. 8 bits per pass from the top; lane
 * t takes bins 255 - 8t .. 248 - 8t (the scan runs down the keys). */
void kw_descend(__global const real *P, long NBv, ulong target, __local uint *h, __local uint *wb,
                __local ulong *bc, int lane, ulong *T, ulong *rem_out)
{
    ulong prefix = 0, hmask = 0, rem = target;
    if (lane == 0)
        bc[0] = bc[1] = bc[2] = 0; /* target 0 (nothing to find): one pass, then out */
    for (int shift = 56; shift >= 0; shift -= 8) {
        for (int b = lane; b < 256; b += 32)
            h[b] = 0;
        KW_SYNC();
        for (long j = lane; j < NBv; j += 32) {
            const ulong u = as_ulong(P[j]);
            if ((u & hmask) == prefix)
                atomic_inc(&h[(int)((u >> shift) & 255u)]);
        }
        KW_SYNC();
        uint c[8], tot = 0;
        for (int q = 0; q < 8; q++)
            c[q] = h[255 - 8 * lane - q], tot += c[q];
        const uint xc = kw_scan_excl(tot, wb, lane);
        if (xc < rem && rem <= xc + tot) {
            uint acc = xc;
            for (int q = 0; q < 8; q++) {
                if (acc < rem && rem <= acc + c[q])
                    bc[0] = (ulong)(255 - 8 * lane - q), bc[1] = acc, bc[2] = c[q];
                acc += c[q];
            }
        }
        KW_SYNC();
        const ulong bin = bc[0], bxc = bc[1], bcnt = bc[2];
        KW_SYNC(); /* read before the next pass */
        prefix |= bin << shift;
        hmask |= 255UL << shift;
        rem -= bxc;
        if (bcnt == rem) { /* the whole bin goes in: every key >= its lowest */
            *T = prefix, *rem_out = KV_ALL;
            return;
        }
        if (shift == 0) { /* equal keys: the rem lowest-index ones */
            *T = prefix, *rem_out = rem;
            return;
        }
    }
}

/* Row i's list (one warp): its scores s in P (video rows) become p. Every
 * warp op is reached whatever the row (flat code, loops of 0 trips where a
 * step does not apply): PoCL's work-group compiler mishandled them inside
 * branches (the emulation's barriers). */
void kw_row(__global real *P, long NB, long NBv, long i, int video, long n, __global int *cols,
            __global int *count, __local uint *h, __local uint *wb, __local ulong *bc, int lane)
{
    const int some = video && n > 0, act = some && n < NBv;
    const long na = act ? NBv : 0;
    real lmx = -INFINITY;
    for (long j = lane; j < na; j += 32) {
        const real sj = P[j];
        lmx = sj > lmx ? sj : lmx;
    }
    const real mx = kw_max(lmx, wb, lane);
    real lz = 0;
    for (long j = lane; j < na; j += 32) { /* exp(s - max) kept in place for p */
        const real e = exp(P[j] - mx);
        P[j] = e;
        lz += e;
    }
    const real z = kw_sum(lz, wb, lane);
    const int by_index = act && isnan(z); /* every p NaN: the index order (keys 0) */
    const long np = act && !by_index ? NBv : 0;
    for (long j = lane; j < np; j += 32)
        P[j] = P[j] / z;
    KW_SYNC();
    ulong T = 0, rem = KV_ALL;
    kw_descend(P, np, np > 0 ? (ulong)n : 0, h, wb, bc, lane, &T, &rem);
    T = np > 0 ? T : 0;
    rem = np > 0 ? rem : by_index ? (ulong)n : KV_ALL;
    /* ordered compaction: every block of a global row; else the own block,
     * the global blocks, and the n first of the order (keys > T, and the rem
     * lowest-index keys == T) */
    uint base = 0;
    ulong eq = 0;
    const uint below = (1u << lane) - 1u;
    for (long j0 = 0; j0 < NB; j0 += 32) {
        const long j = j0 + lane;
        const int v = some && j < NBv;
        const ulong k = v && np > 0 ? as_ulong(P[j]) : 0;
        const int ise = v && k == T;
        const uint m = kw_ballot(ise, wb, lane);
        const int pick = (j < NB && (!video || j >= NBv || j == i)) ||
                         (v && (k > T || (ise && (rem == KV_ALL || eq + popcount(m & below) < rem))));
        eq += popcount(m);
        const uint pm = kw_ballot(pick, wb, lane);
        if (pick)
            cols[base + popcount(pm & below)] = (int)j;
        base += popcount(pm);
    }
    if (lane == 0)
        *count = (int)base;
}
#endif /* VOX_USE_FP64 */

__kernel void vox_kv_select_warp(VOX_CL_BUF_PARAMS(VOX_KV_SELECT_BUFS) VOX_CL_ARG_PARAMS(VOX_KV_SELECT_ARGS),
                                 __local uint *lscratch)
{
#if VOX_USE_FP64
    __local uint hist[KW_NW][256], wbuf[KW_NW][32];
    __local ulong wbc[KW_NW][4];
    VOX_CL_APPLY_OFFSETS(VOX_KV_SELECT_BUFS)
    VOX_CL_ARGS(kv_select, VOX_KV_SELECT_ARGS)
    const long NB = args.NB, NBv = args.NBv, tph = (NB + KV_ROWS - 1) / KV_ROWS, ntiles = args.BH * tph;
    const int D = (int)args.D, lane = LID & 31, warp = LID >> 5;
    const real scale = VOX_REAL_ARG(args.scale, args.scale_f);
    __global real *S = (__global real *)(scratch + get_group_id(0) * args.per_block);
    __local real *qt = (__local real *)lscratch;
    __local float *kst = (__local float *)(qt + KV_ROWS * D); /* KV_KD x KV_KS */
    long n = min((long)args.max_blocks, NBv);
    if (n < args.min_blocks)
        n = min((long)args.min_blocks, NBv);
    for (long t = get_group_id(0); t < ntiles; t += get_num_groups(0)) {
        const long bh = t / tph, i0 = (t - bh * tph) * KV_ROWS;
        const int nv = (int)clamp(NBv - i0, 0L, (long)KV_ROWS), nr = (int)min(NB - i0, (long)KV_ROWS);
        __global const float *qrow = qbar + (bh * NB + i0) * D, *kh = kbar + bh * NB * D;
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
        for (int x = LID; x < KV_ROWS * D; x += KW_LSZ)
            qt[x] = x < nv * D ? (real)qrow[x] : 0;
        barrier(CLK_LOCAL_MEM_FENCE);
#if KV_ROWREAD || KW_LSZ != KV_LSZ
        (void)kst;
        kv_scores_rowread(kh, NBv, D, nv, scale, 0, qt, S, LID, KW_LSZ);
#else
        kv_scores_staged(kh, NBv, D, nv, scale, 0, qt, kst, S);
#endif
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
        for (int r = warp; r < nr; r += KW_NW) {
            const long i = i0 + r, m = bh * NB + i;
            kw_row(S + r * NBv, NB, NBv, i, r < nv, n, kv_cols + kv_start[m], kv_count + m, hist[warp], wbuf[warp],
                   wbc[warp], lane);
        }
    }
#endif
}

#endif /* __OPENCL_VERSION__ */
