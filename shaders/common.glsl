/* Shared declarations of the voxattn compute shaders (included by every
 * shaders/*.comp). Build-time defines (backends/vulkan/meson.build):
 *   VOX_GLSL                    core/kernel_args.h in its GLSL form (the
 *                               build passes -DVOX_GLSL -I core)
 *   DT_F32 / DT_F16 / DT_BF16   element type of block-layout tensors
 *   W128 / W32 / W16            word size of the pure-copy (permute) shaders
 * Every pipeline uses one descriptor-set layout (12 storage buffers, bound in
 * the order of the op's VOX_<OP>_BUFS) and declares its push constants as
 *   layout(push_constant) uniform PC {
 *       VOX_GLSL_PC_HEAD(VOX_<OP>_BUFS) VOX_GLSL_FIELDS(VOX_<OP>_ARGS) } pc;
 * i.e. the head
 *   wg_base, wg_count  linear workgroup id offset and count (large launches
 *                 are split into several 2D dispatches by the host)
 *   off[n]        element offset of each binding (the host binds at an
 *                 aligned byte offset and passes the remainder here); n is
 *                 the op's buffer count rounded up to even
 * then the op's kernel arguments by name, as the host's vox_<op>_args lays
 * them out (backends/vulkan/vk_internal.h checks the layout). i64 fields
 * arrive as uvec2 (low word first, read with vox_u64lo: the host keeps every
 * index within 32 bits); f64 fields have f32 mirrors (scale_f, ...) to read.
 */
#extension GL_EXT_shader_16bit_storage : enable

#include "kernel_args.h"

#define VOX_GLSL_ONE(t, n) +1
#define VOX_GLSL_PC_HEAD(BUFS) uint wg_base; uint wg_count; uint off[((0 BUFS(VOX_GLSL_ONE)) + 1) / 2 * 2];

/* linear workgroup id (after the shader's push-constant declaration) */
#define group_linear_id() (pc.wg_base + gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x)

uint vox_u64lo(uvec2 v) { return v.x; }

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

#if defined(W128)
#define WORD uvec4
#define WORD_ZERO uvec4(0u)
#elif defined(W32)
#define WORD uint
#define WORD_ZERO 0u
#elif defined(W16)
#define WORD uint16_t
#define WORD_ZERO uint16_t(0u)
#endif

/* Exact power-of-two scaling, for f32 sums that must neither overflow nor
 * underflow on huge or tiny inputs (query_select, kv_select):
 * exponent_of(bits of max|x|) is an e with max|x| < 2^e (frexp's for normal
 * values; 0, no scaling, for 0, Inf and NaN), pow2_scaled(x, e) is x * 2^-e
 * in two factors so that neither overflows. */
int exponent_of(uint bits) { return bits == 0u || bits >= 0x7f800000u ? 0 : max(int(bits >> 23u), 1) - 126; }

float pow2_scaled(float x, int e) { return ldexp(ldexp(x, -e / 2), -e - (-e / 2)); }
