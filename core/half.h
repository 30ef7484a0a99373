/* Typed element loads and stores (private, host side) through the f16/bf16
 * <-> f32 conversions of half_bits.h. */
#ifndef VOX_CORE_HALF_H
#define VOX_CORE_HALF_H

#include <stdint.h>

#include "half_bits.h" /* the conversions, shared with the CUDA/HIP kernels */

/* Load element i of a typed array as float / double. */
static inline double vox_load(const void *p, int dtype, int64_t i)
{
    switch (dtype) {
    case 0: return ((const float *)p)[i];
    case 1: return vox_f16_to_f32(((const uint16_t *)p)[i]);
    default: return vox_bf16_to_f32(((const uint16_t *)p)[i]);
    }
}

static inline void vox_store(void *p, int dtype, int64_t i, double v)
{
    switch (dtype) {
    case 0: ((float *)p)[i] = (float)v; break;
    case 1: ((uint16_t *)p)[i] = vox_f32_to_f16((float)v); break;
    default: ((uint16_t *)p)[i] = vox_f32_to_bf16((float)v); break;
    }
}

#endif
