/* voxattn OpenCL: sample_rows (head classification), the exact attention
 * of sampled query rows three ways (dense, spatial, temporal) and the
 * squared distances between them (core/backend.h). In `real` without
 * contraction, in the reference's order.
 * (One file per op: device and host sections, cl_internal.h.) */
#ifdef __OPENCL_VERSION__

#pragma OPENCL FP_CONTRACT OFF

/* Block pattern test of the reference (sample_rows_attention). */
int vox_allows(__global const int *coord, long ib, long jb, int temporal, int fb, int sbk, int sink)
{
    int ti = coord[3 * ib], tj = coord[3 * jb];
    if (tj < 0 || ti < 0)
        return 1;
    if (sink && tj == 0)
        return 1;
    if (!temporal)
        return abs(tj - ti) <= fb;
    return abs(coord[3 * jb + 1] - coord[3 * ib + 1]) <= sbk && abs(coord[3 * jb + 2] - coord[3 * ib + 2]) <= sbk;
}

#define SR_LS 64
#define SR_MAXD 256

/* One work-group (SR_LS items) per (bh, sampled row): three online softmaxes
 * (dense, spatial, temporal) streamed over every valid key. */
__kernel __attribute__((reqd_work_group_size(SR_LS, 1, 1))) void
vox_sample_rows(VOX_CL_BUF_PARAMS(VOX_SAMPLE_ROWS_BUFS) VOX_CL_ARG_PARAMS(VOX_SAMPLE_ROWS_ARGS))
{
    __local real qv[SR_MAXD];
    __local real acc[3 * SR_MAXD];
    __local real pw[3 * SR_LS];
    __local real red[3 * SR_LS];
    __local uchar al[SR_LS];
    VOX_CL_APPLY_OFFSETS(VOX_SAMPLE_ROWS_BUFS)
    VOX_CL_ARGS(sample_rows, VOX_SAMPLE_ROWS_ARGS)
    __global const int *coord = block_coord;
    const long R = args.R, NB = args.NB, total = args.BH * R;
    const int V = args.V, D = args.D, fb = args.frame_blocks, sbk = args.space_blocks, sink = args.sink;
    const real scale = VOX_REAL_ARG(args.scale_f64, args.scale);
    long S = NB * V;
    for (long g = get_group_id(0); g < total; g += get_num_groups(0)) {
        long bh = g / R, r = g - bh * R;
        long qs = rows[r], ib = qs / V;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int e = LID; e < D; e += SR_LS) {
            qv[e] = (real)LOADF(q, (bh * S + qs) * D + e);
            acc[e] = acc[D + e] = acc[2 * D + e] = 0;
        }
        real mx[3] = {-INFINITY, -INFINITY, -INFINITY}, z[3] = {0, 0, 0};
        barrier(CLK_LOCAL_MEM_FENCE);
        for (long kt = 0; kt < S; kt += SR_LS) {
            long ks = kt + LID;
            real sc = -INFINITY;
            uchar a = 0;
            if (ks < S) {
                long jb = ks / V, t = ks - jb * V;
                if (t < valid[jb]) {
                    real dot = 0;
                    for (int e = 0; e < D; e++)
                        dot += qv[e] * (real)LOADF(k, (bh * S + ks) * D + e);
                    sc = dot * scale;
                    a = (uchar)(1 | (vox_allows(coord, ib, jb, 0, fb, sbk, sink) << 1) |
                                (vox_allows(coord, ib, jb, 1, fb, sbk, sink) << 2));
                }
            }
            pw[LID] = sc;
            al[LID] = a;
            barrier(CLK_LOCAL_MEM_FENCE);
            real mn[3], alpha[3];
            for (int w = 0; w < 3; w++) {
                real tm = -INFINITY;
                for (int c = 0; c < SR_LS; c++)
                    if ((al[c] >> w) & 1)
                        tm = fmax(tm, pw[c]);
                mn[w] = fmax(mx[w], tm);
                alpha[w] = mn[w] == -INFINITY ? (real)1 : exp(mx[w] - mn[w]);
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int w = 0; w < 3; w++)
                pw[w * SR_LS + LID] = ((a >> w) & 1) ? exp(sc - mn[w]) : (real)0;
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int w = 0; w < 3; w++) {
                real zs = 0;
                for (int c = 0; c < SR_LS; c++)
                    zs += pw[w * SR_LS + c];
                z[w] = z[w] * alpha[w] + zs;
                mx[w] = mn[w];
            }
            for (int e = LID; e < D; e += SR_LS) {
                real a0 = acc[e] * alpha[0], a1 = acc[D + e] * alpha[1], a2 = acc[2 * D + e] * alpha[2];
                for (int c = 0; c < SR_LS; c++) {
                    if (!al[c])
                        continue;
                    real x = (real)LOADF(v, (bh * S + kt + c) * D + e);
                    a0 += pw[c] * x;
                    a1 += pw[SR_LS + c] * x;
                    a2 += pw[2 * SR_LS + c] * x;
                }
                acc[e] = a0, acc[D + e] = a1, acc[2 * D + e] = a2;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        real es = 0, et = 0, nd = 0;
        for (int e = LID; e < D; e += SR_LS) {
            /* no guard on z (as the reference: the own block is always
             * allowed), so NaN inputs give NaN errors -> a dense head */
            real od = acc[e] / z[0], os = acc[D + e] / z[1], ot = acc[2 * D + e] / z[2];
            es += (os - od) * (os - od);
            et += (ot - od) * (ot - od);
            nd += od * od;
        }
        red[LID] = es, red[SR_LS + LID] = et, red[2 * SR_LS + LID] = nd;
        barrier(CLK_LOCAL_MEM_FENCE);
        if (LID == 0) {
            real s0 = 0, s1 = 0, s2 = 0;
            for (int c = 0; c < SR_LS; c++)
                s0 += red[c], s1 += red[SR_LS + c], s2 += red[2 * SR_LS + c];
            out[g * 3] = (float)s0, out[g * 3 + 1] = (float)s1, out[g * 3 + 2] = (float)s2;
        }
    }
}

#endif /* __OPENCL_VERSION__ */
#ifndef __OPENCL_VERSION__
#define CL_OP_sample_rows(P, K, S, SUP) K(PROG_OPS, K_SAMPLE_ROWS, "vox_sample_rows") S(PROG_OPS, "sample_rows.cl")
#ifdef CL_OP_LAUNCHERS
/* a work-group of 64 items per sampled row */
CL_SIMPLE_LAUNCHER(sample_rows, K_SAMPLE_ROWS, groups_for(a.BH * a.R), 64, .q = p->q, .k = p->k, .v = p->v,
                   .rows = p->rows, .block_coord = p->block_coord, .valid = dm->block_valid, .out = p->out)
#endif /* CL_OP_LAUNCHERS */
#endif /* !__OPENCL_VERSION__ */
