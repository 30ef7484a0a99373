#version 450
/* kv_select: KV block selection (core/backend.h, vox_op_kv_select), one workgroup per
 * row m = bh*NB + i. The row's NB entries of kv_cols serve as scratch for the
 * scores s_j (each invocation only re-reads the entries it wrote itself) and
 * are overwritten in place by the selected columns at the end.
 *
 * Blocks are ordered by a key (s descending, then j ascending): key(j) =
 * (hi(s_j), j) with hi an order-preserving map of the float to uint. The
 * admitted prefix of that order is found by bisection over keys with
 * workgroup reductions (count and probability mass of the keys at or above a
 * candidate key), so no sort and no O(NB^2) work are needed.
 * Scores are kept unscaled (qbar.kbar); since scale > 0 the order and the
 * STAT rule are the same, and the scale enters p only through
 * exp((s - max) * scale), so huge scales cannot overflow.
 * The f32 mirrors scale_f, tau_f, z_f are read; the scratch binding is not
 * used (the scores live in kv_cols). */
#include "common.glsl"
#define WG 256u
layout(local_size_x = 256) in;
layout(push_constant) uniform PC { VOX_GLSL_PC_HEAD(VOX_KV_SELECT_BUFS) VOX_GLSL_FIELDS(VOX_KV_SELECT_ARGS) } pc;
layout(std430, set = 0, binding = 0) readonly buffer Qbar { float qbar[]; };
layout(std430, set = 0, binding = 1) readonly buffer Kbar { float kbar[]; };
layout(std430, set = 0, binding = 2) writeonly buffer KvCount { int kv_count[]; };
layout(std430, set = 0, binding = 3) buffer KvCols { int kv_cols[]; };

shared float red_a[WG];
shared float red_b[WG];
shared uint scan[WG];

uint tid;

/* Sum of (a, b) over the workgroup. Must be called in uniform control flow. */
vec2 reduce_sum2(float a, float b)
{
    barrier();
    red_a[tid] = a;
    red_b[tid] = b;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) {
            red_a[tid] += red_a[tid + s];
            red_b[tid] += red_b[tid + s];
        }
        barrier();
    }
    vec2 r = vec2(red_a[0], red_b[0]);
    barrier();
    return r;
}

float reduce_max(float a)
{
    barrier();
    red_a[tid] = a;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s)
            red_a[tid] = max(red_a[tid], red_a[tid + s]);
        barrier();
    }
    float r = red_a[0];
    barrier();
    return r;
}

uint okey(float s)
{
    uint u = floatBitsToUint(s);
    return (u & 0x80000000u) != 0u ? ~u : (u | 0x80000000u);
}

uint row, NBv;
float mx, zsum, scale;

float score(uint j) { return intBitsToFloat(kv_cols[pc.off[3] + row + j]); }

/* Key of j at or above (H, J) in the order: hi > H, or hi == H and j <= J. */
bool ge(uint hi, uint j, uint H, int J) { return hi > H || (hi == H && int(j) <= J); }

/* (count, mass) of keys at or above (H, J). */
vec2 count_mass(uint H, int J)
{
    float c = 0.0, ms = 0.0;
    for (uint j = tid; j < NBv; j += WG) {
        float s = score(j);
        if (ge(okey(s), j, H, J)) {
            c += 1.0;
            ms += exp((s - mx) * scale) / zsum;
        }
    }
    return reduce_sum2(c, ms);
}

void main()
{
    uint m = group_linear_id();
    if (m >= pc.wg_count)
        return;
    tid = gl_LocalInvocationID.x;
    uint D = vox_u64lo(pc.D), NB = vox_u64lo(pc.NB);
    NBv = vox_u64lo(pc.NBv);
    uint rule = uint(pc.rule), topk = uint(pc.topk), min_blocks = uint(pc.min_blocks);
    scale = pc.scale_f;
    float tau = pc.tau_f, zz = pc.z_f;
    uint bh = m / NB, i = m - bh * NB;
    row = m * NB;
    if (i >= NBv) { /* global query rows are dense */
        for (uint j = tid; j < NB; j += WG)
            kv_cols[pc.off[3] + row + j] = int(j);
        if (tid == 0u)
            kv_count[pc.off[2] + m] = int(NB);
        return;
    }
    /* scores */
    float lmax = NEG_INF, lsum = 0.0;
    for (uint j = tid; j < NBv; j += WG) {
        float acc = 0.0;
        for (uint e = 0u; e < D; e++)
            acc += qbar[pc.off[0] + m * D + e] * kbar[pc.off[1] + (bh * NB + j) * D + e];
        float s = acc + 0.0; /* -0 -> +0 */
        kv_cols[pc.off[3] + row + j] = floatBitsToInt(s);
        lmax = max(lmax, s);
        lsum += s;
    }
    mx = reduce_max(lmax);
    float mean = reduce_sum2(lsum, 0.0).x / float(NBv);
    float lz = 0.0, lvar = 0.0;
    for (uint j = tid; j < NBv; j += WG) {
        float s = score(j);
        lz += exp((s - mx) * scale);
        lvar += (s - mean) * (s - mean);
    }
    vec2 zv = reduce_sum2(lz, lvar);
    zsum = zv.x;
    float thr = mean + zz * sqrt(zv.y / float(NBv));

    /* n = length of the admitted prefix of the order */
    uint n = 0u;
    if (rule == 0u) {
        float total = count_mass(0u, int(NB)).y;
        uint c;
        if (total < tau) {
            c = NBv;
        } else {
            /* largest H with mass(hi >= H) >= tau */
            uint H = 0u;
            for (int b = 31; b >= 0; b--) {
                uint cand = H | (1u << uint(b));
                if (count_mass(cand, int(NB)).y >= tau)
                    H = cand;
            }
            /* largest J in [-1, NB) with mass(key >= (H, J)) < tau */
            int lo = -1, hi = int(NB);
            while (hi - lo > 1) {
                int mid = (lo + hi) / 2;
                if (count_mass(H, mid).y < tau)
                    lo = mid;
                else
                    hi = mid;
            }
            c = uint(count_mass(H, lo).x + 0.5);
        }
        /* block r of the order is admitted iff the mass of the r blocks
         * before it is < tau: one more than those whose inclusive mass is */
        n = min(NBv, c + 1u);
    } else if (rule == 1u) {
        n = min(topk, NBv);
    }
    n = max(n, min(min_blocks, NBv));

    /* the key of rank n-1: (HE, JE) */
    uint HE = 0xffffffffu;
    int JE = -1;
    if (n > 0u) {
        HE = 0u;
        for (int b = 31; b >= 0; b--) {
            uint cand = HE | (1u << uint(b));
            if (count_mass(cand, int(NB)).x >= float(n))
                HE = cand;
        }
        int lo = -1, hi = int(NB) - 1; /* count(lo) < n <= count(hi) */
        while (hi - lo > 1) {
            int mid = (lo + hi) / 2;
            if (count_mass(HE, mid).x >= float(n))
                hi = mid;
            else
                lo = mid;
        }
        JE = hi;
    }

    /* compaction in ascending j, in place */
    uint written = 0u;
    for (uint base = 0u; base < NB; base += WG) {
        uint j = base + tid;
        bool pick = false;
        if (j < NB) {
            if (j >= NBv || j == i) {
                pick = true;
            } else {
                float s = score(j);
                pick = (n > 0u && ge(okey(s), j, HE, JE)) || (rule == 2u && s >= thr);
            }
        }
        scan[tid] = pick ? 1u : 0u;
        barrier(); /* every read of this chunk precedes the writes below */
        for (uint st = 1u; st < WG; st <<= 1u) {
            uint v = tid >= st ? scan[tid - st] : 0u;
            barrier();
            scan[tid] += v;
            barrier();
        }
        if (pick)
            kv_cols[pc.off[3] + row + written + scan[tid] - 1u] = int(j);
        written += scan[WG - 1u];
        barrier();
    }
    if (tid == 0u)
        kv_count[pc.off[2] + m] = int(written);
}
