/* Standalone correctness + speed harness for the Hopper block-sparse attention
 * kernel (attention_forward_sm90.cuh). CUDA runtime + libcuda (tensor maps).
 * Build: nvcc -gencode=arch=compute_90a,code=sm_90a -O3 -std=c++17 bench_sm90.cu -lcuda -o bench_sm90
 * Run:   ./bench_sm90 [quick]   (quick: the small correctness configs only)
 *   env VOX_ONLY="name|name" (timed shapes by exact name), VOX_SKIP_SMALL=1, VOX_PP=1
 *   (ping-pong), VOX_SWEEP=1 (shared sweep position), VOX_NWG64=2 (D=64 with 2
 *   consumer warpgroups), VOXATTN_SM90_NWG=2|3|2,3 (D=128 consumer warpgroups, as the library's
 *   switch; "2,3" checks both and times them interleaved launch by launch; default: the library's
 *   rule VOX_SM90_NWG_D128), VOX_FORCE_TIME=1 (time
 *   even when the check fails, for the VOX_DIAG_* ablation builds of the kernel),
 *   VOX_HANG_S=seconds (hang watchdog, default 20; raise it under compute-sanitizer),
 *   VOX_NO_TIME=1 (check only, no timing: for compute-sanitizer runs).
 *   VOX_MASKS=FILE: instead of the configs below, "real keep1", "real keep.5", "real keep.25" on
 *   the library's BSA masks in FILE (perf/masks_compact.py of a pack_stats --save file; its heads
 *   cycled over VOX_REAL_BH heads, default 24), planned and launched as the library does (device
 *   planner with the grid's axis choice, persistent grid), the kernel variants of VOX_VARS
 *   (run_real below) interleaved launch by launch, VOX_TIME_REPS rounds (default 15).
 * For each shape: random inputs (generated on the device), random ragged CSR
 * masks, optional ragged block_valid and kept rows; output and lse poisoned
 * first; every processed row of a sample of row blocks compared against an
 * independent fp32 reference (one 128-thread block per row: scores, max, sum,
 * then o), unwritten rows checked untouched over the whole tensor; the plan
 * launch's non-finite V flags checked against the host; timing = median of 20
 * cudaEvent-timed launches after 3 warm-ups (host plan; the device plan launch,
 * with the V flags, is timed separately). */
#include <cuda.h>
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <vector>
#include <algorithm>
#include <string>
#include "attention_forward_sm90.cu"
#include "attention_forward_sm90_host.h"
#include "bench_util.cuh"

/* Harness variants of the 3-warpgroup bf16 D=128 kernel (VAR bits: attention_forward_sm90.cuh) */
VOX_SM90_KERNEL_VAR(vox_k6var_ts, 128, true, 3, 512, VOX_SM90_VAR_TS)
VOX_SM90_KERNEL_VAR(vox_k6var_hold, 128, true, 3, 512, VOX_SM90_VAR_TS | VOX_SM90_VAR_HOLD)
VOX_SM90_KERNEL_VAR(vox_k6var_skip, 128, true, 3, 512, VOX_SM90_VAR_TS | VOX_SM90_VAR_SKIPDEAD)
VOX_SM90_KERNEL_VAR(vox_k6var_holdskip, 128, true, 3, 512, VOX_SM90_VAR_TS | VOX_SM90_VAR_HOLD | VOX_SM90_VAR_SKIPDEAD)
VOX_SM90_KERNEL_VAR(vox_k6var_stream, 128, true, 3, 512, VOX_SM90_VAR_TS | VOX_SM90_VAR_STREAM)
VOX_SM90_KERNEL_VAR(vox_k6var_skipbrk, 128, true, 3, 512, VOX_SM90_VAR_TS | VOX_SM90_VAR_SKIPDEAD | VOX_SM90_VAR_BREAK)
VOX_SM90_KERNEL_VAR(vox_k6var_skipbr, 128, true, 3, 512, VOX_SM90_VAR_TS | VOX_SM90_VAR_SKIPBR)
VOX_SM90_KERNEL_VAR(vox_k6var_ring4, 128, true, 3, 512, VOX_SM90_VAR_TS | VOX_SM90_VAR_RING4)
VOX_SM90_KERNEL_VAR(vox_k6var_nosm, 128, true, 3, 512, VOX_SM90_VAR_TS | VOX_SM90_VAR_NOSOFTMAX)

__global__ void fill_rand(unsigned short *p, long long n, unsigned seed, float amp, bool bf)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        unsigned h1 = hash32(i * 2 + ((unsigned long long)seed << 40)), h2 = hash32(i * 2 + 1 + ((unsigned long long)seed << 40));
        float u1 = (h1 + 1.f) * 2.3283064e-10f, u2 = h2 * 2.3283064e-10f;
        float g = sqrtf(-2.f * logf(u1)) * cosf(6.2831853f * u2);
        p[i] = f2h(g * amp, bf);
    }
}

/* fp32 reference, one 128-thread block per checked row: scores of every
 * listed slot into scratch, block max / sum, then thread d accumulates o[d].
 * Accumulates sum (got-ref)^2, sum ref^2, max |lse err|, NaN count. */
__device__ float block_reduce(float x, bool isMax, float *sh)
{
    for (int off = 16; off; off >>= 1) {
        float y = __shfl_xor_sync(0xffffffffu, x, off);
        x = isMax ? fmaxf(x, y) : x + y;
    }
    __syncthreads();
    if ((threadIdx.x & 31) == 0)
        sh[threadIdx.x >> 5] = x;
    __syncthreads();
    float r = sh[0];
    for (int w = 1; w < (int)(blockDim.x >> 5); w++)
        r = isMax ? fmaxf(r, sh[w]) : r + sh[w];
    return r;
}
__global__ void ref_check(const unsigned short *q, const unsigned short *k, const unsigned short *v,
                          const unsigned short *o, const float *lse, const long long *rows, int nrows,
                          const int *kv_start, const int *kv_count, const int *kv_cols, const int *valid,
                          long long NB, int V, int D, float scale, bool bf, float *scratch, double *acc,
                          unsigned *lse_err_bits, unsigned *bad)
{
    __shared__ float qs[128];
    __shared__ float sh[8];
    const int t = threadIdx.x;
    long long gr = rows[blockIdx.x];
    long long S = NB * V, bh = gr / S, slot = gr - bh * S, i = slot / V, m = bh * NB + i;
    float *sc = scratch + (long long)blockIdx.x * S;
    if (t < D)
        qs[t] = h2f(q[gr * D + t], bf);
    __syncthreads();
    const int st = kv_start[m], cnt = kv_count[m];
    const long long np = (long long)cnt * V;
    float mx = -INFINITY;
    for (long long pp = t; pp < np; pp += blockDim.x) {
        int c = (int)(pp / V), r = (int)(pp % V);
        int j = kv_cols[st + c];
        float d = -INFINITY;
        if (r < valid[j]) {
            const unsigned short *kr = k + (bh * S + (long long)j * V + r) * D;
            d = 0.f;
            for (int e = 0; e < D; e++)
                d += qs[e] * h2f(kr[e], bf);
            d *= scale;
        }
        sc[pp] = d;
        mx = fmaxf(mx, d);
    }
    mx = block_reduce(mx, true, sh);
    float l = 0.f;
    for (long long pp = t; pp < np; pp += blockDim.x) {
        float e = mx == -INFINITY ? 0.f : expf(sc[pp] - mx);
        sc[pp] = e;
        l += e;
    }
    l = block_reduce(l, false, sh);
    __syncthreads();
    float od = 0.f;
    if (t < D) {
        for (long long pp = 0; pp < np; pp++) {
            float e = sc[pp];
            if (e != 0.f) {
                int c = (int)(pp / V), r = (int)(pp % V);
                int j = kv_cols[st + c];
                od += e * h2f(v[(bh * S + (long long)j * V + r) * D + t], bf);
            }
        }
    }
    float ref = l > 0 ? od / l : 0.f;
    float got = t < D ? h2f(o[gr * D + t], bf) : 0.f;
    /* non-finite V (vinf configs): where the reference is Inf/NaN the output must be too, and
     * finite where it is finite; only finite elements enter the error sums */
    const bool rfin = isfinite(ref);
    if (t < D && rfin != (bool)isfinite(got))
        atomicAdd(bad, 1u);
    float e2 = (t < D && rfin) ? (got - ref) * (got - ref) : 0.f, r2 = (t < D && rfin) ? ref * ref : 0.f;
    e2 = block_reduce(e2, false, sh);
    r2 = block_reduce(r2, false, sh);
    if (t == 0) {
        atomicAdd(&acc[0], (double)e2);
        atomicAdd(&acc[1], (double)r2);
        float rl = l > 0 ? mx + logf(l) : -INFINITY;
        float gl = lse[gr];
        float err;
        if (rl == -INFINITY)
            err = gl == -INFINITY ? 0.f : 1e30f;
        else
            err = fabsf(gl - rl);
        if (err != err)
            err = 1e30f;
        atomicMax(lse_err_bits, __float_as_uint(err));
    }
}

/* Rows not processed must keep the poison (all bits 1); processed rows must have lse written. */
__global__ void poison_check(const unsigned short *o, const float *lse, const unsigned char *flag, long long nrows, int D,
                             unsigned *bad_unwritten, unsigned *bad_written)
{
    for (long long r = blockIdx.x * (long long)blockDim.x + threadIdx.x; r < nrows; r += (long long)gridDim.x * blockDim.x) {
        bool lp = __float_as_uint(lse[r]) == 0xffffffffu;
        if (flag[r]) {
            if (lp)
                atomicAdd(bad_written, 1u);
        } else {
            bool ok = lp;
            const uint4 *p = (const uint4 *)(o + r * D);
            for (int t = 0; t < D / 8; t++) {
                uint4 x = p[t];
                ok = ok && x.x == 0xffffffffu && x.y == 0xffffffffu && x.z == 0xffffffffu && x.w == 0xffffffffu;
            }
            if (!ok)
                atomicAdd(bad_unwritten, 1u);
        }
    }
}

struct Cfg {
    const char *name;
    int BH, D, V;
    long long S;
    double density;
    double keep;   /* 1 = no pruning */
    int corr;      /* >1: groups of `corr` consecutive query blocks share one KV list */
    bool ragged;   /* ragged block_valid, some empty rows */
    bool bf;
    int sample;    /* check every sample-th row block */
    bool timeit;
    bool nan_test; /* one q element of one processed row set to NaN: that row's o and lse must be NaN */
    bool vinf;     /* V of KV blocks j % 7 == 2: +Inf in element 5 of the last valid key, NaN in element 9
                      of the first padding slot; j % 7 == 4: -Inf in element 7 of key 0. Rows that
                      attend a poisoned key must be non-finite there, all others finite and exact */
};

static unsigned long long rng_state = 88172645463325252ull;
static inline unsigned long long xr()
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static inline double ur() { return (xr() >> 11) * (1.0 / 9007199254740992.0); }

static int g_pp = 0, g_nwg64 = 3; /* D=64 uses the 3-consumer kernel unless VOX_NWG64=2 */
static std::vector<int> g_nwg128; /* VOXATTN_SM90_NWG: D=128 consumer warpgroups (list: A/B); empty: the rule */
static int *g_sweep = 0;
static bool g_no_time = false; /* VOX_NO_TIME */

typedef void (*kern_t)(const VoxSm90AttnParams, const CUtensorMap, const CUtensorMap, const CUtensorMap,
                       const CUtensorMap);
/* The kernel pair (fast, _nf) for D, dtype and consumer warpgroups. */
static void pick_kernels(int D, bool bf, int nwg, kern_t *k, kern_t *k_nf)
{
    if (D == 128 && nwg == 3)
        *k = bf ? vox_attn_sm90w3_bf16_d128 : vox_attn_sm90w3_f16_d128,
        *k_nf = bf ? vox_attn_sm90w3_bf16_d128_nf : vox_attn_sm90w3_f16_d128_nf;
    else if (D == 128)
        *k = bf ? vox_attn_sm90_bf16_d128 : vox_attn_sm90_f16_d128,
        *k_nf = bf ? vox_attn_sm90_bf16_d128_nf : vox_attn_sm90_f16_d128_nf;
    else if (nwg == 3)
        *k = bf ? vox_attn_sm90w3_bf16_d64 : vox_attn_sm90w3_f16_d64,
        *k_nf = bf ? vox_attn_sm90w3_bf16_d64_nf : vox_attn_sm90w3_f16_d64_nf;
    else
        *k = bf ? vox_attn_sm90_bf16_d64 : vox_attn_sm90_f16_d64,
        *k_nf = bf ? vox_attn_sm90_bf16_d64_nf : vox_attn_sm90_f16_d64_nf;
}

/* kc of a block's nv valid rows drawn at random (xr), ascending, into out[0..kc) */
static void draw_kept(int nv, int kc, std::vector<int> &perm, int *out)
{
    for (int r = 0; r < nv; r++)
        perm[r] = r;
    for (int r = 0; r < kc; r++) {
        int x = r + (int)(xr() % (nv - r));
        std::swap(perm[r], perm[x]);
    }
    std::sort(perm.begin(), perm.begin() + kc);
    for (int r = 0; r < kc; r++)
        out[r] = perm[r];
}

/* The rows a plan processes: flag[bh*S + slot] = 1, every sample-th block's rows into checkrows;
 * returns the computed key pairs (rows x valid keys of the listed blocks). */
static double row_flags(long long BH, long long NB, int V, const std::vector<int> &valid,
                        const std::vector<int> &kv_start, const std::vector<int> &kv_count,
                        const std::vector<int> &cols, const std::vector<int> &rows, const std::vector<int> &kept_rows,
                        bool pruned, long long sample, std::vector<unsigned char> &flag,
                        std::vector<long long> &checkrows)
{
    const long long S = NB * V, M = BH * NB;
    double keypairs = 0;
    flag.assign((size_t)BH * S, 0);
    checkrows.clear();
    for (long long m = 0; m < M; m++) {
        long long keys = 0;
        for (int t = 0; t < kv_count[m]; t++)
            keys += valid[cols[kv_start[m] + t]];
        keypairs += (double)rows[m] * keys;
        const long long bh = m / NB, i = m % NB;
        for (int r = 0; r < rows[m]; r++) {
            const long long slot = i * V + (pruned ? kept_rows[m * V + r] : r);
            flag[bh * S + slot] = 1;
            if (m % sample == 0)
                checkrows.push_back(bh * S + slot);
        }
    }
    return keypairs;
}

/* q, k, v (random), o, lse; the masks, kept rows and row flags on the device */
struct DevBufs {
    unsigned short *q, *k, *v, *o;
    float *lse;
    int *ks, *kn, *kc, *valid, *kept, *kr;
    unsigned char *flag;
};
static void dev_bufs(DevBufs &b, long long BH, long long NB, int V, int D, bool bf, const std::vector<int> &valid,
                     const std::vector<int> &kv_start, const std::vector<int> &kv_count, const std::vector<int> &cols,
                     const std::vector<int> &kept_count, const std::vector<int> &kept_rows, bool pruned,
                     const std::vector<unsigned char> &flag)
{
    const long long S = NB * V, M = BH * NB;
    const size_t nel = (size_t)BH * S * D;
    CK(cudaMalloc(&b.q, nel * 2));
    CK(cudaMalloc(&b.k, nel * 2));
    CK(cudaMalloc(&b.v, nel * 2));
    CK(cudaMalloc(&b.o, nel * 2));
    CK(cudaMalloc(&b.lse, (size_t)BH * S * 4));
    fill_rand<<<2048, 256>>>(b.q, nel, 1, 1.0f, bf);
    fill_rand<<<2048, 256>>>(b.k, nel, 2, 1.0f, bf);
    fill_rand<<<2048, 256>>>(b.v, nel, 3, 1.0f, bf);
    CK(cudaMalloc(&b.ks, M * 4));
    CK(cudaMalloc(&b.kn, M * 4));
    CK(cudaMalloc(&b.kc, std::max<size_t>(cols.size(), 1) * 4));
    CK(cudaMalloc(&b.valid, NB * 4));
    CK(cudaMemcpy(b.ks, kv_start.data(), M * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(b.kn, kv_count.data(), M * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(b.kc, cols.data(), cols.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(b.valid, valid.data(), NB * 4, cudaMemcpyHostToDevice));
    b.kept = b.kr = 0;
    if (pruned) {
        CK(cudaMalloc(&b.kept, M * 4));
        CK(cudaMalloc(&b.kr, (size_t)M * V * 4));
        CK(cudaMemcpy(b.kept, kept_count.data(), M * 4, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(b.kr, kept_rows.data(), (size_t)M * V * 4, cudaMemcpyHostToDevice));
    }
    CK(cudaMalloc(&b.flag, flag.size()));
    CK(cudaMemcpy(b.flag, flag.data(), flag.size(), cudaMemcpyHostToDevice));
}

/* the K/V tensor maps of 64- and 16-row boxes (exits on failure) */
static void kv_maps(CUtensorMap *tmK, CUtensorMap *tmV, CUtensorMap *tmK16, CUtensorMap *tmV16,
                    unsigned short *k, unsigned short *v, long long rows, int D, bool bf)
{
    if (vox_sm90_encode_kv(cuTensorMapEncodeTiled, tmK, k, (int64_t)rows, D, bf, 64) ||
        vox_sm90_encode_kv(cuTensorMapEncodeTiled, tmV, v, (int64_t)rows, D, bf, 64) ||
        vox_sm90_encode_kv(cuTensorMapEncodeTiled, tmK16, k, (int64_t)rows, D, bf, 16) ||
        vox_sm90_encode_kv(cuTensorMapEncodeTiled, tmV16, v, (int64_t)rows, D, bf, 16)) {
        printf("tensor map encode failed\n");
        exit(1);
    }
}

/* The launch's outputs against the reference on the sampled rows (normalized error, LSE) and the
 * poison check of every row (u[2]: rows not processed but written, u[3]: processed but not
 * written; u[1]: non-finite outputs) */
struct CheckRes {
    double nerr;
    float lse_err;
    unsigned u[4];
};
/* The checked rows on the device and check_outputs' accumulators (two doubles, four words) */
struct CheckBufs {
    long long *rows;
    int nr;
    double *acc;
    unsigned *u;
};
static CheckBufs check_bufs_new(const std::vector<long long> &checkrows)
{
    CheckBufs c;
    c.nr = (int)checkrows.size();
    CK(cudaMalloc(&c.acc, 16));
    CK(cudaMalloc(&c.u, 16));
    CK(cudaMalloc(&c.rows, checkrows.size() * 8 + 8));
    CK(cudaMemcpy(c.rows, checkrows.data(), checkrows.size() * 8, cudaMemcpyHostToDevice));
    return c;
}
static void check_bufs_free(const CheckBufs &c) { cudaFree(c.acc), cudaFree(c.u), cudaFree(c.rows); }

static CheckRes check_outputs(const DevBufs &B, const CheckBufs &cb, long long BH, long long NB, int V, int D, bool bf,
                              const char *name)
{
    const long long S = NB * V;
    const long long *d_rows = cb.rows;
    const int nr = cb.nr;
    double *d_acc = cb.acc;
    unsigned *d_u = cb.u;
    CK(cudaMemset(d_acc, 0, 16));
    CK(cudaMemset(d_u, 0, 16));
    long long chunk = std::max(1LL, (256LL << 20) / S);
    float *d_scr;
    CK(cudaMalloc(&d_scr, (size_t)std::min<long long>(chunk, nr) * S * 4 + 16));
    for (long long r0 = 0; r0 < nr; r0 += chunk) {
        int n = (int)std::min<long long>(chunk, nr - r0);
        ref_check<<<n, 128>>>(B.q, B.k, B.v, B.o, B.lse, d_rows + r0, n, B.ks, B.kn, B.kc, B.valid, NB, V, D,
                              (float)(1.0 / sqrt((double)D)), bf, d_scr, d_acc, d_u, d_u + 1);
    }
    bench_sync("reference", name);
    cudaFree(d_scr);
    poison_check<<<4096, 256>>>(B.o, B.lse, B.flag, BH * S, D, d_u + 2, d_u + 3);
    bench_sync("check", name);
    double acc[2];
    CheckRes r;
    CK(cudaMemcpy(acc, d_acc, 16, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(r.u, d_u, 16, cudaMemcpyDeviceToHost));
    memcpy(&r.lse_err, &r.u[0], 4);
    r.nerr = acc[1] > 0 ? acc[0] / acc[1] : acc[0];
    return r;
}

static bool run_cfg(const Cfg &c, bool *ok_out)
{
    const int BH = c.BH, D = c.D, V = c.V;
    const long long S = c.S, NB = S / V, M = BH * NB;
    rng_state = 88172645463325252ull ^ (unsigned long long)(c.BH * 131 + c.D * 7 + V + (long long)(c.density * 1000) +
                                                             (long long)(c.keep * 100) * 17 + c.corr * 3);
    std::vector<int> valid(NB, V);
    if (c.ragged)
        for (long long j = 0; j < NB; j++)
            if (j % 5 == 3)
                valid[j] = (int)(xr() % (V + 1)); /* includes fully padded blocks */
    /* masks */
    std::vector<int> kv_start(M), kv_count(M);
    std::vector<int> cols;
    cols.reserve((size_t)(M * NB * std::min(1.0, c.density * 1.8) + 1024));
    std::vector<int> grp;
    for (long long m = 0; m < M; m++) {
        long long i = m % NB;
        kv_start[m] = (int)cols.size();
        if (c.corr > 1 && i % c.corr != 0) {
            /* same list as the group's first block */
            long long m0 = m - i % c.corr;
            for (int t = 0; t < kv_count[m0]; t++)
                cols.push_back(cols[kv_start[m0] + t]);
            kv_count[m] = kv_count[m0];
            continue;
        }
        if (c.density >= 1.0) {
            for (long long j = 0; j < NB; j++)
                cols.push_back((int)j);
        } else if (!(c.ragged && m % 97 == 5)) {
            double f = 0.25 + 1.5 * ur(); /* ragged: 0.25x .. 1.75x the density */
            double pr = std::min(1.0, c.density * f);
            for (long long j = 0; j < NB; j++)
                if (ur() < pr)
                    cols.push_back((int)j);
        }
        kv_count[m] = (int)cols.size() - kv_start[m];
    }
    /* kept rows */
    std::vector<int> kept_count, kept_rows;
    std::vector<int> rows(M);
    if (c.keep < 1.0) {
        kept_count.resize(M);
        kept_rows.assign((size_t)M * V, 0);
        std::vector<int> perm(V);
        for (long long m = 0; m < M; m++) {
            int nv = valid[m % NB];
            int kc = (int)lround(c.keep * nv);
            if (c.ragged && m % 7 == 1)
                kc = (int)(xr() % (nv + 1));
            kc = std::min(kc, nv);
            draw_kept(nv, kc, perm, &kept_rows[m * V]);
            kept_count[m] = kc;
            rows[m] = kc;
        }
    } else {
        for (long long m = 0; m < M; m++)
            rows[m] = valid[m % NB];
    }
    /* flops and processed-row flags */
    std::vector<unsigned char> flag;
    std::vector<long long> checkrows;
    const double flops = 4.0 * D * row_flags(BH, NB, V, valid, kv_start, kv_count, cols, rows, kept_rows, c.keep < 1.0,
                                             c.sample, flag, checkrows);

    /* device buffers */
    size_t nel = (size_t)BH * S * D;
    DevBufs B;
    dev_bufs(B, BH, NB, V, D, c.bf, valid, kv_start, kv_count, cols, kept_count, kept_rows, c.keep < 1.0, flag);
    unsigned short *dq = B.q, *dk = B.k, *dv = B.v, *dO = B.o;
    float *dl = B.lse;
    std::vector<unsigned short> hv; /* V on the host (small configs: the flag check) */
    if (c.vinf || !c.timeit) {
        hv.resize(nel);
        CK(cudaDeviceSynchronize());
        CK(cudaMemcpy(hv.data(), dv, nel * 2, cudaMemcpyDeviceToHost));
    }
    if (c.vinf) {
        const unsigned short pinf = c.bf ? 0x7f80 : 0x7c00, ninf = pinf | 0x8000, qnan = c.bf ? 0x7fc0 : 0x7e00;
        for (long long bh = 0; bh < BH; bh++)
            for (long long j = 0; j < NB; j++) {
                const long long r0 = bh * S + j * V;
                if (j % 7 == 2 && valid[j] > 0)
                    hv[(r0 + valid[j] - 1) * D + 5] = pinf;
                if (j % 7 == 2 && valid[j] < V)
                    hv[(r0 + valid[j]) * D + 9] = qnan;
                if (j % 7 == 4 && valid[j] > 0)
                    hv[r0 * D + 7] = ninf;
            }
        CK(cudaMemcpy(dv, hv.data(), nel * 2, cudaMemcpyHostToDevice));
    }
    long long nan_row = -1;
    if (c.nan_test && !checkrows.empty()) {
        nan_row = checkrows[checkrows.size() / 2];
        checkrows.erase(checkrows.begin() + checkrows.size() / 2);
        unsigned short nanv = 0x7fc0 | (c.bf ? 0 : 0x7e00);
        CK(cudaDeviceSynchronize());
        CK(cudaMemcpy(dq + nan_row * D + 3, &nanv, 2, cudaMemcpyHostToDevice));
    }
    int *d_ks = B.ks, *d_kn = B.kn, *d_kc = B.kc, *d_valid = B.valid, *d_kept = B.kept, *d_kr = B.kr, *d_items, *d_cnt;
    CK(cudaMalloc(&d_items, (size_t)M * 2 * 4));
    CK(cudaMalloc(&d_cnt, 4));
    int *d_order; /* the device plan's order (identity without a grid: the host plan's order) */
    CK(cudaMalloc(&d_order, (size_t)M * 4));
    unsigned char *d_flag = B.flag;

    /* the non-finite V flags (checked against the host) */
    const long long nw = (NB + 31) / 32;
    unsigned *d_vbad;
    CK(cudaMalloc(&d_vbad, (size_t)BH * nw * 4));
    auto plan = [&](int maxrows) {
        vox_attn_sm90_plan<<<BH + BH * nw, VOX_SM90_PLAN_WARPS * 32, VOX_SM90_PLAN_SMEM(NB)>>>(
            d_kept, d_valid, d_ks, d_kn, d_kc, NB, d_items, d_cnt, maxrows, d_order, 0, 0, 0, (long long)BH,
            (const uint4 *)dv, V, D, c.bf, d_vbad, nullptr, nullptr, 1);
    };
    CK(cudaFuncSetAttribute(vox_attn_sm90_plan, cudaFuncAttributeMaxDynamicSharedMemorySize,
                            (int)VOX_SM90_PLAN_SMEM(NB)));
    CK(cudaMemset(d_cnt, 0, 4));
    plan(128);
    CK(cudaGetLastError());
    unsigned vbad_bad = 0; /* flag words that differ from the host's (timed shapes: finite V, all 0) */
    {
        std::vector<unsigned> hb((size_t)BH * nw), want((size_t)BH * nw, 0u);
        CK(cudaMemcpy(hb.data(), d_vbad, hb.size() * 4, cudaMemcpyDeviceToHost));
        const unsigned short E = c.bf ? 0x7f80 : 0x7c00;
        for (size_t e = 0; e < hv.size(); e++)
            if ((hv[e] & E) == E) {
                const long long blk = (long long)(e / D) / V, bh = blk / NB, j = blk % NB;
                want[bh * nw + j / 32] |= 1u << (j % 32);
            }
        for (size_t w = 0; w < hb.size(); w++)
            vbad_bad += hb[w] != want[w];
    }

    CUtensorMap tmK, tmV, tmK16, tmV16;
    kv_maps(&tmK, &tmV, &tmK16, &tmV16, dk, dv, BH * S, D, c.bf);
    /* the kernel variants (consumer warpgroups) to check and time, interleaved: D=64 VOX_NWG64,
     * D=128 VOXATTN_SM90_NWG (a list: A/B in one run) or the library's rule */
    std::vector<int> nwgs;
    if (D == 64)
        nwgs.push_back(g_nwg64);
    else if (!g_nwg128.empty())
        nwgs = g_nwg128;
    else
        nwgs.push_back(VOX_SM90_NWG_D128(V));
    struct Variant {
        int nwg;
        kern_t kern, kern_nf; /* the fast variant (heads with finite V), the safe one (_nf: flagged heads) */
        int *items, n_items;  /* the host plan for maxrows 64 * nwg */
        size_t smem;
        VoxSm90AttnParams p;
        std::vector<float> ts;
    };
    std::vector<Variant> vars;
    for (int nwg : nwgs) {
        Variant x;
        x.nwg = nwg;
        pick_kernels(D, c.bf, nwg, &x.kern, &x.kern_nf);
        const int maxrows = 64 * nwg;
        /* device plan count vs host plan count */
        CK(cudaMemset(d_cnt, 0, 4));
        plan(maxrows);
        int n_dev = 0;
        CK(cudaMemcpy(&n_dev, d_cnt, 4, cudaMemcpyDeviceToHost));
        std::vector<int> hitems((size_t)M * 2);
        x.n_items = vox_sm90_plan_host(rows.data(), BH, NB, hitems.data(), maxrows);
        if (x.n_items != n_dev)
            printf("  WARNING nwg=%d plan count host %d device %d\n", nwg, x.n_items, n_dev);
        /* the launches use the host plan (head-ordered) */
        CK(cudaMalloc(&x.items, (size_t)std::max(x.n_items, 1) * 8));
        CK(cudaMemcpy(x.items, hitems.data(), (size_t)x.n_items * 8, cudaMemcpyHostToDevice));
        VoxSm90AttnParams &p = x.p;
        memset(&p, 0, sizeof p);
        p.q = dq, p.o = dO, p.lse = dl, p.kv_start = d_ks, p.kv_count = d_kn, p.kv_cols = d_kc,
        p.kept_count = d_kept, p.kept_rows = d_kr, p.block_valid = d_valid, p.items = x.items, p.n_items_dev = 0,
        p.NB = NB, p.V = V, p.n_items = x.n_items, p.nb_pad = vox_sm90_nb_pad(NB),
        p.scale_log2 = (float)(1.4426950408889634 / sqrt((double)D)), p.vt_swap = 0;
        p.pingpong = g_pp;
        p.sweep_pos = g_sweep;
        p.vbad = d_vbad;
        x.smem = vox_sm90_smem_bytes(D, nwg, NB);
        CK(cudaFuncSetAttribute(x.kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)x.smem));
        CK(cudaFuncSetAttribute(x.kern_nf, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)x.smem));
        vars.push_back(x);
    }
    auto launch = [&](const Variant &x) {
        x.kern<<<x.n_items, 128 * (x.nwg + 1), x.smem>>>(x.p, tmK, tmV, tmK16, tmV16);
        x.kern_nf<<<x.n_items, 128 * (x.nwg + 1), x.smem>>>(x.p, tmK, tmV, tmK16, tmV16);
    };
    auto sync_watchdog = [&](const char *what) { bench_sync(what, c.name); };

    const CheckBufs cb = check_bufs_new(checkrows);
    bool all_ok = true;
    for (const Variant &x : vars) {
        /* correctness: poison, run once, check */
        CK(cudaMemset(dO, 0xff, nel * 2));
        CK(cudaMemset(dl, 0xff, (size_t)BH * S * 4));
        launch(x);
        CK(cudaGetLastError());
        sync_watchdog("first launch");
        CheckRes cr = check_outputs(B, cb, BH, NB, V, D, c.bf, c.name);
        unsigned *u = cr.u;
        const float lse_err = cr.lse_err;
        const double nerr = cr.nerr;
        if (nan_row >= 0) {
            std::vector<unsigned short> orow(D);
            float l;
            CK(cudaMemcpy(orow.data(), dO + nan_row * D, D * 2, cudaMemcpyDeviceToHost));
            CK(cudaMemcpy(&l, dl + nan_row, 4, cudaMemcpyDeviceToHost));
            int nn = 0;
            for (int t = 0; t < D; t++) {
                unsigned short h = orow[t];
                bool isn = c.bf ? ((h & 0x7f80) == 0x7f80 && (h & 0x7f)) : ((h & 0x7c00) == 0x7c00 && (h & 0x3ff));
                nn += isn;
            }
            bool nok = nn == D && l != l;
            printf("  NaN row test: %d/%d outputs NaN, lse %s -> %s\n", nn, D, l != l ? "NaN" : "not NaN",
                   nok ? "OK" : "FAIL");
            if (!nok)
                u[1] += 1000000;
        }
        bool ok = nerr < 2e-5 && lse_err < 1e-2 && u[1] == 0 && u[2] == 0 && u[3] == 0 && vbad_bad == 0;
        all_ok = all_ok && ok;
        printf("%-34s nwg=%d pp=%d sweep=%d D=%d V=%d BH=%d S=%lld dens=%.3f keep=%.2f items=%d | checked %d rows: nerr "
               "%.2e lse_maxabs %.2e nan %u unwritten-touched %u written-missing %u vflag-words-wrong %u %s\n",
               c.name, x.nwg, g_pp, g_sweep != 0, D, V, BH, S, (double)cols.size() / (double)(M * NB), c.keep,
               x.n_items, cb.nr, nerr, lse_err, u[1], u[2], u[3], vbad_bad, ok ? "OK" : "FAIL");
    }
    *ok_out = all_ok;
    if (c.timeit && !g_no_time && (all_ok || getenv("VOX_FORCE_TIME"))) {
        /* the variants interleaved launch by launch (3 warm-ups each, then 20 rounds) */
        cudaEvent_t e0, e1;
        CK(cudaEventCreate(&e0));
        CK(cudaEventCreate(&e1));
        for (int w = 0; w < 3; w++)
            for (const Variant &x : vars)
                launch(x);
        sync_watchdog("warmup");
        for (int r = 0; r < 20; r++)
            for (Variant &x : vars) {
                CK(cudaEventRecord(e0));
                launch(x);
                CK(cudaEventRecord(e1));
                sync_watchdog("timing");
                float ms;
                CK(cudaEventElapsedTime(&ms, e0, e1));
                x.ts.push_back(ms);
            }
        /* plan kernel time (with the first variant's maxrows) */
        std::vector<float> tp;
        for (int r = 0; r < 5; r++) {
            CK(cudaMemset(d_cnt, 0, 4));
            CK(cudaEventRecord(e0));
            plan(64 * vars[0].nwg);
            CK(cudaEventRecord(e1));
            CK(cudaEventSynchronize(e1));
            float ms;
            CK(cudaEventElapsedTime(&ms, e0, e1));
            tp.push_back(ms);
        }
        std::sort(tp.begin(), tp.end());
        for (Variant &x : vars) {
            std::sort(x.ts.begin(), x.ts.end());
            const float med = x.ts[x.ts.size() / 2];
            printf("    TIME %-30s nwg=%d %9.3f ms  (min %.3f max %.3f)  eff %.1f TFLOP/s   [plan + V flags launch "
                   "%.3f ms]\n",
                   c.name, x.nwg, med, x.ts[0], x.ts.back(), flops / (med * 1e-3) / 1e12, tp[2]);
        }
        CK(cudaEventDestroy(e0));
        CK(cudaEventDestroy(e1));
    }
    for (const Variant &x : vars)
        cudaFree(x.items);
    fflush(stdout);
    cudaFree(dq), cudaFree(dk), cudaFree(dv), cudaFree(dO), cudaFree(dl), cudaFree(d_ks), cudaFree(d_kn),
        cudaFree(d_kc), cudaFree(d_valid), cudaFree(d_items), cudaFree(d_cnt), cudaFree(d_flag), cudaFree(d_vbad);
    check_bufs_free(cb);
    if (d_kept)
        cudaFree(d_kept), cudaFree(d_kr);
    return all_ok;
}

/* ------------------------------------------------------------------------------------------
 * Real BSA masks (VOX_MASKS=FILE, written by perf/masks_compact.py from pack_stats --save: the
 * library's masks of the bench's hunyuan-720p workload, a few heads, cycled over BH = 24 heads)
 * for "real keep1", "real keep.5", "real keep.25": the library's launch (device planner with
 * the grid's axis choice, persistent grid of one CTA per SM), the kernel variants of VOX_VARS
 * (comma list of base, ts, hold, skip, skipbr, holdskip, ring4, stream, nosm, skipbrk, textfirst, lpt, headorder; default base) timed interleaved
 * launch by launch; ablations (stream, nosm) are not checked. Variants with timestamps print
 * the persistent grid's tail: the mean time a CTA sits idle before the last one ends. */
struct RealMasks {
    int NB = 0, NBv, gt, gh, gw, V, H, nk;
    std::vector<int> valid;
    std::vector<double> keep;
    /* [keep][head] */
    std::vector<std::vector<std::vector<int>>> cnt, kept, cols;
};
static RealMasks g_real;

static bool load_real(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    char mg[4];
    int h[8];
    bool ok = fread(mg, 1, 4, f) == 4 && !memcmp(mg, "VXM1", 4) && fread(h, 4, 8, f) == 8;
    RealMasks &r = g_real;
    if (ok) {
        r.NB = h[0], r.NBv = h[1], r.gt = h[2], r.gh = h[3], r.gw = h[4], r.V = h[5], r.H = h[6], r.nk = h[7];
        r.valid.resize(r.NB);
        ok = fread(r.valid.data(), 4, r.NB, f) == (size_t)r.NB;
        r.cnt.resize(r.nk), r.kept.resize(r.nk), r.cols.resize(r.nk);
    }
    for (int k = 0; ok && k < r.nk; k++) {
        double kp;
        ok = fread(&kp, 8, 1, f) == 1;
        r.keep.push_back(kp);
        r.cnt[k].resize(r.H), r.kept[k].resize(r.H), r.cols[k].resize(r.H);
        for (int hh = 0; ok && hh < r.H; hh++) {
            std::vector<unsigned short> c16(r.NB);
            std::vector<unsigned char> k8(r.NB);
            ok = fread(c16.data(), 2, r.NB, f) == (size_t)r.NB && fread(k8.data(), 1, r.NB, f) == (size_t)r.NB;
            long long tot = 0;
            for (int j = 0; j < r.NB; j++)
                tot += c16[j];
            std::vector<unsigned short> cl((size_t)tot);
            ok = ok && fread(cl.data(), 2, (size_t)tot, f) == (size_t)tot;
            r.cnt[k][hh].assign(c16.begin(), c16.end());
            r.kept[k][hh].assign(k8.begin(), k8.end());
            r.cols[k][hh].assign(cl.begin(), cl.end());
        }
    }
    fclose(f);
    if (ok)
        printf("real masks %s: NB %d (video %d, grid %dx%dx%d), V %d, %d heads, %d keeps\n", path, r.NB, r.NBv, r.gt,
               r.gh, r.gw, r.V, r.H, r.nk);
    else
        r.NB = 0;
    return ok;
}

static const char *g_vars = "base";

static bool run_real(const char *name, double keep, int BH)
{
    const RealMasks &R = g_real;
    int ki = -1;
    for (int k = 0; k < R.nk; k++)
        if (fabs(R.keep[k] - keep) < 1e-6)
            ki = k;
    if (ki < 0) {
        printf("%s: keep %g not in the mask file\n", name, keep);
        return false;
    }
    const int D = 128, V = R.V;
    const bool bf = true;
    const long long NB = R.NB, S = NB * V, M = BH * NB;
    rng_state = 88172645463325252ull ^ (unsigned long long)(keep * 1000);
    std::vector<int> kv_start(M), kv_count(M), cols;
    std::vector<int> kept_count, kept_rows, rows(M);
    const bool pruned = keep < 1.0;
    if (pruned)
        kept_count.resize(M), kept_rows.assign((size_t)M * V, 0);
    std::vector<int> perm(V);
    for (long long m = 0; m < M; m++) {
        const int hh = (int)((m / NB) % R.H), i = (int)(m % NB);
        kv_start[m] = (int)cols.size();
        const std::vector<int> &cc = R.cols[ki][hh];
        /* the head's CSR start of block i: prefix of counts (computed once per head below) */
        (void)cc;
        kv_count[m] = R.cnt[ki][hh][i];
        cols.resize(cols.size() + kv_count[m]); /* filled below */
        if (pruned) {
            const int nv = R.valid[i], kc = std::min(R.kept[ki][hh][i], nv);
            draw_kept(nv, kc, perm, &kept_rows[m * V]);
            kept_count[m] = kc;
            rows[m] = kc;
        } else
            rows[m] = R.valid[i];
    }
    for (long long bh = 0; bh < BH; bh++) {
        const int hh = (int)(bh % R.H);
        const std::vector<int> &cc = R.cols[ki][hh];
        std::copy(cc.begin(), cc.end(), cols.begin() + kv_start[bh * NB]);
    }
    std::vector<unsigned char> flag;
    std::vector<long long> checkrows;
    const double flops = 4.0 * D * row_flags(BH, NB, V, R.valid, kv_start, kv_count, cols, rows, kept_rows, pruned,
                                             397, flag, checkrows);
    size_t nel = (size_t)BH * S * D;
    DevBufs B;
    dev_bufs(B, BH, NB, V, D, bf, R.valid, kv_start, kv_count, cols, kept_count, kept_rows, pruned, flag);
    unsigned short *dq = B.q, *dk = B.k, *dv = B.v, *dO = B.o;
    float *dl = B.lse;
    int *d_ks = B.ks, *d_kn = B.kn, *d_kc = B.kc, *d_valid = B.valid, *d_kept = B.kept, *d_kr = B.kr;
    unsigned *d_hflag;
    CK(cudaMalloc(&d_hflag, BH * 4));
    unsigned char *d_flag = B.flag;
    const long long nw = (NB + 31) / 32;
    unsigned *d_vbad;
    CK(cudaMalloc(&d_vbad, (size_t)BH * nw * 4));
    int sms = 0;
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    unsigned long long *d_ts;
    CK(cudaMalloc(&d_ts, (size_t)sms * 16));
    CUtensorMap tmK, tmV, tmK16, tmV16;
    kv_maps(&tmK, &tmV, &tmK16, &tmV16, dk, dv, BH * S, D, bf);
    struct RVar {
        std::string name;
        kern_t kern, kern_nf;
        bool check, ts;
        int reorder; /* 0: the planner's item order; 1: items with a global (text) block first; 2: by
                        stream length, longest first; 3: by m0 (heads in turn, each head's items in
                        position order: the text items of a head last, as before the front region)
                        (all stable; host-side, after the device plan) */
        int *items, *order, *cnt; /* cnt: [0] the plan's item count, [1..3] params.work */
        int n_items;
        size_t smem;
        VoxSm90AttnParams p;
        std::vector<float> t, tail, span;
    };
    std::vector<RVar> vars;
    {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", g_vars);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(0, ",")) {
            RVar x;
            x.name = tok;
            x.check = true, x.ts = true, x.reorder = 0;
            x.kern_nf = vox_attn_sm90w3_bf16_d128_nf;
            if (x.name == "base")
                x.kern = vox_attn_sm90w3_bf16_d128, x.ts = false;
            else if (x.name == "ts")
                x.kern = vox_k6var_ts;
            else if (x.name == "hold")
                x.kern = vox_k6var_hold;
            else if (x.name == "skip")
                x.kern = vox_k6var_skip;
            else if (x.name == "holdskip")
                x.kern = vox_k6var_holdskip;
            else if (x.name == "stream")
                x.kern = vox_k6var_stream, x.check = false;
            else if (x.name == "skipbrk") /* deliberate break: its check must FAIL */
                x.kern = vox_k6var_skipbrk;
            else if (x.name == "textfirst")
                x.kern = vox_k6var_ts, x.reorder = 1;
            else if (x.name == "lpt")
                x.kern = vox_k6var_ts, x.reorder = 2;
            else if (x.name == "headorder") /* session 11's layout: heads in turn, each head's text items last */
                x.kern = vox_k6var_ts, x.reorder = 3;
            else if (x.name == "skipbr")
                x.kern = vox_k6var_skipbr;
            else if (x.name == "ring4")
                x.kern = vox_k6var_ring4;
            else if (x.name == "nosm")
                x.kern = vox_k6var_nosm, x.check = false;
            else {
                printf("unknown variant %s\n", tok);
                continue;
            }
            vars.push_back(x);
        }
    }
    for (RVar &x : vars) {
        CK(cudaMalloc(&x.items, (size_t)M * 8));
        CK(cudaMalloc(&x.order, (size_t)M * 4));
        CK(cudaMalloc(&x.cnt, 16));
        CK(cudaMemset(x.cnt, 0, 16));
        CK(cudaMemset(d_hflag, 0, BH * 4));
        CK(cudaFuncSetAttribute(vox_attn_sm90_plan, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                (int)VOX_SM90_PLAN_SMEM(NB)));
        vox_attn_sm90_plan<<<BH + BH * nw, VOX_SM90_PLAN_WARPS * 32, VOX_SM90_PLAN_SMEM(NB)>>>(
            d_kept, d_valid, d_ks, d_kn, d_kc, NB, x.items, x.cnt, 192, x.order, R.gt, R.gh, R.gw, (long long)BH,
            (const uint4 *)dv, V, D, bf, d_vbad, d_hflag, x.cnt + 3, 1);
        CK(cudaGetLastError());
        CK(cudaMemcpy(&x.n_items, x.cnt, 4, cudaMemcpyDeviceToHost));
        /* the planner's front region (the items with a text block, claimed first) */
        const int front = (int)VOX_SM90_PLAN_FRONT(BH, NB, R.gt, R.gh, R.gw);
        x.n_items += front;
        if (x.reorder) { /* the persistent grid claims items in array order: put the long ones first */
            std::vector<int> it((size_t)x.n_items * 2), ord((size_t)M), stamp((size_t)NB, -1);
            CK(cudaMemcpy(it.data(), x.items, it.size() * 4, cudaMemcpyDeviceToHost));
            CK(cudaMemcpy(ord.data(), x.order, ord.size() * 4, cudaMemcpyDeviceToHost));
            std::vector<std::pair<long long, int>> key((size_t)x.n_items);
            for (int i = 0; i < x.n_items; i++) {
                const long long m0 = it[2 * i], bh = m0 / NB;
                long long cost = 0;
                bool text = false;
                for (int g = 0; g < it[2 * i + 1]; g++) {
                    const long long blk = ord[m0 + g], m = bh * NB + blk;
                    text = text || blk >= R.NBv;
                    if (rows[m] <= 0)
                        continue;
                    for (int t = 0; t < kv_count[m]; t++) {
                        const int j = cols[kv_start[m] + t];
                        if (stamp[j] != i)
                            stamp[j] = i, cost += (R.valid[j] + 15) / 16; /* 16-key chunks */
                    }
                }
                key[i] = {x.reorder == 1 ? (text ? 1 : 0) : x.reorder == 2 ? cost : -m0, i};
            }
            std::stable_sort(key.begin(), key.end(),
                             [](const std::pair<long long, int> &a, const std::pair<long long, int> &b) { return a.first > b.first; });
            std::vector<int> it2(it.size());
            for (int i = 0; i < x.n_items; i++)
                it2[2 * i] = it[2 * key[i].second], it2[2 * i + 1] = it[2 * key[i].second + 1];
            CK(cudaMemcpy(x.items, it2.data(), it2.size() * 4, cudaMemcpyHostToDevice));
            printf("%-22s %-9s items reordered: first cost %lld, median %lld, last %lld (16-key chunks)\n", name,
                   x.name.c_str(), x.reorder == 2 ? key[0].first : -1, key[x.n_items / 2].first,
                   key[x.n_items - 1].first);
        }
        VoxSm90AttnParams &p = x.p;
        memset(&p, 0, sizeof p);
        p.q = dq, p.o = dO, p.lse = dl, p.kv_start = d_ks, p.kv_count = d_kn, p.kv_cols = d_kc, p.kept_count = d_kept,
        p.kept_rows = d_kr, p.block_valid = d_valid, p.items = x.items, p.n_items_dev = x.cnt, p.NB = NB, p.V = V,
        p.n_items = front, p.nb_pad = vox_sm90_nb_pad(NB), p.scale_log2 = (float)(1.4426950408889634 / sqrt((double)D));
        p.order = x.order, p.vbad = d_vbad, p.persist = 1, p.work = x.cnt + 1, p.hflag = d_hflag, p.heads = 1;
        p.sweep_pos = x.ts ? (int *)d_ts : nullptr;
        x.smem = vox_sm90_smem_bytes(D, 3, NB);
        CK(cudaFuncSetAttribute(x.kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)x.smem));
        CK(cudaFuncSetAttribute(x.kern_nf, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)x.smem));
    }
    auto launch = [&](const RVar &x) {
        CK(cudaMemsetAsync(x.cnt + 1, 0, 8)); /* work[0], work[1]: the item counters; work[2] from the plan */
        x.kern<<<sms, 512, x.smem>>>(x.p, tmK, tmV, tmK16, tmV16);
        x.kern_nf<<<sms, 512, x.smem>>>(x.p, tmK, tmV, tmK16, tmV16);
    };
    const CheckBufs cb = check_bufs_new(checkrows);
    bool all_ok = true;
    for (RVar &x : vars) {
        CK(cudaMemset(dO, 0xff, nel * 2));
        CK(cudaMemset(dl, 0xff, (size_t)BH * S * 4));
        launch(x);
        CK(cudaGetLastError());
        bench_sync("first launch", name);
        if (!x.check) {
            printf("%-22s %-9s items=%d | ablation, not checked\n", name, x.name.c_str(), x.n_items);
            continue;
        }
        const CheckRes cr = check_outputs(B, cb, BH, NB, V, D, bf, name);
        const unsigned *u = cr.u;
        const float lse_err = cr.lse_err;
        const double nerr = cr.nerr;
        const bool ok = nerr < 2e-5 && lse_err < 1e-2 && u[1] == 0 && u[2] == 0 && u[3] == 0;
        all_ok = all_ok && ok;
        printf("%-22s %-9s items=%d | checked %d rows: nerr %.2e lse_maxabs %.2e nan %u unwritten-touched %u "
               "written-missing %u %s\n",
               name, x.name.c_str(), x.n_items, cb.nr, nerr, lse_err, u[1], u[2], u[3], ok ? "OK" : "FAIL");
    }
    if (!g_no_time) {
        cudaEvent_t e0, e1;
        CK(cudaEventCreate(&e0));
        CK(cudaEventCreate(&e1));
        for (int w = 0; w < 2; w++)
            for (const RVar &x : vars)
                launch(x);
        bench_sync("warmup", name);
        const int reps = getenv("VOX_TIME_REPS") ? atoi(getenv("VOX_TIME_REPS")) : 15;
        std::vector<unsigned long long> ts((size_t)sms * 2);
        for (int r = 0; r < reps; r++)
            for (RVar &x : vars) {
                if (x.ts)
                    CK(cudaMemsetAsync(d_ts, 0, (size_t)sms * 16));
                CK(cudaMemsetAsync(x.cnt + 1, 0, 8));
                CK(cudaEventRecord(e0));
                x.kern<<<sms, 512, x.smem>>>(x.p, tmK, tmV, tmK16, tmV16);
                x.kern_nf<<<sms, 512, x.smem>>>(x.p, tmK, tmV, tmK16, tmV16);
                CK(cudaEventRecord(e1));
                bench_sync("timing", name);
                float ms;
                CK(cudaEventElapsedTime(&ms, e0, e1));
                x.t.push_back(ms);
                if (x.ts) {
                    CK(cudaMemcpy(ts.data(), d_ts, (size_t)sms * 16, cudaMemcpyDeviceToHost));
                    unsigned long long s0 = ~0ull, e_max = 0;
                    for (int b = 0; b < sms; b++)
                        if (ts[2 * b + 1])
                            s0 = std::min(s0, ts[2 * b]), e_max = std::max(e_max, ts[2 * b + 1]);
                    double idle = 0;
                    int n = 0;
                    for (int b = 0; b < sms; b++)
                        if (ts[2 * b + 1])
                            idle += (double)(e_max - ts[2 * b + 1]), n++;
                    x.tail.push_back((float)(n ? idle / n * 1e-6 : 0));
                    x.span.push_back((float)((e_max - s0) * 1e-6));
                }
            }
        auto med = [](std::vector<float> v) {
            if (v.empty())
                return 0.f;
            std::sort(v.begin(), v.end());
            return v[v.size() / 2];
        };
        for (RVar &x : vars) {
            const float m = med(x.t);
            std::vector<float> s = x.t;
            std::sort(s.begin(), s.end());
            printf("    TIME %-14s %-9s %9.3f ms  (min %.3f max %.3f)  eff %.1f TFLOP/s", name, x.name.c_str(), m, s[0],
                   s.back(), flops / (m * 1e-3) / 1e12);
            if (x.ts)
                printf("  span %.3f ms  mean CTA idle at end %.3f ms", med(x.span), med(x.tail));
            printf("\n");
        }
        CK(cudaEventDestroy(e0));
        CK(cudaEventDestroy(e1));
    }
    for (RVar &x : vars)
        cudaFree(x.items), cudaFree(x.order), cudaFree(x.cnt);
    fflush(stdout);
    cudaFree(dq), cudaFree(dk), cudaFree(dv), cudaFree(dO), cudaFree(dl), cudaFree(d_ks), cudaFree(d_kn),
        cudaFree(d_kc), cudaFree(d_valid), cudaFree(d_flag), cudaFree(d_vbad), cudaFree(d_hflag),
        cudaFree(d_ts);
    check_bufs_free(cb);
    if (d_kept)
        cudaFree(d_kept), cudaFree(d_kr);
    return all_ok;
}

int main(int argc, char **argv)
{
    /* usage: bench_sm90 [quick]; env VOX_ONLY="name1|name2" (substrings of timed shapes),
       VOX_PP=0/1 (pingpong, default 1), VOX_SWEEP=0/1 (shared sweep position, default 0) */
    bool quick = argc > 1 && !strcmp(argv[1], "quick");
    const char *only = getenv("VOX_ONLY");
    if (getenv("VOX_PP"))
        g_pp = atoi(getenv("VOX_PP"));
    if (getenv("VOX_NWG64"))
        g_nwg64 = atoi(getenv("VOX_NWG64"));
    if (getenv("VOXATTN_SM90_NWG")) { /* "2", "3" or "2,3" (each timed shape runs both, interleaved) */
        char buf[64];
        snprintf(buf, sizeof buf, "%s", getenv("VOXATTN_SM90_NWG"));
        for (char *tok = strtok(buf, ","); tok; tok = strtok(0, ","))
            if (atoi(tok) == 2 || atoi(tok) == 3)
                g_nwg128.push_back(atoi(tok));
    }
    g_no_time = getenv("VOX_NO_TIME") && atoi(getenv("VOX_NO_TIME"));
    if (getenv("VOX_SWEEP") && atoi(getenv("VOX_SWEEP"))) {
        CK(cudaMalloc(&g_sweep, 4));
        CK(cudaMemset(g_sweep, 0, 4));
    }
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    printf("device: %s, %d SMs, smem optin %zu\n", prop.name, prop.multiProcessorCount, prop.sharedMemPerBlockOptin);
    if (getenv("VOX_VARS"))
        g_vars = getenv("VOX_VARS");
    if (getenv("VOX_MASKS")) { /* the real masks' configs only (VOX_ONLY still filters them) */
        if (!load_real(getenv("VOX_MASKS"))) {
            printf("cannot read the mask file %s\n", getenv("VOX_MASKS"));
            return 1;
        }
        const char *names[3] = {"real keep1", "real keep.5", "real keep.25"};
        const double keeps[3] = {1.0, 0.5, 0.25};
        int fails = 0;
        for (int i = 0; i < 3; i++) {
            if (only) {
                bool hit = false;
                char buf[512];
                snprintf(buf, sizeof buf, "%s", only);
                for (char *tok = strtok(buf, "|"); tok; tok = strtok(0, "|"))
                    hit = hit || !strcmp(names[i], tok);
                if (!hit)
                    continue;
            }
            /* VOX_REAL_BH: heads (default 24, hunyuan-720p's; fewer for profiling) */
            const int rbh = getenv("VOX_REAL_BH") ? atoi(getenv("VOX_REAL_BH")) : 24;
            fails += !run_real(names[i], keeps[i], rbh > 0 ? rbh : 24);
        }
        printf("%d configs failed\n", fails);
        return fails ? 1 : 0;
    }
    const long long S = 122880;
    std::vector<Cfg> cfgs = {
        /* correctness-only, ragged everything */
        {"small ragged d128 v64", 2, 128, 64, 8192, 0.3, 1.0, 1, true, true, 1, false, true},
        {"small ragged d128 v64 keep.5", 2, 128, 64, 8192, 0.3, 0.5, 1, true, true, 1, false, false},
        {"small ragged d128 v64 corr4 keep.5", 2, 128, 64, 8192, 0.3, 0.5, 4, true, true, 1, false, false},
        {"small ragged d128 v128 keep.25", 2, 128, 128, 8192, 0.3, 0.25, 1, true, true, 1, false, false},
        {"small ragged d64 v64", 2, 64, 64, 8192, 0.3, 1.0, 1, true, true, 1, false, false},
        {"small ragged f16 d128 v128", 2, 128, 128, 8192, 0.3, 1.0, 1, true, false, 1, false, false},
        {"small ragged f16 d64 v64 keep.5", 2, 64, 64, 8192, 0.3, 0.5, 1, true, false, 1, false, true},
        /* Inf/NaN in V (docs/numerics.md): partial chunk stages (ragged blocks: chunk tails hold
         * padding slots, the last chunk stage unused slots) and warpgroups packing several query
         * blocks with different lists (keep < 1, ragged) */
        {"vinf ragged d128 v64", 2, 128, 64, 8192, 0.3, 1.0, 1, true, true, 1, false, false, true},
        {"vinf ragged d128 v64 keep.5", 2, 128, 64, 8192, 0.3, 0.5, 1, true, true, 1, false, false, true},
        {"vinf ragged d128 v128 keep.25", 2, 128, 128, 8192, 0.3, 0.25, 1, true, true, 1, false, false, true},
        {"vinf ragged f16 d64 v64 keep.5", 2, 64, 64, 8192, 0.3, 0.5, 1, true, false, 1, false, false, true},
        /* timed shapes */
        {"dense d128 v64", 24, 128, 64, S, 1.0, 1.0, 1, false, true, 4001, true, false},
        {"0.25 d128 v64", 24, 128, 64, S, 0.25, 1.0, 1, false, true, 997, true, false},
        {"0.10 d128 v64", 24, 128, 64, S, 0.10, 1.0, 1, false, true, 397, true, false},
        {"0.10 d128 v128", 24, 128, 128, S, 0.10, 1.0, 1, false, true, 199, true, false},
        {"0.10 d128 v64 keep.5", 24, 128, 64, S, 0.10, 0.5, 1, false, true, 397, true, false},
        {"0.10 d128 v64 keep.25", 24, 128, 64, S, 0.10, 0.25, 1, false, true, 397, true, false},
        {"0.10 d128 v64 corr8", 24, 128, 64, S, 0.10, 1.0, 8, false, true, 397, true, false},
        {"0.10 d128 v64 corr8 keep.5", 24, 128, 64, S, 0.10, 0.5, 8, false, true, 397, true, false},
        {"0.10 d128 v64 corr8 keep.25", 24, 128, 64, S, 0.10, 0.25, 8, false, true, 397, true, false},
        {"0.10 d64 v64", 24, 64, 64, S, 0.10, 1.0, 1, false, true, 397, true, false},
        {"0.10 f16 d128 v64", 24, 128, 64, S, 0.10, 1.0, 1, false, false, 397, true, false},
        {"0.25 d128 v64 ragged", 24, 128, 64, S, 0.25, 1.0, 1, true, true, 997, true, false},
        {"0.10 d128 v64 S30720 BH96", 96, 128, 64, 30720, 0.10, 1.0, 1, false, true, 397, true, false},
        {"0.10 d128 v128 corr8 keep.5", 24, 128, 128, S, 0.10, 0.5, 8, false, true, 199, true, false},
        /* small shapes for profiling */
        {"prof dense", 4, 128, 64, 32768, 1.0, 1.0, 1, false, true, 4001, true, false},
        {"prof 0.10", 2, 128, 64, S, 0.10, 1.0, 1, false, true, 397, true, false},
        {"prof d64 0.10", 2, 64, 64, S, 0.10, 1.0, 1, false, true, 397, true, false},
        {"prof v128 0.10", 4, 128, 128, S, 0.10, 1.0, 1, false, true, 199, true, false},
    };
    int fails = 0;
    for (auto &c : cfgs) {
        if (quick && c.timeit && c.BH > 2)
            continue;
        if (only && c.timeit) {
            bool hit = false;
            char buf[512];
            snprintf(buf, sizeof buf, "%s", only);
            for (char *tok = strtok(buf, "|"); tok; tok = strtok(0, "|"))
                hit = hit || !strcmp(c.name, tok);
            if (!hit)
                continue;
        }
        if (only && !c.timeit && getenv("VOX_SKIP_SMALL"))
            continue;
        if (bench_race() && !c.timeit)
            c.BH = 1, c.S = 2048; /* VOX_RACE=1 (bench_util.cuh) */
        bool ok;
        run_cfg(c, &ok);
        fails += !ok;
    }
    printf("%d configs failed\n", fails);
    return fails ? 1 : 0;
}
