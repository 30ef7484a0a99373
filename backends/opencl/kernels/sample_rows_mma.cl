/* voxattn OpenCL: sample_rows (core/backend.h) for f16/bf16 on NVIDIA tensor
 * cores (sm_80+) through inline PTX mma.sync m16n8k16 (kernels/mma_common.cl),
 * the port of the CUDA backend's vox_sample_rows_mma16_* (backends/gpu/
 * kernels/sample_rows_mma.cuh, its merge-at-the-end form): the same
 * arithmetic in the same order, so the same sums bit for bit where the
 * exponentials agree. Output as vox_sample_rows (sample_rows.cl): per
 * (bh, row, key split, pattern) {max, sum, acc[D]} in f32, merged by
 * vox_sample_rows_merge unchanged.
 *
 * Build defines: VOX_DTYPE (1 f16, 2 bf16), HD (= D, a multiple of 8,
 * <= 128), VOX_MMA_EMU (1: the PTX emulated; tests on PoCL).
 *
 * A work-group of 256 items (8 warps) per (bh, key split, group of 32
 * sampled rows), grid-stride: 2 row groups of 4 warps; warp w owns rows
 * 16*(w/4).. +15 of the group and, with kw = w%4, keys 16*kw.. +15 of each
 * tile for the scores and head dims kw*DH.. +DH-1 (DH = DP/4) for P V.
 * The split's key blocks stream in tiles of up to 64 keys of one block: K
 * row-major and V transposed (Vt[d][key]) in local memory, row strides
 * padded by 16 bytes (conflict-free fragment reads, as
 * attention_forward_mma.cl); Q (the group's rows) stays in local memory.
 * Per tile:
 *  - S = Q K^T over all D for the warp's 16 rows x 16 keys, a fresh
 *    accumulator per 16 dims added in f32;
 *  - s *= scale, the row's max over its valid keys (NaN wins) shared by the
 *    row group's warps through local memory (each takes their max in warp
 *    order), w = exp(s - m) (masked keys 0; an all -inf row subtracts +inf),
 *    z = the warps' sums in warp order;
 *  - P split exactly into three 16-bit pieces hi + mid + lo (f16: of
 *    w * 2^14), stored as mma A fragments over the K tile (read by then);
 *  - T = P V over the warp's DH dims: per 16 keys lo, mid, hi into a fresh
 *    accumulator, added to T in f32 (hi alone for a tile whose V holds an
 *    Inf or NaN: a zero piece times Inf would make NaN);
 *  - the tile (m, z, T) merged online into every pattern allowing its block.
 * Local memory (bytes): K/P 64*(DP+8)*2 (at least 12288), Vt DP*72*2,
 * Q 32*(DP+8)*2, 1 KiB of maxima and sums: 45960 at DP 128 (the host checks
 * SRM_LOCAL_BYTES). */
#ifdef __OPENCL_VERSION__

#pragma OPENCL FP_CONTRACT OFF

#define SRM_RG 2                          /* row groups */
#define SRM_WG 4                          /* warps per row group */
#define SRM_NW (SRM_RG * SRM_WG)          /* warps */
#define SRM_LS (32 * SRM_NW)              /* items */
#define SRM_ROWS (16 * SRM_RG)            /* sampled rows per work-group */
#define SRM_KT 64                         /* keys per tile */
#define SDP (HD <= 64 ? 64 : 128)         /* head dim padded */
#define SKS (SDP / 16)                    /* k steps of S */
#define SCH (SDP / 8)                     /* 16-byte chunks per padded row */
#define SRPI (SRM_LS / SCH)               /* rows per copy pass */
#define SKW (SRM_KT / SRM_WG)             /* a warp's keys of a tile */
#define SNN (SKW / 8)                     /* its n-tiles */
#define SKL (SKW / 16)                    /* its k-steps of P V */
#define SDH (SDP / SRM_WG)                /* a warp's dims of P V */
#define SNT (SDH / 8)                     /* their n-tiles */
#define SKST (SDP + 8)                    /* Q/K row stride, 16-bit elements */
#define SKSTW (SKST / 2)                  /* in words */
#define SVST (SRM_KT + 8)                 /* Vt row stride */
#define SVSTW (SVST / 2)
#define SVIT ((SCH + 2 * SRM_NW - 1) / (2 * SRM_NW)) /* V copy passes (2 chunks per warp) */
#define SPF (SRM_RG * 4 * 3 * 32)         /* P fragments (uint4): [row group][k-step][piece][lane] */
#define SKP4 (SRM_KT * SKST / 8 > SPF ? SRM_KT * SKST / 8 : SPF) /* the K/P region (uint4) */
#ifndef SRM_PREFETCH
#define SRM_PREFETCH 0 /* 1: a tile's loads issued during the previous tile's products (the host's default; */
#endif                 /* VOXATTN_OPENCL_SRM_PREFETCH=0 builds without) */
#ifndef SRM_WALK
#define SRM_WALK 0 /* 1 (with SRM_PREFETCH; the host's default, VOXATTN_OPENCL_SRM_PREFETCH=1 builds without): */
#endif             /* the tile walk runs ahead (below) */
#if SRM_WALK && !SRM_PREFETCH
#error "SRM_WALK needs SRM_PREFETCH"
#endif
#if VOX_DTYPE == 2
#define SRM_WSCALE 1.f
#else
#define SRM_WSCALE 16384.f /* f16: pieces of w * 2^14 */
#endif

/* the two 16-bit halves of a packed pair as f32 (lo = first) */
void vox_srm_unpack2(uint d, float *lo, float *hi)
{
#if VOX_DTYPE == 2
    *lo = as_float(d << 16), *hi = as_float(d & 0xffff0000u);
#else
    ushort u[2] = {(ushort)(d & 0xffffu), (ushort)(d >> 16)};
    *lo = vload_half(0, (const half *)u), *hi = vload_half(1, (const half *)u);
#endif
}

/* exact three-piece split of the pair (x, y): p[0] hi, p[1] mid, p[2] lo */
void vox_srm_split3(float x, float y, uint *p)
{
    float a, b;
    PACK2(p[0], x, y);
    vox_srm_unpack2(p[0], &a, &b);
    x -= a, y -= b; /* exact: the remainder of a rounding to nearest */
    PACK2(p[1], x, y);
    vox_srm_unpack2(p[1], &a, &b);
    PACK2(p[2], x - a, y - b);
}

float vox_srm_nmax(float a, float b) { return isnan(a) || isnan(b) ? NAN : fmax(a, b); }

/* NaN-wins max over the quad holding a row */
#define QUAD_NMAX(x) QUAD_REDUCE(x, vox_srm_nmax)

/* online-softmax merge of a tile (mb, zb, T) into one row's pattern state */
void vox_srm_merge(float *M, float *Z, float (*A)[4], float mb, float zb, const float (*T)[4], int h)
{
    if (mb > *M) {
        float f = exp(*M - mb);
        *Z = *Z * f + zb;
#pragma unroll
        for (int n = 0; n < SNT; n++)
            A[n][2 * h] = A[n][2 * h] * f + T[n][2 * h], A[n][2 * h + 1] = A[n][2 * h + 1] * f + T[n][2 * h + 1];
        *M = mb;
    } else { /* also a NaN mb: f is NaN and poisons the sums */
        float f = exp(mb - *M);
        *Z += zb * f;
#pragma unroll
        for (int n = 0; n < SNT; n++)
            A[n][2 * h] += T[n][2 * h] * f, A[n][2 * h + 1] += T[n][2 * h + 1] * f;
    }
}

/* T = P V over the warp's dims (T zero on entry), pieces np-1 .. 0 (lo,
 * mid, hi; np 1: hi alone), per 16 keys into a fresh accumulator (into T
 * itself for the first 16 keys), added to T. vb: Vt at the lane's (g, t),
 * from the warp's first dim. */
#if VOX_MMA_EMU
void vox_srm_pv(float (*T)[4], __local const uint4 *fr, __local const uint *vb, int lane, int np,
                __local uint *emu)
#else
void vox_srm_pv(float (*T)[4], __local const uint4 *fr, __local const uint *vb, int lane, const int np)
#endif
{
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        uint a[3][4];
#pragma unroll
        for (int pc = 0; pc < 3; pc++) {
            const uint4 f = fr[(kk * 3 + pc) * 32 + lane];
            a[pc][0] = f.x, a[pc][1] = f.y, a[pc][2] = f.z, a[pc][3] = f.w;
        }
        float c[SNT][4];
#pragma unroll
        for (int n = 0; n < SNT; n++)
            c[n][0] = c[n][1] = c[n][2] = c[n][3] = 0.f;
#pragma unroll
        for (int pc = 2; pc >= 0; pc--) {
            if (pc >= np)
                continue;
#pragma unroll
            for (int n = 0; n < SNT; n++) {
                const uint b0 = vb[n * 8 * SVSTW + kk * 8], b1 = vb[n * 8 * SVSTW + kk * 8 + 4];
                if (kk == 0)
                    MMA(T[n], a[pc], b0, b1);
                else
                    MMA(c[n], a[pc], b0, b1);
            }
        }
        if (kk)
#pragma unroll
            for (int n = 0; n < SNT; n++)
                T[n][0] += c[n][0], T[n][1] += c[n][1], T[n][2] += c[n][2], T[n][3] += c[n][3];
    }
}

/* The rows of the item's part of a tile of nk keys from slot s0 (K keys cr + it * SRPI, V keys 2 lane,
 * 2 lane + 1; key 0 past nk): slot-table entries (tok set) or the slots themselves, so that the row of key k
 * starts at element xo + rows[k] * st (vox_row_of, vox_rows_at). */
void vox_srm_slots(int *ks, int *vs, __global const int *tokp, long tok, long s0, int nk, int cr, int lane)
{
#pragma unroll
    for (int it = 0; it < SRM_KT / SRPI; it++) {
        const int key = cr + it * SRPI;
        const long sl = s0 + (key < nk ? key : 0);
        ks[it] = (int)vox_row_of(tokp, tok, sl);
    }
#pragma unroll
    for (int y = 0; y < 2; y++) {
        const int key = 2 * lane + y;
        const long sl = s0 + (key < nk ? key : 0);
        vs[y] = (int)vox_row_of(tokp, tok, sl);
    }
}
/* The item's 16-byte words of that tile from those rows: K rows cr + it * SRPI (chunk cc8), V keys 2 lane,
 * 2 lane + 1 (the warp's chunks); zero past nk and HD. */
void vox_srm_load_rows(uint4 *kx, uint4 (*vx)[2][2], __global const ushort *ku, __global const ushort *vu,
                       const int *ks, const int *vs, long xo, long st, int nk, int cr, int cc8, int cin, int warp,
                       int lane)
{
#pragma unroll
    for (int it = 0; it < SRM_KT / SRPI; it++)
        kx[it] = vox_ld16(ku + xo + ks[it] * st + cc8, cr + it * SRPI < nk && cin);
    const int k0 = 2 * lane, k1 = 2 * lane + 1;
    __global const ushort *v0 = vu + xo + vs[0] * st, *v1 = vu + xo + vs[1] * st;
#pragma unroll
    for (int it = 0; it < SVIT; it++)
#pragma unroll
        for (int c = 0; c < 2; c++) {
            const int ch = 2 * (warp + SRM_NW * it) + c, vin = ch < SCH && ch * 8 < HD, c8 = min(ch * 8, HD - 8);
            vx[it][c][0] = vox_ld16(v0 + c8, vin && k0 < nk);
            vx[it][c][1] = vox_ld16(v1 + c8, vin && k1 < nk);
        }
}
/* Both: a tile's loads, the rows first (what SRM_WALK takes apart) */
void vox_srm_load(uint4 *kx, uint4 (*vx)[2][2], __global const ushort *ku, __global const ushort *vu,
                  __global const int *tokp, long tok, long xo, long st, long s0, int nk, int cr, int cc8, int cin,
                  int warp, int lane)
{
    int ks[SRM_KT / SRPI], vs[2];
    vox_srm_slots(ks, vs, tokp, tok, s0, nk, cr, lane);
    vox_srm_load_rows(kx, vx, ku, vu, ks, vs, xo, st, nk, cr, cc8, cin, warp, lane);
}

#if SRM_WALK
/* The tile walk run ahead, so that a tile's loads wait on nothing but themselves: each tile's slot-table
 * entries are loaded a tile before its K and V (issued when the tile before it is staged, as SRM_PREFETCH
 * does), and the next block's valid count a block before it is needed; without it each prefetch first waits
 * on the block's valid count, then on the slot table. A position: block jb (jb1: past the split), first key
 * c0, the block's valid keys nv and the next block's nvn. The same tiles in the same order as the cursor of
 * the plain loop (tools/sr_walk models this walk, Vulkan's sample_rows_nv2p). */
typedef struct {
    long jb;
    int c0, nv, nvn;
} vox_srm_pos;
vox_srm_pos vox_srm_advance(vox_srm_pos p, long jb1, __global const int *valid)
{
    p.c0 += SRM_KT;
    while (p.c0 >= p.nv) {
        p.jb++; /* from jb0 - 1 to jb0 on the first call */
        if (p.jb >= jb1) {
            p.jb = jb1;
            break;
        }
        p.nv = p.nvn;
        p.nvn = p.jb + 1 < jb1 ? valid[p.jb + 1] : 0;
        p.c0 = 0;
    }
    return p;
}
#define SRM_NK(p) min((p).nv - (p).c0, SRM_KT)
#define SRM_S0(p) ((p).jb * V + (p).c0)
#endif

__kernel __attribute__((reqd_work_group_size(SRM_LS, 1, 1))) void
vox_sample_rows_mma(VOX_CL_BUF_PARAMS(VOX_SAMPLE_ROWS_BUFS) VOX_CL_ARG_PARAMS(VOX_SAMPLE_ROWS_ARGS),
                    __global const int *tokp, ulong tokp_off)
{
    __local uint4 kp4[SKP4];                /* the K tile [64][SKST], then the P fragments */
    __local uint4 vt4[SDP * SVST / 8];      /* the V tile transposed [SDP][SVST] */
    __local uint4 qs4[SRM_ROWS * SKST / 8]; /* the group's Q rows [32][SKST] */
    __local float sM[SRM_NW * 16], sZ[SRM_NW * 16]; /* the warps' row maxima and sums */
    __local int vbad[2];                    /* per tile parity: a valid V value is Inf or NaN */
#if VOX_MMA_EMU
    __local uint emu_all[SRM_NW * 32 * 6];
#endif
    __local uint *kp = (__local uint *)kp4, *vt = (__local uint *)vt4, *qs = (__local uint *)qs4;
    VOX_CL_APPLY_OFFSETS(VOX_SAMPLE_ROWS_BUFS)
    VOX_CL_ARGS(sample_rows, VOX_SAMPLE_ROWS_ARGS)
    tokp += tokp_off;
    const long tok = args.tok, st = args.st; /* q, k, v share strides */
    __global const ushort *qu = (__global const ushort *)q, *ku = (__global const ushort *)k,
                          *vu = (__global const ushort *)v;
    const int lid = LID, lane = lid & 31, warp = lid >> 5, rg = warp / SRM_WG, kw = warp % SRM_WG;
    const int g = lane >> 2, t = lane & 3;
#if VOX_MMA_EMU
    __local uint *emu = emu_all + warp * 32 * 6;
#endif
    const long R = args.R, NB = args.NB, nsplit = args.nsplit;
    const int V = args.V, fb = args.frame_blocks, sbk = args.space_blocks, sink = args.sink;
    const float scale = args.scale;
    const long groups = (R + SRM_ROWS - 1) / SRM_ROWS;
    /* Inf or NaN halves: (h & EXP) + EXP_LSB carries into bit 15 only when the exponent is all ones */
#if VOX_DTYPE == 2
    const uint vexp = 0x7f807f80u, vlsb = 0x00800080u;
#else
    const uint vexp = 0x7c007c00u, vlsb = 0x04000400u;
#endif
    /* copies: row cr + it * SRPI, 16-byte chunk cc (zero past HD) */
    const int cr = lid / SCH, cc = lid % SCH, cin = cc * 8 < HD, cc8 = min(cc * 8, HD - 8);
    __local const uint *qb = qs + (16 * rg + g) * SKSTW + t, *kb = kp + (SKW * kw + g) * SKSTW + t,
                       *vb = vt + (kw * SDH + g) * SVSTW + t;
    __local uint4 *fr = kp4 + rg * (4 * 3 * 32); /* the row group's P fragments */
    if (lid == 0)
        vbad[0] = vbad[1] = 0;
    int kt = 0; /* tiles so far (vbad parity) */
    for (long x = get_group_id(0); x < args.BH * nsplit * groups; x += get_num_groups(0)) {
        const long gi = x % groups, tt = x / groups, sp = tt % nsplit, bh = tt / nsplit, r0 = gi * SRM_ROWS;
        const long jb0 = NB * sp / nsplit, jb1 = NB * (sp + 1) / nsplit;
        const long xo = vox_rows_origin(bh, args.heads, args.sb, args.sh);
        barrier(CLK_LOCAL_MEM_FENCE); /* the previous unit is done with qs (and vbad's reset is seen) */
#pragma unroll
        for (int it = 0; it < SRM_ROWS / SRPI; it++) {
            const long r = r0 + cr + it * SRPI;
            const int ok = r < R;
            qs4[(cr + it * SRPI) * (SKST / 8) + cc] = vox_ld16(qu + vox_rows_at(tokp, tok, xo, st, rows[ok ? r : 0]) + cc8, ok && cin);
        }
        /* the block of the item's rows g, g + 8 of its row group */
        long ib[2];
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const long r = r0 + 16 * rg + g + 8 * h;
            ib[h] = r < R ? rows[r] / V : 0;
        }
        float M[3][2], Z[3][2], A[3][SNT][4];
        uint ninf = 0; /* bit 2p + h: pattern p of row h saw an all -inf tile */
#pragma unroll
        for (int p = 0; p < 3; p++) {
            M[p][0] = M[p][1] = -INFINITY, Z[p][0] = Z[p][1] = 0.f;
#pragma unroll
            for (int n = 0; n < SNT; n++)
                A[p][n][0] = A[p][n][1] = A[p][n][2] = A[p][n][3] = 0.f;
        }
        /* tiles (jb, c0): the split's blocks, 64 valid keys at a time */
        uint4 kx[SRM_KT / SRPI], vx[SVIT][2][2];
#if SRM_WALK
        /* wc the tile being computed, w1 the next (its rows in ks, vs), w2 the one after */
        vox_srm_pos wc;
        wc.jb = jb0 - 1, wc.c0 = 0, wc.nv = 0, wc.nvn = jb0 < jb1 ? valid[jb0] : 0; /* before the first block */
        wc = vox_srm_advance(wc, jb1, valid);
        vox_srm_pos w1 = vox_srm_advance(wc, jb1, valid), w2 = vox_srm_advance(w1, jb1, valid);
        int ks[SRM_KT / SRPI], vs[2];
        if (wc.jb < jb1) { /* the first tile's rows and loads */
            vox_srm_slots(ks, vs, tokp, tok, SRM_S0(wc), SRM_NK(wc), cr, lane);
            vox_srm_load_rows(kx, vx, ku, vu, ks, vs, xo, st, SRM_NK(wc), cr, cc8, cin, warp, lane);
        }
        if (w1.jb < jb1)
            vox_srm_slots(ks, vs, tokp, tok, SRM_S0(w1), SRM_NK(w1), cr, lane);
        while (wc.jb < jb1) {
            const long jb = wc.jb;
            const int nk = SRM_NK(wc);
#else
        long jb = jb0;
        int c0 = 0;
        while (jb < jb1 && valid[jb] == 0)
            jb++;
#if SRM_PREFETCH
        if (jb < jb1) /* the first tile's loads; each next one's are issued before a tile's products */
            vox_srm_load(kx, vx, ku, vu, tokp, tok, xo, st, jb * V + c0, min(valid[jb] - c0, SRM_KT), cr, cc8, cin, warp,
                         lane);
#endif
        while (jb < jb1) {
            const int nk = min(valid[jb] - c0, SRM_KT);
#endif
            int al[2][3]; /* pattern p allows the block for row h */
#pragma unroll
            for (int h = 0; h < 2; h++)
                al[h][0] = 1, al[h][1] = vox_allows(block_coord, ib[h], jb, 0, fb, sbk, sink),
                al[h][2] = vox_allows(block_coord, ib[h], jb, 1, fb, sbk, sink);
            {
                barrier(CLK_LOCAL_MEM_FENCE); /* K/P and Vt are free */
#if !SRM_PREFETCH
                vox_srm_load(kx, vx, ku, vu, tokp, tok, xo, st, jb * V + c0, nk, cr, cc8, cin, warp, lane);
#endif
                uint bad = 0;
#pragma unroll
                for (int it = 0; it < SVIT; it++)
#pragma unroll
                    for (int c = 0; c < 2; c++)
#pragma unroll
                        for (int y = 0; y < 2; y++) {
                            const uint4 w = vx[it][c][y];
                            bad |= ((w.x & vexp) + vlsb) | ((w.y & vexp) + vlsb) | ((w.z & vexp) + vlsb) |
                                   ((w.w & vexp) + vlsb);
                        }
                if (bad & 0x80008000u)
                    vbad[kt & 1] = 1;
#pragma unroll
                for (int it = 0; it < SRM_KT / SRPI; it++)
                    kp4[(cr + it * SRPI) * (SKST / 8) + cc] = kx[it];
#pragma unroll
                for (int it = 0; it < SVIT; it++)
#pragma unroll
                    for (int c = 0; c < 2; c++) {
                        const int ch = 2 * (warp + SRM_NW * it) + c;
                        if (ch >= SCH)
                            continue;
                        /* Vt[d][2*lane..2*lane+1] = (V[2*lane][d], V[2*lane+1][d]) */
                        __local uint *dst = vt + ch * 8 * SVSTW + lane;
                        const uint4 x0 = vx[it][c][0], y0 = vx[it][c][1];
                        vox_vt_store8(dst, SVSTW, x0, y0);
                    }
                barrier(CLK_LOCAL_MEM_FENCE);
                const int vinf = vbad[kt & 1];
                if (lid == 0)
                    vbad[(kt + 1) & 1] = 0; /* read last in the previous tile, written next in the next */
                kt++;
                /* the next tile; SRM_PREFETCH: its loads issued now, in flight during the products */
#if SRM_WALK
                if (w1.jb < jb1) /* its rows came a tile ago */
                    vox_srm_load_rows(kx, vx, ku, vu, ks, vs, xo, st, SRM_NK(w1), cr, cc8, cin, warp, lane);
                wc = w1, w1 = w2, w2 = vox_srm_advance(w2, jb1, valid);
                if (w1.jb < jb1) /* the rows of the tile after, in flight during the products */
                    vox_srm_slots(ks, vs, tokp, tok, SRM_S0(w1), SRM_NK(w1), cr, lane);
#else
                c0 += SRM_KT;
                if (c0 >= valid[jb]) {
                    c0 = 0, jb++;
                    while (jb < jb1 && valid[jb] == 0)
                        jb++;
                }
#if SRM_PREFETCH
                if (jb < jb1)
                    vox_srm_load(kx, vx, ku, vu, tokp, tok, xo, st, jb * V + c0, min(valid[jb] - c0, SRM_KT), cr, cc8,
                                 cin, warp, lane);
#endif
#endif
                /* S for the warp's 16 rows x SKW keys over all dims */
                float s[SNN][4];
#pragma unroll
                for (int n = 0; n < SNN; n++)
                    s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
                for (int kk = 0; kk < SKS; kk++) {
                    const uint a[4] = {qb[kk * 8], qb[8 * SKSTW + kk * 8], qb[kk * 8 + 4], qb[8 * SKSTW + kk * 8 + 4]};
#pragma unroll
                    for (int n = 0; n < SNN; n++) {
                        const uint b0 = kb[n * 8 * SKSTW + kk * 8], b1 = kb[n * 8 * SKSTW + kk * 8 + 4];
                        if (kk == 0) {
                            MMA(s[n], a, b0, b1); /* s is 0 */
                        } else {
                            float c[4] = {0.f, 0.f, 0.f, 0.f};
                            MMA(c, a, b0, b1);
                            s[n][0] += c[0], s[n][1] += c[1], s[n][2] += c[2], s[n][3] += c[3];
                        }
                    }
                }
                /* s *= scale; the warp's row maxima over keys 8n + 2t + c valid where 8n + c < lim */
                const int lim = nk - SKW * kw - 2 * t;
                float m[2], z[2];
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    float mx = -INFINITY;
#pragma unroll
                    for (int n = 0; n < SNN; n++)
#pragma unroll
                        for (int c = 0; c < 2; c++) {
                            const float xs = s[n][2 * h + c] * scale;
                            s[n][2 * h + c] = xs;
                            mx = vox_srm_nmax(mx, 8 * n + c < lim ? xs : -INFINITY);
                        }
                    QUAD_NMAX(mx);
                    m[h] = mx;
                }
                if (t == 0)
                    sM[warp * 16 + g] = m[0], sM[warp * 16 + g + 8] = m[1];
                barrier(CLK_LOCAL_MEM_FENCE); /* also: every warp is done with the K tile */
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    m[h] = sM[SRM_WG * rg * 16 + g + 8 * h];
#pragma unroll
                    for (int w = 1; w < SRM_WG; w++)
                        m[h] = vox_srm_nmax(m[h], sM[(SRM_WG * rg + w) * 16 + g + 8 * h]);
                }
                /* weights w = exp(s - m) (0 for masked keys), the warp's sums */
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    const float mu = m[h] == -INFINITY ? INFINITY : m[h];
                    float zz = 0.f;
#pragma unroll
                    for (int n = 0; n < SNN; n++)
#pragma unroll
                        for (int c = 0; c < 2; c++) {
                            const float w = exp(8 * n + c < lim ? s[n][2 * h + c] - mu : -INFINITY);
                            zz += w;
                            s[n][2 * h + c] = w * SRM_WSCALE;
                        }
                    ROW_SUM(zz);
                    z[h] = zz;
                }
                /* the warp's P pieces as A fragments of k-steps SKL*kw .. */
#pragma unroll
                for (int kl = 0; kl < SKL; kl++) {
                    uint p[4][3];
                    vox_srm_split3(s[2 * kl][0], s[2 * kl][1], p[0]);
                    vox_srm_split3(s[2 * kl][2], s[2 * kl][3], p[1]);
                    vox_srm_split3(s[2 * kl + 1][0], s[2 * kl + 1][1], p[2]);
                    vox_srm_split3(s[2 * kl + 1][2], s[2 * kl + 1][3], p[3]);
#pragma unroll
                    for (int pc = 0; pc < 3; pc++)
                        fr[((SKL * kw + kl) * 3 + pc) * 32 + lane] = (uint4)(p[0][pc], p[1][pc], p[2][pc], p[3][pc]);
                }
                if (t == 0)
                    sZ[warp * 16 + g] = z[0], sZ[warp * 16 + g + 8] = z[1];
                barrier(CLK_LOCAL_MEM_FENCE);
#pragma unroll
                for (int h = 0; h < 2; h++) { /* the warps' sums in warp order */
                    z[h] = sZ[SRM_WG * rg * 16 + g + 8 * h];
#pragma unroll
                    for (int w = 1; w < SRM_WG; w++)
                        z[h] += sZ[(SRM_WG * rg + w) * 16 + g + 8 * h];
                }
                float T[SNT][4];
#pragma unroll
                for (int n = 0; n < SNT; n++)
                    T[n][0] = T[n][1] = T[n][2] = T[n][3] = 0.f;
#if VOX_MMA_EMU
                vox_srm_pv(T, fr, vb, lane, vinf ? 1 : 3, emu);
#else
                if (vinf)
                    vox_srm_pv(T, fr, vb, lane, 1);
                else
                    vox_srm_pv(T, fr, vb, lane, 3);
#endif
#pragma unroll
                for (int h = 0; h < 2; h++)
#pragma unroll
                    for (int p = 0; p < 3; p++) {
                        if (!al[h][p])
                            continue;
                        if (m[h] == -INFINITY)
                            ninf |= 1u << (2 * p + h);
                        else
                            vox_srm_merge(&M[p][h], &Z[p][h], A[p], m[h], z[h], T, h);
                    }
            }
        }
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const long r = r0 + 16 * rg + g + 8 * h;
            if (r >= R)
                continue;
#pragma unroll
            for (int p = 0; p < 3; p++) {
                __global float *o = work + (((bh * R + r) * nsplit + sp) * 3 + p) * (HD + 2);
                if (kw == 0 && t == 0)
                    o[0] = M[p][h], o[1] = M[p][h] == -INFINITY && Z[p][h] == 0.f && (ninf >> (2 * p + h) & 1)
                                               ? -1.f
                                               : Z[p][h];
#pragma unroll
                for (int n = 0; n < SNT; n++)
#pragma unroll
                    for (int c = 0; c < 2; c++) {
                        const int e = kw * SDH + n * 8 + 2 * t + c;
                        if (e < HD)
                            o[2 + e] = A[p][n][2 * h + c] * (1.f / SRM_WSCALE);
                    }
            }
        }
    }
}

#endif /* __OPENCL_VERSION__ */
