/* 16-bit floats (bf16, f16) as exact f64 values by moving bits, for the f64 sums of block_means and of
 * query_select's q means of the kept rows (the two must agree bit for bit): element h (its 16 bits) times
 * 2^-S is the f64 whose high word holds h's sign at bit 31 and its exponent and fraction shifted left by
 * SHIFT = 20 - the fraction's bits (bf16: S = 896, f16: S = 1008). Exact, subnormals included; wrong (a
 * finite value) for Inf and NaN, which is_special tells. The sums of those values are the element sums
 * times 2^-S bitwise, scaled back by scale() = 2^S at the end. Included by the op files that use it. */
#ifndef VOX_GPU_HALF_BITS_CUH
#define VOX_GPU_HALF_BITS_CUH

template <unsigned EXP, unsigned MANT, int S> struct vox_half_bits {
    enum { SHIFT = 20 - (MANT == 0x7fu ? 7 : 10) };
    static __device__ __forceinline__ double scale() { return S == 896 ? 0x1p896 : 0x1p1008; }
    /* the f64 whose high word is h (low word 0) */
    static __device__ __forceinline__ double hi(unsigned h)
    {
        return __longlong_as_double((long long)((unsigned long long)h << 32));
    }
    /* element h (the low 16 bits) times 2^-S */
    static __device__ __forceinline__ double widen1(unsigned h)
    {
        return hi(((h & 0x7fffu) << SHIFT) | ((h & 0x8000u) << 16));
    }
    static __device__ __forceinline__ bool is_nan(unsigned h) { return (h & MANT) != 0; } /* of a special h */
    static __device__ __forceinline__ bool is_special(unsigned h) { return (h & EXP) == EXP; }
};
typedef vox_half_bits<0x7f80u, 0x7fu, 896> vox_half_bf16;
typedef vox_half_bits<0x7c00u, 0x3ffu, 1008> vox_half_f16;

#endif
