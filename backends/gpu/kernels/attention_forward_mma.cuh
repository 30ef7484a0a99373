/* attention_forward (core/backend.h) on NVIDIA tensor cores (sm_80+): FlashAttention-2
 * structure. A CTA of 4 warps takes 64 rows (kept rows, or valid rows) of one
 * query block; each warp owns 16 rows. Keys stream from the row's column list
 * in tiles of 64 key slots (a tile may span several small blocks or part of a
 * large one), double-buffered in shared memory with cp.async; padding keys and
 * slots past the list are masked. S = Q K^T and O += P V with
 * mma.sync.m16n8k16 (f16/bf16 in, f32 accumulate), operands via ldmatrix from
 * an XOR-swizzled layout; online softmax in f32 (exp2 domain). No N x N buffer.
 * Only compiled where VOX_HAVE_MMA_SYNC (the host falls back to the scalar
 * kernels when these symbols are absent, e.g. on HIP). */
#if VOX_HAVE_MMA_SYNC

#include "mma_sync.cuh"

template <int DP, bool BF>
__device__ __forceinline__ void attention_forward_mma(const u16 *q, const u16 *k, const u16 *v, u16 *o,
                                                      float *lse, const int *kv_start, const int *kv_count,
                                                      const int *kv_cols, const int *kc, const int *kr,
                                                      const int *valid, i64 NB, int V, int logV, int D,
                                                      float scale_log2, int tiles)
{
    constexpr int CH = DP / 8, NT = DP / 8;
    constexpr bool QREG = DP <= 128;
    u16 *sQ = (u16 *)vox_dyn_smem;
    u16 *sK = sQ + 64 * DP;
    u16 *sV = sK + 2 * 64 * DP;
    unsigned char *kok = (unsigned char *)(sV + 2 * 64 * DP);
    int *qslot = (int *)(kok + 128);
    int *tslot = qslot + 64;                            /* [3][64] key slot of each tile row, -1 past the list */
    unsigned char *tok = (unsigned char *)(tslot + 192); /* [3][64] key row is a valid token */
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const i64 m = blockIdx.x / tiles;
    const int tile = (int)(blockIdx.x - m * tiles);
    const i64 bh = m / NB, i = m - bh * NB, S = NB * (i64)V, hb = bh * S;
    const int nrows = kc ? kc[m] : valid[i];
    const int row0 = tile * 64;
    if (row0 >= nrows)
        return;
    const int start = kv_start[m], cnt = kv_count[m];
    if (tid < 64) {
        int r = row0 + tid;
        qslot[tid] = r < nrows ? (int)(i * V + (kc ? kr[m * V + r] : r)) : -1;
    }
    __syncthreads();
    for (int x = tid; x < 64 * CH; x += 128) {
        int r = x / CH, ch = x - r * CH;
        int sl = qslot[r];
        bool ok = sl >= 0 && ch * 8 < D;
        vox_cp_async16(sQ + vox_swz<DP>(r, ch), ok ? q + (hb + sl) * D + ch * 8 : q, ok ? 16 : 0);
    }
    const int ntiles = (cnt * V + 63) >> 6;
    /* Tile row -> key slot, looked up one tile ahead of its copy so that the
     * column-list reads never stall the cp.async issue. */
    auto slot_of = [&](int t, int r, int &sl, int &okv) {
        int p = t * 64 + r, c = p >> logV, off = p & (V - 1);
        sl = -1, okv = 0;
        if (c < cnt) {
            int jb = kv_cols[start + c];
            sl = jb * V + off;
            okv = off < valid[jb];
        }
    };
    auto load_kv = [&](int t, int st) {
        u16 *dk = sK + st * 64 * DP, *dv = sV + st * 64 * DP;
        const int *ts = tslot + (t % 3) * 64;
        for (int x = tid; x < 64 * CH; x += 128) {
            int r = x / CH, ch = x - r * CH;
            int sl = ts[r];
            bool ok = sl >= 0 && ch * 8 < D;
            i64 g = (hb + sl) * D + ch * 8;
            vox_cp_async16(dk + vox_swz<DP>(r, ch), ok ? k + g : k, ok ? 16 : 0);
            vox_cp_async16(dv + vox_swz<DP>(r, ch), ok ? v + g : v, ok ? 16 : 0);
        }
        if (tid < 64)
            kok[st * 64 + tid] = tok[(t % 3) * 64 + tid];
    };
    if (tid < 64) {
        for (int t0 = 0; t0 < 2; t0++) {
            int sl, okv;
            slot_of(t0, tid, sl, okv);
            tslot[t0 * 64 + tid] = sl, tok[t0 * 64 + tid] = (unsigned char)okv;
        }
    }
    __syncthreads();
    if (ntiles > 0)
        load_kv(0, 0);
    vox_cp_commit();

    float oacc[NT][4];
#pragma unroll
    for (int n = 0; n < NT; n++)
        oacc[n][0] = oacc[n][1] = oacc[n][2] = oacc[n][3] = 0.f;
    float mrow[2] = {-VOX_INF, -VOX_INF}, lrow[2] = {0.f, 0.f};
    unsigned qf[QREG ? DP / 16 : 1][4];
    const u16 *wq = sQ + warp * 16 * DP;
    (void)wq;

    for (int t = 0; t < ntiles; t++) {
        if (t + 1 < ntiles)
            load_kv(t + 1, (t + 1) & 1);
        vox_cp_commit();
        int nsl = -1, nok = 0;
        if (tid < 64)
            slot_of(t + 2, tid, nsl, nok);
        vox_cp_wait<1>();
        __syncthreads();
        const int mat = lane >> 3;
        if (QREG && t == 0) {
#pragma unroll
            for (int kk = 0; kk < (QREG ? DP / 16 : 1); kk++)
                vox_ldsm_x4(qf[kk], sQ + vox_swz<DP>(warp * 16 + (lane & 7) + ((mat & 1) << 3), kk * 2 + (mat >> 1)));
        }
        const u16 *cK = sK + (t & 1) * 64 * DP, *cV = sV + (t & 1) * 64 * DP;
        float s[8][4];
#pragma unroll
        for (int n = 0; n < 8; n++)
            s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < DP / 16; kk++) {
            unsigned a[4];
            if (QREG) {
                a[0] = qf[QREG ? kk : 0][0], a[1] = qf[QREG ? kk : 0][1];
                a[2] = qf[QREG ? kk : 0][2], a[3] = qf[QREG ? kk : 0][3];
            } else {
                vox_ldsm_x4(a, sQ + vox_swz<DP>(warp * 16 + (lane & 7) + ((mat & 1) << 3), kk * 2 + (mat >> 1)));
            }
#pragma unroll
            for (int np = 0; np < 4; np++) {
                unsigned b[4];
                vox_ldsm_x4(b, cK + vox_swz<DP>(np * 16 + (lane & 7) + ((mat >> 1) << 3), kk * 2 + (mat & 1)));
                vox_mma16816<BF>(s[2 * np], a, b[0], b[1]);
                vox_mma16816<BF>(s[2 * np + 1], a, b[2], b[3]);
            }
        }
        const unsigned char *ok = kok + (t & 1) * 64;
        float mx0 = -VOX_INF, mx1 = -VOX_INF;
#pragma unroll
        for (int n = 0; n < 8; n++) {
            int c0 = n * 8 + (lane & 3) * 2;
            bool v0 = ok[c0], v1 = ok[c0 + 1];
            /* scores stay unscaled until exp2 (a huge scale cannot overflow them); fmaxf drops
             * NaN but the NaN still reaches the row sum l, which the epilogue propagates */
            s[n][0] = v0 ? s[n][0] : -VOX_INF;
            s[n][1] = v1 ? s[n][1] : -VOX_INF;
            s[n][2] = v0 ? s[n][2] : -VOX_INF;
            s[n][3] = v1 ? s[n][3] : -VOX_INF;
            mx0 = fmaxf(mx0, fmaxf(s[n][0], s[n][1]));
            mx1 = fmaxf(mx1, fmaxf(s[n][2], s[n][3]));
        }
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        float mn0 = fmaxf(mrow[0], mx0), mn1 = fmaxf(mrow[1], mx1);
        float b0 = mn0 == -VOX_INF ? 0.f : mn0, b1 = mn1 == -VOX_INF ? 0.f : mn1;
        float al0 = exp2f((mrow[0] - b0) * scale_log2), al1 = exp2f((mrow[1] - b1) * scale_log2);
        mrow[0] = mn0, mrow[1] = mn1;
        float ps0 = 0.f, ps1 = 0.f;
        /* one FMA per score; the subtract-first form only where b*scale overflows */
        float c0 = b0 * scale_log2, c1 = b1 * scale_log2;
        if (fabsf(c0) < 1e30f && fabsf(c1) < 1e30f) {
#pragma unroll
            for (int n = 0; n < 8; n++) {
                s[n][0] = exp2f(fmaf(s[n][0], scale_log2, -c0)), s[n][1] = exp2f(fmaf(s[n][1], scale_log2, -c0));
                s[n][2] = exp2f(fmaf(s[n][2], scale_log2, -c1)), s[n][3] = exp2f(fmaf(s[n][3], scale_log2, -c1));
                ps0 += s[n][0] + s[n][1];
                ps1 += s[n][2] + s[n][3];
            }
        } else {
#pragma unroll
            for (int n = 0; n < 8; n++) {
                s[n][0] = exp2f((s[n][0] - b0) * scale_log2), s[n][1] = exp2f((s[n][1] - b0) * scale_log2);
                s[n][2] = exp2f((s[n][2] - b1) * scale_log2), s[n][3] = exp2f((s[n][3] - b1) * scale_log2);
                ps0 += s[n][0] + s[n][1];
                ps1 += s[n][2] + s[n][3];
            }
        }
        lrow[0] = lrow[0] * al0 + ps0;
        lrow[1] = lrow[1] * al1 + ps1;
#pragma unroll
        for (int n = 0; n < NT; n++) {
            oacc[n][0] *= al0, oacc[n][1] *= al0;
            oacc[n][2] *= al1, oacc[n][3] *= al1;
        }
#pragma unroll
        for (int kc2 = 0; kc2 < 4; kc2++) {
            unsigned a[4];
            a[0] = vox_pack2<BF>(s[2 * kc2][0], s[2 * kc2][1]);
            a[1] = vox_pack2<BF>(s[2 * kc2][2], s[2 * kc2][3]);
            a[2] = vox_pack2<BF>(s[2 * kc2 + 1][0], s[2 * kc2 + 1][1]);
            a[3] = vox_pack2<BF>(s[2 * kc2 + 1][2], s[2 * kc2 + 1][3]);
#pragma unroll
            for (int dp = 0; dp < DP / 16; dp++) {
                unsigned b[4];
                vox_ldsm_x4_t(b, cV + vox_swz<DP>(kc2 * 16 + (lane & 7) + ((mat & 1) << 3), dp * 2 + (mat >> 1)));
                vox_mma16816<BF>(oacc[2 * dp], a, b[0], b[1]);
                vox_mma16816<BF>(oacc[2 * dp + 1], a, b[2], b[3]);
            }
        }
        if (tid < 64)
            tslot[((t + 2) % 3) * 64 + tid] = nsl, tok[((t + 2) % 3) * 64 + tid] = (unsigned char)nok;
        __syncthreads();
    }
    vox_cp_wait<0>();
#pragma unroll
    for (int h = 0; h < 2; h++) {
        float l = lrow[h];
        l += __shfl_xor_sync(0xffffffffu, l, 1);
        l += __shfl_xor_sync(0xffffffffu, l, 2);
        int sl = qslot[warp * 16 + (lane >> 2) + h * 8];
        if (sl < 0)
            continue;
        float inv = (l > 0.f || l != l) ? 1.f / l : 0.f;
        u16 *orow = o + (hb + sl) * D;
#pragma unroll
        for (int n = 0; n < NT; n++) {
            int col = n * 8 + (lane & 3) * 2;
            if (col < D)
                *(unsigned *)(orow + col) = vox_pack2<BF>(oacc[n][2 * h] * inv, oacc[n][2 * h + 1] * inv);
        }
        if ((lane & 3) == 0)
            lse[hb + sl] = (l > 0.f || l != l) ? (mrow[h] * scale_log2 + log2f(l)) * 0.69314718055994531f : -VOX_INF;
    }
}

#define VOX_ATTENTION_FORWARD_MMA_KERNEL(NAME, DP, BF)                                                        \
    VOX_KERNEL void __launch_bounds__(128)                                                                    \
        vox_attention_forward_mma_##NAME##_d##DP(vox_attention_forward_bufs b, vox_attention_forward_args a)  \
    {                                                                                                         \
        attention_forward_mma<DP, BF>(                                                                        \
            vox_ptr<const u16>(b.q), vox_ptr<const u16>(b.k), vox_ptr<const u16>(b.v), vox_ptr<u16>(b.o),     \
            vox_ptr<float>(b.lse), vox_ptr<const int>(b.kv_start), vox_ptr<const int>(b.kv_count),            \
            vox_ptr<const int>(b.kv_cols), vox_ptr<const int>(b.kept_count), vox_ptr<const int>(b.kept_rows), \
            vox_ptr<const int>(b.valid), a.NB, a.V, a.log_v, a.D, a.scale_log2, a.tiles);                     \
    }
VOX_ATTENTION_FORWARD_MMA_KERNEL(f16, 64, false)
VOX_ATTENTION_FORWARD_MMA_KERNEL(f16, 128, false)
VOX_ATTENTION_FORWARD_MMA_KERNEL(f16, 256, false)
VOX_ATTENTION_FORWARD_MMA_KERNEL(bf16, 64, true)
VOX_ATTENTION_FORWARD_MMA_KERNEL(bf16, 128, true)
VOX_ATTENTION_FORWARD_MMA_KERNEL(bf16, 256, true)

#endif
