/* voxattn OpenCL: query_select, the kept rows of each query block (the
 * centre and the k-1 rows least similar to it in each window) and, for each
 * pruned row, the kept row it copies (core/backend.h). Cosines in `real`
 * without contraction, in the reference's order, so that decisions agree
 * with it exactly away from ties. */
#pragma OPENCL FP_CONTRACT OFF

/* Cosine similarity of block-layout rows a and b of x (as the reference). */
real vox_cosine(__global const stor *x, long a, long b, int D)
{
    real dot = 0, na = 0, nb = 0;
    for (int e = 0; e < D; e++) {
        real u = (real)LOADF(x, a * D + e), w = (real)LOADF(x, b * D + e);
        dot += u * w;
        na += u * u;
        nb += w * w;
    }
    return na > 0 && nb > 0 ? dot / sqrt(na * nb) : (real)0;
}

#define QS_MAXV 256

/* One work-group per (bh, block), grid-stride. */
__kernel void vox_query_select(VOX_CL_BUF_PARAMS(VOX_QUERY_SELECT_BUFS) VOX_CL_ARG_PARAMS(VOX_QUERY_SELECT_ARGS))
{
    __local real cs[QS_MAXV];
    __local uchar kept[QS_MAXV];
    __local int widx[QS_MAXV];
    VOX_CL_APPLY_OFFSETS(VOX_QUERY_SELECT_BUFS)
    VOX_CL_ARGS(query_select, VOX_QUERY_SELECT_ARGS)
    const long NB = args.NB, NBv = args.NBv, total = args.BH * NB;
    const int V = args.V, D = args.D;
    long S = NB * V;
    for (long g = get_group_id(0); g < total; g += get_num_groups(0)) {
        long bh = g / NB, j = g - bh * NB;
        __global const stor *x = q + bh * S * D;
        __global int *fl = fill_src + bh * S;
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
        for (int t = LID; t < V; t += LSZ) {
            fl[j * V + t] = (int)(j * V + t);
            kept[t] = 0;
            widx[t] = -1;
            cs[t] = 0;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (j >= NBv) {
            int n = valid[j];
            for (int t = LID; t < n; t += LSZ)
                kept[t] = 1;
        } else {
            int w0 = win_ptr[j], w1 = win_ptr[j + 1];
            for (int t = LID; t < V; t += LSZ) {
                int a = (int)(j * V) + t;
                for (int w = w0; w < w1; w++)
                    if (a >= windows[4 * w] && a < windows[4 * w] + windows[4 * w + 1]) {
                        widx[t] = w;
                        break;
                    }
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int t = LID; t < V; t += LSZ) {
                int w = widx[t], a = (int)(j * V) + t;
                if (w >= 0 && a != windows[4 * w + 2])
                    cs[t] = vox_cosine(x, a, windows[4 * w + 2], D);
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int t = LID; t < V; t += LSZ) {
                int w = widx[t], a = (int)(j * V) + t;
                if (w < 0)
                    continue;
                int first = windows[4 * w], m = windows[4 * w + 1], centre = windows[4 * w + 2];
                int keep = windows[4 * w + 3];
                if (a == centre) {
                    kept[t] = 1;
                    continue;
                }
                int rank = 0;
                real c = cs[t];
                for (int u = first; u < first + m; u++) {
                    if (u == centre)
                        continue;
                    real cu = cs[u - j * V];
                    if (cu < c || (cu == c && u < a))
                        rank++;
                }
                kept[t] = rank < keep - 1;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int t = LID; t < V; t += LSZ) {
                int w = widx[t], a = (int)(j * V) + t;
                if (w < 0 || kept[t])
                    continue;
                int first = windows[4 * w], m = windows[4 * w + 1];
                real best = -INFINITY;
                int src = -1;
                for (int u = first; u < first + m; u++) {
                    if (!kept[u - j * V])
                        continue;
                    real c = vox_cosine(x, a, u, D);
                    if (c > best) {
                        best = c;
                        src = u;
                    }
                }
                fl[a] = src;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (LID == 0) {
            int c = 0;
            for (int r = 0; r < V; r++)
                if (kept[r])
                    kept_rows[g * V + c++] = r;
            kept_count[g] = c;
        }
    }
}
