/* NVIDIA sm_80+ building blocks of the mma.sync kernels (attention_forward_mma.cuh,
 * attention_backward_mma.cuh): cp.async copies (zero-fill when the source size is 0),
 * ldmatrix fragment loads (plain and transposed), mma.sync.m16n8k16 with f32
 * accumulation, the f32 -> f16x2/bf16x2 pack (pack2.cuh) and the XOR swizzle of the
 * 16-byte chunks of a [rows][DP] u16 tile. Fragment layouts (PTX ISA, m16n8k16):
 * lane = 4*g + t; A (16x16): a0 (row g, cols 2t,2t+1), a1 (row g+8), a2 (row g, cols
 * 2t+8, 2t+9), a3 (row g+8, cols 2t+8, 2t+9); B (16x8): b0 (k 2t,2t+1; col g), b1
 * (k 2t+8, 2t+9); C (16x8): c0,c1 (row g, cols 2t,2t+1), c2,c3 (row g+8).
 * Only where VOX_HAVE_MMA_SYNC. */
#pragma once
#if VOX_HAVE_MMA_SYNC

__device__ __forceinline__ unsigned vox_smem_addr(const void *p)
{
    return (unsigned)__cvta_generic_to_shared(p);
}
__device__ __forceinline__ void vox_cp_async16(void *dst, const void *src, int bytes)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(vox_smem_addr(dst)), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void vox_cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void vox_cp_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ void vox_ldsm_x4(unsigned *r, const void *p)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(vox_smem_addr(p)));
}
__device__ __forceinline__ void vox_ldsm_x4_t(unsigned *r, const void *p)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(vox_smem_addr(p)));
}

template <bool BF> __device__ __forceinline__ void vox_mma16816(float *c, const unsigned *a, unsigned b0, unsigned b1)
{
    if (BF)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    else
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

#include "pack2.cuh"

/* Element offset of 16-byte chunk ch of row r in a [rows][DP] tile. */
template <int DP> __device__ __forceinline__ int vox_swz(int r, int ch) { return r * DP + ((ch ^ (r & 7)) << 3); }

#endif
