/* f32 pairs to packed f16x2 / bf16x2 (sm_80+), shared by the mma.sync
 * attention kernel and the Hopper kernel (backends/cuda/sm90). */
#pragma once

/* Two floats to a packed pair (lo = first), round to nearest even. */
template <bool BF> __device__ __forceinline__ unsigned vox_pack2(float lo, float hi)
{
    unsigned d;
    if (BF)
        asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(d) : "f"(hi), "f"(lo));
    else
        asm("cvt.rn.f16x2.f32 %0, %1, %2;\n" : "=r"(d) : "f"(hi), "f"(lo));
    return d;
}
