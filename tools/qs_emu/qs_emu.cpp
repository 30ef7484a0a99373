/* qs_emu: runs query_select's CUDA kernels (backends/gpu/kernels/query_select*.cuh, the warp
 * kernel and, for marked blocks, the exact kernel) on the host, one std::thread per GPU thread with the
 * warp primitives in lockstep (emu_port.h), and compares keep counts, kept rows and fill sources with a
 * copy of the CPU reference (backends/cpu/query_select.c) on synthetic inputs: random, smooth (near
 * ties), very near ties, exact duplicates (ties), NaN/Inf/zero/tiny rows; block copies or the
 * caller's layout through a slot map (CALLER=1); windows 2x2x2, 1x2x2 or over 8 rows.
 * usage: qs_emu MODE(0-4) FLAGS(a.chunk: 1 exact path everywhere) DTYPE(0 f32, 1 f16, 2 bf16) D KEEP [x|b|m]
 * STAGE=1 runs the staged kernel (query_select_stage.cuh) instead of the warp kernel, its copies plain
 * loads and stores (STAGE=9: block-major walk, 17: two row buffers and one warp per CTA, 25: both).
 * MEANS=1 (with STAGE): the staged and exact kernels also write the q means of the kept rows
 * (VOXATTN_QUERY_SELECT_MEANS), checked bitwise against the f64 sequential mean of the reference's kept
 * rows (NaN where it is NaN). Built with -DVOX_QSM_BREAK=1 (rows summed descending) or 2 (a block's last
 * kept row left out): deliberate breaks (run.sh BREAK=1|2).
 * Build and run the matrix: sh tools/qs_emu/run.sh. Meant for checking kernel changes on a machine
 * without a GPU; the GPU tests (test_ops, conformance) stay the reference. */
#include "emu_port.h"
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>
#include <random>
#include <algorithm>
thread_local dim3e threadIdx;
dim3e blockIdx_g, gridDim_g, blockDim_g = {128, 1, 1};
warp_x g_warps[4];
static std::barrier<> *g_cta;
#define __syncthreads() g_cta->arrive_and_wait()
static bool __syncthreads_or(bool p) { static std::atomic<int> a; a = 0; g_cta->arrive_and_wait(); if (p) a = 1; g_cta->arrive_and_wait(); bool r = a; g_cta->arrive_and_wait(); return r; }
template <class T> static T atomicAdd(T *p, T v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
alignas(16) static unsigned char vox_dyn_smem[1024 * 1024];
#include "kernel_args.h"
#define VOX_GPU_DEVICE
#include "query_select.cuh"

typedef void (*kern)(vox_query_select_bufs, vox_query_select_args);
typedef void (*kern3)(vox_query_select_bufs, vox_query_select_args, unsigned long long); /* staged, exact: + qbar */
static void launch(kern3 k, int grid, vox_query_select_bufs b, vox_query_select_args a, int threads = 128,
                   unsigned long long qbar = 0) {
    gridDim_g = {(unsigned)grid, 1, 1}; blockDim_g = {(unsigned)threads, 1, 1};
    for (int c = 0; c < grid; c++) {
        blockIdx_g = {(unsigned)c, 0, 0};
        std::barrier<> cta(threads); g_cta = &cta;
        std::barrier<> wb[4] = {std::barrier<>(32), std::barrier<>(32), std::barrier<>(32), std::barrier<>(32)};
        for (int w = 0; w < 4; w++) g_warps[w].b = &wb[w];
        std::vector<std::thread> th;
        for (int t = 0; t < threads; t++) th.emplace_back([=] { threadIdx = {(unsigned)t, 0, 0}; k(b, a, qbar); });
        for (auto &t : th) t.join();
    }
}
/* reference (backends/cpu/query_select.c) on f32 values */
static double cosine(const float *x, long a, long b, long D) {
    double dot = 0, na = 0, nb = 0;
    for (long e = 0; e < D; e++) { double u = x[a * D + e], w = x[b * D + e]; dot += u * w, na += u * u, nb += w * w; }
    if (!std::isfinite(na) || !std::isfinite(nb)) return NAN;
    return na > 0 && nb > 0 ? dot / sqrt(na * nb) : 0.0;
}
struct rk { double p; int j; };
static void reference(const float *q, const int *win_ptr, const int *win, const int *valid, int BH, int NB, int NBv, int V, int D,
                      int *kept_count, int *kept_rows, int *fill) {
    long S = (long)NB * V;
    for (int bh = 0; bh < BH; bh++) {
        long base = bh * S; const float *qh = q + base * D;
        for (long s = 0; s < S; s++) fill[base + s] = (int)s;
        for (int j = 0; j < NB; j++) {
            std::vector<unsigned char> kept(V, 0);
            if (j >= NBv) { for (int r = 0; r < valid[j]; r++) kept[r] = 1; }
            else for (int w = win_ptr[j]; w < win_ptr[j + 1]; w++) {
                int first = win[4 * w], m = win[4 * w + 1], centre = win[4 * w + 2], keep = win[4 * w + 3];
                std::vector<rk> cand;
                for (int t = first; t < first + m; t++) if (t != centre) cand.push_back({cosine(qh, t, centre, D), t});
                std::sort(cand.begin(), cand.end(), [](const rk &x, const rk &y) {
                    bool xn = x.p != x.p, yn = y.p != y.p; if (xn != yn) return xn; if (!xn && x.p != y.p) return x.p < y.p; return x.j < y.j; });
                kept[centre - j * V] = 1;
                for (int r = 0; r < keep - 1; r++) kept[cand[r].j - j * V] = 1;
                for (int t = first; t < first + m; t++) {
                    if (kept[t - j * V]) continue;
                    double best = -INFINITY; int src = centre, found = 0;
                    for (int u = first; u < first + m; u++) { if (!kept[u - j * V]) continue; double c = cosine(qh, t, u, D);
                        if (c == c && (!found || c > best)) best = c, src = u, found = 1; }
                    fill[base + t] = src;
                }
            }
            int c = 0; for (int r = 0; r < V; r++) if (kept[r]) kept_rows[((long)bh * NB + j) * V + c++] = r;
            kept_count[(long)bh * NB + j] = c;
        }
    }
}
static float tobf(float x) { unsigned u = __float_as_uint(x); if (x != x) return x; u += 0x7fff + ((u >> 16) & 1); u &= 0xffff0000u; return __uint_as_float(u); }
int main(int argc, char **argv) {
    int mode = argc > 1 ? atoi(argv[1]) : 0, flags = argc > 2 ? atoi(argv[2]) : 0, dt = argc > 3 ? atoi(argv[3]) : 2;
    int D = argc > 4 ? atoi(argv[4]) : 64;
    int F = 5, H = 6, W = 7, bt = 2, bhh = 4, bw = 4, wt = 2, wh = 2, ww = 2, BH = 3; double qk = 0.5;
    if (argc > 5) qk = atof(argv[5]);
    if (argc > 6) { wt = 1; wh = 2; ww = 2; if (argv[6][0] == 'b') wt = 2, wh = 4, ww = 2; if (argv[6][0] == 'm') wt = 2, wh = 2, ww = 4; }
    int gbt = (F + bt - 1) / bt, gbh = (H + bhh - 1) / bhh, gbw = (W + bw - 1) / bw, NBv = gbt * gbh * gbw, NB = NBv + 1, V = bt * bhh * bw;
    long S = (long)NB * V;
    std::vector<int> win_ptr(NBv + 1), windows, valid(NB), slot_of(F * H * W, -1);
    int b = 0;
    for (int tb = 0; tb < gbt; tb++) for (int yb = 0; yb < gbh; yb++) for (int xb = 0; xb < gbw; xb++, b++) {
        int t0 = tb * bt, y0 = yb * bhh, x0 = xb * bw, slot = b * V; win_ptr[b] = (int)windows.size() / 4;
        for (int wt0 = t0; wt0 < t0 + bt; wt0 += wt) for (int wy0 = y0; wy0 < y0 + bhh; wy0 += wh) for (int wx0 = x0; wx0 < x0 + bw; wx0 += ww) {
            int et = std::min(wt, F - wt0), eh = std::min(wh, H - wy0), ew = std::min(ww, W - wx0);
            if (et <= 0 || eh <= 0 || ew <= 0) continue;
            int ct = std::min(wt / 2, et - 1), cy = std::min(wh / 2, eh - 1), cx = std::min(ww / 2, ew - 1), m = et * eh * ew;
            int keep = (int)ceil(qk * m - 1e-9); keep = keep < 1 ? 1 : keep > m ? m : keep;
            windows.insert(windows.end(), {slot, m, slot + (ct * eh + cy) * ew + cx, keep});
            for (int t = 0; t < et; t++) for (int y = 0; y < eh; y++) for (int x = 0; x < ew; x++, slot++) slot_of[((wt0 + t) * H + wy0 + y) * W + wx0 + x] = slot;
        }
        valid[b] = slot - b * V;
    }
    win_ptr[NBv] = (int)windows.size() / 4; valid[NBv] = 5;
    std::mt19937_64 rng(1234 + mode); std::normal_distribution<double> nd;
    std::vector<float> qf((size_t)BH * S * D, 0.f);
    for (int bh = 0; bh < BH; bh++) {
        std::vector<double> basev(D); for (auto &x : basev) x = nd(rng);
        for (long s = 0; s < S; s++) { int j = (int)(s / V), r = (int)(s % V); if (r >= valid[j]) continue;
            float *row = &qf[((size_t)bh * S + s) * D];
            for (int e = 0; e < D; e++) {
                double v = nd(rng);
                if (mode == 1) v = basev[e] + 0.15 * v;            /* smooth: near ties in cosine */
                if (mode == 2) v = basev[e] + 1e-3 * v;            /* very near */
                row[e] = (float)v; }
            if (mode == 3 && (s % 3 == 0)) memcpy(row, &qf[((size_t)bh * S + (s / 8) * 8) * D], D * 4); /* exact duplicates: ties */
            if (mode == 4 && s % 11 == 3) row[s % D] = NAN;
            if (mode == 4 && s % 13 == 5) for (int e = 0; e < D; e++) row[e] = 0.f;
            if (mode == 4 && s % 17 == 6) row[1] = INFINITY;
            if (mode == 4 && s % 23 == 8) row[1] = -INFINITY; /* with the +Inf rows: NaN means */
            if (mode == 4 && s % 19 == 7) for (int e = 0; e < D; e++) row[e] *= 1e-30f;
        }
    }
    /* element storage */
    std::vector<u16> qh(qf.size()); std::vector<float> q32 = qf;
    if (dt == 2) for (size_t i = 0; i < qf.size(); i++) { q32[i] = tobf(qf[i]); qh[i] = (u16)(__float_as_uint(q32[i]) >> 16); }
    if (dt == 1) for (size_t i = 0; i < qf.size(); i++) { qh[i] = vox_f32_to_f16(qf[i]); q32[i] = vox_f16_to_f32(qh[i]); }
    std::vector<int> kc(BH * NB, -7), kr((size_t)BH * NB * V, -7), fl((size_t)BH * S, -7), rkc(BH * NB), rkr((size_t)BH * NB * V, -9), rfl((size_t)BH * S);
    int caller = getenv("CALLER") != nullptr;
    long N = (long)F * H * W + 5; /* video tokens, then the text block's 5 */
    std::vector<int> slot_token(S, -1);
    for (int t = 0; t < F * H * W; t++) slot_token[slot_of[t]] = t;
    for (int g = 0; g < 5; g++) slot_token[(long)NBv * V + g] = F * H * W + g;
    std::vector<float> c32((size_t)N * BH * D + 8, 0.f); std::vector<u16> c16(c32.size(), 0);
    if (caller) { /* [N][BH][D], shifted by 8 elements (16 bytes for bf16, 32 for f32) */
        for (int bh = 0; bh < BH; bh++) for (long s = 0; s < S; s++) if (slot_token[s] >= 0)
            for (int e = 0; e < D; e++) { size_t src = ((size_t)bh * S + s) * D + e, dst = 8 + ((size_t)slot_token[s] * BH + bh) * D + e;
                c32[dst] = q32[src]; c16[dst] = qh[src]; } }
    vox_query_select_bufs bu{};
    bu.q = dt == 0 ? (unsigned long long)(uintptr_t)q32.data() : (unsigned long long)(uintptr_t)qh.data();
    bu.win_ptr = (uintptr_t)win_ptr.data(); bu.windows = (uintptr_t)windows.data(); bu.valid = (uintptr_t)valid.data();
    bu.kept_count = (uintptr_t)kc.data(); bu.kept_rows = (uintptr_t)kr.data(); bu.fill_src = (uintptr_t)fl.data();
    vox_query_select_args a{}; a.BH = BH; a.NB = NB; a.NBv = NBv; a.st = D; a.sh = S * D; a.sb = BH * S * D; a.tok = 0; a.V = V; a.D = D; a.heads = BH; a.chunk = flags;
    if (caller) { bu.q = dt == 0 ? (uintptr_t)(c32.data() + 8) : (uintptr_t)(c16.data() + 8); a.st = BH * D; a.sh = D; a.sb = N * BH * D;
        a.tok = (long long)(uintptr_t)slot_token.data(); }
    static kern kw_s; /* the warp kernel through the 3-parameter launch */
    kw_s = dt == 0 ? vox_query_select_warp_f32 : dt == 1 ? vox_query_select_warp_f16 : vox_query_select_warp_bf16;
    kern3 k = nullptr;
    const int means = getenv("MEANS") && atoi(getenv("MEANS")) && getenv("STAGE") && atoi(getenv("STAGE"));
    std::vector<float> qbar((size_t)BH * NB * D, -12345.f);
    const unsigned long long qb = means ? (unsigned long long)(uintptr_t)qbar.data() : 0;
    /* STAGE=1: the staged kernel (query_select_stage.cuh); STAGE=8 | 16 | 1: its walk j-major (8), two row
     * buffers with one warp per CTA (16) */
    const int stage = getenv("STAGE") ? atoi(getenv("STAGE")) : 0;
    if (stage) {
        k = dt == 0 ? vox_query_select_stage_f32 : dt == 1 ? vox_query_select_stage_f16 : vox_query_select_stage_bf16;
        a.chunk = flags | (stage & 24);
        launch(k, 3, bu, a, stage & 16 ? 32 : 128, qb);
        a.chunk = flags;
    } else
        launch([](vox_query_select_bufs b2, vox_query_select_args a2, unsigned long long) { kw_s(b2, a2); }, 2, bu, a);
    int marked = 0; for (int i = 0; i < BH * NB; i++) marked += kc[i] < 0;
    if (marked) { a.chunk = 32; kern3 ke = dt == 0 ? vox_query_select_exact_f32 : dt == 1 ? vox_query_select_exact_f16 : vox_query_select_exact_bf16;
        launch(ke, 3, bu, a, 128, qb); }
    reference(q32.data(), win_ptr.data(), windows.data(), valid.data(), BH, NB, NBv, V, D, rkc.data(), rkr.data(), rfl.data());
    long bad = 0;
    for (int i = 0; i < BH * NB; i++) { if (kc[i] != rkc[i]) { if (bad++ < 5) printf("kept_count[%d] %d ref %d\n", i, kc[i], rkc[i]); continue; }
        for (int r = 0; r < rkc[i]; r++) if (kr[(size_t)i * V + r] != rkr[(size_t)i * V + r]) { if (bad++ < 5) printf("kept_rows[%d][%d] %d ref %d\n", i, r, kr[(size_t)i * V + r], rkr[(size_t)i * V + r]); } }
    for (size_t i = 0; i < fl.size(); i++) if (fl[i] != rfl[i]) { if (bad++ < 5) printf("fill[%zu] %d ref %d\n", i, fl[i], rfl[i]); }
    long mbad = 0, mnan = 0, minf = 0;
    if (means) /* the q means of the kept rows: the reference's kept rows, f64 in order, (float)(sum / n) */
        for (int i = 0; i < BH * NB; i++) {
            const int bh = i / NB, j = i % NB;
            for (int e = 0; e < D; e++) {
                double acc = 0;
                for (int r = 0; r < rkc[i]; r++) acc += (double)q32[((size_t)bh * S + (size_t)j * V + rkr[(size_t)i * V + r]) * D + e];
                const float want = (float)(rkc[i] ? acc / (double)rkc[i] : 0.0), got = qbar[(size_t)i * D + e];
                mnan += want != want, minf += std::isinf(want);
                if (!(want != want && got != got) && memcmp(&want, &got, 4) != 0) {
                    if (mbad++ < 5) printf("qbar[%d][%d] %a ref %a (kept %d)\n", i, e, got, want, rkc[i]); }
            }
        }
    bad += mbad;
    printf("mode %d flags %d dt %d D %d keep %.2f: NB %d V %d windows %zu marked %d mismatches %ld (means %ld%s, %ld NaN %ld Inf)\n", mode, flags, dt, D, qk, NB, V, windows.size() / 4, marked, bad, mbad, means ? "" : ": off", mnan, minf);
    return bad != 0;
}
