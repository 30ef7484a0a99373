/* voxattn OpenCL: sample_rows (head classification, core/backend.h), the
 * exact attention of the sampled query rows three ways (dense, spatial,
 * temporal) reduced to ||o_s-o_d||^2, ||o_t-o_d||^2, ||o_d||^2.
 *
 * Two kernels, the work split of the CUDA f32 kernel (backends/gpu/kernels/
 * sample_rows.cuh) without subgroup operations:
 * vox_sample_rows: a work-group of SR_LS items per (bh, key split, group of
 * SR_ROWS sampled rows, slice of SR_DS head dims), grid-stride. It streams
 * its split's key blocks once, in tiles of up to SR_KT keys of one block,
 * for all its rows and the three patterns together:
 *  - scores S = Q K^T in f32, Q and K chunks of SR_DC dims staged in local
 *    memory; item (rq, lane) owns rows 4rq..4rq+3 and keys 2lane, 2lane+1,
 *    each score a sum of 8-dim fma partials (as the CUDA kernel);
 *  - per row, through local memory (item (row, part) takes keys part + 8j):
 *    the tile max over its valid keys (NaN wins), weights w = exp(s - m),
 *    the tile sum z;
 *  - T = P V in f32, V chunks of SR_VC keys staged in local memory (each
 *    read into registers ahead: the first while the weights are made, the
 *    next during a chunk's products); item (rq, lane) owns rows
 *    4rq..4rq+3 and dims 4lane..4lane+3 of the slice;
 *  - the tile (m, z, T) merged online into every pattern that allows its
 *    block (a tile whose valid keys all score -inf is only marked).
 * Per (bh, row, split, pattern) it writes {max, sum, acc[D]} (f32) to the
 * work buffer (sum 0: no key; -1: only -inf scores).
 * vox_sample_rows_merge: a work-group per (bh, row) merges the splits in
 * `real` (f64 where the device has it) and reduces the three outputs.
 * (One file per op: device and host sections, cl_internal.h.) */
#ifdef __OPENCL_VERSION__

#pragma OPENCL FP_CONTRACT OFF

/* -DSR_UNROLLED=1 (VOXATTN_OPENCL_SR_UNROLL): the loops over each item's
 * private arrays (rows, dims, patterns, V values) fully unrolled, so that
 * the arrays live in registers rather than in the stack (a clang nvptx
 * build of this kernel keeps 416 bytes of them in local memory, where every
 * product of P V would load and store its accumulator). */
#if SR_UNROLLED
#define SR_UNROLL _Pragma("unroll")
#else
#define SR_UNROLL
#endif

#define SR_LS 256
#define SR_ROWS 32 /* sampled rows per work-group: 4 per 32 items */
#define SR_KT 64   /* keys per tile: 2 per item of 32 */
#define SR_DS 128  /* head dims per work-group: 4 per item of 32 */
#define SR_DC 64   /* dims per staged Q/K chunk */
#define SR_VC 32   /* keys per staged V chunk */
/* local row strides (floats): float4/float2-aligned, few bank conflicts */
#define SR_QS (SR_ROWS + 4) /* qT[e][row] */
#define SR_KS (SR_KT + 2)   /* kT[e][key] */
#define SR_SS (SR_KT + 8)   /* sc[row][key] */
#define SR_WS (SR_ROWS + 4) /* wt[key][row] */
/* The stage holds qT + kT; then sc and, after SR_WT0, wt; then vs and wt. */
#define SR_WT0 (SR_VC * SR_DS)
#define SR_STAGE (SR_DC * (SR_QS + SR_KS))
#if SR_STAGE < SR_WT0 + SR_KT * SR_WS || SR_WT0 < SR_ROWS * SR_SS
#error "sample_rows: the stage is too small"
#endif

#define SR_VPI (SR_VC * SR_DS / SR_LS) /* V values per item and chunk */

/* The item's values of V chunk v0 of a tile (keys past nk and dims past D
 * 0), read ahead into registers while the work-group computes. */
void vox_sr_load_v(float *vr, __global const stor *v, __global const int *tokp, long tok, long xo, long st, long s0,
                   int v0, int nk, long d0, long D)
{
    SR_UNROLL for (int x = 0; x < SR_VPI; x++) {
        int y = LID + SR_LS * x, key = y / SR_DS, d = y % SR_DS;
        vr[x] = v0 + key < nk && d0 + d < D ? LOADF(v, vox_rows_at(tokp, tok, xo, st, s0 + v0 + key) + d0 + d) : 0.f;
    }
}

/* NaN-wins maximum (VOX_NMAX of the CUDA kernels). */
float vox_sr_nmax(float a, float b) { return isnan(a) || isnan(b) ? NAN : fmax(a, b); }

/* Online-softmax merge of a tile (mb, zb, t) into a pattern state. */
void vox_sr_merge(float *M, float *Z, float *A, float mb, float zb, const float *t)
{
    if (mb > *M) {
        float f = exp(*M - mb);
        *Z = *Z * f + zb;
        SR_UNROLL for (int d = 0; d < 4; d++)
            A[d] = A[d] * f + t[d];
        *M = mb;
    } else { /* also a NaN mb: f is NaN and poisons the sums */
        float f = exp(mb - *M);
        *Z += zb * f;
        SR_UNROLL for (int d = 0; d < 4; d++)
            A[d] += t[d] * f;
    }
}

__kernel __attribute__((reqd_work_group_size(SR_LS, 1, 1))) void
vox_sample_rows(VOX_CL_BUF_PARAMS(VOX_SAMPLE_ROWS_BUFS) VOX_CL_ARG_PARAMS(VOX_SAMPLE_ROWS_ARGS),
                __global const int *tokp, ulong tokp_off)
{
    __local float stage[SR_STAGE] __attribute__((aligned(16))); /* every vector below is aligned */
    __local float pm[SR_ROWS * 8], pz[SR_ROWS * 8];
    __local float *qT = stage, *kT = stage + SR_DC * SR_QS, *sc = stage, *vs = stage, *wt = stage + SR_WT0;
    VOX_CL_APPLY_OFFSETS(VOX_SAMPLE_ROWS_BUFS)
    VOX_CL_ARGS(sample_rows, VOX_SAMPLE_ROWS_ARGS)
    tokp += tokp_off;
    const long tok = args.tok, st = args.st;
    const int t = LID, lane = t % 32, rq = t / 32, rr = t / 8, part = t % 8;
    const long R = args.R, NB = args.NB, V = args.V, D = args.D, nsplit = args.nsplit;
    const long groups = (R + SR_ROWS - 1) / SR_ROWS, dsl = (D + SR_DS - 1) / SR_DS;
    const int fb = args.frame_blocks, sbk = args.space_blocks, sink = args.sink;
    const float scale = args.scale;
    for (long x = get_group_id(0); x < args.BH * nsplit * groups * dsl; x += get_num_groups(0)) {
        long u = x / dsl, ds = x - u * dsl, g = u % groups;
        u /= groups;
        const long sp = u % nsplit, bh = u / nsplit, r0 = g * SR_ROWS, d0 = ds * SR_DS;
        const long xo = vox_rows_origin(bh, args.heads, args.sb, args.sh); /* q, k, v share strides */
        const long jb0 = NB * sp / nsplit, jb1 = NB * (sp + 1) / nsplit;
        long ib[4];
        float M[3][4], Z[3][4], A[3][4][4];
        uint ninf = 0; /* bit 4p + i: pattern p of row i saw an all -inf tile */
        SR_UNROLL for (int i = 0; i < 4; i++) {
            long r = r0 + 4 * rq + i;
            ib[i] = r < R ? rows[r] / V : 0;
            SR_UNROLL for (int p = 0; p < 3; p++) {
                M[p][i] = -INFINITY, Z[p][i] = 0.f;
                SR_UNROLL for (int d = 0; d < 4; d++)
                    A[p][i][d] = 0.f;
            }
        }
        for (long jb = jb0; jb < jb1; jb++) {
            const int nv = valid[jb];
            uint al = 0; /* bit 4(p-1) + i: pattern p allows the block for row i */
            SR_UNROLL for (int i = 0; i < 4; i++)
                al |= (uint)vox_allows(block_coord, ib[i], jb, 0, fb, sbk, sink) << i |
                      (uint)vox_allows(block_coord, ib[i], jb, 1, fb, sbk, sink) << (4 + i);
            for (int c0 = 0; c0 < nv; c0 += SR_KT) {
                const int nk = min(nv - c0, SR_KT);
                const long s0 = jb * V + c0; /* the tile's first slot */
                /* scores of rows 4rq+i, keys 2lane+c */
                float s[4][2] = {{0.f, 0.f}, {0.f, 0.f}, {0.f, 0.f}, {0.f, 0.f}};
                for (long e0 = 0; e0 < D; e0 += SR_DC) {
                    barrier(CLK_LOCAL_MEM_FENCE); /* the stage is free */
                    for (int y = t; y < SR_DC * SR_ROWS; y += SR_LS) {
                        /* 8 dims x 4 rows per 32 items: coalesced reads, no bank conflicts */
                        int w = y / 32, l = y % 32, e = l % 8 + 8 * (w % (SR_DC / 8)), r = l / 8 + 4 * (w / (SR_DC / 8));
                        qT[e * SR_QS + r] =
                            r0 + r < R && e0 + e < D ? LOADF(q, vox_rows_at(tokp, tok, xo, st, rows[r0 + r]) + e0 + e) : 0.f;
                    }
                    for (int y = t; y < SR_DC * SR_KT; y += SR_LS) {
                        int e = y % SR_DC, key = y / SR_DC;
                        kT[e * SR_KS + key] = key < nk && e0 + e < D ? LOADF(k, vox_rows_at(tokp, tok, xo, st, s0 + key) + e0 + e) : 0.f;
                    }
                    barrier(CLK_LOCAL_MEM_FENCE);
                    for (int e8 = 0; e8 < SR_DC; e8 += 8) {
                        float c[4][2] = {{0.f, 0.f}, {0.f, 0.f}, {0.f, 0.f}, {0.f, 0.f}};
                        SR_UNROLL for (int e = e8; e < e8 + 8; e++) {
                            float4 qq = *(__local const float4 *)(qT + e * SR_QS + 4 * rq);
                            float2 kk = *(__local const float2 *)(kT + e * SR_KS + 2 * lane);
                            const float qa[4] = {qq.x, qq.y, qq.z, qq.w};
                            SR_UNROLL for (int i = 0; i < 4; i++)
                                c[i][0] = fma(qa[i], kk.x, c[i][0]), c[i][1] = fma(qa[i], kk.y, c[i][1]);
                        }
                        SR_UNROLL for (int i = 0; i < 4; i++)
                            s[i][0] += c[i][0], s[i][1] += c[i][1];
                    }
                }
                float vr[SR_VPI]; /* V chunk 0, read while the weights are made */
                vox_sr_load_v(vr, v, tokp, tok, xo, st, s0, 0, nk, d0, D);
                barrier(CLK_LOCAL_MEM_FENCE); /* qT, kT read: sc takes the stage */
                SR_UNROLL for (int i = 0; i < 4; i++)
                    *(__local float2 *)(sc + (4 * rq + i) * SR_SS + 2 * lane) = (float2)(s[i][0] * scale, s[i][1] * scale);
                barrier(CLK_LOCAL_MEM_FENCE);
                /* row rr: the max over keys part + 8j, then over the 8 parts */
                float m = -INFINITY;
                for (int key = part; key < nk; key += 8)
                    m = vox_sr_nmax(m, sc[rr * SR_SS + key]);
                pm[rr * 8 + part] = m;
                barrier(CLK_LOCAL_MEM_FENCE);
                m = -INFINITY;
                for (int j = 0; j < 8; j++)
                    m = vox_sr_nmax(m, pm[rr * 8 + j]);
                float z = 0.f;
                for (int key = part; key < SR_KT; key += 8) {
                    float w = key < nk && m != -INFINITY ? exp(sc[rr * SR_SS + key] - m) : 0.f;
                    z += w;
                    wt[key * SR_WS + rr] = w;
                }
                pz[rr * 8 + part] = z;
                /* T = P V over the slice's dims 4lane.. */
                float tv[4][4];
                SR_UNROLL for (int i = 0; i < 4; i++)
                    SR_UNROLL for (int d = 0; d < 4; d++)
                        tv[i][d] = 0.f;
                for (int v0 = 0; v0 < nk; v0 += SR_VC) {
                    barrier(CLK_LOCAL_MEM_FENCE); /* sc (or the last chunk) read, wt and pz written */
                    SR_UNROLL for (int x = 0; x < SR_VPI; x++)
                        vs[t + SR_LS * x] = vr[x];
                    barrier(CLK_LOCAL_MEM_FENCE);
                    if (v0 + SR_VC < nk) /* the next chunk, read during this one's products */
                        vox_sr_load_v(vr, v, tokp, tok, xo, st, s0, v0 + SR_VC, nk, d0, D);
                    for (int key = 0; key < min(SR_VC, nk - v0); key++) {
                        float4 ww = *(__local const float4 *)(wt + (v0 + key) * SR_WS + 4 * rq);
                        float4 vv = *(__local const float4 *)(vs + key * SR_DS + 4 * lane);
                        const float wa[4] = {ww.x, ww.y, ww.z, ww.w}, va[4] = {vv.x, vv.y, vv.z, vv.w};
                        SR_UNROLL for (int i = 0; i < 4; i++)
                            SR_UNROLL for (int d = 0; d < 4; d++)
                                tv[i][d] = fma(wa[i], va[d], tv[i][d]);
                    }
                }
                SR_UNROLL for (int i = 0; i < 4; i++) {
                    float mb = -INFINITY, zb = 0.f;
                    for (int j = 0; j < 8; j++)
                        mb = vox_sr_nmax(mb, pm[(4 * rq + i) * 8 + j]), zb += pz[(4 * rq + i) * 8 + j];
                    SR_UNROLL for (int p = 0; p < 3; p++) {
                        if (p && !((al >> (4 * (p - 1) + i)) & 1))
                            continue;
                        if (mb == -INFINITY)
                            ninf |= 1u << (4 * p + i);
                        else
                            vox_sr_merge(&M[p][i], &Z[p][i], A[p][i], mb, zb, tv[i]);
                    }
                }
            }
        }
        SR_UNROLL for (int i = 0; i < 4; i++) {
            long r = r0 + 4 * rq + i;
            if (r >= R)
                continue;
            SR_UNROLL for (int p = 0; p < 3; p++) {
                __global float *o = work + (((bh * R + r) * nsplit + sp) * 3 + p) * (D + 2);
                if (ds == 0 && lane == 0)
                    o[0] = M[p][i], o[1] = M[p][i] == -INFINITY && Z[p][i] == 0.f && (ninf >> (4 * p + i) & 1)
                                               ? -1.f
                                               : Z[p][i];
                SR_UNROLL for (int d = 0; d < 4; d++)
                    if (d0 + 4 * lane + d < D)
                        o[2 + d0 + 4 * lane + d] = A[p][i][d];
            }
        }
    }
}

#define SR_MLS 64
#ifndef SR_MERGE_OLD
#define SR_MERGE_OLD 0 /* 1: the factors per element, as before session 16 (VOXATTN_OPENCL_SR_MERGE_OLD) */
#endif
#define SR_MAXSPLIT VOX_SAMPLE_ROWS_MAX_SPLITS /* vox_sample_rows_splits' cap (core/kernel_args.h) */

/* Pattern p's merge inputs over the splits of one row (a split's record: m, then z or the flag -1
 * for "all -inf" / 0 for "nothing allowed", then the D sums): the largest m of the splits that saw
 * keys, whether any did, whether any saw only -inf. Both merge forms use it. */
void vox_sr_split_max(__global const float *base, long nsplit, long D, int p, real *mm_out, int *any_out,
                      int *ninf_out)
{
    real mm = -INFINITY;
    int any = 0, ninf = 0;
    for (long x = 0; x < nsplit; x++) {
        __global const float *st = base + (x * 3 + p) * (D + 2);
        if (st[1] == -1.f)
            ninf = 1;
        else if (st[1] != 0.f)
            any = 1, mm = st[0] > mm ? st[0] : mm;
    }
    *mm_out = mm, *any_out = any, *ninf_out = ninf;
}

/* One work-group per (bh, row), grid-stride: the splits' states merged in
 * `real` (sum 0: no key; -1: only -inf scores; else >= 1 or NaN), then the
 * three sums. Per pattern p the max over the splits, its flags and the
 * splits' factors exp(max_x - max) and sum z are formed once per work-group
 * (local memory, the same expressions in the same split order as the
 * per-element form that SR_MERGE_OLD keeps: the same values), then every
 * element sums f_x acc_x[e] over the splits in order. */
__kernel __attribute__((reqd_work_group_size(SR_MLS, 1, 1))) void
vox_sample_rows_merge(VOX_CL_BUF_PARAMS(VOX_SAMPLE_ROWS_BUFS) VOX_CL_ARG_PARAMS(VOX_SAMPLE_ROWS_ARGS))
{
    __local real red[3 * SR_MLS];
#if !SR_MERGE_OLD
    __local real fs[3 * SR_MAXSPLIT], zs[3], mms[3];
    __local int fok[3 * SR_MAXSPLIT], anys[3], ninfs[3];
#endif
    VOX_CL_APPLY_OFFSETS(VOX_SAMPLE_ROWS_BUFS)
    VOX_CL_ARGS(sample_rows, VOX_SAMPLE_ROWS_ARGS)
    const long D = args.D, nsplit = args.nsplit;
    for (long pr = get_group_id(0); pr < args.BH * args.R; pr += get_num_groups(0)) {
        __global const float *base = work + pr * nsplit * 3 * (D + 2);
#if !SR_MERGE_OLD
        if (LID < 3) { /* pattern LID: the max and flags over the splits */
            real mm;
            int any, ninf;
            vox_sr_split_max(base, nsplit, D, LID, &mm, &any, &ninf);
            mms[LID] = mm, anys[LID] = any, ninfs[LID] = ninf;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int i = LID; i < 3 * nsplit; i += SR_MLS) { /* split i / 3's factor for pattern i % 3 */
            __global const float *st = base + i * (D + 2);
            const int ok = anys[i % 3] && st[1] != -1.f && st[1] != 0.f;
            fs[i] = ok ? exp((real)st[0] - mms[i % 3]) : 0;
            fok[i] = ok;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (LID < 3) {
            real z = 0;
            for (long x = 0; x < nsplit; x++)
                if (fok[x * 3 + LID])
                    z += fs[x * 3 + LID] * base[(x * 3 + LID) * (D + 2) + 1];
            zs[LID] = z;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
#endif
        real es = 0, et = 0, nd = 0;
        for (long e = LID; e < D; e += SR_MLS) {
            real o[3];
            for (int p = 0; p < 3; p++) {
#if SR_MERGE_OLD
                real mm;
                int any, ninf;
                vox_sr_split_max(base, nsplit, D, p, &mm, &any, &ninf);
                real z = 0, a = 0;
                for (long x = 0; x < nsplit && any; x++) {
                    __global const float *st = base + (x * 3 + p) * (D + 2);
                    if (st[1] == -1.f || st[1] == 0.f)
                        continue;
                    real f = exp((real)st[0] - mm);
                    z += f * st[1];
                    a += f * st[2 + e];
                }
#else
                const int any = anys[p], ninf = ninfs[p];
                const real z = zs[p];
                real a = 0;
                for (long x = 0; x < nsplit; x++)
                    if (fok[x * 3 + p])
                        a += fs[x * 3 + p] * base[(x * 3 + p) * (D + 2) + 2 + e];
#endif
                o[p] = any ? a / z : ninf ? (real)NAN : 0;
            }
            es += (o[1] - o[0]) * (o[1] - o[0]);
            et += (o[2] - o[0]) * (o[2] - o[0]);
            nd += o[0] * o[0];
        }
        red[LID] = es, red[SR_MLS + LID] = et, red[2 * SR_MLS + LID] = nd;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int w = SR_MLS / 2; w > 0; w >>= 1) {
            if (LID < w)
                for (int k = 0; k < 3; k++)
                    red[k * SR_MLS + LID] += red[k * SR_MLS + LID + w];
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        if (LID == 0)
            out[pr * 3] = (float)red[0], out[pr * 3 + 1] = (float)red[SR_MLS], out[pr * 3 + 2] = (float)red[2 * SR_MLS];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

#endif /* __OPENCL_VERSION__ */
#ifndef __OPENCL_VERSION__
#define CL_OP_sample_rows(P, K, S, SUP)                  \
    P(PROG_SR_MMA, "tensor-core sample_rows", "")        \
    K(PROG_OPS, K_SAMPLE_ROWS, "vox_sample_rows")        \
    K(PROG_OPS, K_SAMPLE_ROWS_MERGE, "vox_sample_rows_merge") \
    K(PROG_SR_MMA, K_SAMPLE_ROWS_MMA, "vox_sample_rows_mma") \
    S(PROG_OPS, "sample_rows.cl")                        \
    S(PROG_SR_MMA, "mma_common.cl")                      \
    S(PROG_SR_MMA, "sample_rows_mma.cl")
#ifdef CL_OP_LAUNCHERS
/* The splits' states of `units` work-groups per key split (the splits
 * for two work-groups per compute unit, at least 64 slots: a small device
 * splits too, so its tests cover the merge; VOXATTN_OPENCL_SR_SLOTS
 * overrides the slots) in the device's scratch, the tile kernel `k` of
 * program `pr` (NULL: PROG_OPS), then the merge, one work-group of 64 items
 * per (bh, row). q, k, v: the caller's tensors with slot_token (a.tok 1,
 * the table as the tile kernels' trailing buffer), else the block copies
 * (a.tok 0; rows stands in for the table, never read). */
static vox_status sr_launch(cl_dev *d, const vox_op_dims *dm, const vox_op_sample_rows *p, vox_sample_rows_args a,
                            const cl_prog *pr, int k, int64_t units, const char *name, vox_log_level level)
{
    cl_uint cu = 0;
    g_cl.clGetDeviceInfo(d->device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    int64_t slots = d->sr_slots ? d->sr_slots : 2 * (int64_t)cu > 64 ? 2 * (int64_t)cu : 64;
    int64_t nsplit = vox_sample_rows_splits(units, slots, a.NB);
    a.nsplit = (int32_t)nsplit;
    vox_status st = cl_scratch(d, (size_t)(a.BH * a.R * nsplit * 3 * (a.D + 2)) * 4, "sample_rows");
    if (st)
        return st;
    cl_buf work = {.mem = d->scratch};
    const int direct = p->slot_token.buf != NULL;
    const cl_sample_rows_bufs b = {.q = direct ? p->cq.ref : p->q, .k = direct ? p->ck.ref : p->k,
                                   .v = direct ? p->cv.ref : p->v, .rows = p->rows, .block_coord = p->block_coord,
                                   .valid = dm->block_valid, .out = p->out, .work = {&work, 0}};
    const vox_bref *tok = direct ? &p->slot_token : &p->rows;
    a.tok = direct;
    const cl_grid tiles = {.prog = pr, .k = k, .tail = tok, .groups = groups_for(units * nsplit), .ls = 256,
                           .name = name, .level = level};
    const cl_grid merge = {.k = K_SAMPLE_ROWS_MERGE, .groups = groups_for(a.BH * a.R), .ls = 64};
    st = cl_sample_rows_launch(d, dm->dtype, &b, &a, &tiles);
    return st ? st : cl_sample_rows_launch(d, dm->dtype, &b, &a, &merge);
}

/* Tensor cores (kernels/sample_rows_mma.cl, PROG_SR_MMA): f16/bf16, head
 * dim <= 128 a multiple of 8, q/k/v rows 16-byte aligned (16-byte copies:
 * offsets, and the caller's strides, in 16-byte multiples), the
 * local memory and work-groups of 256 available; one work-group per (bh,
 * key split, 32 rows). VOX_ERR_UNSUPPORTED where the portable kernel has to
 * run: not applicable, or the path failed (then it stays off for this
 * device). */
static size_t srm_local_bytes(size_t dp)
{
    size_t kp = 2 * 64 * (dp + 8); /* K tile, then the P fragments (12288 bytes) */
    return (kp > 12288 ? kp : 12288) + 2 * dp * 72 + 2 * 32 * (dp + 8) + 2 * 4 * 128 + 8;
}
static vox_status sr_mma(cl_dev *d, const vox_op_dims *dm, const vox_op_sample_rows *p, const vox_sample_rows_args *a)
{
    const int direct = p->slot_token.buf != NULL;
    const vox_bref q = direct ? p->cq.ref : p->q, k = direct ? p->ck.ref : p->k, v = direct ? p->cv.ref : p->v;
    if (!d->srm || dm->dtype == VOX_F32 || a->D > 128 || a->D % 8 || d->max_wg < 256 || q.offset % 16 ||
        k.offset % 16 || v.offset % 16 || a->sb % 8 || a->sh % 8 || a->st % 8)
        return VOX_ERR_UNSUPPORTED;
    size_t dp = a->D <= 64 ? 64 : 128, bytes = srm_local_bytes(dp) + (d->srm == MMA_EMULATED ? 6144 : 0);
    if (bytes > d->local_mem)
        return VOX_ERR_UNSUPPORTED;
    cl_prog *pr = NULL;
    vox_status st = cl_get_prog(d, PROG_SR_MMA, (int)dm->dtype, (int)a->D, 0, 0, 256, &pr);
    if (!st) {
        st = sr_launch(d, dm, p, *a, pr, K_SAMPLE_ROWS_MMA, a->BH * ((a->R + 31) / 32), NULL,
                       VOX_LOG_WARN);
        if (!st)
            return VOX_OK;
    }
    return cl_mma_give_up(d, &d->srm, "sample_rows", st);
}

/* The tensor-core kernel where it applies (sr_mma), else the portable one:
 * a work-group of 256 items per (bh, key split, 32 rows, 128 dims). */
vox_status cl_sample_rows(void *devp, const vox_op_dims *dm, const vox_op_sample_rows *p)
{
    cl_dev *d = devp;
    vox_sample_rows_args a;
    vox_sample_rows_args_init(&a, dm, p);
    if (a.R <= 0)
        return VOX_OK;
    if (sr_mma(d, dm, p, &a) == VOX_OK)
        return VOX_OK;
    return sr_launch(d, dm, p, a, NULL, K_SAMPLE_ROWS, a.BH * ((a.R + 31) / 32) * ((a.D + 127) / 128), NULL,
                     VOX_LOG_ERROR);
}
#endif /* CL_OP_LAUNCHERS */
#endif /* !__OPENCL_VERSION__ */
