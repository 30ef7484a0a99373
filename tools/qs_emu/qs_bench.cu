/* qs_bench: query_select's first kernels on a GPU at hunyuan-720p's shape (bf16, D 128, 24 heads, 33 x 45 x 80
 * video tokens + 256 text tokens in the caller's [N, H, D] layout, blocks 4x4x4, windows 2x2x2, keep 0.5), without
 * the library: the warp kernel and the staged kernel's variants (query_select_stage.cuh: one or two row buffers,
 * head- or block-major walk), each followed by the exact kernel, launched as gpu_query_select launches them. Prints
 * per variant the first kernel's median time (CUDA events, ROUNDS rounds, the variants interleaved), Q's read
 * rate, and mismatches of keep counts, kept rows and fill sources against the warp kernel's (bitwise) and, for
 * REF_HEADS heads, against a copy of the CPU reference (backends/cpu/query_select.c).
 * Build (bf16 kernels only): nvcc -gencode=arch=compute_90a,code=sm_90a -O3 -std=c++17 -Icore -Ibackends/gpu \
 *   -Ibackends/gpu/kernels tools/qs_emu/qs_bench.cu -o qs_bench
 * usage: qs_bench [ROUNDS (20)] [MODE: 0 random rows, 1 near ties (rows close to a per-head base)] */
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common.cuh"
#undef VOX_EACH_DTYPE
#define VOX_EACH_DTYPE(K) K(bf16, vox_t_bf16)
#define VOX_GPU_DEVICE
#include "query_select.cuh"

#define CK(x)                                                                                   \
    do {                                                                                        \
        cudaError_t e_ = (x);                                                                   \
        if (e_ != cudaSuccess) {                                                                \
            fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
            exit(2);                                                                            \
        }                                                                                       \
    } while (0)

static __global__ void fill_q(u16 *q, long long n, int mode, int HD)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        unsigned long long h = (unsigned long long)i * 0x9E3779B97F4A7C15ull;
        h ^= h >> 31, h *= 0xBF58476D1CE4E5B9ull, h ^= h >> 29;
        float u = ((h >> 40) & 0xffffff) * (1.0f / 16777216.0f) - 0.5f;
        if (mode == 1) { /* a per-(head, element) base plus a small perturbation: near ties */
            unsigned long long b = (unsigned long long)(i % HD) * 0x9E3779B97F4A7C15ull;
            b ^= b >> 31, b *= 0xBF58476D1CE4E5B9ull, b ^= b >> 29;
            u = ((b >> 40) & 0xffffff) * (1.0f / 16777216.0f) - 0.5f + 0.1f * u;
        }
        unsigned bits = __float_as_uint(u);
        q[i] = (u16)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
    }
}

static float bf2f(u16 x)
{
    unsigned u = (unsigned)x << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

int main(int argc, char **argv)
{
    const int rounds = argc > 1 ? atoi(argv[1]) : 20, mode = argc > 2 ? atoi(argv[2]) : 0;
    const int F = 33, H = 45, W = 80, TEXT = 256, HEADS = 24, D = 128, bt = 4, bhh = 4, bw = 4;
    const int V = bt * bhh * bw, gbt = (F + bt - 1) / bt, gbh = (H + bhh - 1) / bhh, gbw = (W + bw - 1) / bw;
    const int NBv = gbt * gbh * gbw, NBt = (TEXT + V - 1) / V, NB = NBv + NBt;
    const long long S = (long long)NB * V, N = (long long)F * H * W + TEXT;
    std::vector<int> win_ptr(NBv + 1), windows, valid(NB), slot_token(S, -1);
    int b = 0;
    for (int tb = 0; tb < gbt; tb++)
        for (int yb = 0; yb < gbh; yb++)
            for (int xb = 0; xb < gbw; xb++, b++) {
                int t0 = tb * bt, y0 = yb * bhh, x0 = xb * bw, slot = b * V;
                win_ptr[b] = (int)windows.size() / 4;
                for (int wt0 = t0; wt0 < t0 + bt; wt0 += 2)
                    for (int wy0 = y0; wy0 < y0 + bhh; wy0 += 2)
                        for (int wx0 = x0; wx0 < x0 + bw; wx0 += 2) {
                            int et = std::min(2, F - wt0), eh = std::min(2, H - wy0), ew = std::min(2, W - wx0);
                            if (et <= 0 || eh <= 0 || ew <= 0)
                                continue;
                            int ct = std::min(1, et - 1), cy = std::min(1, eh - 1), cx = std::min(1, ew - 1);
                            int m = et * eh * ew, keep = (int)ceil(0.5 * m - 1e-9);
                            keep = keep < 1 ? 1 : keep > m ? m : keep;
                            windows.insert(windows.end(), {slot, m, slot + (ct * eh + cy) * ew + cx, keep});
                            for (int t = 0; t < et; t++)
                                for (int y = 0; y < eh; y++)
                                    for (int x = 0; x < ew; x++, slot++)
                                        slot_token[slot] = ((wt0 + t) * H + wy0 + y) * W + wx0 + x;
                        }
                valid[b] = slot - b * V;
            }
    win_ptr[NBv] = (int)windows.size() / 4;
    for (int j = 0; j < NBt; j++) {
        valid[NBv + j] = std::min(V, TEXT - j * V);
        for (int r = 0; r < valid[NBv + j]; r++)
            slot_token[(long long)(NBv + j) * V + r] = F * H * W + j * V + r;
    }
    const long long items = (long long)HEADS * NB, nq = N * HEADS * D;
    u16 *dq;
    int *dwp, *dw, *dv, *dtok, *dkc, *dkr, *dfl;
    CK(cudaMalloc(&dq, nq * 2));
    CK(cudaMalloc(&dwp, win_ptr.size() * 4));
    CK(cudaMalloc(&dw, windows.size() * 4));
    CK(cudaMalloc(&dv, valid.size() * 4));
    CK(cudaMalloc(&dtok, slot_token.size() * 4));
    CK(cudaMalloc(&dkc, items * 4));
    CK(cudaMalloc(&dkr, items * V * 4));
    CK(cudaMalloc(&dfl, (long long)HEADS * S * 4));
    fill_q<<<1024, 256>>>(dq, nq, mode, HEADS * D);
    CK(cudaMemcpy(dwp, win_ptr.data(), win_ptr.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dw, windows.data(), windows.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dv, valid.data(), valid.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dtok, slot_token.data(), slot_token.size() * 4, cudaMemcpyHostToDevice));
    vox_query_select_bufs bu{};
    bu.q = (uintptr_t)dq, bu.win_ptr = (uintptr_t)dwp, bu.windows = (uintptr_t)dw, bu.valid = (uintptr_t)dv;
    bu.kept_count = (uintptr_t)dkc, bu.kept_rows = (uintptr_t)dkr, bu.fill_src = (uintptr_t)dfl;
    vox_query_select_args a{};
    a.BH = HEADS, a.NB = NB, a.NBv = NBv, a.st = (long long)HEADS * D, a.sh = D, a.sb = N * HEADS * D;
    a.tok = (long long)(uintptr_t)dtok, a.V = V, a.D = D, a.heads = HEADS;
    int sms = 0, optin = 0;
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    CK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
    cudaFuncAttributes fa;
    CK(cudaFuncGetAttributes(&fa, (const void *)vox_query_select_stage_bf16));
    /* the dynamic limit: the opt-in less the kernel's static shared memory (optin itself is refused: mid call 2) */
    CK(cudaFuncSetAttribute((const void *)vox_query_select_stage_bf16, cudaFuncAttributeMaxDynamicSharedMemorySize,
                            optin - (int)fa.sharedSizeBytes));
    CK(cudaFuncSetAttribute((const void *)vox_query_select_exact_bf16, cudaFuncAttributeMaxDynamicSharedMemorySize,
                            96 * 1024));
    const char *names[5] = {"warp (old)", "stage 1 buf", "stage 1 buf j-major", "stage 2 bufs", "stage 2 bufs j-major"};
    auto cap = [&](long long work, int per_sm) { return std::min(work, (long long)sms * per_sm); };
    auto launch = [&](int v, cudaEvent_t e0, cudaEvent_t e1) {
        vox_query_select_args x = a;
        if (v == 0) {
            x.chunk = 0;
            cudaEventRecord(e0);
            vox_query_select_warp_bf16<<<(unsigned)cap((items + 3) / 4, VOX_QW_CTAS), VOX_QS_THREADS>>>(bu, x);
            cudaEventRecord(e1);
        } else {
            const int nbuf = v >= 3 ? 2 : 1, wpc = nbuf == 2 ? 1 : 4;
            const long long cta = VOX_QSS_WARP_BYTES((long long)V, (long long)(D / 8), nbuf, true) * wpc;
            int per_sm = (int)((optin + 1024) / (cta + 5120));
            per_sm = std::min(per_sm, VOX_QSS_CTAS * 4 / wpc);
            x.chunk = (v == 2 || v == 4 ? 8 : 0) | (nbuf == 2 ? 16 : 0);
            cudaEventRecord(e0);
            vox_query_select_stage_bf16<<<(unsigned)cap((items + wpc - 1) / wpc, per_sm), 32 * wpc, (size_t)cta>>>(bu, x, 0ull);
            cudaEventRecord(e1);
        }
        x.chunk = 32;
        vox_query_select_exact_bf16<<<(unsigned)cap((items + 31) / 32, 8), VOX_QS_THREADS, V * (D + 1) * 4>>>(bu, x, 0ull);
    };
    /* outputs of each variant (poisoned before) */
    std::vector<std::vector<int>> okc(5), okr(5), ofl(5);
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int v = 0; v < 5; v++) {
        CK(cudaMemset(dkc, 0x7f, items * 4));
        CK(cudaMemset(dkr, 0x7f, items * V * 4));
        CK(cudaMemset(dfl, 0x7f, (long long)HEADS * S * 4));
        launch(v, e0, e1);
        CK(cudaDeviceSynchronize());
        CK(cudaGetLastError());
        okc[v].resize(items), okr[v].resize(items * V), ofl[v].resize(HEADS * S);
        CK(cudaMemcpy(okc[v].data(), dkc, items * 4, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(okr[v].data(), dkr, items * V * 4, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(ofl[v].data(), dfl, HEADS * S * 4, cudaMemcpyDeviceToHost));
    }
    std::vector<std::vector<float>> ms(5);
    for (int r = 0; r < rounds + 2; r++)
        for (int v = 0; v < 5; v++) {
            launch(v, e0, e1);
            CK(cudaEventSynchronize(e1));
            float t = 0;
            CK(cudaEventElapsedTime(&t, e0, e1));
            if (r >= 2)
                ms[v].push_back(t);
        }
    CK(cudaDeviceSynchronize());
    /* the reference for the first REF_HEADS heads */
    const int ref_heads = getenv("REF_HEADS") ? atoi(getenv("REF_HEADS")) : 2;
    std::vector<u16> hq(nq);
    CK(cudaMemcpy(hq.data(), dq, nq * 2, cudaMemcpyDeviceToHost));
    long long ref_bad = 0;
    auto row = [&](int bh, long long s) { return &hq[((long long)slot_token[s] * HEADS + bh) * D]; };
    auto cosine = [&](int bh, long long x, long long y) {
        double dot = 0, na = 0, nb = 0;
        const u16 *p = row(bh, x), *q = row(bh, y);
        for (int e = 0; e < D; e++) {
            double u = bf2f(p[e]), w = bf2f(q[e]);
            dot += u * w, na += u * u, nb += w * w;
        }
        if (!std::isfinite(na) || !std::isfinite(nb))
            return (double)NAN;
        return na > 0 && nb > 0 ? dot / sqrt(na * nb) : 0.0;
    };
    for (int bh = 0; bh < ref_heads && bh < HEADS; bh++)
        for (int j = 0; j < NB; j++) {
            std::vector<unsigned char> kept(V, 0);
            std::vector<int> fill(V);
            for (int r = 0; r < V; r++)
                fill[r] = j * V + r;
            if (j >= NBv)
                for (int r = 0; r < valid[j]; r++)
                    kept[r] = 1;
            else
                for (int w = win_ptr[j]; w < win_ptr[j + 1]; w++) {
                    int first = windows[4 * w], m = windows[4 * w + 1], ce = windows[4 * w + 2], keep = windows[4 * w + 3];
                    std::vector<std::pair<double, int>> cand;
                    for (int t = first; t < first + m; t++)
                        if (t != ce)
                            cand.push_back({cosine(bh, t, ce), t});
                    std::sort(cand.begin(), cand.end(), [](const std::pair<double, int> &x, const std::pair<double, int> &y) {
                        bool xn = x.first != x.first, yn = y.first != y.first;
                        if (xn != yn)
                            return xn;
                        if (!xn && x.first != y.first)
                            return x.first < y.first;
                        return x.second < y.second;
                    });
                    kept[ce - j * V] = 1;
                    for (int r = 0; r < keep - 1; r++)
                        kept[cand[r].second - j * V] = 1;
                    for (int t = first; t < first + m; t++) {
                        if (kept[t - j * V])
                            continue;
                        double best = -INFINITY;
                        int src = ce, found = 0;
                        for (int u = first; u < first + m; u++) {
                            if (!kept[u - j * V])
                                continue;
                            double c = cosine(bh, t, u);
                            if (c == c && (!found || c > best))
                                best = c, src = u, found = 1;
                        }
                        fill[t - j * V] = src;
                    }
                }
            const long long m = (long long)bh * NB + j;
            int c = 0;
            for (int r = 0; r < V; r++)
                if (kept[r]) {
                    ref_bad += okr[0][m * V + c] != r;
                    c++;
                }
            ref_bad += okc[0][m] != c;
            for (int r = 0; r < V; r++)
                ref_bad += ofl[0][(long long)bh * S + j * V + r] != fill[r];
        }
    printf("qs_bench: hunyuan-720p shape, bf16, D %d, %d heads, NB %d (NBv %d), V %d, %zu windows, mode %d, %d rounds; "
           "warp kernel vs reference (%d heads): %lld mismatches\n",
           D, HEADS, NB, NBv, V, windows.size() / 4, mode, rounds, ref_heads, ref_bad);
    const double bytes = (double)F * H * W * HEADS * D * 2; /* the video rows the first kernel reads */
    for (int v = 0; v < 5; v++) {
        long long bad = 0;
        for (long long i = 0; i < items; i++) {
            bad += okc[v][i] != okc[0][i];
            for (int r = 0; r < okc[0][i] && r < V; r++)
                bad += okr[v][i * V + r] != okr[0][i * V + r];
        }
        for (long long i = 0; i < HEADS * S; i++)
            bad += ofl[v][i] != ofl[0][i];
        long long marked = 0;
        for (long long i = 0; i < items; i++)
            marked += okc[v][i] < 0;
        std::sort(ms[v].begin(), ms[v].end());
        const float med = ms[v].empty() ? NAN : ms[v][ms[v].size() / 2];
        printf("  %-22s median %.4f ms  min %.4f  max %.4f  %.2f TB/s  mismatches vs warp %lld\n", names[v], med,
               ms[v].empty() ? NAN : ms[v][0], ms[v].empty() ? NAN : ms[v].back(), bytes / (med * 1e-3) / 1e12, bad);
    }
    return ref_bad != 0;
}
