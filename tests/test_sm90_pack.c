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
#include <string.h>

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

/* The device planner's front region (VOX_SM90_PLAN_FRONT / _SLOT, sm90_smem.h): heads of random
 * rows (the last ngf positions global, as the grid order puts them) packed by the host planner,
 * the heads' counter reservations in a random order, every item placed by VOX_SM90_PLAN_SLOT with
 * first_long found as vox_attn_sm90_plan does (the item holding position NBv). The slots must be
 * distinct, fill [0, front + count) with the unused front slots (the planner's {0, 0}), stay within
 * BH * NB, and an item must sit in the front region exactly when it holds a global block, in its
 * own head's slots. Returns the violations. */
static long check_front(void)
{
    enum { NBMAX = 700, BHMAX = 8 };
    static int rows[BHMAX * NBMAX], it[2 * BHMAX * NBMAX], owner[BHMAX * NBMAX];
    long bad = 0, placed = 0;
    for (int trial = 0; trial < 400; trial++) {
        const int BH = 1 + (int)(next() % BHMAX), nbv = 1 + (int)(next() % 600), ngf = (int)(next() % 9);
        const int NB = nbv + ngf, maxrows = 64 * (2 + trial % 2);
        for (int i = 0; i < BH * NB; i++) {
            const int k = (int)(next() % 6);
            rows[i] = k == 0 ? 0 : k == 1 ? 1 + (int)(next() % 64) : k == 2 ? 16 : k == 3 ? 32 : 64;
        }
        const int n = vox_sm90_plan_host(rows, BH, NB, it, maxrows);
        const int64_t front = (int64_t)BH * ngf;
        for (int64_t s = 0; s < (int64_t)BH * NB; s++)
            owner[s] = -1;
        int order[BHMAX], counter = 0;
        for (int h = 0; h < BH; h++)
            order[h] = h;
        for (int h = BH - 1; h > 0; h--) { /* the atomicAdd order */
            const int j = (int)(next() % (uint64_t)(h + 1)), t = order[h];
            order[h] = order[j], order[j] = t;
        }
        for (int k = 0; k < BH; k++) {
            const int bh = order[k];
            int e0 = -1, nh = 0;
            for (int e = 0; e < n; e++)
                if (it[2 * e] / NB == bh)
                    e0 = e0 < 0 ? e : e0, nh++;
            int first_long = nh;
            for (int h = 0; h < nh && ngf > 0; h++) {
                const int x = it[2 * (e0 + h)] % NB, G = it[2 * (e0 + h) + 1];
                if (x <= nbv && nbv < x + G)
                    first_long = h;
            }
            const int base = counter;
            counter += first_long;
            bad += nh - first_long > ngf;
            for (int h = 0; h < nh; h++) {
                const int x = it[2 * (e0 + h)] % NB, G = it[2 * (e0 + h) + 1];
                const int64_t slot = VOX_SM90_PLAN_SLOT(bh, h, first_long, ngf, front, base);
                const int glob = ngf > 0 && x + G > nbv, in_front = slot < front;
                bad += slot < 0 || slot >= (int64_t)BH * NB || (slot >= 0 && slot < (int64_t)BH * NB && owner[slot] >= 0);
                bad += glob != in_front || (in_front && slot / ngf != bh);
                if (slot >= 0 && slot < (int64_t)BH * NB)
                    owner[slot] = e0 + h;
                placed++;
            }
            for (int h = nh - first_long; h < ngf; h++) /* the {0, 0} slots */
                bad += owner[(int64_t)bh * ngf + h] >= 0, owner[(int64_t)bh * ngf + h] = 1 << 30;
        }
        for (int64_t s = 0; s < front + counter; s++)
            bad += owner[s] < 0;
        bad += front + counter > (int64_t)BH * NB;
    }
    printf("test_sm90_pack: front region: %ld items placed, %ld violations\n", placed, bad);
    return bad;
}

/* The backward's key-unit table (vox_sm90_bwd_runits, session 16): over random block_valid (0..64,
 * many 1..16) every key slot of every block is covered exactly once, by a {i, 0} unit (blocks with
 * 0 or > 16 valid keys) or as chunk k of a chunk unit (blocks with 1..16, at most 4 per unit, in
 * block order), at most NB units; V != 64 and fewer than 2 small blocks give 0. Returns violations. */
static long check_runits(void)
{
    enum { NB = 2500 };
    static int valid[NB], out[4 * NB], seen[NB];
    long bad = 0, units = 0, chunked = 0;
    for (int trial = 0; trial < 40; trial++) {
        for (int i = 0; i < NB; i++) {
            const unsigned r = (unsigned)(next() % 8);
            valid[i] = r < 4 ? 64 : r < 6 ? 1 + (int)(next() % 16) : (int)(next() % 65);
            seen[i] = 0;
        }
        const long long n = vox_sm90_bwd_runits(valid, NB, 64, out);
        bad += n <= 0 || n > NB;
        int last = -1;
        for (long long u = 0; u < n; u++) {
            if (out[4 * u] >= 0) {
                const int i = out[4 * u];
                bad += i >= NB || (valid[i] >= 1 && valid[i] <= 16) || out[4 * u + 1] != 0;
                seen[i < NB ? i : 0]++;
                continue;
            }
            chunked++;
            for (int k = 0; k < 4; k++) {
                const int i = k ? out[4 * u + k] : ~out[4 * u];
                if (i < 0) { /* empty chunks only at the end of the last group */
                    bad += k == 0 || (k < 3 && out[4 * u + k + 1] >= 0);
                    continue;
                }
                bad += i >= NB || valid[i] < 1 || valid[i] > 16 || i <= last;
                last = i < NB ? i : last;
                seen[i < NB ? i : 0]++;
            }
        }
        units += n;
        for (int i = 0; i < NB; i++)
            bad += seen[i] != 1;
    }
    valid[0] = valid[1] = 8; /* V = 128, or one small block: nothing packs */
    for (int i = 2; i < NB; i++)
        valid[i] = 64;
    bad += vox_sm90_bwd_runits(valid, NB, 128, out) != 0;
    valid[1] = 64;
    bad += vox_sm90_bwd_runits(valid, NB, 64, out) != 0;
    printf("test_sm90_pack: backward key units: %ld units (%ld chunk units) over 40 trials, %ld violations\n",
           units, chunked, bad);
    return bad;
}

/* The backward's grid order (vox_sm90_bwd_cta, session 17): for every shape (heads, blocks, V = 64 or
 * 128, one or two units per CTA, front 0.. past NB) each (head, CTA of the head) comes from exactly one
 * grid CTA; with front > 0 the first BH F grid CTAs hold every unit of every head's last `front` blocks;
 * with front 0 the order is head after head (x = b mod P). Returns violations. */
static long check_bwd_cta(void)
{
    static const long long bhs[] = {1, 2, 3, 24}, nbs[] = {1, 2, 3, 5, 9, 14, 25, 39, 2164};
    static const int fronts[] = {0, 1, 2, 3, 4, 7};
    static unsigned char seen[24 * 4328];
    long bad = 0, shapes = 0;
    for (int a = 0; a < 4; a++)
        for (int n = 0; n < 9; n++)
            for (int v = 64; v <= 128; v += 64)
                for (int pk = 0; pk < 2; pk++)
                    for (int f = 0; f < 8; f++) {
                        const long long BH = bhs[a], NB = nbs[n], U = NB * (v / 64), P = pk ? (U + 1) / 2 : U;
                        const int front = f < 6 ? fronts[f] : (int)NB + (f - 6) * 3;
                        const long long fu = front * (v / 64) < U ? front * (v / 64) : U;
                        long long nfront = 0; /* grid CTAs before the first that holds no trailing unit */
                        memset(seen, 0, (size_t)(BH * P));
                        for (long long b = 0; b < BH * P; b++) {
                            long long bh = -1, x = -1;
                            vox_sm90_bwd_cta(b, BH, P, U, pk, front, v, &bh, &x);
                            if (bh < 0 || bh >= BH || x < 0 || x >= P) {
                                bad++;
                                continue;
                            }
                            bad += seen[bh * P + x]++ != 0;
                            bad += front == 0 && (bh != b / P || x != b % P);
                            const long long last = pk ? 2 * x + 1 : x; /* the CTA's last unit */
                            if (front > 0 && last >= U - fu && nfront == b)
                                nfront++;
                        }
                        /* the F CTAs per head holding trailing units (vox_sm90_bwd_cta's F) are the first BH F */
                        const long long need = pk ? P - (U - fu) / 2 : fu;
                        bad += front > 0 && nfront < BH * need;
                        shapes++;
                    }
    printf("test_sm90_pack: backward grid order: %ld shapes, %ld violations\n", shapes, bad);
    return bad;
}

/* The atomic-dQ dK/dV kernels' shared memory (VOX_SM90_BWD_SMEM_BYTES, BwdSmem in
 * attention_backward_sm90_stream.cuh): every atomic scheme fits the sm_90 opt-in maximum (232,448 bytes), and the
 * reducer-warp scheme's area (VOX_SM90_BWD_ATOMIC_RW, session 20) holds, between the staging tile and the chunk slots,
 * its two mbarriers (sfbar, qdbar: 8-byte aligned after the 1 KB-aligned staging tile) and rslot (the staged tile's
 * counts and 4 chunk rows: 20 bytes), i.e. 36 bytes, with the slots and dsbar / stbar where ATOMIC has them relative to
 * meta. Returns violations. */
static long check_bwd_smem(void)
{
    long bad = 0;
    static const int packs[] = {VOX_SM90_BWD_ATOMIC, VOX_SM90_BWD_ATOMIC_DB, VOX_SM90_BWD_ATOMIC_RW};
    for (int d = 64; d <= 128; d += 64)
        for (int i = 0; i < 3; i++) {
            const int pk = packs[i];
            bad += VOX_SM90_BWD_SMEM_BYTES(d, pk) > 232448u;
            bad += !VOX_SM90_BWD_IS_ATOMIC(pk) ||
                   VOX_SM90_BWD_STAGES(d, pk) != VOX_SM90_BWD_STAGES(d, VOX_SM90_BWD_ATOMIC);
        }
    for (int d = 64; d <= 128; d += 64) {
        const size_t stg_end = VOX_SM90_BWD_DS_TILES(VOX_SM90_BWD_ATOMIC_RW) * (size_t)8192 + 64 * (size_t)d * 4;
        const size_t slots = VOX_SM90_BWD_DQ_AREA(d, VOX_SM90_BWD_ATOMIC_RW) - 16 -
                             16 * (size_t)VOX_SM90_BWD_STAGES(d, VOX_SM90_BWD_ATOMIC_RW); /* slot_at(0, 0) */
        bad += slots < stg_end + 16 + 20; /* sfbar, qdbar, rslot[5] */
        bad += VOX_SM90_BWD_DQ_AREA(d, VOX_SM90_BWD_ATOMIC_RW) - VOX_SM90_BWD_DQ_AREA(d, VOX_SM90_BWD_ATOMIC) !=
               (size_t)VOX_SM90_BWD_RW_BYTES(VOX_SM90_BWD_ATOMIC_RW);
        bad += VOX_SM90_BWD_RW_BYTES(VOX_SM90_BWD_ATOMIC_RW) % 16 != 0; /* the slots stay 16-byte aligned */
    }
    printf("test_sm90_pack: atomic-dQ shared memory (ATOMIC, _DB, _RW at D = 64, 128): %ld violations\n", bad);
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
    const long front_bad = check_front() + check_runits() + check_bwd_cta() + check_bwd_smem();
    /* the packing must use more than 8 blocks somewhere (else the 16-bit masks go untested) */
    return bad == 0 && chain_bad == 0 && maxg > 8 && front_bad == 0 ? 0 : 1;
}
