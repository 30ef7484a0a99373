/* voxattn OpenCL: shared definitions (prepended to every program).
 * Build defines: VOX_DTYPE (0 f32, 1 f16, 2 bf16), VOX_USE_FP64 (0/1).
 * OpenCL C 1.2 baseline: f16 through vload_half/vstore_half (no extension
 * needed), bf16 as ushort with round-to-nearest-even on store. */
#ifndef VOX_DTYPE
#define VOX_DTYPE 0
#endif

#if VOX_USE_FP64
#ifdef cl_khr_fp64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
typedef double real;
#else
typedef float real;
#endif

#if VOX_DTYPE == 0
typedef float stor;    /* storage element */
typedef uint rawel;    /* same size, for copies */
#define LOADF(p, i) ((p)[i])
#define STOREF(p, i, x) ((p)[i] = (x))
#elif VOX_DTYPE == 1
typedef half stor;
typedef ushort rawel;
#define LOADF(p, i) vload_half((i), (p))
#define STOREF(p, i, x) vstore_half_rte((x), (i), (p))
#else
typedef ushort stor;
typedef ushort rawel;
#define LOADF(p, i) as_float(((uint)(p)[i]) << 16)
#define STOREF(p, i, x) ((p)[i] = vox_f2bf(x))
#endif

/* f32 -> bf16, round to nearest even, NaN kept quiet (as core/half.h). */
ushort vox_f2bf(float f)
{
    uint u = as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (ushort)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (ushort)(u >> 16);
}

/* Arguments of both attention kernels (attention.cl, attention_mma.cl), in
 * the order attn_args() in cl_backend.c sets them: each buffer is followed by
 * its element offset, which VOX_ATTN_APPLY_OFFSETS() adds. */
#define VOX_ATTN_PARAMS(T)                                                                                  \
    __global const T *q, ulong q_off, __global const T *k, ulong k_off, __global const T *v, ulong v_off,  \
        __global T *o, ulong o_off, __global float *lse, ulong lse_off, __global const int *kv_start,       \
        ulong ks_off, __global const int *kv_count, ulong kc_off, __global const int *kv_cols,              \
        ulong cols_off, __global const int *kept_count, ulong kpc_off, __global const int *kept_rows,       \
        ulong kpr_off, int has_kept, __global const int *valid, ulong valid_off, long NB, int V, int tiles, \
        long total, float scale
#define VOX_ATTN_APPLY_OFFSETS()   \
    do {                           \
        q += q_off;                \
        k += k_off;                \
        v += v_off;                \
        o += o_off;                \
        lse += lse_off;            \
        kv_start += ks_off;        \
        kv_count += kc_off;        \
        kv_cols += cols_off;       \
        valid += valid_off;        \
        if (has_kept) {            \
            kept_count += kpc_off; \
            kept_rows += kpr_off;  \
        }                          \
    } while (0)
