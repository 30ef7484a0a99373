/* voxattn OpenCL: definitions shared by every program. The host puts
 * core/kernel_args.h (each op's buffers and scalars: kernel parameters,
 * offsets, the `args` struct) ahead of this file and the op files after it.
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
/* an f64 argument (double_bits) where the device has fp64, else its f32 mirror */
#define VOX_REAL_ARG(f64_field, f32_field) ((real)as_double(f64_field))
#else
typedef float real;
#define VOX_REAL_ARG(f64_field, f32_field) ((real)(f32_field))
#endif

#if VOX_DTYPE == 0
typedef float stor;    /* storage element (`e` buffers of core/kernel_args.h) */
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

#define LID ((int)get_local_id(0))
#define LSZ ((int)get_local_size(0))

/* f32 -> bf16, round to nearest even, NaN kept quiet (as core/half.h). */
ushort vox_f2bf(float f)
{
    uint u = as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (ushort)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (ushort)(u >> 16);
}

/* Exact power-of-two scaling, for f32 sums that must neither overflow nor
 * underflow on huge or tiny inputs (query_select, kv_select without fp64):
 * vox_exponent(bits of max|x|) is an e with max|x| < 2^e (frexp's for
 * normal values; 0, no scaling, for 0, Inf and NaN), vox_pow2_scaled(x, e)
 * is x * 2^-e in two factors so that neither overflows. */
int vox_exponent(uint bits) { return bits == 0 || bits >= 0x7f800000u ? 0 : max((int)(bits >> 23), 1) - 126; }

float vox_pow2_scaled(float x, int e) { return ldexp(ldexp(x, -e / 2), -e - (-e / 2)); }

/* Key slot (token index in the head) of position p of a query block's key
 * list: the list is the KV blocks cols[start..], V (a power of two, 1 <<
 * logV) positions each; -1 for padding tokens and positions past the
 * list's nkeys. Shared by every attention kernel (forward and backward). */
int vox_key_slot(long p, long nkeys, int logV, int V, int start, __global const int *cols, __global const int *valid)
{
    if (p >= nkeys)
        return -1;
    int c = (int)(p >> logV), off = (int)p & (V - 1);
    int blk = cols[start + c];
    return off < valid[blk] ? blk * V + off : -1;
}

/* Element offset of slot s's row in a tensor read as sample_rows reads q, k,
 * v (core/kernel_args.h: heads, sb, sh, st, tok): xo, the (b, h) origin
 * (vox_rows_origin), plus slot * st, where slot = slot_token[s] when tok is
 * set (the caller's tensor; OpenCL passes the table as the kernel's last
 * buffer parameter), s itself for a block copy. Padding slots are never
 * read. vox_row_of: that slot (the row's index along st). */
long vox_rows_origin(long bh, int heads, long sb, long sh) { return bh / heads * sb + bh % heads * sh; }
long vox_row_of(__global const int *slot_token, long tok, long s)
{
    return tok ? (long)slot_token[s] : s;
}
long vox_rows_at(__global const int *slot_token, long tok, long xo, long st, long s)
{
    return xo + vox_row_of(slot_token, tok, s) * st;
}

/* Block pattern test of the reference (sample_rows_attention); used by
 * sample_rows.cl and sample_rows_mma.cl. */
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
