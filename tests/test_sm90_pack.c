/* The sm_90a forward's packing rule (VOX_SM90_PACK_CLOSE / _FIRST in
 * backends/cuda/sm90/sm90_smem.h, used by the device planner vox_attn_sm90_plan
 * and the host planner vox_sm90_plan_host) and the consumer's use of it, on the
 * host: items are packed from random processed-row counts by the host planner,
 * then for every consumer warpgroup (64-row window) the 16-bit chunk masks of
 * random stages are turned into 8-bit masks relative to the warpgroup's first
 * block as `stage_mask` in attention_forward_sm90.cuh does (two shifts, two ands,
 * byte_perm 0x6420, emulated here), and every row's membership bit and the
 * warpgroup's "some block lists a chunk" test are compared with the 16-bit
 * masks. Checks: G <= VOX_SM90_GMAX, rows <= maxrows, each window's blocks within
 * VOX_SM90_WGMAX positions, every bit equal. And the device planner's decomposition: the chain
 * 0, next(0), next(next(0)), ... of vox_sm90_plan_next (which the device planner computes for
 * every position and follows by pointer jumping) gives the host planner's items exactly. Plain C,
 * no device. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../backends/cuda/sm90/sm90_smem.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

/* __byte_perm(x, y, sel) of CUDA: byte n of the result is byte sel[n] of y:x */
static unsigned byte_perm(unsigned x, unsigned y, unsigned sel)
{
    uint64_t v = ((uint64_t)y << 32) | x;
    unsigned r = 0;
    for (int n = 0; n < 4; n++)
        r |= (unsigned)((v >> (8 * ((sel >> (4 * n)) & 7))) & 0xffu) << (8 * n);
    return r;
}

/* Checks one item: blocks rows[0..G-1], nwg consumer warpgroups. Returns violations. */
static long check_item(const int *rows, int G, int nwg, int maxrows)
{
    long bad = 0;
    int pre[VOX_SM90_GMAX + 1];
    if (G < 1 || G > VOX_SM90_GMAX)
        return 1;
    pre[0] = 0;
    for (int k = 0; k < G; k++)
        pre[k + 1] = pre[k] + rows[k];
    if (pre[G] > maxrows && G > 1)
        bad++;
    for (int cw = 0; cw < nwg; cw++) {
        unsigned wmask = 0u;
        for (int k = 0; k < G; k++)
            if (pre[k + 1] > pre[k] && pre[k] < 64 * cw + 64 && pre[k + 1] > 64 * cw)
                wmask |= 1u << k;
        const int glo = wmask ? __builtin_ctz(wmask) : 0;
        const unsigned wl = wmask >> glo;
        if (wl >> VOX_SM90_WGMAX) {
            bad++;
            continue;
        }
        for (int t = 0; t < 16; t++) {
            unsigned m16[4];
            for (int c = 0; c < 4; c++)
                m16[c] = (unsigned)(next() & ((1u << G) - 1u));
            const unsigned a = m16[0] | m16[1] << 16, b = m16[2] | m16[3] << 16;
            const unsigned m4 = byte_perm((a >> glo) & 0x00ff00ffu, (b >> glo) & 0x00ff00ffu, 0x6420);
            for (int R = 64 * cw; R < 64 * cw + 64 && R < pre[G]; R++) {
                int g = 0;
                while (!(R >= pre[g] && R < pre[g + 1]))
                    g++;
                const int src = g - glo;
                if (src < 0 || src >= VOX_SM90_WGMAX) {
                    bad++;
                    break;
                }
                for (int c = 0; c < 4; c++)
                    bad += ((m4 >> (8 * c + src)) & 1u) != ((m16[c] >> g) & 1u);
            }
            const unsigned any = (m4 | m4 >> 8 | m4 >> 16 | m4 >> 24) & 0xffu;
            bad += ((any & wl) != 0u) != (((m16[0] | m16[1] | m16[2] | m16[3]) & wmask) != 0u);
        }
    }
    return bad;
}

int main(void)
{
    enum { NB = 3000 };
    static int rows[NB];
    long bad = 0, items = 0, chain_bad = 0;
    int maxg = 0;
    for (int trial = 0; trial < 60; trial++) {
        const int nwg = 2 + trial % 2, maxrows = 64 * nwg, mode = trial % 6;
        for (int i = 0; i < NB; i++) /* row counts: few, any, keep 0.25 / 0.5 of 64, sparse, 64 */
            rows[i] = mode == 0   ? (int)(next() % 9)
                      : mode == 1 ? (int)(next() % 65)
                      : mode == 2 ? 16
                      : mode == 3 ? 32
                      : mode == 4 ? (next() % 3 ? (int)(next() % 5) : 0)
                                  : 64;
        static int it[2 * NB];
        const int n = vox_sm90_plan_host(rows, 1, NB, it, maxrows);
        /* the chain of next item starts (the device planner's) = the host planner's items */
        static unsigned short r16[NB];
        for (int i = 0; i < NB; i++)
            r16[i] = (unsigned short)rows[i];
        int e = 0, differs = 0;
        for (int x = 0; x < NB && !differs; e++) {
            const int y = vox_sm90_plan_next(r16, x, NB, maxrows);
            differs = e >= n || it[2 * e] != x || it[2 * e + 1] != y - x || y - x > VOX_SM90_GMAX;
            x = y;
        }
        chain_bad += differs || e != n;
        for (int i = 0; i < n; i++) {
            bad += check_item(rows + it[2 * i], it[2 * i + 1], nwg, maxrows), items++;
            maxg = it[2 * i + 1] > maxg ? it[2 * i + 1] : maxg;
        }
    }
    printf("test_sm90_pack: %ld items, largest %d blocks, %ld violations, %ld trials whose chain of next "
           "item starts differs from the host planner\n",
           items, maxg, bad, chain_bad);
    /* the packing must use more than 8 blocks somewhere (else the 16-bit masks go untested) */
    return bad == 0 && chain_bad == 0 && maxg > 8 ? 0 : 1;
}
