/* Standalone check + A/B harness for the fixed work around the Hopper attention kernels:
 * the forward's device planner (vox_attn_sm90_plan against session 11's vox_attn_sm90_plan_old
 * and the host planner vox_sm90_plan_host) and the backward's prep (vox_attn_bwd_sm90_prep_* against
 * a copy of session 11's one-warp-per-row kernel, below).
 * Build: nvcc -gencode=arch=compute_90a,code=sm_90a -O3 -std=c++17 bench_sm90_fixed.cu -o bench_sm90_fixed
 * Run:   ./bench_sm90_fixed [plan|prep|all] (default all); env VOX_NO_TIME=1: checks only; VOX_QUICK=1:
 *        the first prep case only; VOX_ORDER=plain|front|edge|ragged: the new planner's mode
 *        (VOX_SM90_PLAN_M_*, as the library's VOXATTN_SM90_ORDER; unset: all three bits); VOX_ORDER=split:
 *        all three and VOX_SM90_PLAN_M_SPLIT (the library's VOXATTN_SM90_SPLIT): where it applies (V 128,
 *        maxrows 192, no kept rows) the items are checked by coverage instead of against the old/host
 *        planners: the consumers' row mapping (G | skip << 16) gives every valid row of every block of
 *        every head exactly once, no item over maxrows rows, and the edge order as above. VOX_ORDER=cols:
 *        and VOX_SM90_PLAN_M_COLS: a head whose columns are uniform (its axis read off the old planner's
 *        order) keeps the old order and its video items are the column cuts of a serial model here
 *        (every 192 rows of a column: {position, G | skip << 16}); the other heads as with split.
 * The new planner's front region (sm90_smem.h, VOX_SM90_PLAN_FRONT): each slot {0, 0} or an item of
 * its head that holds a global block, and no item after it holds one; then the checks below on the
 * items without the empty slots.
 * Plan: per config random KV lists with a preferred axis per head (pairs along it share most
 * blocks; every 4th head none), rows from block_valid (ragged edges) or kept counts (64, 32, 16,
 * random, sparse), maxrows 128 / 192; both planners on the same inputs (counter zeroed): item
 * count, order[] and the V flag words bitwise, the items sorted by m0 equal; the new planner's
 * items of a head contiguous and ascending; the host planner on the device's order gives the same
 * items. Timed (hunyuan-720p shape, BH 24, grid 9x12x20 + 4 text blocks): median of 30 launches
 * of each, interleaved, grid BH (the library's direct path: V flags in permute_v).
 * Prep: hunyuan-720p tokens [B,N,H,D], slot map of 4x4x4 blocks with ragged edges; dob, lse and
 * delta of the new kernel bitwise those of the old (bf16/f16, D 128/64, rows 8-byte aligned or
 * not); timed: median of 30 launches each, interleaved. Prints one line per check, "FAIL" on any
 * difference, and a last line "fixed: N checks failed". */
#include <cuda.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>
#include <algorithm>
#include "attention_forward_sm90.cuh"
#include "attention_backward_sm90.cuh"
#include "bench_util.cuh"

static unsigned long long rs = 88172645463325252ull;
static unsigned xr()
{
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return (unsigned)(rs >> 11);
}
static int g_fail = 0;
static bool g_no_time = false;
/* the new planner's mode (VOX_SM90_PLAN_M_*, sm90_smem.h), VOX_ORDER as the library's VOXATTN_SM90_ORDER:
 * unset all bits; plain 0; front the front region only (session 12); edge / ragged the front region and that */
static int g_mode = VOX_SM90_PLAN_M_FRONT | VOX_SM90_PLAN_M_EDGE | VOX_SM90_PLAN_M_RAGGED;

/* The new (0) and old (1) variant timed alternately, AB_ROUNDS rounds, the first AB_WARM dropped: median ms of each.
 * prep(old) runs before the start event (untimed), launch(old) between the events. */
static const int AB_ROUNDS = 33, AB_WARM = 3;
template <class Prep, class Launch> static void time_ab(Prep prep, Launch launch, float med_ms[2])
{
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    std::vector<float> t[2];
    for (int it = 0; it < AB_ROUNDS; it++)
        for (int old = 0; old < 2; old++) {
            prep(old);
            CK(cudaEventRecord(e0));
            launch(old);
            CK(cudaEventRecord(e1));
            CK(cudaEventSynchronize(e1));
            float ms;
            CK(cudaEventElapsedTime(&ms, e0, e1));
            if (it >= AB_WARM)
                t[old].push_back(ms);
        }
    for (int k = 0; k < 2; k++) {
        std::sort(t[k].begin(), t[k].end());
        med_ms[k] = t[k][t[k].size() / 2];
    }
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
}

/* ---------------------------------------------------------------- plan */
struct PCfg {
    const char *name;
    int BH, gt, gh, gw, extra; /* NB = gt*gh*gw + extra (text blocks, raster) */
    int V;
    int rowmode; /* 0 block_valid (ragged t/h edges, no kept), 1 kept V, 2 kept V/2, 3 kept V/4, 4 random
                    0..V, 5 sparse (3 in 4 blocks 0), 6 kept 1..V/4 */
    int maxrows;
    bool timeit;
    bool nogrid; /* gt = gh = gw = 0 passed (raster order, no pair tests) */
};

static void plan_case(const PCfg &c)
{
    const int BH = c.BH, NBv = c.gt * c.gh * c.gw, NB = NBv + c.extra, V = c.V, D = 128;
    const long long M = (long long)BH * NB;
    rs = 88172645463325252ull ^ (unsigned long long)(BH * 7 + NB * 131 + c.rowmode * 17 + c.maxrows);
    /* block_valid: ragged last t layer and h row (1 of 4 token layers valid) */
    std::vector<int> valid(NB, V);
    for (int j = 0; j < NBv; j++) {
        const int t = j / (c.gh * c.gw), h = (j / c.gw) % c.gh;
        int v = V;
        if (t == c.gt - 1)
            v /= 4;
        if (h == c.gh - 1)
            v /= 4;
        valid[j] = v;
    }
    std::vector<int> kept(c.rowmode ? M : 0);
    for (long long m = 0; m < (long long)kept.size(); m++) {
        const int vj = valid[m % NB];
        int r = 0;
        switch (c.rowmode) {
        case 1: r = vj; break;
        case 2: r = std::min(vj, V / 2); break;
        case 3: r = std::min(vj, V / 4); break;
        case 4: r = (int)(xr() % (vj + 1)); break;
        case 5: r = xr() % 4 ? 0 : (int)(xr() % (vj + 1)); break;
        default: r = std::min(vj, 1 + (int)(xr() % (V / 4))); break;
        }
        kept[m] = r;
    }
    /* KV lists: head bh prefers axis bh % 4 (3: none): the blocks within +-3 along it, plus 6 random */
    std::vector<int> ks(M), kn(M), cols;
    for (int bh = 0; bh < BH; bh++) {
        const int a = bh % 4;
        for (int j = 0; j < NB; j++) {
            const long long m = (long long)bh * NB + j;
            ks[m] = (int)cols.size();
            if (j < NBv && a < 3) {
                const int t = j / (c.gh * c.gw), h = (j / c.gw) % c.gh, w = j % c.gw;
                for (int d = -3; d <= 3; d++) {
                    int tt = t, hh = h, ww = w;
                    (a == 0 ? ww : a == 1 ? hh : tt) += d;
                    if (tt >= 0 && tt < c.gt && hh >= 0 && hh < c.gh && ww >= 0 && ww < c.gw)
                        cols.push_back((tt * c.gh + hh) * c.gw + ww);
                }
            }
            for (int r = 0; r < 6; r++)
                cols.push_back((int)(xr() % NB));
            kn[m] = (int)cols.size() - ks[m];
        }
    }
    const long long nw = (NB + 31) / 32, S = (long long)NB * V;
    int *d_ks, *d_kn, *d_kc, *d_valid, *d_kept = nullptr, *d_items, *d_cnt, *d_order;
    unsigned *d_vbad;
    unsigned short *d_v;
    CK(cudaMalloc(&d_ks, M * 4));
    CK(cudaMalloc(&d_kn, M * 4));
    CK(cudaMalloc(&d_kc, cols.size() * 4));
    CK(cudaMalloc(&d_valid, NB * 4));
    CK(cudaMalloc(&d_items, M * 8));
    CK(cudaMalloc(&d_cnt, 4));
    CK(cudaMalloc(&d_order, M * 4));
    CK(cudaMalloc(&d_vbad, BH * nw * 4));
    CK(cudaMalloc(&d_v, BH * S * D * 2));
    CK(cudaMemset(d_v, 0, BH * S * D * 2));
    {   /* a few Inf/NaN in V (the flags) */
        for (int e = 0; e < 20; e++) {
            const long long at = ((long long)(xr() % BH) * S + (long long)(xr() % S)) * D + xr() % D;
            const unsigned short val = e % 2 ? 0x7f80 : 0x7fc0;
            CK(cudaMemcpy(d_v + at, &val, 2, cudaMemcpyHostToDevice));
        }
    }
    CK(cudaMemcpy(d_ks, ks.data(), M * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_kn, kn.data(), M * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_kc, cols.data(), cols.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_valid, valid.data(), NB * 4, cudaMemcpyHostToDevice));
    if (c.rowmode) {
        CK(cudaMalloc(&d_kept, M * 4));
        CK(cudaMemcpy(d_kept, kept.data(), M * 4, cudaMemcpyHostToDevice));
    }
    const size_t smem_new = VOX_SM90_PLAN_SMEM(NB), smem_old = VOX_SM90_PLAN_OLD_SMEM(NB);
    CK(cudaFuncSetAttribute(vox_attn_sm90_plan, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem_new));
    CK(cudaFuncSetAttribute(vox_attn_sm90_plan_old, cudaFuncAttributeMaxDynamicSharedMemorySize,
                            (int)std::max<size_t>(smem_old, 1)));
    const int gt = c.nogrid ? 0 : c.gt, gh = c.nogrid ? 0 : c.gh, gw = c.nogrid ? 0 : c.gw;
    auto launch = [&](bool old, long long grid) {
        if (old)
            vox_attn_sm90_plan_old<<<grid, VOX_SM90_PLAN_THREADS, smem_old>>>(
                d_kept, d_valid, d_ks, d_kn, d_kc, NB, d_items, d_cnt, c.maxrows, d_order, gt, gh, gw, BH,
                (const uint4 *)d_v, V, D, 1, d_vbad, nullptr, nullptr);
        else
            vox_attn_sm90_plan<<<grid, VOX_SM90_PLAN_WARPS * 32, smem_new>>>(
                d_kept, d_valid, d_ks, d_kn, d_kc, NB, d_items, d_cnt, c.maxrows, d_order, gt, gh, gw, BH,
                (const uint4 *)d_v, V, D, 1, d_vbad, nullptr, nullptr, g_mode);
    };
    struct Res {
        int n;
        std::vector<int> items, order;
        std::vector<unsigned> vbad;
    } r[2];
    /* the new planner's front region (the items holding a global block, VOX_SM90_PLAN_FRONT) */
    const int front = (g_mode & VOX_SM90_PLAN_M_FRONT) ? (int)VOX_SM90_PLAN_FRONT(BH, NB, gt, gh, gw) : 0;
    /* the edge order (partial video blocks first) where the planner takes it; ragged items first */
    const bool grid_ok = VOX_SM90_PLAN_GRID_OK(NB, gt, gh, gw);
    const bool split = (g_mode & VOX_SM90_PLAN_M_SPLIT) && grid_ok && VOX_SM90_PLAN_SPLIT_OK(V, c.maxrows, c.rowmode != 0);
    const bool edge =
        split || ((g_mode & VOX_SM90_PLAN_M_EDGE) && grid_ok && VOX_SM90_PLAN_EDGE_OK(V, c.maxrows, c.rowmode != 0));
    const bool ragged = (g_mode & VOX_SM90_PLAN_M_RAGGED) != 0;
    const int nbv = front ? gt * gh * gw : (int)NB;
    for (int old = 0; old < 2; old++) {
        CK(cudaMemset(d_cnt, 0, 4));
        CK(cudaMemset(d_items, 0xff, M * 8));
        CK(cudaMemset(d_order, 0xff, M * 4));
        CK(cudaMemset(d_vbad, 0xff, BH * nw * 4));
        launch(old, BH + BH * nw);
        CK(cudaGetLastError());
        bench_sync("plan", c.name);
        CK(cudaMemcpy(&r[old].n, d_cnt, 4, cudaMemcpyDeviceToHost));
        if (!old)
            r[old].n += front;
        r[old].items.resize((size_t)r[old].n * 2);
        r[old].order.resize(M);
        r[old].vbad.resize(BH * nw);
        CK(cudaMemcpy(r[old].items.data(), d_items, (size_t)r[old].n * 8, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(r[old].order.data(), d_order, M * 4, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(r[old].vbad.data(), d_vbad, BH * nw * 4, cudaMemcpyDeviceToHost));
    }
    int bad = 0;
    /* the new planner's front region: each head's items that hold a global block (position >= nbv),
     * then {0, 0}; after it none does */
    int nfront = 0;
    for (int e = 0; e < r[0].n; e++) {
        const int m0 = r[0].items[2 * e], G = VOX_SM90_ITEM_G(r[0].items[2 * e + 1]), x = (int)(m0 % NB);
        const bool glob = G > 0 && x + G > nbv;
        if (e < front && (G > 0 ? !glob || m0 / NB != e / (front / BH) : m0 != 0 || G != 0))
            printf("    front slot %d holds {%d, %d} (not {0, 0}, no global block, or another head's)\n", e, m0, G),
                bad++;
        if (e >= front && (G <= 0 || glob))
            printf("    item %d {%d, %d} after the front region: %s\n", e, m0, G, G <= 0 ? "empty" : "holds a global block"), bad++;
        nfront += e < front && G > 0;
        if (bad > 8)
            break;
    }
    {
        std::vector<std::pair<int, int>> nz;
        for (int e = 0; e < r[0].n; e++)
            if (r[0].items[2 * e + 1] > 0)
                nz.push_back({r[0].items[2 * e], r[0].items[2 * e + 1]});
        r[0].n = (int)nz.size();
        for (int e = 0; e < r[0].n; e++)
            r[0].items[2 * e] = nz[e].first, r[0].items[2 * e + 1] = nz[e].second;
    }
    /* edge: the old planner's order with each head's partial video blocks moved first (stable); the
     * items then differ from the old planner's (checked against the host planner below) */
    /* cols: per head, the axis of the old planner's order and whether its columns are uniform
     * (VOX_SM90_PLAN_M_COLS, sm90_smem.h); such a head keeps the old order */
    std::vector<int> hcols(BH, 0), hext(BH, 0);
    int ncolheads = 0;
    if (split && (g_mode & VOX_SM90_PLAN_M_COLS)) {
        const int nbvg = gt * gh * gw;
        for (int bh = 0; bh < BH; bh++) {
            for (int a = 0; a < 3 && !hext[bh]; a++) {
                bool same = true;
                for (int x = 0; x < nbvg && same; x++) {
                    int b = x;
                    if (a == 1)
                        b = ((x / gh / gw) * gh + x % gh) * gw + (x / gh) % gw;
                    else if (a == 2)
                        b = ((x % gt) * gh + x / gt / gw) * gw + (x / gt) % gw;
                    same = r[1].order[(long long)bh * NB + x] == b;
                }
                if (same)
                    hext[bh] = a == 0 ? gw : a == 1 ? gh : gt;
            }
            bool ok = hext[bh] > 0;
            for (int x = 0; x < nbvg && ok; x++) {
                const int j = x % hext[bh];
                const int rx = valid[r[1].order[(long long)bh * NB + x]], rc = valid[r[1].order[(long long)bh * NB + x - j]];
                ok = j == hext[bh] - 1 ? (j > 0 || rx > 0) : (rx == rc && rc >= VOX_SM90_PLAN_COLS_MINROWS);
            }
            hcols[bh] = ok;
            ncolheads += ok;
        }
    }
    if (edge) {
        const int nbvg = gt * gh * gw;
        std::vector<int> eo(M);
        for (int bh = 0; bh < BH; bh++) {
            int k = 0;
            if (hcols[bh]) { /* column cuts: the old order */
                for (int x = 0; x < NB; x++)
                    eo[(long long)bh * NB + x] = r[1].order[(long long)bh * NB + x];
                continue;
            }
            for (int pass = 0; pass < 2; pass++)
                for (int x = 0; x < nbvg; x++) {
                    const int b = r[1].order[(long long)bh * NB + x];
                    if ((valid[b] < V) == (pass == 0))
                        eo[(long long)bh * NB + k++] = b;
                }
            for (int x = nbvg; x < NB; x++)
                eo[(long long)bh * NB + x] = r[1].order[(long long)bh * NB + x];
        }
        if (r[0].order != eo)
            printf("    order differs from the old planner's with the partial blocks first\n"), bad++;
    } else {
        if (r[0].n != r[1].n)
            printf("    item count new %d old %d\n", r[0].n, r[1].n), bad++;
        if (r[0].order != r[1].order)
            printf("    order differs\n"), bad++;
    }
    if (r[0].vbad != r[1].vbad)
        printf("    V flag words differ\n"), bad++;
    /* the new planner: each head's items contiguous, ascending (the front region's and the others,
     * each apart: nfront items first) */
    /* ragged: a head's counted items holding a partial block (valid < V) first, each class ascending */
    auto part_item = [&](int e) {
        const int m0 = r[0].items[2 * e], G = VOX_SM90_ITEM_G(r[0].items[2 * e + 1]);
        const long long bh = m0 / NB;
        bool p = false;
        for (int g = 0; g < G; g++)
            p |= valid[r[0].order[bh * NB + m0 % NB + g]] < V;
        return ragged && p;
    };
    int nragged = 0;
    for (int e = 1; e < r[0].n; e++) {
        const int a = r[0].items[2 * (e - 1)], b = r[0].items[2 * e];
        const bool pa = e - 1 >= nfront && part_item(e - 1), pb = e >= nfront && part_item(e);
        nragged += pb;
        if (e != nfront && a / NB == b / NB && (pa == pb ? b <= a : pb)) {
            printf("    new planner: items %d, %d of a head not in order (ragged first, each class ascending)\n",
                   e - 1, e), bad++;
            break;
        }
    }
    std::vector<std::pair<int, int>> s[2];
    for (int k = 0; k < 2; k++) {
        for (int e = 0; e < r[k].n; e++)
            s[k].push_back({r[k].items[2 * e], r[k].items[2 * e + 1]});
        std::sort(s[k].begin(), s[k].end());
    }
    if (!edge && s[0] != s[1])
        printf("    items (sorted) differ\n"), bad++;
    /* split: the consumers' row mapping (attn_fwd: pre[] with block 0's rows less skip, rows past
     * maxrows not assigned) covers every valid row of every block exactly once */
    if (split) {
        std::vector<unsigned char> seen((size_t)M * V, 0);
        int over = 0, dup = 0, miss = 0, nsplit = 0;
        for (int e = 0; e < r[0].n; e++) {
            const int m0 = r[0].items[2 * e], G = VOX_SM90_ITEM_G(r[0].items[2 * e + 1]);
            const int skip = VOX_SM90_ITEM_SKIP(r[0].items[2 * e + 1]);
            const long long bh = m0 / NB;
            nsplit += skip > 0;
            int pre[VOX_SM90_GMAX + 1];
            pre[0] = 0;
            for (int g = 0; g < VOX_SM90_GMAX; g++) {
                int rr = 0;
                if (g < G) {
                    rr = valid[r[0].order[bh * NB + m0 % NB + g]] - (g == 0 ? skip : 0);
                    rr = rr < 0 ? 0 : rr;
                }
                pre[g + 1] = pre[g] + rr;
            }
            over += G > VOX_SM90_GMAX || (pre[G] > c.maxrows && (G < 2 || pre[G - 1] >= c.maxrows));
            for (int R = 0; R < c.maxrows; R++)
                for (int g = 0; g < G && g < VOX_SM90_GMAX; g++)
                    if (R >= pre[g] && R < pre[g + 1]) {
                        const int blk = r[0].order[bh * NB + m0 % NB + g], loc = R - pre[g] + (g == 0 ? skip : 0);
                        unsigned char &sv = seen[((size_t)bh * NB + blk) * V + loc];
                        dup += sv != 0;
                        sv = 1;
                    }
        }
        for (long long m = 0; m < M; m++)
            for (int l = 0; l < valid[m % NB]; l++)
                miss += !seen[(size_t)m * V + l];
        if (over || dup || miss || !nsplit)
            printf("    split items: %d over maxrows/GMAX, %d rows twice, %d rows missing, %d split items\n", over, dup,
                   miss, nsplit), bad++;
        /* cols: a uniform head's video items are its columns' cuts (a serial model: each column's rows
         * in order, an item per maxrows rows, from the block holding the cut) */
        int ncut = 0, cutbad = 0;
        const int nbvg = gt * gh * gw;
        for (int bh = 0; bh < BH; bh++) {
            if (!hcols[bh])
                continue;
            std::vector<std::pair<int, int>> want, got;
            const int ext = hext[bh];
            for (int c0 = 0; c0 < nbvg; c0 += ext) {
                int tot = 0, open = -1, skip = 0;
                for (int x = c0; x < c0 + ext; x++) {
                    const int rr = valid[r[0].order[(long long)bh * NB + x]];
                    for (int l = 0; l < rr; l++, tot++)
                        if (tot % c.maxrows == 0) { /* a cut at row l of block x: the item before ends at its row l - 1 */
                            if (open >= 0)
                                want.push_back({(int)(bh * NB) + open, (x - open + (l > 0)) | skip << 16});
                            open = x, skip = l;
                        }
                }
                if (open >= 0) /* to the column's end */
                    want.push_back({(int)(bh * NB) + open, (c0 + ext - open) | skip << 16});
            }
            for (int e = 0; e < r[0].n; e++) {
                const int m0 = r[0].items[2 * e];
                if (m0 / NB == bh && m0 % NB < nbvg)
                    got.push_back({m0, r[0].items[2 * e + 1]});
            }
            std::sort(want.begin(), want.end());
            std::sort(got.begin(), got.end());
            ncut += (int)want.size();
            if (want != got && cutbad++ < 3)
                printf("    cols: head %d: %zu video items, the column cuts %zu (or they differ)\n", bh, got.size(),
                       want.size());
        }
        if (cutbad)
            bad++;
        if (g_mode & VOX_SM90_PLAN_M_COLS)
            printf("    cols: %d of %d heads uniform, %d column-cut items\n", ncolheads, BH, ncut);
    }
    /* host planner on the device's order */
    std::vector<int> rows(M);
    for (long long m = 0; m < M; m++) {
        const long long bh = m / NB, blk = r[0].order[m];
        const int rr = c.rowmode ? kept[bh * NB + blk] : valid[blk];
        rows[m] = rr < 0 ? 0 : rr;
    }
    std::vector<int> hitems(M * 2);
    const int hn = vox_sm90_plan_host(rows.data(), BH, NB, hitems.data(), c.maxrows);
    std::vector<std::pair<int, int>> hs;
    for (int e = 0; e < hn; e++)
        hs.push_back({hitems[2 * e], hitems[2 * e + 1]});
    if (!split && hs != s[0])
        printf("    host planner differs (%d items, device %d)\n", hn, r[0].n), bad++;
    int axes[3] = {0, 0, 0};
    for (int bh = 0; bh < BH && NB > 1; bh++) {
        const int o1 = r[0].order[(long long)bh * NB + 1];
        axes[o1 == 1 ? 0 : o1 == c.gw ? 1 : 2]++;
    }
    printf("  plan %-34s NB %5d items %6d (old %6d, ragged %5d%s) axes w/h/t %d/%d/%d: %s\n", c.name, NB, r[0].n,
           r[1].n, nragged, split ? ", split items" : edge ? ", edge order" : "", axes[0], axes[1], axes[2],
           bad ? "FAIL" : "ok");
    g_fail += bad != 0;
    if (c.timeit && !g_no_time) {
        float m[2];
        time_ab([&](int) { CK(cudaMemsetAsync(d_cnt, 0, 4)); }, [&](int old) { launch(old, BH); }, m);
        printf("    TIME plan %-28s new %8.1f us  old %8.1f us  (medians of %d, grid BH = %d)\n", c.name,
               m[0] * 1000.f, m[1] * 1000.f, AB_ROUNDS - AB_WARM, BH);
    }
    cudaFree(d_ks), cudaFree(d_kn), cudaFree(d_kc), cudaFree(d_valid), cudaFree(d_items), cudaFree(d_cnt),
        cudaFree(d_order), cudaFree(d_vbad), cudaFree(d_v);
    if (d_kept)
        cudaFree(d_kept);
}

/* ---------------------------------------------------------------- prep */
/* Session 11's prep (one warp per slot, 16-bit loads), the A/B baseline. */
template <bool BF>
__global__ void prep_old(const unsigned short *dout, long long d_sb, long long d_sh, long long d_st,
                         const unsigned short *o, long long o_sb, long long o_sh, long long o_st, const float *lse,
                         long long l_sb, long long l_sh, long long l_st, const int *tok, const int *valid, int heads,
                         long long BH, long long NB, int V, int D, unsigned short *dob, float *lseb)
{
    const long long S = NB * V, n = BH * S;
    const int lane = threadIdx.x & 31;
    const long long warps = (long long)gridDim.x * (blockDim.x >> 5);
    for (long long x = blockIdx.x * (long long)(blockDim.x >> 5) + (threadIdx.x >> 5); x < n; x += warps) {
        const long long bh = x / S, slot = x - bh * S, i = slot / V;
        const int r = (int)(slot - i * V), t = tok[slot];
        unsigned short *drow = dob + x * D;
        if (r >= valid[i] || t < 0) {
            for (int e = lane; e < D; e += 32)
                drow[e] = 0;
            if (lane == 0)
                lseb[x] = 0.f, lseb[n + x] = 0.f;
            continue;
        }
        const long long b = bh / heads, h = bh - b * heads;
        const unsigned short *grow = dout + b * d_sb + h * d_sh + (long long)t * d_st;
        const unsigned short *orow = o + b * o_sb + h * o_sh + (long long)t * o_st;
        unsigned short g[4], ov[4];
#pragma unroll
        for (int c = 0; c < 4; c++)
            if (lane + 32 * c < D)
                g[c] = grow[lane + 32 * c], ov[c] = orow[lane + 32 * c];
        float dl = 0.f;
#pragma unroll
        for (int c = 0; c < 4; c++)
            if (lane + 32 * c < D) {
                drow[lane + 32 * c] = g[c];
                dl = fmaf(bwd_h2f<BF>(g[c]), bwd_h2f<BF>(ov[c]), dl);
            }
        for (int m = 16; m > 0; m >>= 1)
            dl += __shfl_xor_sync(0xffffffffu, dl, m);
        if (lane == 0)
            lseb[x] = lse[b * l_sb + h * l_sh + (long long)t * l_st], lseb[n + x] = dl;
    }
}

__global__ void fill16(unsigned short *p, long long n, unsigned seed, bool bf)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const unsigned h = hash32(i + ((unsigned long long)seed << 40));
        p[i] = f2h(((float)(h & 0xffffff) / 16777216.f - 0.5f) * 4.f, bf);
    }
}

static void prep_case(const char *name, bool bf, int D, bool misalign, bool timeit)
{
    /* hunyuan-720p: 33x45x80 video tokens + 256 text, 24 heads, blocks 4x4x4 */
    const int T = 33, Hh = 45, W = 80, TXT = 256, heads = 24, V = 64;
    const int gt = (T + 3) / 4, gh = (Hh + 3) / 4, gw = (W + 3) / 4, NBv = gt * gh * gw, NB = NBv + TXT / V;
    const long long N = (long long)T * Hh * W + TXT, S = (long long)NB * V, BH = heads, n = BH * S;
    std::vector<int> tok(S, -1), valid(NB, 0);
    for (int j = 0; j < NBv; j++) {
        const int t = j / (gh * gw), h = (j / gw) % gh, w = j % gw;
        int r = 0;
        for (int e = 0; e < V; e++) { /* valid tokens first in the block (as core/layout.c packs them) */
            const int dt = e / 16, dh = (e / 4) % 4, dw = e % 4, tt = t * 4 + dt, hh = h * 4 + dh, ww = w * 4 + dw;
            if (tt < T && hh < Hh && ww < W)
                tok[(long long)j * V + r++] = (tt * Hh + hh) * W + ww;
        }
        valid[j] = r;
    }
    for (int j = NBv; j < NB; j++) {
        valid[j] = V;
        for (int e = 0; e < V; e++)
            tok[(long long)j * V + e] = (int)((long long)T * Hh * W + (j - NBv) * V + e);
    }
    /* [B,N,H,D] dout and o, lse [B,H,N] */
    const long long nel = N * heads * D + 8;
    unsigned short *dout, *o, *dob[2];
    float *lse, *lseb[2];
    int *d_tok, *d_valid;
    CK(cudaMalloc(&dout, nel * 2));
    CK(cudaMalloc(&o, nel * 2));
    CK(cudaMalloc(&lse, N * heads * 4));
    for (int k = 0; k < 2; k++) {
        CK(cudaMalloc(&dob[k], n * D * 2));
        CK(cudaMalloc(&lseb[k], n * 2 * 4));
    }
    CK(cudaMalloc(&d_tok, S * 4));
    CK(cudaMalloc(&d_valid, NB * 4));
    fill16<<<1024, 256>>>(dout, nel, 11, bf);
    fill16<<<1024, 256>>>(o, nel, 12, bf);
    fill16<<<1024, 256>>>((unsigned short *)lse, N * heads * 2, 13, true); /* any finite-ish bits */
    CK(cudaMemcpy(d_tok, tok.data(), S * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_valid, valid.data(), NB * 4, cudaMemcpyHostToDevice));
    const unsigned short *g0 = dout + (misalign ? 1 : 0), *o0 = o + (misalign ? 3 : 0);
    const long long st = heads * D, sh = D, sb = N * heads * D, lsh = N, lst = 1, lsb = heads * N;
    int sms = 0;
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    const long long grid_old = std::min<long long>((n + 7) / 8, (long long)sms * 8);
    const long long grid_new = std::min<long long>((n + 63) / 64, (long long)sms * 8);
    auto launch = [&](int old) {
        unsigned short *db = dob[old];
        float *lb = lseb[old];
        if (old)
            (bf ? prep_old<true> : prep_old<false>)<<<grid_old, 256>>>(g0, sb, sh, st, o0, sb, sh, st, lse, lsb, lsh,
                                                                     lst, d_tok, d_valid, heads, BH, NB, V, D, db, lb);
        else
            (bf ? vox_attn_bwd_sm90_prep_bf16 : vox_attn_bwd_sm90_prep_f16)<<<grid_new, 256>>>(
                g0, sb, sh, st, o0, sb, sh, st, lse, lsb, lsh, lst, d_tok, d_valid, heads, BH, NB, V, D, db, lb);
    };
    for (int k = 0; k < 2; k++) {
        CK(cudaMemset(dob[k], 0xff, n * D * 2));
        CK(cudaMemset(lseb[k], 0xff, n * 2 * 4));
        launch(k);
        CK(cudaGetLastError());
        bench_sync("prep", name);
    }
    std::vector<unsigned short> h0(n * D), h1(n * D);
    std::vector<unsigned> l0(n * 2), l1(n * 2);
    CK(cudaMemcpy(h0.data(), dob[0], n * D * 2, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(h1.data(), dob[1], n * D * 2, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(l0.data(), lseb[0], n * 8, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(l1.data(), lseb[1], n * 8, cudaMemcpyDeviceToHost));
    long long dd = 0, dlse = 0, ddelta = 0, nz = 0;
    for (long long e = 0; e < n * D; e++)
        dd += h0[e] != h1[e];
    for (long long e = 0; e < n; e++)
        dlse += l0[e] != l1[e], ddelta += l0[n + e] != l1[n + e], nz += l1[n + e] != 0;
    const bool bad = dd || dlse || ddelta || nz < n / 2;
    printf("  prep %-36s rows %lld: dob diff %lld, lse diff %lld, delta diff %lld (nonzero %lld): %s\n", name, n, dd,
           dlse, ddelta, nz, bad ? "FAIL" : "ok");
    g_fail += bad;
    if (timeit && !g_no_time) {
        float m[2];
        time_ab([](int) {}, [&](int old) { launch(old); }, m);
        const double bytes = (double)n * D * 2 * 2 + (double)N * heads * D * 2 + n * 8.0; /* dout + dob + o + lse */
        const float mn = m[0], mo = m[1];
        printf("    TIME prep %-27s new %7.3f ms (%.2f TB/s)  old %7.3f ms (%.2f TB/s)\n", name, mn,
               bytes / (mn * 1e-3) / 1e12, mo, bytes / (mo * 1e-3) / 1e12);
    }
    cudaFree(dout), cudaFree(o), cudaFree(lse), cudaFree(dob[0]), cudaFree(dob[1]), cudaFree(lseb[0]),
        cudaFree(lseb[1]), cudaFree(d_tok), cudaFree(d_valid);
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "all";
    const bool plan = !strcmp(what, "all") || !strcmp(what, "plan"), prep = !strcmp(what, "all") || !strcmp(what, "prep");
    g_no_time = getenv("VOX_NO_TIME") && atoi(getenv("VOX_NO_TIME"));
    if (const char *o = getenv("VOX_ORDER"))
        g_mode = !strcmp(o, "plain")    ? 0
                 : !strcmp(o, "front")  ? VOX_SM90_PLAN_M_FRONT
                 : !strcmp(o, "edge")   ? VOX_SM90_PLAN_M_FRONT | VOX_SM90_PLAN_M_EDGE
                 : !strcmp(o, "ragged") ? VOX_SM90_PLAN_M_FRONT | VOX_SM90_PLAN_M_RAGGED
                 : !strcmp(o, "split")  ? g_mode | VOX_SM90_PLAN_M_SPLIT
                 : !strcmp(o, "cols")   ? g_mode | VOX_SM90_PLAN_M_SPLIT | VOX_SM90_PLAN_M_COLS
                                        : g_mode;
    printf("planner mode %d (VOX_ORDER)\n", g_mode);
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    printf("device: %s, %d SMs\n", prop.name, prop.multiProcessorCount);
    if (plan) {
        const PCfg cfgs[] = {
            /* timed first: hunyuan-720p (9x12x20 blocks + 4 text), keep 1 / 0.25 with the 3-wg kernel's 192 */
            {"hunyuan keep1 valid 192", 24, 9, 12, 20, 4, 64, 0, 192, true, false},
            {"hunyuan keep.25 192", 24, 9, 12, 20, 4, 64, 3, 192, true, false},
            {"hunyuan keep.5 192", 24, 9, 12, 20, 4, 64, 2, 192, false, false},
            {"hunyuan random 128", 24, 9, 12, 20, 4, 64, 4, 128, false, false},
            {"hunyuan sparse 192", 24, 9, 12, 20, 4, 64, 5, 192, false, false},
            {"hunyuan small 192", 24, 9, 12, 20, 4, 64, 6, 192, false, false},
            {"hunyuan kept64 128", 24, 9, 12, 20, 4, 64, 1, 128, false, false},
            {"wan 5x8x13+1 v64 keep.5 192", 12, 5, 8, 13, 1, 64, 2, 192, false, false},
            {"v128 7x6x10 keep.25 128", 8, 7, 6, 10, 2, 128, 3, 128, false, false},
            {"v128 7x6x10 random 192", 8, 7, 6, 10, 0, 128, 4, 192, false, false},
            /* hunyuan-720p at blocks 4,4,8 (9x12x10 + 2 text blocks): the edge order */
            {"hunyuan 4,4,8 valid 128", 24, 9, 12, 10, 2, 128, 0, 128, false, false},
            {"v128 7x6x10 valid 192", 8, 7, 6, 10, 2, 128, 0, 192, false, false},
            {"hunyuan 4,4,8 valid 192", 24, 9, 12, 10, 2, 128, 0, 192, false, false},
            {"v128 8x8x9 valid 192", 5, 8, 8, 9, 1, 128, 0, 192, false, false},
            {"v128 raster valid 128", 4, 7, 6, 10, 2, 128, 0, 128, false, true},
            {"tiny 1x1x3 random 192", 3, 1, 1, 3, 1, 64, 4, 192, false, false},
            {"one block 192", 2, 1, 1, 1, 0, 64, 4, 192, false, false},
            {"flat 1x1x40 small 192", 4, 1, 1, 40, 0, 64, 6, 192, false, false},
            {"raster (no grid) random 192", 6, 9, 12, 20, 4, 64, 4, 192, false, true},
            {"big NB 10x40x30 random 192", 4, 10, 40, 30, 0, 64, 4, 192, false, false},
        };
        for (const PCfg &c : cfgs)
            plan_case(c);
    }
    if (prep) {
        prep_case("bf16 d128", true, 128, false, true);
        if (getenv("VOX_QUICK")) { /* the first case only (break checks) */
            printf("fixed: %d checks failed\n", g_fail);
            return g_fail ? 1 : 0;
        }
        prep_case("f16 d128", false, 128, false, false);
        prep_case("bf16 d64", true, 64, false, false);
        prep_case("bf16 d128 rows not 8-byte aligned", true, 128, true, false);
        prep_case("f16 d64 rows not 8-byte aligned", false, 64, true, false);
    }
    printf("fixed: %d checks failed\n", g_fail);
    return g_fail ? 1 : 0;
}
