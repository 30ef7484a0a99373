/* Shared declarations of the voxattn compute shaders (included by every
 * shaders/*.comp). Build-time defines (backends/vulkan/meson.build):
 *   DT_F32 / DT_F16 / DT_BF16   element type of block-layout tensors
 *   W32 / W16                   word size of the pure-copy (permute) shaders
 * Every pipeline uses one descriptor-set layout (12 storage buffers) and one
 * 128-byte push-constant block:
 *   base, total   linear workgroup id offset and count (large launches are
 *                 split into several 2D dispatches by the host)
 *   off[12]       element offset of each binding (the host binds at an
 *                 aligned byte offset and passes the remainder here)
 *   p[18]         op parameters (floats as bit patterns)
 */
#extension GL_EXT_shader_16bit_storage : enable

layout(push_constant) uniform PushConstants {
    uint base;
    uint total;
    uint off[12];
    uint p[18];
} pc;

uint group_linear_id()
{
    return pc.base + gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
}

float pf(uint i) { return uintBitsToFloat(pc.p[i]); }

#define NEG_INF uintBitsToFloat(0xff800000u)

/* LD(x): element expression -> float; ST(x): float -> element expression.
 * With 16-bit storage only (no 16-bit arithmetic), 16-bit values exist only in
 * buffer accesses, so these are macros applied directly to them. */
#if defined(DT_F32)
#define ELEM float
#define LD(x) (x)
#define ST(x) (x)
#elif defined(DT_F16)
#define ELEM float16_t
#define LD(x) float(x)
#define ST(x) float16_t(x)
#elif defined(DT_BF16)
#define ELEM uint16_t
#define LD(x) uintBitsToFloat(uint(x) << 16)
#define ST(x) uint16_t(bf16_bits(x))
uint bf16_bits(float x)
{
    uint u = floatBitsToUint(x);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (u >> 16) | 0x40u;    /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
    return u >> 16;
}
#endif

#if defined(W32)
#define WORD uint
#define WORD_ZERO 0u
#elif defined(W16)
#define WORD uint16_t
#define WORD_ZERO uint16_t(0u)
#endif
