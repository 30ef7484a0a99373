/* kv_emu: runs kv_select's fast-path phase 2 (vox_kf_row of backends/gpu/kernels/kv_select_fast.cuh, TOPK
 * rule) on the host, one std::thread per lane of one warp with the warp primitives in lockstep
 * (tools/qs_emu/emu_port.h), on f32 scores computed as the f32 kernel (vox_kf_scores) computes them, and
 * compares each row it lists with a copy of the CPU reference (backends/cpu/kv_select.c). Rows the fast
 * path declines (the exact path on the GPU) are counted, not compared.
 * usage: kv_emu MODE(0 new, 1 old, 2 break, 3 CUMULATIVE on vox_kf_topk's bins (VOX_KF_CB); 5, 6, 7: the exact
 *        path's vox_ks_row new / old / break, rule from env KS_RULE, TAU, Z: ks_row_run) FILL(0 random, 1 near-tie pairs, 2 small-integer ties, 3 huge
 *        logits, 4 hunyuan-720p's structured workload (perf/workload.c), head NBV % 24: block means of
 *        its bf16 q and k over 4x4x4 blocks, NBv 2160, D 128; NBV and D are then ignored; 5 crowded bins:
 *        scores u_j + s v_j, u, v normal, s per row in [0, 0.5), blocks 0 and 1 at +-20: test_ops' FILL_CROWD) NBV D TOPK
 *        MIN_BLOCKS SCALE(0: 1/sqrt(D)) [ROWS (spread over the row range)]
 * Exit status 1 when a listed row differs from the reference. Meant for checking kernel changes on a
 * machine without a GPU; the GPU tests (test_ops) stay the reference. */
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>
extern "C" {
#include "../../perf/workload.h"
/* workload.c's plan translation (unused here) calls the library's defaults */
vox_status vox_plan_defaults(vox_plan_params *) { return VOX_OK; }
}
thread_local dim3e threadIdx;
dim3e blockIdx_g, gridDim_g;
warp_x g_warps[4];
static int g_bin_max, g_bin_rows;
static double g_bin_sum;
static int g_cum[3];  /* vox_kf_topk's CUMULATIVE outcomes on its own (session 53), as g_topk */
static int g_topk[3]; /* vox_kf_topk's outcomes on its own (stats): -1 (old path), 0 (exact path), 1 (listed) */
static int g_kt[3], g_kt_wrong; /* vox_kt_finish's (the three-pass kernel's finish): not binned / over the cap, 0, 1; wrong lists */
#define VOX_GPU_HIP 0
#define VOX_PARAM const
struct float4 { float x, y, z, w; };
struct float2 { float x, y; };
static inline float4 make_float4(float a, float b, float c, float d) { return {a, b, c, d}; }
static inline float2 make_float2(float a, float b) { return {a, b}; }
static inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return {a, b, c, d}; }
static inline unsigned __ballot_sync(unsigned, bool p) { return (unsigned)emu_ballot(p); }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
static inline long long __double_as_longlong(double d) { long long u; memcpy(&u, &d, 8); return u; }
#include "kernel_args.h"
static inline unsigned long long __float2ull_rz(float x) { return (unsigned long long)x; }
template <class T> static T atomicAdd(T *p, T v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
template <class T> static T atomicOr(T *p, T v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
struct uint2 { unsigned x, y; };
#define __syncthreads() VOX_SYNCWARP()
static inline int __syncthreads_or(int p) { return emu_ballot(p) != 0; }
template <typename F> F vox_warp_sum(F v) { for (int o = 16; o > 0; o >>= 1) v += VOX_SHFL_XOR(v, o); return v; }
template <typename F> F vox_warp_max(F v)
{
    for (int o = 16; o > 0; o >>= 1) { F w = VOX_SHFL_XOR(v, o); v = (v != v) ? v : (w != w || w > v) ? w : v; }
    return v;
}
#define VOX_MAX_WARPS 32
template <bool MAX> double block_reduce(double v, double *) { return MAX ? vox_warp_max(v) : vox_warp_sum(v); }
static unsigned char vox_dyn_smem[64];
#define VOX_GPU_DEVICE
/* kv_select.cuh's helpers that kv_select_fast.cuh uses (copies; kv_select.cuh itself needs the whole device) */
#define VOX_KS_ROWS 16
#define VOX_KS_EC 4
#define VOX_KF_ROWS 8
#define VOX_KS_KPT 4
static inline i64 vox_ks_stride(i64 NBv) { return (NBv + VOX_KS_KPT - 1) / VOX_KS_KPT * VOX_KS_KPT; }
#define VOX_KS_KEY 0x7fffffffffffffffull
static inline unsigned long long __double2ull_rz(double x) { return (unsigned long long)x; }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dsub_rn(double a, double b) { return a - b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __ddiv_rn(double a, double b) { return a / b; }
static inline double __dsqrt_rn(double a) { return sqrt(a); }
#include "kv_select_row.cuh" /* vox_ks_any, vox_ks_scan, vox_kf_count_before; vox_ks_row (modes 5-7) */
static int *vox_ks_list(const vox_kv_select_bufs &, const vox_kv_select_args &) { return nullptr; }
static unsigned char *vox_ks_slices(const vox_kv_select_bufs &, const vox_kv_select_args &) { return nullptr; }
static void vox_ks_dense_globals(const int *, int *, int *, i64, int, int, int) {}
static void vox_ks_list_add(int *, const vox_kv_select_args &, i64, i64) {}
#include "kv_select_fast.cuh"
/* the three-pass kernel's per-row finish (kv_select_tp.cuh; its geometry: kv_select.cuh's) */
#define VOX_KT_NBIN 96
#define VOX_KT_CAND 256
#define VOX_KT_FINISH_ONLY
#include "kv_select_tp.cuh"

struct rk { double p; int j; };
/* Modes 5 (vox_ks_row, the default), 6 (VOX_KS_V_OLD), 7 (VOX_KS_V_BRK): the exact path's per-row selection
 * (kv_select_row.cuh) on the reference's f64 scores, rule KS_RULE (env: 0 cumulative with TAU, 1 top-k, 2 STAT
 * with Z), every row compared with the reference. */
/* Runs f(lane) on 32 threads as one emulated warp (its own barrier for the warp's syncs). */
template <class F> static void run_warp(F f)
{
    std::barrier<> wb(32);
    g_warps[0].b = &wb;
    std::vector<std::thread> th;
    for (int t = 0; t < 32; t++)
        th.emplace_back([&f, t] {
            threadIdx = {(unsigned)t, 0, 0};
            f(t);
        });
    for (auto &t : th) t.join();
}

/* Whether row r's list (count blocks) equals the reference's; the first 3 differing rows are printed. */
static bool same_list(int r, const int *crow, int count, const std::vector<int> &want, int bad)
{
    bool same = count == (int)want.size();
    for (int c = 0; same && c < count; c++) same = crow[c] == want[c];
    if (!same && bad < 3) {
        fprintf(stderr, "row %d: count %d, reference %zu;", r, count, want.size());
        for (int c = 0; c < count && c < (int)want.size(); c++)
            if (crow[c] != want[c]) { fprintf(stderr, " first difference at %d: %d, reference %d", c, crow[c], want[c]); break; }
        fprintf(stderr, "\n");
    }
    return same;
}

static int ks_row_run(int mode, int NBv, int NB, int D, int topk, int minb, double scale, int rows,
                      const std::vector<float> &q, const std::vector<float> &k, int fill)
{
    const int rule = getenv("KS_RULE") ? atoi(getenv("KS_RULE")) : 0;
    const double tau = getenv("TAU") ? atof(getenv("TAU")) : 0.9, zz = getenv("Z") ? atof(getenv("Z")) : 1.0;
    vox_kv_select_args a{};
    a.scale = scale, a.NB = NB, a.NBv = NBv, a.D = D, a.BH = 1, a.rule = rule, a.min_blocks = minb;
    a.tau = tau, a.z = zz;
    const int capin = getenv("CAP") ? atoi(getenv("CAP")) : 0;
    const int cap = capin > 0 && capin < NBv ? capin : NBv;
    a.max_blocks = rule == 1 ? (topk > 0 ? (topk < cap ? topk : cap) : 0) : cap;
    a.room = (int)vox_kv_select_room(rule == 0 ? VOX_KV_CUMULATIVE : rule == 1 ? VOX_KV_TOPK : VOX_KV_STAT, topk, minb, capin, NB, NBv);
    int bad = 0;
    for (int r = 0; r < rows; r++) {
        const int i = fill == 4 ? (int)((long long)r * NBv / rows) : r % NBv;
        std::vector<double> s(NBv);
        double mx = -INFINITY, z = 0, mean = 0, var = 0;
        for (int j = 0; j < NBv; j++) {
            double acc = 0;
            for (int e = 0; e < D; e++) acc += (double)q[(size_t)r * D + e] * (double)k[(size_t)j * D + e];
            s[j] = acc * scale, mx = std::max(mx, s[j]), mean += s[j];
        }
        mean /= (double)NBv;
        for (int j = 0; j < NBv; j++) z += exp(s[j] - mx), var += (s[j] - mean) * (s[j] - mean);
        const double sd = sqrt(var / (double)NBv);
        std::vector<rk> o(NBv);
        for (int j = 0; j < NBv; j++) o[j] = {exp(s[j] - mx) / z, j};
        std::sort(o.begin(), o.end(), [](const rk &x, const rk &y) { return x.p != y.p ? x.p > y.p : x.j < y.j; });
        std::vector<char> pick(NB, 0);
        int n = 0;
        if (rule == 0) { double before = 0; for (; n < NBv && before < tau; n++) before += o[n].p; }
        else if (rule == 1) n = std::min(topk, NBv);
        else { int c = 0; for (int j = 0; j < NBv; j++) c += s[j] >= mean + zz * sd;
               if (c > cap) n = cap; else for (int j = 0; j < NBv; j++) if (s[j] >= mean + zz * sd) pick[j] = 1; }
        n = std::min(n, cap);
        if (n < minb) n = std::min(minb, NBv);
        for (int t = 0; t < n; t++) pick[o[t].j] = 1;
        pick[i] = 1;
        for (int j = NBv; j < NB; j++) pick[j] = 1;
        std::vector<int> want;
        for (int j = 0; j < NB; j++) if (pick[j]) want.push_back(j);
        std::vector<double> srow(s);
        std::vector<int> crow(NB + 8, -7);
        int count = -1;
        static vox_ks_work work;
        run_warp([&](int) {
                if (mode == 5) vox_ks_row<VOX_KS_V_NEW>(srow.data(), NB, NBv, i, crow.data(), &count, a, &work);
                else if (mode == 6) vox_ks_row<VOX_KS_V_OLD>(srow.data(), NB, NBv, i, crow.data(), &count, a, &work);
                else vox_ks_row<VOX_KS_V_BRK>(srow.data(), NB, NBv, i, crow.data(), &count, a, &work);
            });
        for (int g = a.room; g < NB + 8; g++) if (crow[g] != -7) { bad++; fprintf(stderr, "row %d: guard %d written\n", r, g); break; }
        bad += !same_list(r, crow.data(), count, want, bad);
    }
    printf("kv_emu cap %d room %d\n", cap, a.room);
    printf("kv_emu mode %d (vox_ks_row) rule %d tau %g z %g fill %d NBv %d D %d topk %d min %d scale %g: %d rows, %d wrong\n",
           mode, rule, tau, zz, fill, NBv, D, topk, minb, scale, rows, bad);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 8) { fprintf(stderr, "usage: kv_emu MODE FILL NBV D TOPK MIN SCALE [ROWS]\n"); return 2; }
    const int mode = atoi(argv[1]), fill = atoi(argv[2]), NBv0 = atoi(argv[3]);
    int NBv = NBv0, D = fill == 4 ? 128 : atoi(argv[4]);
    const int topk = atoi(argv[5]), minb = atoi(argv[6]), rows = argc > 8 ? atoi(argv[8]) : 64;
    if (fill == 4)
        NBv = 2160;
    const int NB = NBv + 2;
    const double scale = atof(argv[7]) > 0 ? atof(argv[7]) : 1.0 / sqrt((double)D);
    std::mt19937_64 rng(1234 + fill * 7 + NBv + D);
    std::normal_distribution<double> nd;
    std::vector<float> q((size_t)rows * D), k((size_t)NB * D);
    std::vector<float> wq, wk; /* fill 4: the head's block means, every video block */
    if (fill == 4) {
        const vox_workload *wl = vox_workload_find("hunyuan-720p");
        const int64_t N = vox_workload_tokens(wl), Dw = wl->head_dim, h = NBv0 % wl->heads;
        std::vector<float> hq((size_t)(N * Dw)), hk((size_t)(N * Dw)), hv((size_t)(N * Dw));
        /* the head's slices: the generator writes [B,H,N,D] at head h's offset only */
        if (vox_workload_generate_heads(wl, 1, 1.0, h, h + 1, hq.data() - h * N * Dw, hk.data() - h * N * Dw,
                                        hv.data() - h * N * Dw)) {
            fprintf(stderr, "workload generation failed\n");
            return 2;
        }
        const int64_t F = wl->frames, Hh = wl->height, Ww = wl->width, bf = (F + 3) / 4, by = (Hh + 3) / 4, bx = (Ww + 3) / 4;
        const int nbv = (int)(bf * by * bx);
        wq.assign((size_t)nbv * Dw, 0.f), wk.assign((size_t)nbv * Dw, 0.f);
        std::vector<double> aq((size_t)nbv * Dw, 0.0), ak((size_t)nbv * Dw, 0.0);
        std::vector<int> cnt(nbv, 0);
        for (int64_t t = 0; t < F; t++)
            for (int64_t y = 0; y < Hh; y++)
                for (int64_t x = 0; x < Ww; x++) {
                    const int64_t tok = (t * Hh + y) * Ww + x, b = ((t / 4) * by + y / 4) * bx + x / 4;
                    cnt[b]++;
                    for (int64_t e = 0; e < Dw; e++) {
                        aq[b * Dw + e] += vox_bf16_to_f32(vox_f32_to_bf16(hq[tok * Dw + e]));
                        ak[b * Dw + e] += vox_bf16_to_f32(vox_f32_to_bf16(hk[tok * Dw + e]));
                    }
                }
        for (int b = 0; b < nbv; b++)
            for (int64_t e = 0; e < Dw; e++)
                wq[b * Dw + e] = (float)(aq[b * Dw + e] / cnt[b]), wk[b * Dw + e] = (float)(ak[b * Dw + e] / cnt[b]);
        if (nbv != NBv || Dw != D) {
            fprintf(stderr, "hunyuan-720p: %d blocks of D %lld\n", nbv, (long long)Dw);
            return 2;
        }
        for (int r = 0; r < rows; r++) /* query rows spread over the blocks */
            memcpy(&q[(size_t)r * D], &wq[(size_t)((long long)r * NBv / rows) * D], sizeof(float) * D);
        memcpy(k.data(), wk.data(), sizeof(float) * (size_t)NBv * D);
        for (size_t x = (size_t)NBv * D; x < k.size(); x++) /* the 2 global blocks: not scored */
            k[x] = 0.f;
    }
    std::uniform_real_distribution<double> ud;
    const double eps0 = getenv("EPS") ? atof(getenv("EPS")) : 0.0; /* 0: log-uniform 1e-8 .. 1e-5 per pair */
    double eps = eps0;
    for (int j = 0; fill != 4 && j < NB; j++) {
        if (j % 2) eps = eps0 > 0 ? eps0 : pow(10.0, -8.0 + 3.0 * ud(rng));
        for (int e = 0; e < D; e++) {
            float &x = k[(size_t)j * D + e];
            if (fill == 1 && j % 2) x = k[(size_t)(j - 1) * D + e] * (float)(1.0 + eps * nd(rng));
            else if (fill == 2) x = (float)(j % 3 == e % 3);
            else if (fill == 3) x = e == 0 ? (float)(j % 5) : 0.f;
            else if (fill == 5) x = e == 0 ? (j == 0 ? 20.f : j == 1 ? -20.f : (float)nd(rng)) : e == 1 && j > 1 ? (float)nd(rng) : 0.f;
            else x = (float)nd(rng);
        }
    }
    if (fill != 4)
    for (int r = 0; r < rows; r++)
        for (int e = 0; e < D; e++)
            q[(size_t)r * D + e] = fill == 2 ? (float)(rng() % 3) - 1.f : fill == 3 ? (e == 0 ? (r % 3 ? 1000.f : -1000.f) : 0.f)
                                   : fill == 5   ? (e == 0 ? 1.f : e == 1 ? (float)(0.5 * ud(rng)) : 0.f)
                                                 : (float)(2.0 * nd(rng));
    if (mode >= 5)
        return ks_row_run(mode, NBv, NB, D, topk, minb, scale, rows, q, k, fill);
    vox_kv_select_args a{};
    const int frule = getenv("KS_RULE") ? atoi(getenv("KS_RULE")) : 1;
    const double ftau = getenv("TAU") ? atof(getenv("TAU")) : 0.9;
    a.scale = scale, a.scale_f = (float)scale, a.NB = NB, a.NBv = NBv, a.D = D, a.BH = 1, a.rule = frule;
    a.tau = ftau;
    const int capin = getenv("CAP") ? atoi(getenv("CAP")) : 0;
    const int cap = capin > 0 && capin < NBv ? capin : NBv;
    a.max_blocks = frule == 1 ? (topk > 0 ? (topk < cap ? topk : cap) : 0) : cap, a.min_blocks = minb;
    a.room = (int)vox_kv_select_room(frule == 0 ? VOX_KV_CUMULATIVE : VOX_KV_TOPK, topk, minb, capin, NB, NBv);
    /* f32 scores as vox_kf_scores: chunks of 16 dims by sequential fmaf from 0, the chunk sums in order */
    float nk2 = 0.f;
    for (int j = 0; j < NBv; j++) {
        float s = 0.f;
        for (int e = 0; e < D; e++) s = fmaf(k[(size_t)j * D + e], k[(size_t)j * D + e], s);
        nk2 = std::max(nk2, s);
    }
    const i64 S = vox_ks_stride(NBv);
    int bad = 0, listed = 0, declined = 0;
    for (int r = 0; r < rows; r++) {
        const int i = fill == 4 ? (int)((long long)r * NBv / rows) : r % NBv;
        std::vector<float> sc((size_t)S + 4, 0.f);
        for (int j = 0; j < NBv; j++) {
            float run = 0.f;
            for (int e0 = 0; e0 < D; e0 += 16) {
                float c = 0.f;
                for (int e = e0; e < e0 + 16 && e < D; e++) c = fmaf(q[(size_t)r * D + e], k[(size_t)j * D + e], c);
                run = e0 ? run + c : c;
            }
            sc[j] = run;
        }
        const std::vector<float> sc0(sc); /* vox_kf_row rewrites its row */
        /* the reference */
        std::vector<double> s(NBv);
        double mx = -INFINITY, z = 0;
        for (int j = 0; j < NBv; j++) {
            double acc = 0;
            for (int e = 0; e < D; e++) acc += (double)q[(size_t)r * D + e] * (double)k[(size_t)j * D + e];
            s[j] = acc * scale, mx = std::max(mx, s[j]);
        }
        for (int j = 0; j < NBv; j++) z += exp(s[j] - mx);
        std::vector<rk> o(NBv);
        for (int j = 0; j < NBv; j++) o[j] = {exp(s[j] - mx) / z, j};
        std::sort(o.begin(), o.end(), [](const rk &x, const rk &y) { return x.p != y.p ? x.p > y.p : x.j < y.j; });
        int n = std::min(topk, NBv);
        if (frule == 0) { n = 0; double before = 0; for (; n < NBv && before < ftau; n++) before += o[n].p; }
        n = std::min(n, cap);
        if (n < minb) n = std::min(minb, NBv);
        std::vector<char> pick(NB, 0);
        for (int t = 0; t < n; t++) pick[o[t].j] = 1;
        pick[i] = 1;
        for (int j = NBv; j < NB; j++) pick[j] = 1;
        std::vector<int> want;
        for (int j = 0; j < NB; j++) if (pick[j]) want.push_back(j);
        /* the warp */
        std::vector<int> crow(NB + 8, -7);
        int count = -1;
        static vox_kf_work work;
        bool ok[32];
        run_warp([&](int t) {
                const float *qr = &q[(size_t)r * D];
                const double nq2 = vox_kf_nq2(qr, D);
                const bool res = mode == 0   ? vox_kf_row<VOX_KF_NEW>(sc.data(), qr, k.data(), NB, NBv, i, crow.data(), &count, a, nk2, nq2, vox_kf_bound_ffma(D), nullptr, &work)
                                 : mode == 1 ? vox_kf_row<VOX_KF_OLD>(sc.data(), qr, k.data(), NB, NBv, i, crow.data(), &count, a, nk2, nq2, vox_kf_bound_ffma(D), nullptr, &work)
                                 : mode == 3 ? vox_kf_row<VOX_KF_CB>(sc.data(), qr, k.data(), NB, NBv, i, crow.data(), &count, a, nk2, nq2, vox_kf_bound_ffma(D), nullptr, &work)
                                             : vox_kf_row<VOX_KF_BRK>(sc.data(), qr, k.data(), NB, NBv, i, crow.data(), &count, a, nk2, nq2, vox_kf_bound_ffma(D), nullptr, &work);
                ok[t] = res;
            });
        if (mode != 1) { /* vox_kf_topk alone on the same values, its bound as vox_kf_row computes it */
            std::vector<float> sc2(sc0);
            double nq2 = 0;
            for (int e = 0; e < D; e++) nq2 += (double)q[(size_t)r * D + e] * (double)q[(size_t)r * D + e];
            const vox_kf_bound eb = vox_kf_bound_ffma(D);
            const double Dd = D, g32 = Dd * 0x1p-24 / (1.0 - Dd * 0x1p-24);
            const double nkb = sqrt(((double)nk2 + Dd * 0x1p-125) / (1.0 - g32) * (1.0 + 0x1p-40));
            const double nqb = sqrt(nq2 * (1.0 + 0x1p-40)), A = nqb * nkb * (1.0 + 0x1p-40);
            const double err = eb.rel * A + eb.abs * Dd * 0x1p-125 * (1.0 + nqb + nkb);
            const double Bs = scale * (A + err) * (1.0 + 0x1p-40), delta = 0x1p-47 + 0x1p-49 * Bs;
            const double Es = (scale * (err + Dd * 0x1p-53 * 1.01 * A) + 0x1p-52 * Bs) * (1.0 + 0x1p-30);
            float amax = -INFINITY, amin = INFINITY;
            for (int j = 0; j < NBv; j++) amax = std::max(amax, sc0[j]), amin = std::min(amin, sc0[j]);
            int n = std::min(a.max_blocks, NBv), cnt2 = 0, res = 9;
            if (n < minb) n = std::min(minb, NBv);
            { /* the boundary bin's size, as vox_kf_topk bins */
                const float span = amax - amin, inv = (float)(VOX_KF_NBIN - 1) / span, nb0 = -amin * inv;
                std::vector<int> hist(VOX_KF_NBIN, 0);
                for (int j = 0; j < NBv; j++) hist[vox_kf_bin(sc0[j], inv, nb0)]++;
                int acc = 0, b = VOX_KF_NBIN - 1;
                for (; b > 0 && acc + hist[b] < n; b--) acc += hist[b];
                g_bin_sum += hist[b], g_bin_max = std::max(g_bin_max, hist[b]), g_bin_rows++;
            }
            std::vector<int> crow2(NB + 8);
            if (frule == 0 && a.tau > 0.0 && a.tau <= 1.0 && a.max_blocks >= NBv) {
                /* session 53: CUMULATIVE by vox_kf_topk's bins on its own (vox_kf_row takes it first) */
                const vox_kf_rb rb = vox_kf_row_bound(a, nk2, nq2, eb);
                int cnt4 = -1, res4 = 9;
                std::vector<int> crow4(NB + 8, -7);
                run_warp([&](int t) {
                    const int v = mode == 2 ? vox_kf_topk<true, true>(sc2.data(), &q[(size_t)r * D], k.data(), NB, NBv, i, crow4.data(), &cnt4, a, 0, amax, amin, Es, delta, &work, rb.Ep)
                                            : vox_kf_topk<false, true>(sc2.data(), &q[(size_t)r * D], k.data(), NB, NBv, i, crow4.data(), &cnt4, a, 0, amax, amin, Es, delta, &work, rb.Ep);
                    if (t == 0) res4 = v;
                });
                if (res4 >= -1 && res4 <= 1) g_cum[res4 + 1]++;
                for (int g = a.room; g < NB + 8; g++) if (crow4[g] != -7) { bad++; fprintf(stderr, "row %d: vox_kf_topk (CUMULATIVE) wrote guard %d\n", r, g); break; }
                if (res4 == 1 && !same_list(r, crow4.data(), cnt4, want, bad)) { bad++; fprintf(stderr, "  (vox_kf_topk, CUMULATIVE)\n"); }
            }
            if (frule == 1 && n > 0 && n < NBv) {
                run_warp([&](int t) {
                        const int v = mode == 2 ? vox_kf_topk<true>(sc2.data(), &q[(size_t)r * D], k.data(), NB, NBv, i, crow2.data(), &cnt2, a, n, amax, amin, Es, delta, &work)
                                                : vox_kf_topk<false>(sc2.data(), &q[(size_t)r * D], k.data(), NB, NBv, i, crow2.data(), &cnt2, a, n, amax, amin, Es, delta, &work);
                        if (t == 0) res = v;
                    });
                if (res >= -1 && res <= 1) g_topk[res + 1]++;
                /* vox_kt_finish on the artefacts the three-pass kernel's passes 2 and 3 leave from the same
                 * values: its bins (vox_kf_bin_in over VOX_KT_NBIN), the bits of the blocks of bins above B,
                 * B's blocks in a shuffled order (as its atomics leave them); its list against the reference */
                float inv, nb0;
                int B = VOX_KT_NBIN - 1, acc = 0;
                std::vector<int> hist(VOX_KT_NBIN, 0);
                const bool binned = vox_kf_bins<VOX_KT_NBIN>(amax, amin, &inv, &nb0);
                if (binned) {
                    for (int j = 0; j < NBv; j++) hist[vox_kf_bin_in(sc0[j], inv, nb0)]++;
                    for (; acc + hist[B] < n; B--) acc += hist[B];
                }
                if (!binned || hist[B] > VOX_KT_CAND) {
                    g_kt[0]++;
                } else {
                    const int WB = 2 * ((NBv + 63) / 64);
                    std::vector<unsigned> bits(WB, 0u);
                    std::vector<uint2> cand;
                    for (int j = 0; j < NBv; j++) {
                        const int b = vox_kf_bin_in(sc0[j], inv, nb0);
                        if (b > B) bits[j / 32] |= 1u << (j % 32);
                        else if (b == B) { unsigned u; memcpy(&u, &sc0[j], 4); cand.push_back({u, (unsigned)j}); }
                    }
                    std::shuffle(cand.begin(), cand.end(), rng);
                    std::vector<int> crow3(NB + 8, -7);
                    int cnt3 = -1, res3 = 9;
                    run_warp([&](int t) {
                        const int v = mode == 2 ? vox_kt_finish<true>(bits.data(), cand.data(), WB, B, n - acc, hist[B], n, inv, nb0, amax, &q[(size_t)r * D], k.data(), NB, NBv, i, crow3.data(), &cnt3, a, Es, delta, &work)
                                                : vox_kt_finish<false>(bits.data(), cand.data(), WB, B, n - acc, hist[B], n, inv, nb0, amax, &q[(size_t)r * D], k.data(), NB, NBv, i, crow3.data(), &cnt3, a, Es, delta, &work);
                        if (t == 0) res3 = v;
                    });
                    g_kt[res3 == 1 ? 2 : 1]++;
                    for (int g = a.room; g < NB + 8; g++) if (crow3[g] != -7) { bad++; fprintf(stderr, "row %d: vox_kt_finish wrote guard %d\n", r, g); break; }
                    if (res3 == 1 && !same_list(r, crow3.data(), cnt3, want, bad)) { bad++, g_kt_wrong++; fprintf(stderr, "  (vox_kt_finish)\n"); }
                }
            }
        }
        for (int g = a.room; g < NB + 8; g++) if (crow[g] != -7) { bad++; fprintf(stderr, "row %d: guard %d written\n", r, g); break; }
        if (!ok[0]) { declined++; continue; }
        listed++;
        bad += !same_list(r, crow.data(), count, want, bad);
    }
    printf("kv_emu mode %d fill %d NBv %d D %d topk %d min %d scale %g: %d rows listed (%d wrong), %d to the exact path; "
           "vox_kf_topk: %d listed, %d exact, %d old path\n",
           mode, fill, NBv, D, topk, minb, scale, listed, bad, declined, g_topk[2], g_topk[1], g_topk[0]);
    if (g_cum[0] + g_cum[1] + g_cum[2])
        printf("   vox_kf_topk CUMULATIVE: %d listed, %d exact, %d old path\n", g_cum[2], g_cum[1], g_cum[0]);
    if (g_kt[0] + g_kt[1] + g_kt[2])
        printf("   vox_kt_finish: %d listed (%d wrong), %d exact, %d not binned or over the cap\n", g_kt[2], g_kt_wrong, g_kt[1], g_kt[0]);
    if (g_bin_rows)
        printf("   boundary bin: mean %.1f blocks, max %d (of %d rows)\n", g_bin_sum / g_bin_rows, g_bin_max, g_bin_rows);
    return bad ? 1 : 0;
}
