/* Standalone correctness + speed harness for the Hopper block-sparse attention
 * backward (attention_backward_sm90.cuh). CUDA runtime + libcuda (tensor maps).
 * Build: nvcc -gencode=arch=compute_90a,code=sm_90a -O3 -std=c++17 bench_sm90_bwd.cu -lcuda -o bench_sm90_bwd
 * Run:   ./bench_sm90_bwd check   small ragged configs against an fp32 GPU reference (~1 min max)
 *        ./bench_sm90_bwd time    hunyuan-like sizes (BH=24, S=122880, D=128), median of 20 (~1 min)
 *   env VOX_ONLY=name (one config by exact name), VOX_FORCE_TIME=1 (time even if a check failed),
 *   VOX_HANG_S=seconds (hang watchdog, default 20; raise it under compute-sanitizer),
 *   VOX_BWD_PACK_DQ=0|1, VOX_BWD_PACK_DKDV=0|1 (each kernel's scheme: 1 packed, two units per CTA;
 *   0 alternating, one unit per CTA; defaults VOX_SM90_BWD_{DQ,DKDV}_PACK, the library's: dq 0, dkdv 1),
 *   VOX_BWD_MODE=a comma list of ordered, atomic, atomic_db (default all three): the deterministic
 *   mode (rows + dq + dkdv) and the atomic-dQ mode (rows zeroing the f32 accumulator + dkdvq +
 *   dqconv) with dkdvq in scheme VOX_SM90_BWD_ATOMIC or VOX_SM90_BWD_ATOMIC_DB (the library's is
 *   VOX_SM90_BWD_DKDVQ_PACK), each checked against the same reference and limits, or timed;
 *   VOX_ONLY may list several names separated by commas;
 *   VOX_TIME_REPS=n timed runs per measurement (default 20 after 3 warm-ups; fewer: 1 warm-up);
 *   VOX_BWD_ASC=1: the packed schemes merge the two units' lists in ascending block order
 *   (params.asc; the library's VOXATTN_SM90_BWD_ASCENDING) instead of alternating one-unit blocks.
 *   VOX_BWD_RCHUNK=1: the packed dkdv / dkdvq with the key-unit table (params.runit: blocks with
 *   1..16 valid keys packed 4 per unit, vox_sm90_bwd_runits) where every group's blocks have equal
 *   lists in every head (dense configs; else it says "off here"); =2: each mode runs off, on, off, on.
 *   VOX_BWD_RCHUNK_DEV=1: the table the device builds (vox_attn_bwd_sm90_runits, the library's; always
 *   compared with the host's), nunit -1 and the usual grid;
 *   =3: as 2 but the table also where lists differ (a chunk unit then streams only its first block's
 *   list: WRONG dk/dv/dq, a timing probe of the upper bound of packing with union lists; time only).
 * check: random ragged CSR masks (empty lists, random block_valid incl. fully
 * padded blocks, or block_valid of a video grid cut into blocks as
 * core/layout.c does: the grid's last blocks partial; pruned rows through
 * fill_src), random q, k, v, dout; the
 * padding rows of k and v and the rows that are not live in q and dout
 * (padding, pruned) NaN (they must reach no result); a naive fp32 forward gives o (rounded to the dtype) and lse, the
 * preprocess delta = dout.o; dq, dk, dv poisoned (NaN) before the run and
 * compared element by element with a naive fp32 reference backward:
 * normalized error sum((a-r)^2)/sum(r^2) against the conformance limits of
 * tensor-core kernels (bf16 1e-4, f16 2e-6), no NaN, and exact zeros where
 * nothing contributes (padding keys, rows not live, keys nobody attends).
 * time: per mode its kernels (ordered: rows, dq, dkdv; atomic: rows, dkdvq,
 * dqconv), each and all together timed (cudaEvents, median of 20 after 3
 * warm-ups); effective TFLOP/s = 2.5 * 4*D*sum over live rows of allowed keys
 * / time (valid keys and rows only: padding slots count nothing).
 * "hunyuan_ragged" = the real 33x45x80 latent in 4x4x4 blocks (NB 2160, 85.9%
 * of the slots valid). */
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
#include <chrono>
/* -DBENCH_BWD_BF16_D128_ONLY=1: only the bf16 D = 128 kernels are built (about a fifth of the
 * compile time, for A/B builds of compile-time variants); configs of other dtypes / D are skipped */
#ifndef BENCH_BWD_BF16_D128_ONLY
#define BENCH_BWD_BF16_D128_ONLY 0
#endif
#if BENCH_BWD_BF16_D128_ONLY
#include "attention_backward_sm90.cuh"
VOX_SM90_BWD_DQCONV_KERNEL(bf16_d128, 128, true)
#else
#include "attention_backward_sm90.cu"
#endif
#include "attention_forward_sm90_host.h"
#include "attention_backward_sm90_host.h"
#include "bench_util.cuh"

/* Both schemes of both kernels for A/B (pk: packed, alt: alternating) and both atomic-dQ dkdv schemes
 * (a1: VOX_SM90_BWD_ATOMIC, a2: VOX_SM90_BWD_ATOMIC_DB), whatever the library's choice */
#define BENCH_BWD_VARIANTS(NAME, D, BF)                                                                       \
    VOX_SM90_BWD_DQ_KERNEL(pk_##NAME, D, BF, 1)                                                               \
    VOX_SM90_BWD_DQ_KERNEL(alt_##NAME, D, BF, 0)                                                              \
    VOX_SM90_BWD_DKDV_KERNEL(pk_##NAME, D, BF, 1)                                                             \
    VOX_SM90_BWD_DKDV_KERNEL(alt_##NAME, D, BF, 0)                                                            \
    VOX_SM90_BWD_DKDV_KERNEL(a1_##NAME, D, BF, VOX_SM90_BWD_ATOMIC)                                           \
    VOX_SM90_BWD_DKDV_KERNEL(a2_##NAME, D, BF, VOX_SM90_BWD_ATOMIC_DB)
BENCH_BWD_VARIANTS(bf16_d128, 128, true)
#if BENCH_BWD_BF16_D128_ONLY /* the other table entries name the bf16 D = 128 kernels (never launched) */
#define BENCH_ALIAS(K) static const auto K##_f16_d128 = K##_bf16_d128, K##_bf16_d64 = K##_bf16_d128, K##_f16_d64 = K##_bf16_d128;
BENCH_ALIAS(vox_attn_bwd_sm90_dq_alt)
BENCH_ALIAS(vox_attn_bwd_sm90_dq_pk)
BENCH_ALIAS(vox_attn_bwd_sm90_dkdv_alt)
BENCH_ALIAS(vox_attn_bwd_sm90_dkdv_pk)
BENCH_ALIAS(vox_attn_bwd_sm90_dkdv_a1)
BENCH_ALIAS(vox_attn_bwd_sm90_dkdv_a2)
BENCH_ALIAS(vox_attn_bwd_sm90_dqconv)
#else
BENCH_BWD_VARIANTS(f16_d128, 128, false)
BENCH_BWD_VARIANTS(bf16_d64, 64, true)
BENCH_BWD_VARIANTS(f16_d64, 64, false)
#endif

typedef unsigned short u16;

/* Whether absolute row x (= bh*S + slot) is live: valid, computed, lse != -inf. */
static __device__ __forceinline__ bool row_live(long long x, long long S, int V, const int *valid, const int *fill,
                                                const float *lse)
{
    const long long slot = x % S;
    const int i = (int)(slot / V), r = (int)(slot % V);
    return r < valid[i] && (!fill || fill[x] == slot) && (!lse || lse[x] != -INFINITY);
}

/* Gaussian data; padding rows of k/v (kv = 1) and rows not live of q/dout (kv = 0) NaN (0xffff). */
__global__ void fill_data(u16 *p, long long n, int D, long long S, int V, const int *valid, const int *fill, int kv,
                          unsigned seed, bool bf)
{
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n; e += (long long)gridDim.x * blockDim.x) {
        const long long x = e / D, slot = x % S;
        const bool pad = (int)(slot % V) >= valid[slot / V];
        if (kv ? pad : !row_live(x, S, V, valid, fill, NULL)) {
            p[e] = 0xffff;
            continue;
        }
        unsigned h1 = hash32(e * 2 + ((unsigned long long)seed << 40)), h2 = hash32(e * 2 + 1 + ((unsigned long long)seed << 40));
        float u1 = (h1 + 1.f) * 2.3283064e-10f, u2 = h2 * 2.3283064e-10f;
        p[e] = f2h(sqrtf(-2.f * logf(u1)) * cosf(6.2831853f * u2), bf);
    }
}

__device__ float block_sum(float x, float *sh)
{
    for (int off = 16; off; off >>= 1)
        x += __shfl_xor_sync(0xffffffffu, x, off);
    __syncthreads();
    if ((threadIdx.x & 31) == 0)
        sh[threadIdx.x >> 5] = x;
    __syncthreads();
    float r = 0.f;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++)
        r += sh[w];
    return r;
}
__device__ float block_max(float x, float *sh)
{
    for (int off = 16; off; off >>= 1)
        x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, off));
    __syncthreads();
    if ((threadIdx.x & 31) == 0)
        sh[threadIdx.x >> 5] = x;
    __syncthreads();
    float r = -INFINITY;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++)
        r = fmaxf(r, sh[w]);
    return r;
}

struct Dev {
    long long BH, NB, S, R;
    int V, D;
    bool bf;
    float scale;
    const int *mask, *valid, *fill;
};

/* fp32 forward, one 128-thread block per row: lse and o (rounded to the dtype); rows not live:
 * o = 0, lse = NaN (must never be read); live rows without keys: lse = -inf, o = 0. */
__global__ void ref_forward(Dev d, const u16 *q, const u16 *k, const u16 *v, u16 *o, float *lse)
{
    __shared__ float qs[128], ps[128], sh[8];
    const long long x = blockIdx.x, bh = x / d.S, slot = x % d.S, m = bh * d.NB + slot / d.V;
    const int t = threadIdx.x;
    if (!row_live(x, d.S, d.V, d.valid, d.fill, NULL)) {
        if (t < d.D)
            o[x * d.D + t] = 0;
        if (t == 0)
            lse[x] = NAN;
        return;
    }
    if (t < d.D)
        qs[t] = h2f(q[x * d.D + t], d.bf);
    __syncthreads();
    const int st = d.mask[m], cnt = d.mask[d.R + m];
    float mx = -INFINITY;
    for (int c = 0; c < cnt; c++) {
        const int j = d.mask[st + c];
        for (int r = t; r < d.valid[j]; r += 128) {
            const u16 *kr = k + (bh * d.S + (long long)j * d.V + r) * d.D;
            float s = 0.f;
            for (int e = 0; e < d.D; e++)
                s += qs[e] * h2f(kr[e], d.bf);
            mx = fmaxf(mx, s * d.scale);
        }
    }
    mx = block_max(mx, sh);
    float sum = 0.f, acc = 0.f;
    for (int c = 0; c < cnt; c++) {
        const int j = d.mask[st + c], nv = d.valid[j];
        for (int r0 = 0; r0 < nv; r0 += 128) {
            float p = 0.f;
            if (r0 + t < nv) {
                const u16 *kr = k + (bh * d.S + (long long)j * d.V + r0 + t) * d.D;
                float s = 0.f;
                for (int e = 0; e < d.D; e++)
                    s += qs[e] * h2f(kr[e], d.bf);
                p = expf(s * d.scale - mx);
            }
            __syncthreads();
            ps[t] = p;
            sum += p;
            __syncthreads();
            if (t < d.D)
                for (int u = 0; u < 128 && r0 + u < nv; u++)
                    acc += ps[u] * h2f(v[(bh * d.S + (long long)j * d.V + r0 + u) * d.D + t], d.bf);
        }
    }
    sum = block_sum(sum, sh);
    if (t < d.D)
        o[x * d.D + t] = f2h(sum > 0.f ? acc / sum : 0.f, d.bf);
    if (t == 0)
        lse[x] = sum > 0.f ? mx + logf(sum) : -INFINITY;
}

/* The preprocess without pruning folds (dout is dO_eff already): delta = dout . o for computed
 * rows, 0 for the others, into lse[BH*S + x]; one warp per row. */
__global__ void ref_prep(Dev d, const u16 *dout, const u16 *o, float *lse)
{
    const long long x = (blockIdx.x * (long long)blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (x >= d.BH * d.S)
        return;
    float s = 0.f;
    if (row_live(x, d.S, d.V, d.valid, d.fill, NULL))
        for (int e = lane; e < d.D; e += 32)
            s += h2f(dout[x * d.D + e], d.bf) * h2f(o[x * d.D + e], d.bf);
    for (int off = 16; off; off >>= 1)
        s += __shfl_xor_sync(0xffffffffu, s, off);
    if (lane == 0)
        lse[d.BH * d.S + x] = s;
}

/* fp32 reference dq, one block per row; zf[x] = 1 when nothing contributes (expect exact 0). */
__global__ void ref_dq(Dev d, const u16 *q, const u16 *k, const u16 *v, const u16 *dout, const float *lse, float *dq,
                       unsigned char *zf)
{
    __shared__ float qs[128], gs[128], ds_[128];
    const long long x = blockIdx.x, bh = x / d.S, slot = x % d.S, m = bh * d.NB + slot / d.V;
    const int t = threadIdx.x;
    const bool live = row_live(x, d.S, d.V, d.valid, d.fill, lse);
    float acc = 0.f;
    long long contrib = 0;
    if (live) {
        if (t < d.D)
            qs[t] = h2f(q[x * d.D + t], d.bf), gs[t] = h2f(dout[x * d.D + t], d.bf);
        __syncthreads();
        const float L = lse[x], dl = lse[d.BH * d.S + x];
        const int st = d.mask[m], cnt = d.mask[d.R + m];
        for (int c = 0; c < cnt; c++) {
            const int j = d.mask[st + c], nv = d.valid[j];
            contrib += nv;
            for (int r0 = 0; r0 < nv; r0 += 128) {
                float g = 0.f;
                if (r0 + t < nv) {
                    const long long key = bh * d.S + (long long)j * d.V + r0 + t;
                    float s = 0.f, dp = 0.f;
                    for (int e = 0; e < d.D; e++) {
                        s += qs[e] * h2f(k[key * d.D + e], d.bf);
                        dp += gs[e] * h2f(v[key * d.D + e], d.bf);
                    }
                    g = expf(s * d.scale - L) * (dp - dl);
                }
                __syncthreads();
                ds_[t] = g;
                __syncthreads();
                if (t < d.D)
                    for (int u = 0; u < 128 && r0 + u < nv; u++)
                        acc += ds_[u] * h2f(k[(bh * d.S + (long long)j * d.V + r0 + u) * d.D + t], d.bf);
            }
        }
    }
    if (t < d.D)
        dq[x * d.D + t] = acc * d.scale;
    if (t == 0)
        zf[x] = contrib == 0;
}

/* fp32 reference dk, dv, one block per key slot over the transposed list. */
__global__ void ref_dkdv(Dev d, const u16 *q, const u16 *k, const u16 *v, const u16 *dout, const float *lse,
                         float *dk, float *dv, unsigned char *zf)
{
    __shared__ float ks[128], vs[128], ps[128], ds_[128];
    __shared__ int lv[128];
    const long long x = blockIdx.x, bh = x / d.S, slot = x % d.S, j = slot / d.V, mt = bh * d.NB + j;
    const int t = threadIdx.x, kr = (int)(slot % d.V);
    float gk = 0.f, gv = 0.f;
    long long contrib = 0;
    if (kr < d.valid[j]) {
        if (t < d.D)
            ks[t] = h2f(k[x * d.D + t], d.bf), vs[t] = h2f(v[x * d.D + t], d.bf);
        __syncthreads();
        const int st = d.mask[2 * d.R + mt], cnt = d.mask[3 * d.R + mt];
        for (int c = 0; c < cnt; c++) {
            const int i = d.mask[st + c], nv = d.valid[i];
            for (int r0 = 0; r0 < nv; r0 += 128) {
                float p = 0.f, g = 0.f;
                const long long row = bh * d.S + (long long)i * d.V + r0 + t;
                const bool live = r0 + t < nv && row_live(row, d.S, d.V, d.valid, d.fill, lse);
                if (live) {
                    float s = 0.f, dp = 0.f;
                    for (int e = 0; e < d.D; e++) {
                        s += h2f(q[row * d.D + e], d.bf) * ks[e];
                        dp += h2f(dout[row * d.D + e], d.bf) * vs[e];
                    }
                    p = expf(s * d.scale - lse[row]);
                    g = p * (dp - lse[d.BH * d.S + row]);
                }
                __syncthreads();
                ps[t] = p, ds_[t] = g, lv[t] = live;
                __syncthreads();
                for (int u = 0; u < 128; u++)
                    contrib += lv[u];
                if (t < d.D)
                    for (int u = 0; u < 128 && r0 + u < nv; u++) {
                        if (!lv[u])
                            continue;
                        const long long ru = bh * d.S + (long long)i * d.V + r0 + u;
                        gv += ps[u] * h2f(dout[ru * d.D + t], d.bf);
                        gk += ds_[u] * h2f(q[ru * d.D + t], d.bf);
                    }
            }
        }
    }
    if (t < d.D)
        dk[x * d.D + t] = gk * d.scale, dv[x * d.D + t] = gv;
    if (t == 0)
        zf[x] = contrib == 0;
}

/* Comparison: acc[0] += (a-r)^2, acc[1] += r^2; u[0] NaN/Inf count, u[1] exact-zero violations,
 * u[2] elements over tol, u[3] max |a-r| (float bits); first[0] first element over tol or
 * non-finite or non-zero where zero is due. */
__global__ void compare(const u16 *got, const float *ref, const unsigned char *zf, long long n, int D, bool bf,
                        float tol_abs, float tol_rel, double *acc, unsigned *u, unsigned long long *first)
{
    __shared__ double sh[2][256];
    double e2 = 0.0, r2 = 0.0;
    for (long long x = blockIdx.x * (long long)blockDim.x + threadIdx.x; x < n; x += (long long)gridDim.x * blockDim.x) {
        const float a = h2f(got[x], bf), r = ref[x];
        bool bad = false;
        if (!isfinite(a))
            atomicAdd(&u[0], 1u), bad = true;
        if (zf[x / D]) {
            if (a != 0.f)
                atomicAdd(&u[1], 1u), bad = true;
        } else if (isfinite(a)) {
            const float df = fabsf(a - r);
            e2 += (double)df * df;
            atomicMax(&u[3], __float_as_uint(df));
            if (df > tol_abs + tol_rel * fabsf(r))
                atomicAdd(&u[2], 1u), bad = true;
        }
        r2 += (double)r * r;
        if (bad)
            atomicMin(first, (unsigned long long)x);
    }
    sh[0][threadIdx.x] = e2, sh[1][threadIdx.x] = r2;
    __syncthreads();
    for (int s = 128; s; s >>= 1) {
        if ((int)threadIdx.x < s)
            sh[0][threadIdx.x] += sh[0][threadIdx.x + s], sh[1][threadIdx.x] += sh[1][threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0)
        atomicAdd(&acc[0], sh[0][0]), atomicAdd(&acc[1], sh[1][0]);
}

__global__ void count_nonfinite(const u16 *p, long long n, bool bf, unsigned *cnt)
{
    for (long long x = blockIdx.x * (long long)blockDim.x + threadIdx.x; x < n; x += (long long)gridDim.x * blockDim.x)
        if (!isfinite(h2f(p[x], bf)))
            atomicAdd(cnt, 1u);
}

/* timing mode: lse ~ log(keys of the row) + 0.5 (scores ~ N(0,1)), delta 0 */
__global__ void fake_lse(Dev d, float *lse, const float *lse_block)
{
    for (long long x = blockIdx.x * (long long)blockDim.x + threadIdx.x; x < d.BH * d.S; x += (long long)gridDim.x * blockDim.x) {
        lse[x] = lse_block[x / d.V];
        lse[d.BH * d.S + x] = 0.f;
    }
}

/* ------------------------------------------------------------------ host */
struct Cfg {
    const char *name;
    int BH, NB, V, D;
    bool bf;
    double density, empty_frac, prune;
    bool ragged;
    unsigned seed;
    int grid[3], blk[3]; /* grid[0] > 0: block_valid of a frames x height x width grid in blk-sized blocks */
    bool corr;           /* neighbour-correlated lists (see build), else independent rows */
    int text;            /* the last `text` blocks are global (the library's text blocks: all slots valid, their
                          * rows list every block, every row lists them: the longest lists, as BSA top-k) */
};

struct Rng {
    unsigned long long s;
    unsigned next()
    {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        return (unsigned)(s >> 11);
    }
};
static double urand(Rng &r) { return (r.next() & 0xffffff) / 16777216.0; }
/* a uniform [0, 1) function of (a, b, seed) */
static double hrand(unsigned long long a, unsigned long long b, unsigned seed)
{
    unsigned long long x = (a * 0x9E3779B97F4A7C15ull) ^ (b + 0x632BE59BD9B4E019ull) ^ ((unsigned long long)seed << 32);
    x ^= x >> 30, x *= 0xBF58476D1CE4E5B9ull, x ^= x >> 27, x *= 0x94D049BB133111EBull, x ^= x >> 31;
    return (x >> 40) / 16777216.0;
}

struct Host {
    std::vector<int> mask, valid, fill;
    std::vector<float> lse_block; /* timing: per (bh, block) lse guess */
    double keysum = 0;            /* sum over live rows of allowed keys */
    double share[2], imb[2];      /* the packed CTAs' lists, dq and dkdv: see pair_stats */
};

/* The packed scheme's pairs of units (2x, 2x+1 of a head; unit u = block u / (V/64)) over the
 * lists at mask[base*R + m] (start), mask[(base+1)*R + m] (count): share = sum of |union| / sum of
 * (|A| + |B|) (0.5: identical lists, 1: disjoint), imb = sum of max(|A|, |B|) / sum of the means
 * (1: balanced; the CTA's time follows its busier consumer). */
static void pair_stats(const std::vector<int> &mask, long long BH, long long NB, int V, int base, double &share,
                       double &imb)
{
    const long long R = BH * NB, parts = V / 64, U = NB * parts;
    double uni = 0, sum = 0, mx = 0;
    for (long long bh = 0; bh < BH; bh++)
        for (long long u = 0; u < U; u += 2) {
            const bool two = u + 1 < U;
            const long long ma = bh * NB + u / parts, mb = bh * NB + (two ? (u + 1) / parts : u / parts);
            const int *a = mask.data() + mask[base * R + ma], *b = mask.data() + mask[base * R + mb];
            const int na = mask[(base + 1) * R + ma], nb = two ? mask[(base + 1) * R + mb] : 0;
            int x = 0, y = 0, n = 0;
            while (x < na || y < nb) {
                const int va = x < na ? a[x] : INT32_MAX, vb = y < nb ? b[y] : INT32_MAX;
                x += va <= vb, y += vb <= va, n++;
            }
            uni += n, sum += na + nb, mx += std::max(na, nb);
        }
    share = sum > 0 ? uni / sum : 0, imb = sum > 0 ? mx / (sum / 2) : 0;
}

static void build(const Cfg &c, Host &h)
{
    Rng rng{0x9E3779B97F4A7C15ull ^ ((unsigned long long)c.seed << 1)};
    const long long NB = c.NB, R = (long long)c.BH * NB, V = c.V, S = NB * V, NV = NB - c.text;
    h.valid.assign(NB, c.V);
    if (c.grid[0] > 0) { /* block b = (tb, yb, xb) row-major, valid = its clipped extent (core/layout.c) */
        long long nb = 1;
        for (int a = 0; a < 3; a++)
            nb *= (c.grid[a] + c.blk[a] - 1) / c.blk[a];
        if (nb != NV || c.blk[0] * c.blk[1] * c.blk[2] != c.V) {
            printf("[%s] grid gives NB %lld (config %lld) or V %d (config %d)\n", c.name, nb, NV,
                   c.blk[0] * c.blk[1] * c.blk[2], c.V);
            exit(1);
        }
        const int gh = (c.grid[1] + c.blk[1] - 1) / c.blk[1], gw = (c.grid[2] + c.blk[2] - 1) / c.blk[2];
        for (long long b = 0; b < NV; b++) {
            const int e[3] = {(int)(b / (gh * gw)), (int)(b / gw % gh), (int)(b % gw)};
            int n = 1;
            for (int a = 0; a < 3; a++)
                n *= std::min(c.blk[a], c.grid[a] - e[a] * c.blk[a]);
            h.valid[b] = n;
        }
    }
    if (c.ragged)
        for (long long j = 0; j < NV; j++)
            if (urand(rng) < 0.2) {
                const int x = (int)(urand(rng) * (V + 1));
                h.valid[j] = x > c.V ? c.V : x;
            }
    std::vector<int> cnt(R), cols;
    cols.reserve((size_t)(R * NB * std::min(1.0, c.density * 1.2)) + 16);
    for (long long m = 0; m < R; m++) {
        /* corr: like video masks, neighbouring blocks share most of their lists: 70% of the picks are
         * common to aligned 4 x 4 groups of (query block, KV block), 30% per row; the density per
         * group of 4 query blocks */
        const long long grp = m / 4;
        const double u = c.corr ? hrand(grp, 0, c.seed) : urand(rng);
        double pr = c.density >= 1.0 ? 1.0 : std::min(1.0, c.density * (0.25 + 1.5 * u));
        if (urand(rng) < c.empty_frac)
            pr = 0.0;
        int n = 0;
        for (long long j = 0; j < NB; j++) {
            const bool pick = c.corr ? hrand(grp, 1 + j / 4, c.seed) < 0.7 * pr || urand(rng) < 0.3 * pr
                                     : urand(rng) < pr;
            if (pr >= 1.0 || pick || m % NB >= NV || j >= NV) /* text: global rows and columns */
                cols.push_back((int)j), n++;
        }
        cnt[m] = n;
    }
    const long long T = (long long)cols.size();
    h.mask.assign(4 * R + 2 * T, 0);
    std::vector<long long> tcnt(R, 0), tpos(R);
    long long off = 0;
    for (long long m = 0; m < R; m++) {
        h.mask[m] = (int)(4 * R + off);
        h.mask[R + m] = cnt[m];
        for (int x = 0; x < cnt[m]; x++) {
            h.mask[4 * R + off + x] = cols[off + x];
            tcnt[(m / NB) * NB + cols[off + x]]++;
        }
        off += cnt[m];
    }
    long long t = 4 * R + T;
    for (long long mt = 0; mt < R; mt++) {
        h.mask[2 * R + mt] = (int)t, h.mask[3 * R + mt] = (int)tcnt[mt];
        tpos[mt] = t, t += tcnt[mt];
    }
    off = 0;
    for (long long m = 0; m < R; m++) {
        const long long bh = m / NB, i = m % NB;
        for (int x = 0; x < cnt[m]; x++)
            h.mask[tpos[bh * NB + cols[off + x]]++] = (int)i;
        off += cnt[m];
    }
    /* pruning: a valid slot r > 0 is pruned with probability prune, its source a kept slot of its block */
    h.fill.clear();
    if (c.prune > 0) {
        h.fill.resize((size_t)(c.BH * S));
        for (long long bh = 0; bh < c.BH; bh++)
            for (long long i = 0; i < NB; i++) {
                std::vector<int> kept;
                for (int r = 0; r < c.V; r++) {
                    const long long slot = i * V + r;
                    int f = (int)slot;
                    if (r < h.valid[i] && r > 0 && urand(rng) < c.prune)
                        f = -2; /* decided below */
                    else if (r < h.valid[i])
                        kept.push_back(r);
                    h.fill[bh * S + slot] = f;
                }
                for (int r = 0; r < c.V; r++)
                    if (h.fill[bh * S + i * V + r] == -2)
                        h.fill[bh * S + i * V + r] = (int)(i * V + kept[rng.next() % kept.size()]);
            }
    }
    /* effective work and the timing mode's lse guess */
    h.keysum = 0;
    h.lse_block.assign(R, 0.f);
    for (long long m = 0; m < R; m++) {
        const long long bh = m / NB, i = m % NB;
        long long keys = 0;
        for (int x = 0; x < h.mask[R + m]; x++)
            keys += h.valid[h.mask[h.mask[m] + x]];
        h.lse_block[m] = keys > 0 ? (float)(log((double)keys) + 0.5) : -INFINITY;
        long long live = 0;
        for (int r = 0; r < h.valid[i]; r++)
            live += h.fill.empty() || h.fill[bh * S + i * V + r] == i * V + r;
        h.keysum += (double)live * keys;
    }
    pair_stats(h.mask, c.BH, NB, c.V, 0, h.share[0], h.imb[0]);
    pair_stats(h.mask, c.BH, NB, c.V, 2, h.share[1], h.imb[1]);
}

/* VOX_BWD_PACK_DQ / VOX_BWD_PACK_DKDV: the scheme of one kernel (default: the library's) */
static bool bench_pack_env(const char *name, int dflt)
{
    const char *e = getenv(name);
    return e ? atoi(e) != 0 : dflt != 0;
}
static bool bench_pack_dq()
{
    static const bool on = bench_pack_env("VOX_BWD_PACK_DQ", VOX_SM90_BWD_DQ_PACK);
    return on;
}
static bool bench_pack_dkdv()
{
    static const bool on = bench_pack_env("VOX_BWD_PACK_DKDV", VOX_SM90_BWD_DKDV_PACK);
    return on;
}

/* Whether the comma list in environment variable `var` names `name` (unset: every name) */
static bool bench_listed(const char *var, const char *name)
{
    const char *o = getenv(var);
    if (!o)
        return true;
    const size_t n = strlen(name);
    for (const char *x = o; *x;) {
        const char *e = strchr(x, ',');
        const size_t l = e ? (size_t)(e - x) : strlen(x);
        if (l == n && !strncmp(x, name, n))
            return true;
        if (!e)
            break;
        x = e + 1;
    }
    return false;
}

typedef void (*BwdKernel)(const VoxSm90BwdParams, const CUtensorMap, const CUtensorMap, const CUtensorMap,
                          const CUtensorMap, const CUtensorMap, const CUtensorMap, const CUtensorMap,
                          const CUtensorMap, const CUtensorMap);
typedef void (*BwdConv)(const VoxSm90BwdParams);

static float median(std::vector<float> v)
{
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

/* The fp32 reference backward of a config (check), computed once for both modes. */
struct Ref {
    float *rq, *rk, *rv;
    unsigned char *zq, *zkv; /* rows where the reference dq / dk, dv is an exact 0 */
};

/* VOX_TIME_REPS: timed runs per measurement (default 20, after 3 warm-ups; fewer: 1 warm-up) */
static int bench_reps()
{
    static const int n = getenv("VOX_TIME_REPS") && atoi(getenv("VOX_TIME_REPS")) > 0 ? atoi(getenv("VOX_TIME_REPS"))
                                                                                        : 20;
    return n;
}

/* One mode of one config: the outputs poisoned, the three kernels (l_rows, l_a, l_b) run, then
 * compared with the reference (check) or their non-finite outputs counted, and timed (time). */
template <class FR, class FA, class FB>
static int run_mode(const Cfg &c, const Host &h, const Dev &d, Ref &ref, bool timing, bool at, u16 *gq, u16 *gk,
                    u16 *gv,
                    const u16 *q, const u16 *k, const u16 *v, const u16 *g, const float *lse, FR l_rows, FA l_a,
                    FB l_b, const char *na, const char *nb)
{
    const long long S = d.S, rows = d.BH * S, nel = rows * d.D;
    const int D = d.D;
    CK(cudaMemset(gq, 0xff, nel * 2));
    CK(cudaMemset(gk, 0xff, nel * 2));
    CK(cudaMemset(gv, 0xff, nel * 2));
    l_rows();
    CK(cudaGetLastError());
    bench_sync("rows", c.name);
    l_a();
    CK(cudaGetLastError());
    bench_sync(na, c.name);
    l_b();
    CK(cudaGetLastError());
    bench_sync(nb, c.name);

    int fails = 0;
    if (!timing) {
        if (!ref.rq) { /* the first mode computes the reference backward (the kernels leave its inputs) */
            CK(cudaMalloc(&ref.rq, nel * 4));
            CK(cudaMalloc(&ref.rk, nel * 4));
            CK(cudaMalloc(&ref.rv, nel * 4));
            CK(cudaMalloc(&ref.zq, rows));
            CK(cudaMalloc(&ref.zkv, rows));
            ref_dq<<<(unsigned)rows, 128>>>(d, q, k, v, g, lse, ref.rq, ref.zq);
            ref_dkdv<<<(unsigned)rows, 128>>>(d, q, k, v, g, lse, ref.rk, ref.rv, ref.zkv);
            CK(cudaGetLastError());
            bench_sync("reference backward", c.name);
        }
        const float *rq = ref.rq, *rk = ref.rk, *rv = ref.rv;
        const unsigned char *zq = ref.zq, *zkv = ref.zkv;
        double *acc;
        unsigned *u;
        unsigned long long *first;
        CK(cudaMalloc(&acc, 16));
        CK(cudaMalloc(&u, 16));
        CK(cudaMalloc(&first, 8));
        const double limit = c.bf ? 1e-4 : 2e-6;
        const struct {
            const char *name;
            const u16 *got;
            const float *ref;
            const unsigned char *zf;
        } outs[3] = {{"dq", gq, rq, zq}, {"dk", gk, rk, zkv}, {"dv", gv, rv, zkv}};
        for (int x = 0; x < 3; x++) {
            CK(cudaMemset(acc, 0, 16));
            CK(cudaMemset(u, 0, 16));
            CK(cudaMemset(first, 0xff, 8));
            /* element tolerance for the "bad element" diagnostic only; the pass criterion is the normalized error */
            compare<<<1024, 256>>>(outs[x].got, outs[x].ref, outs[x].zf, nel, D, c.bf, 0.f, 0.f, acc, u, first);
            CK(cudaDeviceSynchronize());
            double ha[2];
            CK(cudaMemcpy(ha, acc, 16, cudaMemcpyDeviceToHost));
            const float rms = (float)sqrt(ha[1] / (double)nel);
            const float tabs = (c.bf ? 0.05f : 0.01f) * rms, trel = c.bf ? 0.03f : 0.005f;
            CK(cudaMemset(acc, 0, 16));
            CK(cudaMemset(u, 0, 16));
            CK(cudaMemset(first, 0xff, 8));
            compare<<<1024, 256>>>(outs[x].got, outs[x].ref, outs[x].zf, nel, D, c.bf, tabs, trel, acc, u, first);
            CK(cudaDeviceSynchronize());
            unsigned hu[4];
            unsigned long long hf;
            CK(cudaMemcpy(ha, acc, 16, cudaMemcpyDeviceToHost));
            CK(cudaMemcpy(hu, u, 16, cudaMemcpyDeviceToHost));
            CK(cudaMemcpy(&hf, first, 8, cudaMemcpyDeviceToHost));
            float maxd;
            memcpy(&maxd, &hu[3], 4);
            const double nerr = ha[1] > 0 ? ha[0] / ha[1] : ha[0];
            const bool ok = nerr <= limit && hu[0] == 0 && hu[1] == 0;
            printf("  %s: nerr %.3e (limit %.0e) max|a-r| %.3e (ref rms %.3e) nonfinite %u nonzero-where-0 %u "
                   "over-tol %u -> %s\n",
                   outs[x].name, nerr, limit, maxd, rms, hu[0], hu[1], hu[2], ok ? "ok" : "FAIL");
            if (hf != ~0ull) {
                const long long e = (long long)hf, row = e / D, col = e % D, bh = row / S, slot = row % S;
                u16 a;
                float r;
                unsigned char z;
                CK(cudaMemcpy(&a, outs[x].got + e, 2, cudaMemcpyDeviceToHost));
                CK(cudaMemcpy(&r, outs[x].ref + e, 4, cudaMemcpyDeviceToHost));
                CK(cudaMemcpy(&z, outs[x].zf + row, 1, cudaMemcpyDeviceToHost));
                float af;
                if (c.bf) {
                    unsigned bits = (unsigned)a << 16;
                    memcpy(&af, &bits, 4);
                } else {
                    __half hh;
                    memcpy(&hh, &a, 2);
                    af = __half2float(hh);
                }
                const long long blk = slot / c.V;
                printf("    first bad %s element: bh %lld block %lld row %lld col %lld (slot %lld, block_valid %d%s): "
                       "got %g (0x%04x) ref %g%s\n",
                       outs[x].name, bh, blk, slot % c.V, col, slot, h.valid[blk],
                       h.fill.empty() ? "" : (h.fill[row] == slot ? ", kept" : ", pruned"), af, a, r,
                       z ? " (exact 0 expected)" : "");
            }
            fails += !ok;
        }
        cudaFree(acc), cudaFree(u), cudaFree(first);
    } else {
        unsigned *cnt, hc[3];
        CK(cudaMalloc(&cnt, 12));
        CK(cudaMemset(cnt, 0, 12));
        count_nonfinite<<<1024, 256>>>(gq, nel, c.bf, cnt);
        count_nonfinite<<<1024, 256>>>(gk, nel, c.bf, cnt + 1);
        count_nonfinite<<<1024, 256>>>(gv, nel, c.bf, cnt + 2);
        CK(cudaMemcpy(hc, cnt, 12, cudaMemcpyDeviceToHost));
        printf("  non-finite outputs: dq %u dk %u dv %u\n", hc[0], hc[1], hc[2]);
        cudaFree(cnt);
    }

    if (timing || getenv("VOX_FORCE_TIME")) {
        cudaEvent_t e0, e1;
        CK(cudaEventCreate(&e0));
        CK(cudaEventCreate(&e1));
        auto timeit = [&](auto fn) {
            std::vector<float> ts;
            const int warm = bench_reps() < 20 ? 1 : 3;
            for (int r = 0; r < warm + bench_reps(); r++) {
                CK(cudaEventRecord(e0));
                fn();
                CK(cudaEventRecord(e1));
                CK(cudaEventSynchronize(e1));
                float ms;
                CK(cudaEventElapsedTime(&ms, e0, e1));
                if (r >= warm)
                    ts.push_back(ms);
            }
            CK(cudaGetLastError());
            return median(ts);
        };
        const float tr = timeit(l_rows), ta = timeit(l_a), tb = timeit(l_b);
        const float tall = timeit([&]() { l_rows(), l_a(), l_b(); });
        const double fl = 2.5 * 4.0 * D * h.keysum; /* effective backward FLOPs */
        if (at)
            printf("  time atomic: rows %.3f ms, dkdvq %.3f ms, dqconv %.3f ms, all %.3f ms -> %.1f effective "
                   "TFLOP/s (dkdvq alone %.1f TFLOP/s of its 5 GEMMs)\n",
                   tr, ta, tb, tall, fl / (tall * 1e-3) / 1e12, fl / (ta * 1e-3) / 1e12);
        else
            printf("  time ordered: rows %.3f ms, dq %.3f ms, dkdv %.3f ms, all %.3f ms -> %.1f effective TFLOP/s "
                   "(dq alone %.1f TFLOP/s of its 3 GEMMs, dkdv %.1f of its 4)\n",
                   tr, ta, tb, tall, fl / (tall * 1e-3) / 1e12, 1.5 * 4.0 * D * h.keysum / (ta * 1e-3) / 1e12,
                   2.0 * 4.0 * D * h.keysum / (tb * 1e-3) / 1e12);
        cudaEventDestroy(e0), cudaEventDestroy(e1);
    }
    fflush(stdout);
    return fails;
}

/* VOX_BWD_TOK=1 (check): the kernels write dq, dk, dv in a "caller" layout through p.tok (the
 * library's direct backward): token tok[slot] of batch entry bh (heads = 1) at row
 * bh * sb + tok * st, sb = D, st = BH * D (tokens outermost, batch entries interleaved), the valid
 * slots' tokens in reverse slot order. tok_back copies every valid slot's row back into the block
 * buffer and zeros the padding slots' rows (which no caller row holds), so the usual compare
 * sees what the caller got; the caller buffers are poisoned (0xffff: NaN) before every run. */
__global__ void tok_back(const u16 *src, u16 *dst, const int *tok, long long S, long long BH, int D)
{
    const long long n = BH * S * D;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n; e += (long long)gridDim.x * blockDim.x) {
        const long long x = e / D, c = e - x * D, bh = x / S, slot = x - bh * S;
        const int t = tok[slot];
        dst[e] = t < 0 ? (u16)0 : src[bh * D + (long long)t * BH * D + c];
    }
}

/* Runs one config; returns 0 when it passed (check) or ran (time). */
static int run(const Cfg &c, bool timing)
{
    if (BENCH_BWD_BF16_D128_ONLY && (c.D != 128 || !c.bf)) {
        printf("[%s] skipped (built with BENCH_BWD_BF16_D128_ONLY)\n", c.name);
        return 0;
    }
    Host h;
    auto t0 = std::chrono::steady_clock::now();
    build(c, h);
    const long long NB = c.NB, R = (long long)c.BH * NB, S = NB * c.V, rows = c.BH * S, nel = rows * c.D;
    const int D = c.D;
    printf("[%s] BH=%d NB=%lld V=%d D=%d %s density=%.2f empty=%.2f prune=%.2f ragged=%d text=%d (host build %.1f s)\n",
           c.name, c.BH, NB, c.V, D, c.bf ? "bf16" : "f16", c.density, c.empty_frac, c.prune, (int)c.ragged, c.text,
           std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    printf("  dq %s, dkdv %s; unit pairs: dq lists union/sum %.3f, max/mean %.3f; dkdv %.3f, %.3f\n",
           bench_pack_dq() ? "packed" : "alternating", bench_pack_dkdv() ? "packed" : "alternating", h.share[0],
           h.imb[0], h.share[1], h.imb[1]);
    fflush(stdout);
    if (!vox_sm90_bwd_supported(D, c.V, NB, c.BH, 232448)) {
        printf("  unsupported shape\n");
        return 1;
    }
    u16 *q, *k, *v, *g, *o, *gq, *gk, *gv;
    float *lse, *l2, *dqacc;
    int *mask, *valid, *fill = NULL;
    CK(cudaMalloc(&q, nel * 2));
    CK(cudaMalloc(&k, nel * 2));
    CK(cudaMalloc(&v, nel * 2));
    CK(cudaMalloc(&g, nel * 2));
    CK(cudaMalloc(&gq, nel * 2));
    CK(cudaMalloc(&gk, nel * 2));
    CK(cudaMalloc(&gv, nel * 2));
    CK(cudaMalloc(&lse, rows * 8));
    CK(cudaMalloc(&l2, rows * 4));
    CK(cudaMalloc(&dqacc, nel * 4));
    CK(cudaMalloc(&mask, h.mask.size() * 4));
    CK(cudaMalloc(&valid, NB * 4));
    CK(cudaMemcpy(mask, h.mask.data(), h.mask.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(valid, h.valid.data(), NB * 4, cudaMemcpyHostToDevice));
    if (!h.fill.empty()) {
        CK(cudaMalloc(&fill, rows * 4));
        CK(cudaMemcpy(fill, h.fill.data(), rows * 4, cudaMemcpyHostToDevice));
    }
    Dev d{c.BH, NB, S, R, c.V, D, c.bf, (float)(1.0 / sqrt((double)D)), mask, valid, fill};
    fill_data<<<4096, 256>>>(q, nel, D, S, c.V, valid, fill, 0, c.seed * 4 + 1, c.bf);
    fill_data<<<4096, 256>>>(k, nel, D, S, c.V, valid, fill, 1, c.seed * 4 + 2, c.bf);
    fill_data<<<4096, 256>>>(v, nel, D, S, c.V, valid, fill, 1, c.seed * 4 + 3, c.bf);
    fill_data<<<4096, 256>>>(g, nel, D, S, c.V, valid, fill, 0, c.seed * 4 + 4, c.bf);
    CK(cudaGetLastError());
    if (!timing) {
        CK(cudaMalloc(&o, nel * 2));
        ref_forward<<<(unsigned)rows, 128>>>(d, q, k, v, o, lse);
        CK(cudaGetLastError());
        ref_prep<<<(unsigned)((rows * 32 + 255) / 256), 256>>>(d, g, o, lse);
        CK(cudaGetLastError());
        bench_sync("reference forward", c.name);
        CK(cudaFree(o));
    } else {
        float *lb;
        CK(cudaMalloc(&lb, R * 4));
        CK(cudaMemcpy(lb, h.lse_block.data(), R * 4, cudaMemcpyHostToDevice));
        fake_lse<<<4096, 256>>>(d, lse, lb);
        CK(cudaDeviceSynchronize());
        CK(cudaFree(lb));
    }

    CUtensorMap tmQ, tmK, tmV, tmG, tmQc, tmKc, tmVc, tmGc, tmDq;
    if (vox_sm90_encode_kv(cuTensorMapEncodeTiled, &tmQ, q, rows, D, c.bf, 64) ||
        vox_sm90_encode_kv(cuTensorMapEncodeTiled, &tmK, k, rows, D, c.bf, 64) ||
        vox_sm90_encode_kv(cuTensorMapEncodeTiled, &tmV, v, rows, D, c.bf, 64) ||
        vox_sm90_encode_kv(cuTensorMapEncodeTiled, &tmG, g, rows, D, c.bf, 64) ||
        vox_sm90_bwd_encode_chunk(cuTensorMapEncodeTiled, &tmQc, q, rows, D, c.bf) ||
        vox_sm90_bwd_encode_chunk(cuTensorMapEncodeTiled, &tmKc, k, rows, D, c.bf) ||
        vox_sm90_bwd_encode_chunk(cuTensorMapEncodeTiled, &tmVc, v, rows, D, c.bf) ||
        vox_sm90_bwd_encode_chunk(cuTensorMapEncodeTiled, &tmGc, g, rows, D, c.bf) ||
        vox_sm90_bwd_encode_dqacc(cuTensorMapEncodeTiled, &tmDq, dqacc, rows, D)) {
        printf("  tensor map encode failed\n");
        exit(1);
    }
    VoxSm90BwdParams p;
    memset(&p, 0, sizeof p);
    p.lse = lse, p.l2 = l2, p.dq = gq, p.dk = gk, p.dv = gv, p.mask = mask, p.fill_src = fill, p.block_valid = valid;
    p.BH = c.BH, p.NB = NB, p.V = c.V, p.scale = d.scale, p.scale_log2 = (float)(1.4426950408889634 / sqrt((double)D));
    p.D = D;
    p.asc = getenv("VOX_BWD_ASC") && atoi(getenv("VOX_BWD_ASC")) != 0; /* the packed merge's order */
    if (p.asc)
        printf("  packed schemes: ascending merge order (VOX_BWD_ASC=1)\n");
    const char *tokenv = getenv("VOX_BWD_TOK");
    const bool tokm = !timing && tokenv && !strcmp(tokenv, "1");
    u16 *cbuf = NULL; /* VOX_BWD_TOK: the caller layout's dq, dk, dv (3 x nel) */
    int *tokd = NULL;
    if (tokm) {
        std::vector<int> tk(S, -1);
        long long nv = 0;
        for (long long sl = 0; sl < S; sl++)
            nv += (sl % c.V) < h.valid[sl / c.V];
        for (long long sl = 0, r = 0; sl < S; sl++)
            if ((sl % c.V) < h.valid[sl / c.V])
                tk[sl] = (int)(nv - 1 - r++);
        CK(cudaMalloc(&cbuf, nel * 2 * 3));
        CK(cudaMalloc(&tokd, S * 4));
        CK(cudaMemcpy(tokd, tk.data(), S * 4, cudaMemcpyHostToDevice));
        p.heads = 1, p.tok = tokd;
        p.dq = cbuf, p.dk = cbuf + nel, p.dv = cbuf + 2 * nel;
        for (int o = 0; o < 3; o++)
            p.ostr[3 * o] = D, p.ostr[3 * o + 1] = 0, p.ostr[3 * o + 2] = (long long)c.BH * D;
        printf("  dq, dk, dv written through tok (caller layout, VOX_BWD_TOK=1)\n");
    }
    auto tok_poison = [&]() {
        if (tokm)
            CK(cudaMemsetAsync(cbuf, 0xff, nel * 2 * 3));
    };
    auto tok_copy = [&]() {
        if (tokm) {
            tok_back<<<1024, 256>>>(cbuf, gq, tokd, S, c.BH, D);
            tok_back<<<1024, 256>>>(cbuf + nel, gk, tokd, S, c.BH, D);
            tok_back<<<1024, 256>>>(cbuf + 2 * nel, gv, tokd, S, c.BH, D);
        }
    };
    /* VOX_BWD_RCHUNK=1: the packed dkdv / dkdvq take the key-unit table (partial blocks' keys as
     * 16-row chunks, vox_sm90_bwd_runits), where every group's blocks have the same transposed list
     * in every head (dense configs) */
    int *runit_d = NULL, fails = 0;
    long long nu = 0;
    bool rdev = false;
    const int rchunk = getenv("VOX_BWD_RCHUNK") ? atoi(getenv("VOX_BWD_RCHUNK")) : 0;
    if (rchunk != 0) {
        std::vector<int> ru((size_t)NB * 4);
        nu = vox_sm90_bwd_runits(h.valid.data(), NB, c.V, ru.data());
        bool same = nu > 0;
        long long nch = 0;
        for (long long u = 0; u < nu && same; u++) {
            if (ru[4 * u] >= 0)
                continue;
            nch++;
            for (int k = 1; k < 4 && same; k++) {
                const int b = ru[4 * u + k], b0 = ~ru[4 * u];
                if (b < 0)
                    continue;
                for (long long bh = 0; bh < c.BH && same; bh++) {
                    const long long m0 = bh * NB + b0, m1 = bh * NB + b;
                    const int n0 = h.mask[3 * R + m0], n1 = h.mask[3 * R + m1];
                    same = n0 == n1;
                    for (int j = 0; j < n0 && same; j++)
                        same = h.mask[h.mask[2 * R + m0] + j] == h.mask[h.mask[2 * R + m1] + j];
                }
            }
        }
        if (same || rchunk == 3) {
            /* the library's table: vox_attn_bwd_sm90_runits on the device (count, then units), compared with
             * the host's; VOX_BWD_RCHUNK_DEV=1 runs it (nunit -1: the count read on the device, the usual grid) */
            CK(cudaMalloc(&runit_d, (4 + NB * 4) * 4));
            vox_attn_bwd_sm90_runits<<<1, 1024>>>(valid, NB, runit_d);
            CK(cudaGetLastError());
            std::vector<int> dv((size_t)(4 + NB * 4));
            CK(cudaMemcpy(dv.data(), runit_d, dv.size() * 4, cudaMemcpyDeviceToHost));
            const bool deq = dv[0] == nu && !memcmp(dv.data() + 4, ru.data(), (size_t)nu * 16);
            printf("  key units: the device-built table %s the host's (%d units)\n", deq ? "equals" : "DIFFERS FROM",
                   dv[0]);
            fails += !deq;
            rdev = getenv("VOX_BWD_RCHUNK_DEV") && atoi(getenv("VOX_BWD_RCHUNK_DEV")) != 0;
            if (!rdev)
                CK(cudaMemcpy(runit_d + 4, ru.data(), nu * 16, cudaMemcpyHostToDevice));
            p.runit = runit_d + 4, p.nunit = rdev ? -1 : (int)nu;
            printf("  key units (VOX_BWD_RCHUNK=%d): %lld per head instead of %lld, %lld of them chunk units%s\n",
                   rchunk, nu, NB * (c.V / 64), nch,
                   rchunk == 3 ? (same ? "; each mode runs off, on, off, on" : "; PROBE (lists differ: results wrong)")
                   : rchunk == 2 ? "; each mode runs off, on, off, on" : "");
        } else {
            printf("  key units (VOX_BWD_RCHUNK=1): off here (%s)\n", nu > 0 ? "lists differ" : "nothing to pack");
        }
    }
    /* VOX_BWD_FRONT=1: p.front = the config's text blocks (3 where it has none: the mapping is checked on
     * every config), their CTAs launched first; =2: off, on, off, on in one process (an A/B) */
    const int front_mode = getenv("VOX_BWD_FRONT") ? atoi(getenv("VOX_BWD_FRONT")) : 0;
    const int front_n = c.text > 0 ? c.text : 3;
    if (front_mode == 1) {
        p.front = front_n;
        printf("  the last %d blocks' CTAs first (VOX_BWD_FRONT=1)\n", front_n);
    }
    VoxSm90BwdParams pa = p; /* atomic dQ: rows zeroes the accumulator */
    pa.dqacc = dqacc;
    const bool pq = bench_pack_dq(), pkv = bench_pack_dkdv();
    const int vi = (D == 128 ? 0 : 2) + (c.bf ? 0 : 1); /* bf16_d128, f16_d128, bf16_d64, f16_d64 */
    static const BwdKernel kqs[2][4] = {
        {vox_attn_bwd_sm90_dq_alt_bf16_d128, vox_attn_bwd_sm90_dq_alt_f16_d128, vox_attn_bwd_sm90_dq_alt_bf16_d64,
         vox_attn_bwd_sm90_dq_alt_f16_d64},
        {vox_attn_bwd_sm90_dq_pk_bf16_d128, vox_attn_bwd_sm90_dq_pk_f16_d128, vox_attn_bwd_sm90_dq_pk_bf16_d64,
         vox_attn_bwd_sm90_dq_pk_f16_d64}};
    static const BwdKernel kkvs[2][4] = {
        {vox_attn_bwd_sm90_dkdv_alt_bf16_d128, vox_attn_bwd_sm90_dkdv_alt_f16_d128,
         vox_attn_bwd_sm90_dkdv_alt_bf16_d64, vox_attn_bwd_sm90_dkdv_alt_f16_d64},
        {vox_attn_bwd_sm90_dkdv_pk_bf16_d128, vox_attn_bwd_sm90_dkdv_pk_f16_d128, vox_attn_bwd_sm90_dkdv_pk_bf16_d64,
         vox_attn_bwd_sm90_dkdv_pk_f16_d64}};
    static const BwdKernel kkvqs[2][4] = {
        {vox_attn_bwd_sm90_dkdv_a1_bf16_d128, vox_attn_bwd_sm90_dkdv_a1_f16_d128, vox_attn_bwd_sm90_dkdv_a1_bf16_d64,
         vox_attn_bwd_sm90_dkdv_a1_f16_d64},
        {vox_attn_bwd_sm90_dkdv_a2_bf16_d128, vox_attn_bwd_sm90_dkdv_a2_f16_d128, vox_attn_bwd_sm90_dkdv_a2_bf16_d64,
         vox_attn_bwd_sm90_dkdv_a2_f16_d64}};
    static const BwdConv kconvs[4] = {vox_attn_bwd_sm90_dqconv_bf16_d128, vox_attn_bwd_sm90_dqconv_f16_d128,
                                      vox_attn_bwd_sm90_dqconv_bf16_d64, vox_attn_bwd_sm90_dqconv_f16_d64};
    const BwdKernel kq = kqs[pq][vi], kkv = kkvs[pkv][vi];
    const BwdConv kconv = kconvs[vi];
    const size_t smem_q = vox_sm90_bwd_smem_bytes(D, pq), smem_kv = vox_sm90_bwd_smem_bytes(D, pkv);
    if (smem_q != VOX_SM90_BWD_SMEM_BYTES(D, pq) || smem_kv != VOX_SM90_BWD_SMEM_BYTES(D, pkv)) {
        printf("  smem size mismatch host / device\n");
        exit(1);
    }
    CK(cudaFuncSetAttribute(kq, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem_q));
    CK(cudaFuncSetAttribute(kkv, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem_kv));
    const unsigned grid_q = (unsigned)VOX_SM90_BWD_CTAS((long long)c.BH, NB, (long long)c.V, pq);
    unsigned grid_kv = (unsigned)(pkv && p.runit && !rdev ? VOX_SM90_BWD_CTAS_U((long long)c.BH, (long long)p.nunit)
                                                       : VOX_SM90_BWD_CTAS((long long)c.BH, NB, (long long)c.V, pkv));
    unsigned grid_kvq = (unsigned)(p.runit && !rdev ? VOX_SM90_BWD_CTAS_U((long long)c.BH, (long long)p.nunit)
                                                 : VOX_SM90_BWD_CTAS((long long)c.BH, NB, (long long)c.V, 1));
    BwdKernel kkvq = kkvqs[0][vi];
    size_t smem_kvq = 0;
    auto l_rows = [&]() { tok_poison(); vox_attn_bwd_sm90_rows<<<1024, 256>>>(p); };
    auto l_dq = [&]() {
        kq<<<grid_q, VOX_SM90_BWD_THREADS, smem_q>>>(p, tmQ, tmK, tmV, tmG, tmQc, tmKc, tmVc, tmGc, tmDq);
    };
    auto l_dkdv = [&]() {
        kkv<<<grid_kv, VOX_SM90_BWD_THREADS, smem_kv>>>(p, tmQ, tmK, tmV, tmG, tmQc, tmKc, tmVc, tmGc, tmDq);
        tok_copy();
    };
    auto l_rows_at = [&]() { tok_poison(); vox_attn_bwd_sm90_rows<<<1024, 256>>>(pa); };
    auto l_dkdvq = [&]() {
        kkvq<<<grid_kvq, VOX_SM90_BWD_THREADS, smem_kvq>>>(pa, tmQ, tmK, tmV, tmG, tmQc, tmKc, tmVc, tmGc, tmDq);
    };
    auto l_conv = [&]() { kconv<<<1024, 256>>>(pa); tok_copy(); };

    Ref ref = {};
    static const char *const modes[3] = {"ordered", "atomic", "atomic_db"};
    for (int mode = 0; mode < 3; mode++) {
        if (!bench_listed("VOX_BWD_MODE", modes[mode]))
            continue;
        const bool at = mode > 0;
        printf("  mode %s (%s)\n", modes[mode], at ? "rows + dkdvq + dqconv" : "rows + dq + dkdv");
        if (at) { /* the dkdvq kernel of the scheme */
            const int sch = mode == 1 ? VOX_SM90_BWD_ATOMIC : VOX_SM90_BWD_ATOMIC_DB;
            kkvq = kkvqs[mode - 1][vi], smem_kvq = vox_sm90_bwd_smem_bytes(D, sch);
            CK(cudaFuncSetAttribute(kkvq, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem_kvq));
        }
        /* VOX_BWD_RCHUNK=2: the key-unit table off, on, off, on (an A/B in one process) */
        const bool rab = (rchunk == 2 || rchunk == 3) && runit_d;
        const int nvar = rab || front_mode == 2 ? 4 : 1;
        for (int vv = 0; vv < nvar; vv++) {
            if (front_mode == 2) {
                p.front = pa.front = (vv & 1) ? front_n : 0;
                printf("  front %s (VOX_BWD_FRONT=2: the last %d blocks' CTAs first)\n", (vv & 1) ? "on" : "off",
                       front_n);
            }
            if (rab) {
                const bool on = vv & 1;
                p.runit = pa.runit = on ? runit_d + 4 : NULL;
                p.nunit = pa.nunit = on ? (rdev ? -1 : (int)nu) : 0;
                grid_kv = (unsigned)(pkv && on && !rdev ? VOX_SM90_BWD_CTAS_U((long long)c.BH, nu)
                                                        : VOX_SM90_BWD_CTAS((long long)c.BH, NB, (long long)c.V, pkv));
                grid_kvq = (unsigned)(on && !rdev ? VOX_SM90_BWD_CTAS_U((long long)c.BH, nu)
                                                  : VOX_SM90_BWD_CTAS((long long)c.BH, NB, (long long)c.V, 1));
                printf("  key units %s\n", on ? "on (rchunk)" : "off (rchunk)");
            }
            if (at)
                fails += run_mode(c, h, d, ref, timing, at, gq, gk, gv, q, k, v, g, lse, l_rows_at, l_dkdvq, l_conv,
                                  "dkdvq", "dqconv");
            else
                fails += run_mode(c, h, d, ref, timing, at, gq, gk, gv, q, k, v, g, lse, l_rows, l_dq, l_dkdv, "dq",
                                  "dkdv");
        }
    }
    cudaFree(q), cudaFree(k), cudaFree(v), cudaFree(g), cudaFree(gq), cudaFree(gk), cudaFree(gv), cudaFree(lse),
        cudaFree(l2), cudaFree(mask), cudaFree(valid), cudaFree(dqacc);
    if (runit_d)
        cudaFree(runit_d);
    if (tokm)
        cudaFree(cbuf), cudaFree(tokd);
    if (ref.rq)
        cudaFree(ref.rq), cudaFree(ref.rk), cudaFree(ref.rv), cudaFree(ref.zq), cudaFree(ref.zkv);
    if (fill)
        cudaFree(fill);
    fflush(stdout);
    return fails;
}

int main(int argc, char **argv)
{
    const bool timing = argc > 1 && !strcmp(argv[1], "time");
    if (argc < 2 || (!timing && strcmp(argv[1], "check"))) {
        printf("usage: %s check|time\n", argv[0]);
        return 2;
    }
    /* name, BH, NB, V, D, bf16, density, empty lists, prune, ragged block_valid, seed[, grid, block] */
    static const Cfg checks[] = {
        {"bf16_d128_v64", 2, 24, 64, 128, true, 0.3, 0.1, 0.0, true, 1},
        {"bf16_d128_v64_prune", 2, 24, 64, 128, true, 0.3, 0.1, 0.3, true, 2},
        {"f16_d128_v64_prune", 2, 24, 64, 128, false, 0.3, 0.1, 0.3, true, 3},
        {"bf16_d128_v128_prune", 2, 12, 128, 128, true, 0.4, 0.1, 0.2, true, 4},
        {"bf16_d64_v64", 2, 24, 64, 64, true, 0.3, 0.1, 0.1, true, 5},
        {"f16_d64_v128", 2, 12, 128, 64, false, 0.4, 0.1, 0.1, true, 6},
        {"bf16_d128_dense", 2, 16, 64, 128, true, 1.0, 0.0, 0.0, false, 7},
        {"bf16_d128_long", 3, 64, 64, 128, true, 0.15, 0.05, 0.1, true, 8},
        {"f16_d128_long", 3, 64, 64, 128, false, 0.15, 0.05, 0.0, true, 9},
        /* video grids: partial last t/h/w blocks (valid 64, 48, 36, 32, 16, 12, 4, ...: counts not multiples of 16) */
        {"bf16_d128_grid_v64", 2, 36, 64, 128, true, 0.4, 0.05, 0.1, false, 15, {9, 10, 13}, {4, 4, 4}},
        {"f16_d64_grid_v64", 2, 36, 64, 64, false, 0.4, 0.05, 0.0, false, 16, {9, 10, 13}, {4, 4, 4}},
        {"bf16_d128_grid_v128", 2, 8, 128, 128, true, 0.6, 0.0, 0.2, false, 17, {7, 6, 12}, {4, 4, 8}},
        {"f16_d128_grid_v128", 2, 18, 128, 128, false, 0.5, 0.0, 0.0, false, 18, {7, 9, 20}, {4, 4, 8}},
        {"bf16_d128_hunyuan_slice", 2, 144, 64, 128, true, 0.15, 0.0, 0.1, false, 19, {9, 45, 16}, {4, 4, 4}},
        /* odd block counts: the packed scheme's last CTA of a head has one unit */
        {"bf16_d128_v64_odd", 2, 25, 64, 128, true, 0.3, 0.1, 0.2, true, 20},
        {"f16_d64_v64_odd_dense", 3, 9, 64, 64, false, 1.0, 0.0, 0.0, false, 21},
        /* neighbour-correlated lists: stages shared by both consumers mixed with single-member ones */
        {"bf16_d128_v64_corr", 2, 37, 64, 128, true, 0.3, 0.05, 0.1, true, 22, {0}, {0}, true},
        {"f16_d64_grid_v64_corr", 2, 36, 64, 64, false, 0.3, 0.0, 0.1, false, 23, {9, 10, 13}, {4, 4, 4}, true},
        /* dense with partial blocks (VOX_BWD_RCHUNK=1 packs their keys: 16, 4, 8, 12, 2 .. valid; random
         * block_valid incl. 0) */
        {"bf16_d128_grid_dense", 2, 36, 64, 128, true, 1.0, 0.0, 0.0, false, 24, {9, 10, 13}, {4, 4, 4}},
        {"bf16_d128_ragged_dense", 3, 41, 64, 128, true, 1.0, 0.0, 0.0, true, 25},
        {"f16_d64_grid_dense", 3, 36, 64, 64, false, 1.0, 0.0, 0.0, false, 26, {9, 10, 13}, {4, 4, 4}},
        /* global (text) blocks at the end, as the library's layout (VOX_BWD_FRONT launches their CTAs first) */
        {"bf16_d128_grid_text", 2, 39, 64, 128, true, 0.3, 0.0, 0.1, false, 27, {9, 10, 13}, {4, 4, 4}, false, 3},
        {"bf16_d128_v128_text", 3, 14, 128, 128, true, 0.3, 0.05, 0.1, true, 28, {0}, {0}, false, 2},
    };
    static const Cfg times[] = {
        {"hunyuan_bsa10_bf16", 24, 1920, 64, 128, true, 0.10, 0.0, 0.0, false, 11},
        {"hunyuan_ragged_bsa10_bf16", 24, 2160, 64, 128, true, 0.10, 0.0, 0.0, false, 15, {33, 45, 80}, {4, 4, 4}},
        {"hunyuan_dense_bf16", 24, 1920, 64, 128, true, 1.0, 0.0, 0.0, false, 12},
        {"hunyuan_bsa10_f16", 24, 1920, 64, 128, false, 0.10, 0.0, 0.0, false, 13},
        {"hunyuan_bsa10_v128", 24, 960, 128, 128, true, 0.10, 0.0, 0.0, false, 14},
        /* lists shared ~50% by neighbours, as the exported hunyuan BSA masks along w (NOTES.md) */
        {"hunyuan_bsa10_corr_bf16", 24, 1920, 64, 128, true, 0.10, 0.0, 0.0, false, 16, {0}, {0}, true},
        {"hunyuan_ragged_bsa10_corr_bf16", 24, 2160, 64, 128, true, 0.10, 0.0, 0.0, false, 17, {33, 45, 80}, {4, 4, 4},
         true},
        /* the ordered/atomic crossover (VOX_BWD_MODE=both): densities between BSA 10% and dense */
        {"hunyuan_ragged_bsa25_corr_bf16", 24, 2160, 64, 128, true, 0.25, 0.0, 0.0, false, 18, {33, 45, 80}, {4, 4, 4},
         true},
        {"hunyuan_ragged_bsa25_bf16", 24, 2160, 64, 128, true, 0.25, 0.0, 0.0, false, 19, {33, 45, 80}, {4, 4, 4}},
        {"hunyuan_ragged_bsa50_corr_bf16", 24, 2160, 64, 128, true, 0.50, 0.0, 0.0, false, 20, {33, 45, 80}, {4, 4, 4},
         true},
        {"hunyuan_ragged_dense_bf16", 24, 2160, 64, 128, true, 1.0, 0.0, 0.0, false, 21, {33, 45, 80}, {4, 4, 4}},
        /* the library's hunyuan-720p layout: 2160 video blocks + 4 text blocks (256 tokens) at the end */
        {"hunyuan_ragged_bsa10_text_bf16", 24, 2164, 64, 128, true, 0.10, 0.0, 0.0, false, 15, {33, 45, 80},
         {4, 4, 4}, false, 4},
        {"hunyuan_ragged_bsa10_corr_text_bf16", 24, 2164, 64, 128, true, 0.10, 0.0, 0.0, false, 17, {33, 45, 80},
         {4, 4, 4}, true, 4},
    };
    int fails = 0, ran = 0;
    const Cfg *list = timing ? times : checks;
    const int n = timing ? (int)(sizeof times / sizeof *times) : (int)(sizeof checks / sizeof *checks);
    for (int x = 0; x < n; x++) {
        if (!bench_listed("VOX_ONLY", list[x].name))
            continue;
        Cfg c = list[x];
        if (bench_race() && !timing) { /* VOX_RACE=1 (bench_util.cuh); a grid fixes NB */
            c.BH = 1;
            if (!c.grid[0] && c.NB * c.V > 2048)
                c.NB = 2048 / c.V;
        }
        fails += run(c, timing) != 0;
        ran++;
    }
    printf("%s: %d config(s), %d failed\n", timing ? "time" : "check", ran, fails);
    return fails != 0;
}
