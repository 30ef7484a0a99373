/* voxattn OpenCL: the inline-PTX tensor-core helpers shared by the
 * tensor-core programs (attention_forward_mma.cl, sample_rows_mma.cl):
 * MMA (mma.sync m16n8k16, f32 accumulate), PACK2 (two floats to a packed
 * 16-bit pair), SHFL_XOR, ROW_MAX / ROW_SUM over a quad, vox_ld16.
 * Build defines: VOX_DTYPE (1 f16, 2 bf16), VOX_MMA_EMU (1: the PTX
 * replaced by work-group emulation, so that any OpenCL device, e.g. PoCL,
 * runs the kernels' index math; tests only: then every MMA, SHFL_XOR,
 * ROW_MAX and ROW_SUM must be reached by the whole work-group, and the
 * kernel declares `__local uint *emu` (its warp's 32 x 6 words) and
 * `lane`). */
#if VOX_MMA_EMU
/* Emulated warp ops: each warp exchanges fragments through its own local
 * scratch; every call is reached by the whole work-group (uniform flow). */
float vox_h2f(uint h)
{
#if VOX_DTYPE == 2
    return as_float(h << 16);
#else
    ushort u = (ushort)h;
    return vload_half(0, (const half *)&u);
#endif
}

uint vox_pack2(float lo, float hi)
{
#if VOX_DTYPE == 2
    return (uint)vox_f2bf(lo) | ((uint)vox_f2bf(hi) << 16);
#else
    ushort u[2];
    vstore_half_rte(lo, 0, (half *)u);
    vstore_half_rte(hi, 1, (half *)u);
    return (uint)u[0] | ((uint)u[1] << 16);
#endif
}

/* One element of the m16n8k16 operands from the fragments of all lanes:
 * A[r][k] is in lane (r%8)*4 + (k%8)/2, register (r/8) + 2*(k/8);
 * B[k][n] is in lane n*4 + (k%8)/2, register 4 + k/8; half k%2. */
float vox_emu_a(__local const uint *sc, int r, int k)
{
    uint w = sc[((r & 7) * 4 + ((k & 7) >> 1)) * 6 + (r >> 3) + 2 * (k >> 3)];
    return vox_h2f((k & 1) ? w >> 16 : w & 0xffffu);
}

float vox_emu_b(__local const uint *sc, int k, int n)
{
    uint w = sc[(n * 4 + ((k & 7) >> 1)) * 6 + 4 + (k >> 3)];
    return vox_h2f((k & 1) ? w >> 16 : w & 0xffffu);
}

void vox_mma_emu(float *c, const uint *a, uint b0, uint b1, __local uint *sc, int lane)
{
    for (int x = 0; x < 4; x++)
        sc[lane * 6 + x] = a[x];
    sc[lane * 6 + 4] = b0;
    sc[lane * 6 + 5] = b1;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int x = 0; x < 4; x++) {
        int r = (lane >> 2) + (x >> 1) * 8, n = (lane & 3) * 2 + (x & 1);
        float acc = c[x];
        for (int k = 0; k < 16; k++)
            acc = fma(vox_emu_a(sc, r, k), vox_emu_b(sc, k, n), acc);
        c[x] = acc;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}

float vox_shfl_emu(float x, int mask, __local uint *sc, int lane)
{
    sc[lane] = as_uint(x);
    barrier(CLK_LOCAL_MEM_FENCE);
    float y = as_float(sc[lane ^ mask]);
    barrier(CLK_LOCAL_MEM_FENCE);
    return y;
}

#define MMA(c, a, b0, b1) vox_mma_emu((c), (a), (b0), (b1), emu, lane)
#define PACK2(d, lo, hi) ((d) = vox_pack2((lo), (hi)))
#define SHFL_XOR(d, x, m) ((d) = vox_shfl_emu((x), (m), emu, lane))
#else
/* Statement macros, not functions: the asm is inlined whatever the
 * compiler's inlining decisions (fragments must stay in registers). */
#if VOX_DTYPE == 2
#define MMA_INSN "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"
#define CVT_INSN "cvt.rn.bf16x2.f32"
#else
#define MMA_INSN "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"
#define CVT_INSN "cvt.rn.f16x2.f32"
#endif
/* D = A B + D for one 16x8x16 tile of the warp */
#define MMA(c, a, b0, b1)                                                                                \
    asm volatile(MMA_INSN " {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"                       \
                 : "+f"((c)[0]), "+f"((c)[1]), "+f"((c)[2]), "+f"((c)[3])                              \
                 : "r"((a)[0]), "r"((a)[1]), "r"((a)[2]), "r"((a)[3]), "r"(b0), "r"(b1))
/* two floats to a packed pair, lo in the low half, round to nearest even
 * (cvt puts its first source in the upper half) */
#define PACK2(d, lo, hi) asm(CVT_INSN " %0, %1, %2;" : "=r"(d) : "f"(hi), "f"(lo))
/* d = x of lane ^ m (m a literal 1 or 2) */
#define SHFL_XOR(d, x, m)                                                                                 \
    do {                                                                                                  \
        uint vox_y_;                                                                                      \
        asm volatile("shfl.sync.bfly.b32 %0, %1, " #m ", 31, 0xffffffff;" : "=r"(vox_y_) : "r"(as_uint(x))); \
        (d) = as_float(vox_y_);                                                                           \
    } while (0)
#endif

/* x combined with the x of the other 3 lanes that hold its row (a quad),
 * by COMBINE(a, b): a butterfly over lane ^ 1 and lane ^ 2 */
#define QUAD_REDUCE(x, COMBINE)                                                                           \
    do {                                                                                                  \
        float vox_o_;                                                                                     \
        SHFL_XOR(vox_o_, x, 1);                                                                           \
        (x) = COMBINE((x), vox_o_);                                                                       \
        SHFL_XOR(vox_o_, x, 2);                                                                           \
        (x) = COMBINE((x), vox_o_);                                                                       \
    } while (0)
#define VOX_QUAD_ADD(a, b) ((a) + (b))
/* max and sum over the 4 lanes that hold one row */
#define ROW_MAX(x) QUAD_REDUCE(x, fmax)
#define ROW_SUM(x) QUAD_REDUCE(x, VOX_QUAD_ADD)

/* 16 bytes at p, or zero where !ok. The load is unconditional (callers pass
 * an address inside the buffer either way), so that the compiler can issue
 * every load of a tile before the first use. */
uint4 vox_ld16(__global const ushort *p, int ok)
{
    uint4 x = *(__global const uint4 *)p;
    return ok ? x : (uint4)(0u);
}

/* Eight transposed words of a V tile: x and y hold 8 dims of keys 2 lane and
 * 2 lane + 1; word i of dst (stride words apart) is (V[2 lane][d_i],
 * V[2 lane + 1][d_i]), the k-pair layout of the P V products' B fragments */
void vox_vt_store8(__local uint *dst, int stride, uint4 x, uint4 y)
{
    dst[0 * stride] = (x.s0 & 0xffffu) | (y.s0 << 16);
    dst[1 * stride] = (x.s0 >> 16) | (y.s0 & 0xffff0000u);
    dst[2 * stride] = (x.s1 & 0xffffu) | (y.s1 << 16);
    dst[3 * stride] = (x.s1 >> 16) | (y.s1 & 0xffff0000u);
    dst[4 * stride] = (x.s2 & 0xffffu) | (y.s2 << 16);
    dst[5 * stride] = (x.s2 >> 16) | (y.s2 & 0xffff0000u);
    dst[6 * stride] = (x.s3 & 0xffffu) | (y.s3 << 16);
    dst[7 * stride] = (x.s3 >> 16) | (y.s3 & 0xffff0000u);
}
