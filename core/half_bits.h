/* Scalar f16/bf16 <-> f32 conversions, round to nearest even, written once
 * for the host C code (core/half.h) and the CUDA/HIP kernels
 * (backends/gpu/kernels/vox_gpu_port.h), so both are bit-exact alike. */
#ifndef VOX_CORE_HALF_BITS_H
#define VOX_CORE_HALF_BITS_H

#include <stdint.h>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define VOX_HALF_FN __device__ __forceinline__
#define VOX_F32_BITS(f) __float_as_uint(f)
#define VOX_BITS_F32(u) __uint_as_float(u)
#else
#include <string.h>
#define VOX_HALF_FN static inline

static inline uint32_t vox_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float vox_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}
#define VOX_F32_BITS(f) vox_f32_bits(f)
#define VOX_BITS_F32(u) vox_bits_f32(u)
#endif

VOX_HALF_FN float vox_bf16_to_f32(uint16_t h) { return VOX_BITS_F32((uint32_t)h << 16); }

VOX_HALF_FN uint16_t vox_f32_to_bf16(float f)
{
    uint32_t u = VOX_F32_BITS(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it quiet NaN */
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

VOX_HALF_FN float vox_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24 */
        float f = (float)man * 5.9604644775390625e-8f;
        return sign ? -f : f;
    }
    if (exp == 31)
        return VOX_BITS_F32(sign | 0x7f800000u | (man << 13));
    return VOX_BITS_F32(sign | ((exp + 112u) << 23) | (man << 13));
}

VOX_HALF_FN uint16_t vox_f32_to_f16(float f)
{
    uint32_t u = VOX_F32_BITS(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00u); /* NaN */
    if (a >= 0x477ff000u)                  /* rounds to >= 65520: inf */
        return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) { /* below the smallest normal 2^-14: subnormal */
        /* value = a as float; subnormal unit 2^-24 */
        float v = VOX_BITS_F32(a) * 16777216.0f; /* scale to units of 2^-24 */
        /* round to nearest even */
        uint32_t q = (uint32_t)v;
        float r = v - (float)q;
        if (r > 0.5f || (r == 0.5f && (q & 1u)))
            q++;
        return (uint16_t)(sign | q);
    }
    uint32_t exp = (a >> 23) - 112u, man = a & 0x7fffffu;
    uint32_t h = (exp << 10) | (man >> 13);
    uint32_t rest = man & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
        h++;
    return (uint16_t)(sign | h);
}

#undef VOX_HALF_FN
#undef VOX_F32_BITS
#undef VOX_BITS_F32

#endif
