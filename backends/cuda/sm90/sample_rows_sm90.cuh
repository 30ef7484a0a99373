/* sample_rows (core/backend.h) for f16/bf16 at head_dim 128 on sm_90a by
 * wgmma (session 15, branch svg9; built by sample_rows_sm90.cu into its own
 * module). Same work split, output and arithmetic
 * shape as vox_sample_rows_mma16la_* (sample_rows_mma.cuh): per (bh, key split,
 * group of 64 sampled rows) one unit streams its split's key blocks in tiles
 * of up to 64 keys of one block and writes per (bh, row, split, pattern)
 * {max, sum, acc[D]} (f32) to b.work; vox_sample_rows_merge merges the splits.
 *
 * CTA: one warpgroup (128 threads, 4 warps), two CTAs per multiprocessor
 * (2 K/V stages: 81 KB of shared memory, at most 255 registers). The 64
 * sampled rows are wgmma's M tile: warp w holds rows 16w + g and 16w + g + 8
 * (g = lane / 4), the accumulator layout of mma.sync's m16n8 per 8 columns, so
 * the softmax helpers of sample_rows_mma.cuh serve unchanged with every warp
 * holding all 64 keys of a tile. Q, K and V sit in shared memory as the sm90
 * forward lays them out (two 64-dim halves of 64 rows of 128 bytes, 128-byte
 * swizzled), copied by cp.async (zero-filled past the block's valid keys).
 * Per tile:
 *  - S = Q K^T (wgmma m64n64k16, A and B from shared memory), one fresh
 *    accumulator per 16 dims added in f32 (as mma16la), two fresh
 *    accumulators in turn so that a step's wgmma runs while the previous
 *    step is added;
 *  - the tile max (NaN wins), weights expf(s - m), the sum and the exact
 *    three-piece split of P exactly as mma16la (vox_srm_*), the pieces as
 *    wgmma A fragments in registers;
 *  - T = P V per 64-dim half (wgmma m64n64k16, B = V MN-major): per 16 keys
 *    lo, mid, hi into a fresh accumulator (T itself for the first 16 keys),
 *    added to T in f32; a tile whose V holds an Inf or NaN: hi alone;
 *  - the half of T merged online into the dense pattern's accumulators
 *    (registers) and, for rows whose spatial/temporal pattern allows the
 *    block, into that pattern's accumulators, which live in the unit's own
 *    output rows in b.work (read-modify-write by the owning thread only:
 *    rare, 1/8 and ~4% of a row's tiles at hunyuan-720p).
 * Sums: the same operations as mma16la except the order of the weights' sum
 * (each lane's 16 keys, then the quad, against 4 warps' partial sums) and
 * the tensor core's internal summation (wgmma's instead of mma.sync's): not
 * bitwise mma16la's, within the same bounds (docs/numerics.md).
 * sm_90a code only (VOX_SRW_HAVE_WGMMA; the module is built for sm_90a alone
 * and loaded on sm_90 devices). Kernels: vox_sample_rows_wg1_* (the default: P V
 * with one fresh accumulator, each step waited for; ~250 registers, no spills)
 * and vox_sample_rows_wg_* (two in turn; 255 registers, ~230 B of spills);
 * measured on the H200 at hunyuan-720p (session 15, one process, launches
 * interleaved): wg1 1.255 ms, wg 1.316, mma16la 1.698. Switches
 * (docs/environment.md): VOXATTN_SAMPLE_ROWS_WG_OFF (mma16la), _WG_PV2 (wg),
 * _ROTATE (A/B in one process), _WG_BREAK (tests only). */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define VOX_SRW_HAVE_WGMMA 1
#else
#define VOX_SRW_HAVE_WGMMA 0
#endif

#if VOX_SRW_HAVE_WGMMA
__device__ __forceinline__ void vox_srw_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void vox_srw_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void vox_srw_wait()
{
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
template <int N> __device__ __forceinline__ void vox_srw_pin(float *r)
{
#pragma unroll
    for (int i = 0; i < N; i++)
        asm volatile("" : "+f"(r[i])::"memory");
}
/* Shared-memory matrix descriptor, 128-byte swizzle (the sm90 forward's desc_sw128). */
__device__ __forceinline__ unsigned long long vox_srw_desc(unsigned addr, unsigned lbo, unsigned sbo)
{
    return (unsigned long long)((addr & 0x3FFFF) >> 4) | ((unsigned long long)((lbo >> 4) & 0x3FFF) << 16) |
           ((unsigned long long)((sbo >> 4) & 0x3FFF) << 32) | (1ull << 62);
}
/* d (+)= A B, m64n64k16, A and B K-major from shared memory (S = Q K^T). */
template <bool BF>
__device__ __forceinline__ void vox_srw_ss(float *d, unsigned long long ad, unsigned long long bd, int scale_d)
{
#define VOX_SRW_SS(TY)                                                                                           \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"                                                  \
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY " {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10," \
                 "%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, %32, %33, " \
                 "p, 1, 1, 0, 0;\n}\n"                                                                        \
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]),      \
                   "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]),     \
                   "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]),     \
                   "+f"(d[29]), "+f"(d[30]), "+f"(d[31])                                                         \
                 : "l"(ad), "l"(bd), "r"(scale_d))
    if (BF)
        VOX_SRW_SS("bf16");
    else
        VOX_SRW_SS("f16");
#undef VOX_SRW_SS
}
/* d (+)= A B, m64n64k16, A from registers, B MN-major from shared memory (T = P V). */
template <bool BF>
__device__ __forceinline__ void vox_srw_rs(float *d, const unsigned *a, unsigned long long bd, int scale_d)
{
#define VOX_SRW_RS(TY)                                                                                           \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"                                                  \
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY " {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10," \
                 "%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, "       \
                 "{%32,%33,%34,%35}, %36, p, 1, 1, 1;\n}\n"                                                    \
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]),      \
                   "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]),     \
                   "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]),     \
                   "+f"(d[29]), "+f"(d[30]), "+f"(d[31])                                                         \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(bd), "r"(scale_d))
    if (BF)
        VOX_SRW_RS("bf16");
    else
        VOX_SRW_RS("f16");
#undef VOX_SRW_RS
}

/* Step kk's wgmma of S = Q K^T into d (fresh: scale_d 0): Q at qb, the stage's K at kb. */
template <bool BF> __device__ __forceinline__ void vox_srw_s_step(float *d, unsigned qb, unsigned kb, int kk)
{
    const unsigned off = (kk >> 2) * 8192 + (kk & 3) * 32;
    vox_srw_fence();
    vox_srw_ss<BF>(d, vox_srw_desc(qb + off, 16, 1024), vox_srw_desc(kb + off, 16, 1024), 0);
    vox_srw_commit();
}
/* Keys 16kk .. +15 of T = P V for one 64-dim half (V at vb: the half's first row), pieces
 * lo, mid, hi (NP = 3) or hi alone (NP = 1) into d, fresh. */
template <bool BF, int NP>
__device__ __forceinline__ void vox_srw_pv_step(float *d, const unsigned (*pf)[3][4], unsigned vb, int kk)
{
    const unsigned long long bd = vox_srw_desc(vb + kk * 2048, 8192, 1024);
    vox_srw_fence();
#pragma unroll
    for (int pc = NP - 1; pc >= 0; pc--)
        vox_srw_rs<BF>(d, pf[kk][pc], bd, pc != NP - 1);
    vox_srw_commit();
}
/* T (32 floats: one half's 8 n-tiles) = P V of the tile's 64 keys, per 16 keys into a fresh
 * accumulator added in f32. PV2: c0, c1 in turn, so that one step's wgmma runs during the
 * previous step's adds (255 registers, ~230 bytes of spills); else c0 alone, each step waited
 * for (~250 registers, no spills). */
template <bool BF, int NP, bool PV2>
__device__ __forceinline__ void vox_srw_pv(float *T, float *c0, float *c1, const unsigned (*pf)[3][4], unsigned vb)
{
    if (!PV2) {
#pragma unroll
        for (int kk = 0; kk < 4; kk++) {
            vox_srw_pv_step<BF, NP>(kk ? c0 : T, pf, vb, kk);
            vox_srw_wait<0>();
            vox_srw_pin<32>(kk ? c0 : T);
            if (kk)
#pragma unroll
                for (int i = 0; i < 32; i++)
                    T[i] += c0[i];
        }
        return;
    }
    vox_srw_pv_step<BF, NP>(T, pf, vb, 0);
    vox_srw_pv_step<BF, NP>(c0, pf, vb, 1);
    vox_srw_wait<1>();
    vox_srw_pin<32>(T);
    vox_srw_pv_step<BF, NP>(c1, pf, vb, 2);
    vox_srw_wait<1>();
    vox_srw_pin<32>(c0);
#pragma unroll
    for (int i = 0; i < 32; i++)
        T[i] += c0[i];
    vox_srw_pv_step<BF, NP>(c0, pf, vb, 3);
    vox_srw_wait<1>();
    vox_srw_pin<32>(c1);
#pragma unroll
    for (int i = 0; i < 32; i++)
        T[i] += c1[i];
    vox_srw_wait<0>();
    vox_srw_pin<32>(c0);
#pragma unroll
    for (int i = 0; i < 32; i++)
        T[i] += c0[i];
}
#endif

template <bool BF, int NS, bool PV2>
__device__ __forceinline__ void sample_rows_wg(const u16 *q, const u16 *k, const u16 *v, const int *rows, i64 R,
                                               const int *coord, const int *valid, i64 NB, int V, int fb, int sb,
                                               int sink, float scale, float *part, int nsplit, i64 BH,
                                               const vox_sample_rows_args &args)
{
#if VOX_SRW_HAVE_WGMMA
    constexpr int D = 128, KT = 64, STAGE = 32768;
    constexpr float WSCALE = BF ? 1.f : 16384.f; /* f16: pieces of w * 2^14 */
    __shared__ int sC[VOX_SRM_ROWS][3];             /* block coordinates of the unit's rows */
    __shared__ unsigned char sAl[NS][VOX_SRM_ROWS]; /* per stage, bit p-1: pattern p allows the row */
    const unsigned s0 = vox_smem_addr(vox_dyn_smem), sb0 = (s0 + 1023u) & ~1023u;
    unsigned char *gb = vox_dyn_smem + (sb0 - s0); /* Q (16 KB), then NS stages of K (16 KB), V (16 KB) */
    const unsigned qb = sb0;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t4 = lane & 3;
    const i64 groups = (R + VOX_SRM_ROWS - 1) / VOX_SRM_ROWS;
    const unsigned vexp = BF ? 0x7f807f80u : 0x7c007c00u, vlsb = BF ? 0x00800080u : 0x04000400u;
    /* this thread's copies: chunk cc (16 bytes) of rows cu + 8i, i < 8 */
    const int cu = tid >> 4, cc = tid & 15;
    const int coff = (cc >> 3) * 8192 + cu * 128 + (((cc & 7) ^ cu) << 4);
    for (i64 x = blockIdx.x; x < BH * nsplit * groups; x += gridDim.x) {
        const i64 gi = x % groups, tt = x / groups, sp = tt % nsplit, bh = tt / nsplit, r0 = gi * VOX_SRM_ROWS;
        const int jb0 = (int)(NB * sp / nsplit), jb1 = (int)(NB * (sp + 1) / nsplit);
        const vox_rows_view<u16> qv = vox_rows_of(q, bh, args), kv = vox_rows_of(k, bh, args);
        const u16 *const kh = kv.x, *const vh = vox_rows_of(v, bh, args).x;
        __syncthreads(); /* the previous unit is done with shared memory */
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int r = cu + 8 * i;
            const bool ok = r0 + r < R;
            vox_cp_async16(gb + coff + i * 1024, ok ? qv.row(rows[r0 + r]) + cc * 8 : q, ok ? 16 : 0);
        }
        int tk[8];
        auto fetch_rows = [&](int jb, int c0) {
            const int nv = min(valid[jb] - c0, KT) - cu;
            const i64 sl = (i64)jb * V + c0 + cu;
#pragma unroll
            for (int i = 0; i < 8; i++)
                tk[i] = 8 * i < nv ? (int)kv.slot(sl + 8 * i) : -1;
        };
        auto load_kv = [&](int st) {
            unsigned char *dk = gb + 16384 + st * STAGE;
#pragma unroll
            for (int i = 0; i < 8; i++) {
                const bool ok = tk[i] >= 0;
                const i64 go = ok ? tk[i] * kv.st + cc * 8 : 0;
                vox_cp_async16(dk + coff + i * 1024, kh + go, ok ? 16 : 0);
                vox_cp_async16(dk + 16384 + coff + i * 1024, vh + go, ok ? 16 : 0);
            }
        };
        auto v_bad = [&](int st) -> int {
            const unsigned char *dv = gb + 16384 + st * STAGE + 16384;
            unsigned bad = 0;
#pragma unroll
            for (int i = 0; i < 8; i++) {
                const uint4 c = *(const uint4 *)(dv + coff + i * 1024);
                bad |= ((c.x & vexp) + vlsb) | ((c.y & vexp) + vlsb) | ((c.z & vexp) + vlsb) | ((c.w & vexp) + vlsb);
            }
            return (bad & 0x80008000u) != 0;
        };
        auto next_tile = [&](int &jb, int &c0) {
            c0 += KT;
            while (jb < jb1 && c0 >= valid[jb])
                jb++, c0 = 0;
        };
        if (tid < VOX_SRM_ROWS) {
            const int ib = r0 + tid < R ? rows[r0 + tid] / V : 0;
            sC[tid][0] = coord[3 * ib], sC[tid][1] = coord[3 * ib + 1], sC[tid][2] = coord[3 * ib + 2];
        }
        auto load_note = [&](int st, int jb) {
            int cb[3] = {0, 0, 0};
            if (tid < VOX_SRM_ROWS)
                cb[0] = coord[3 * jb], cb[1] = coord[3 * jb + 1], cb[2] = coord[3 * jb + 2];
            load_kv(st);
            if (tid < VOX_SRM_ROWS)
                sAl[st][tid] = (unsigned char)((vox_allows_tyx(sC[tid], cb, 0, fb, sb, sink) != 0) |
                                               (vox_allows_tyx(sC[tid], cb, 1, fb, sb, sink) != 0) << 1);
        };
        int jb = jb0, c0 = -KT;
        next_tile(jb, c0);
        int ljb = jb, lc0 = c0;
#pragma unroll
        for (int st = 0; st < NS - 1; st++) {
            if (ljb < jb1)
                fetch_rows(ljb, lc0), load_note(st, ljb), next_tile(ljb, lc0);
            vox_cp_commit();
        }
        if (ljb < jb1)
            fetch_rows(ljb, lc0);
        /* per thread: rows g and g+8 of the warp's 16 (h = 0, 1); the dense pattern's
         * accumulators A[n][2h + c] (dims 8n + 2t4 + c), the spatial and temporal ones in
         * the unit's own rows of part (zeroed here) */
        const i64 rr[2] = {r0 + 16 * warp + g, r0 + 16 * warp + g + 8};
        float *orow[2][2]; /* [h][p - 1]: dims of pattern p's output row, NULL past R */
#pragma unroll
        for (int h = 0; h < 2; h++)
#pragma unroll
            for (int p = 1; p < 3; p++) {
                orow[h][p - 1] = rr[h] < R ? part + (((bh * R + rr[h]) * nsplit + sp) * 3 + p) * (D + 2) + 2 : nullptr;
                if (orow[h][p - 1])
#pragma unroll
                    for (int n = 0; n < 16; n++)
                        *(float2 *)(orow[h][p - 1] + 8 * n + 2 * t4) = make_float2(0.f, 0.f);
            }
        float M[3][2], Z[3][2], A[16][4];
        unsigned ninf = 0;
#pragma unroll
        for (int h = 0; h < 2; h++)
#pragma unroll
            for (int p = 0; p < 3; p++)
                M[p][h] = -VOX_INF, Z[p][h] = 0.f;
#pragma unroll
        for (int n = 0; n < 16; n++)
            A[n][0] = A[n][1] = A[n][2] = A[n][3] = 0.f;

        for (int st = 0; jb < jb1; st = st + 1 == NS ? 0 : st + 1) {
            const int nk = min(valid[jb] - c0, KT);
            vox_cp_wait<NS - 2>();
            asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); /* the copies, seen by wgmma */
            const bool bad = __syncthreads_or(v_bad(st)) != 0;
            if (ljb < jb1) {
                load_note(st == 0 ? NS - 1 : st - 1, ljb), next_tile(ljb, lc0);
                if (ljb < jb1)
                    fetch_rows(ljb, lc0);
            }
            vox_cp_commit();
            const unsigned alw = sAl[st][16 * warp + g] | (unsigned)sAl[st][16 * warp + g + 8] << 2;
            const unsigned kb = sb0 + 16384 + st * STAGE, vb = kb + 16384;
            /* S: 8 steps of 16 dims, each fresh, added in order */
            float s[8][4], c0a[32], c1a[32];
            float *sf = &s[0][0];
            vox_srw_s_step<BF>(sf, qb, kb, 0);
            vox_srw_s_step<BF>(c0a, qb, kb, 1);
            vox_srw_wait<1>();
            vox_srw_pin<32>(sf);
#pragma unroll
            for (int kk = 2; kk < 8; kk++) {
                float *cn = kk & 1 ? c0a : c1a, *cp = kk & 1 ? c1a : c0a; /* step kk's, step kk-1's */
                vox_srw_s_step<BF>(cn, qb, kb, kk);
                vox_srw_wait<1>();
                vox_srw_pin<32>(cp);
#pragma unroll
                for (int i = 0; i < 32; i++)
                    sf[i] += cp[i];
            }
            vox_srw_wait<0>();
            vox_srw_pin<32>(c0a); /* step 7's */
#pragma unroll
            for (int i = 0; i < 32; i++)
                sf[i] += c0a[i];
            /* the tile's max, weights, sum over all 64 keys (every warp holds them all) */
            float m[2], z[2];
            const int lim = nk - 2 * t4;
            if (nk >= KT) {
                vox_srm_scale_max<false, 8>(s, scale, lim, m);
                vox_srm_weights<false, 8>(s, lim, m, WSCALE, z);
            } else {
                vox_srm_scale_max<true, 8>(s, scale, lim, m);
                vox_srm_weights<true, 8>(s, lim, m, WSCALE, z);
            }
            unsigned pf[4][3][4];
#pragma unroll
            for (int kl = 0; kl < 4; kl++) {
                unsigned p[4][3];
                vox_split3<BF>(s[2 * kl][0], s[2 * kl][1], p[0]);
                vox_split3<BF>(s[2 * kl][2], s[2 * kl][3], p[1]);
                vox_split3<BF>(s[2 * kl + 1][0], s[2 * kl + 1][1], p[2]);
                vox_split3<BF>(s[2 * kl + 1][2], s[2 * kl + 1][3], p[3]);
#pragma unroll
                for (int pc = 0; pc < 3; pc++)
                    pf[kl][pc][0] = p[0][pc], pf[kl][pc][1] = p[1][pc], pf[kl][pc][2] = p[2][pc],
                    pf[kl][pc][3] = p[3][pc];
            }
            /* the merge decisions per pattern and row (vox_srm_merge's), taken once for both halves */
            bool al[3][2], up[3][2];
            float f[3][2];
#pragma unroll
            for (int h = 0; h < 2; h++) {
                al[0][h] = true, al[1][h] = (alw >> (2 * h) & 1) != 0, al[2][h] = (alw >> (2 * h + 1) & 1) != 0;
#pragma unroll
                for (int p = 0; p < 3; p++) {
                    if (al[p][h] && m[h] == -VOX_INF)
                        ninf |= 1u << (2 * p + h), al[p][h] = false;
                    up[p][h] = m[h] > M[p][h];
                    f[p][h] = 0.f;
                    if (al[p][h]) {
                        if (up[p][h]) {
                            f[p][h] = VOX_EXPF(M[p][h] - m[h]);
                            Z[p][h] = Z[p][h] * f[p][h] + z[h];
                            M[p][h] = m[h];
                        } else {
                            f[p][h] = VOX_EXPF(m[h] - M[p][h]);
                            Z[p][h] += z[h] * f[p][h];
                        }
                    }
                }
            }
#pragma unroll
            for (int hf = 0; hf < 2; hf++) {
                float T[8][4];
                if (bad)
                    vox_srw_pv<BF, 1, PV2>(&T[0][0], c0a, c1a, pf, vb + hf * 8192);
                else
                    vox_srw_pv<BF, 3, PV2>(&T[0][0], c0a, c1a, pf, vb + hf * 8192);
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    if (al[0][h]) {
#pragma unroll
                        for (int n = 0; n < 8; n++)
#pragma unroll
                            for (int c = 0; c < 2; c++) {
                                float &a = A[8 * hf + n][2 * h + c];
                                const float t = T[n][2 * h + c];
                                if (up[0][h])
                                    a = a * f[0][h] + t;
                                else
                                    a += t * f[0][h];
                            }
                    }
#pragma unroll
                    for (int p = 1; p < 3; p++) {
                        float *o = orow[h][p - 1];
                        if (!al[p][h] || !o)
                            continue;
                        o += 64 * hf + 2 * t4;
#pragma unroll
                        for (int n = 0; n < 8; n++) {
                            float2 a = *(float2 *)(o + 8 * n);
                            const float t0 = T[n][2 * h], t1 = T[n][2 * h + 1];
                            if (up[p][h])
                                a.x = a.x * f[p][h] + t0, a.y = a.y * f[p][h] + t1;
                            else
                                a.x += t0 * f[p][h], a.y += t1 * f[p][h];
                            *(float2 *)(o + 8 * n) = a;
                        }
                    }
                }
            }
            next_tile(jb, c0);
        }
        vox_cp_wait<0>();
#pragma unroll
        for (int h = 0; h < 2; h++) {
            if (rr[h] >= R)
                continue;
#pragma unroll
            for (int p = 0; p < 3; p++) {
                float *o = part + (((bh * R + rr[h]) * nsplit + sp) * 3 + p) * (D + 2);
                if (t4 == 0)
                    o[0] = M[p][h], o[1] = M[p][h] == -VOX_INF && Z[p][h] == 0.f && (ninf >> (2 * p + h) & 1) ? -1.f : Z[p][h];
                if (p == 0) {
#pragma unroll
                    for (int n = 0; n < 16; n++)
                        *(float2 *)(o + 2 + 8 * n + 2 * t4) =
                            make_float2(A[n][2 * h] * (1.f / WSCALE), A[n][2 * h + 1] * (1.f / WSCALE));
                } else if (!BF) {
#pragma unroll
                    for (int n = 0; n < 16; n++) {
                        float2 a = *(float2 *)(o + 2 + 8 * n + 2 * t4);
                        a.x *= 1.f / WSCALE, a.y *= 1.f / WSCALE;
                        *(float2 *)(o + 2 + 8 * n + 2 * t4) = a;
                    }
                }
            }
        }
    }
#endif
}

#define VOX_SAMPLE_ROWS_WG_KERNEL(NAME, BF, PV2)                                                                   \
    VOX_KERNEL void __launch_bounds__(128, 2) vox_sample_rows_##NAME##_d128(vox_sample_rows_bufs b,            \
                                                                            vox_sample_rows_args a)            \
    {                                                                                                        \
        sample_rows_wg<BF, VOX_SRW_STAGES, PV2>(vox_ptr<const u16>(b.q), vox_ptr<const u16>(b.k),                   \
                                           vox_ptr<const u16>(b.v), vox_ptr<const int>(b.rows), a.R,          \
                                           vox_ptr<const int>(b.block_coord), vox_ptr<const int>(b.valid), a.NB, \
                                           a.V, a.frame_blocks, a.space_blocks, a.sink, a.scale,               \
                                           vox_ptr<float>(b.work), a.nsplit, a.BH, a);                         \
    }
VOX_SAMPLE_ROWS_WG_KERNEL(wg_f16, false, true)
VOX_SAMPLE_ROWS_WG_KERNEL(wg_bf16, true, true)
VOX_SAMPLE_ROWS_WG_KERNEL(wg1_f16, false, false)
VOX_SAMPLE_ROWS_WG_KERNEL(wg1_bf16, true, false)
