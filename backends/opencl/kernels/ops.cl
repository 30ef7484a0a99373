/* voxattn OpenCL: the mask-building ops and the permutes (see core/backend.h
 * for each op's exact semantics; backends/cpu/cpu_ops.c is the reference).
 * Discrete decisions (query and KV selection) are computed in `real`
 * (double where the device has fp64) without contraction, in the same
 * summation order as the reference, so that they agree exactly on inputs
 * that are not near a tie. All row kernels loop over rows grid-stride. */
#pragma OPENCL FP_CONTRACT OFF

#define LID ((int)get_local_id(0))
#define LSZ ((int)get_local_size(0))

/* dst[bh][s][:] = slot_token[s] >= 0 ? src[b,h,slot_token[s],:] : 0 */
__kernel void vox_permute_to(__global const rawel *src, ulong src_off, long sb, long sh, long st,
                             __global rawel *dst, ulong dst_off, __global const int *slot_token,
                             ulong slot_off, long H, long S, int D, long nrows)
{
    src += src_off;
    dst += dst_off;
    slot_token += slot_off;
    for (long row = get_group_id(0); row < nrows; row += get_num_groups(0)) {
        long bh = row / S, s = row - bh * S;
        long b = bh / H, h = bh - b * H;
        int t = slot_token[s];
        __global rawel *o = dst + row * D;
        if (t < 0) {
            for (int e = LID; e < D; e += LSZ)
                o[e] = 0;
        } else {
            __global const rawel *x = src + b * sb + h * sh + (long)t * st;
            for (int e = LID; e < D; e += LSZ)
                o[e] = x[e];
        }
    }
}

/* dst[b,h,t,:] = src[bh][f][:], f = fill ? fill[bh*S + token_slot[t]] : token_slot[t] */
__kernel void vox_permute_from(__global const rawel *src, ulong src_off, __global const float *lse_src,
                               ulong lse_src_off, __global rawel *dst, ulong dst_off, long db, long dh,
                               long dt, __global float *lse_dst, ulong lse_dst_off, long lb, long lh, long lt,
                               __global const int *token_slot, ulong ts_off, __global const int *fill,
                               ulong fill_off, int has_lse, int has_fill, long H, long N, long S, int D,
                               long nrows)
{
    src += src_off;
    dst += dst_off;
    token_slot += ts_off;
    if (has_lse) {
        lse_src += lse_src_off;
        lse_dst += lse_dst_off;
    }
    if (has_fill)
        fill += fill_off;
    for (long row = get_group_id(0); row < nrows; row += get_num_groups(0)) {
        long bh = row / N, t = row - bh * N;
        long b = bh / H, h = bh - b * H;
        long s = token_slot[t];
        long f = has_fill ? (long)fill[bh * S + s] : s;
        __global const rawel *x = src + (bh * S + f) * D;
        __global rawel *o = dst + b * db + h * dh + t * dt;
        for (int e = LID; e < D; e += LSZ)
            o[e] = x[e];
        if (has_lse && LID == 0)
            lse_dst[b * lb + h * lh + t * lt] = lse_src[bh * S + f];
    }
}

/* out[m][:] = mean of the valid (or kept) rows of block j = m % NB */
__kernel void vox_block_means(__global const stor *x, ulong x_off, __global const int *valid, ulong valid_off,
                              __global const int *kc, ulong kc_off, __global const int *kr, ulong kr_off,
                              int has_kept, __global float *out, ulong out_off, long NB, int V, int D,
                              long nrows)
{
    x += x_off;
    valid += valid_off;
    out += out_off;
    if (has_kept) {
        kc += kc_off;
        kr += kr_off;
    }
    long S = NB * V;
    for (long m = get_group_id(0); m < nrows; m += get_num_groups(0)) {
        long bh = m / NB, j = m - bh * NB;
        int n = has_kept ? kc[m] : valid[j];
        for (int e = LID; e < D; e += LSZ) {
            real acc = 0;
            for (int r = 0; r < n; r++) {
                long slot = j * V + (has_kept ? kr[m * V + r] : r);
                acc += (real)LOADF(x, (bh * S + slot) * D + e);
            }
            out[m * D + e] = n ? (float)(acc / (real)n) : 0.0f;
        }
    }
}

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

/* One work-group per (bh, block). */
__kernel void vox_query_select(__global const stor *q, ulong q_off, __global const int *win_ptr, ulong wp_off,
                               __global const int *windows, ulong win_off, __global const int *valid,
                               ulong valid_off, __global int *kept_count, ulong kc_off, __global int *kept_rows,
                               ulong kr_off, __global int *fill, ulong fill_off, long NB, long NBv, int V, int D,
                               long total)
{
    __local real cs[QS_MAXV];
    __local uchar kept[QS_MAXV];
    __local int widx[QS_MAXV];
    q += q_off;
    win_ptr += wp_off;
    windows += win_off;
    valid += valid_off;
    kept_count += kc_off;
    kept_rows += kr_off;
    fill += fill_off;
    long S = NB * V;
    for (long g = get_group_id(0); g < total; g += get_num_groups(0)) {
        long bh = g / NB, j = g - bh * NB;
        __global const stor *x = q + bh * S * D;
        __global int *fl = fill + bh * S;
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
vox_sample_rows(__global const stor *q, ulong q_off, __global const stor *k, ulong k_off, __global const stor *v,
                ulong v_off, __global const int *rows, ulong rows_off, __global const int *coord, ulong coord_off,
                __global const int *valid, ulong valid_off, long R, long NB, int V, int D, int fb, int sbk,
                int sink, real scale, __global float *out, ulong out_off, long total)
{
    __local real qv[SR_MAXD];
    __local real acc[3 * SR_MAXD];
    __local real pw[3 * SR_LS];
    __local real red[3 * SR_LS];
    __local uchar al[SR_LS];
    q += q_off;
    k += k_off;
    v += v_off;
    rows += rows_off;
    coord += coord_off;
    valid += valid_off;
    out += out_off;
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
