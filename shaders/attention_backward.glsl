/* Shared declarations of the attention_backward shaders (vox_op_attention_backward,
 * core/backend.h), included by attention_backward_{prep,dq,dkdv}.comp:
 * the push constants, the bindings in the order of VOX_ATTENTION_BACKWARD_BUFS,
 * and the index helpers. The host (backends/vulkan/vk_ops.c) records three
 * passes over the same bindings and arguments:
 *   prep  dO_eff (pruned rows' dO summed into their source rows, written back
 *         into dout) and delta = dO_eff . o into the LSE's work half
 *   dq    one workgroup per (bh, query block, tile of rows): dQ over the
 *         forward CSR of the block
 *   dkdv  one workgroup per (bh, key block, tile of keys): dK and dV over the
 *         transposed CSR (the query blocks attending to the key block)
 * A row is computed when it is valid and its fill_src is itself (every valid
 * row without fill_src); the others get no gradient and give none.
 * The shader may define DOUT_WRITABLE (prep: dout is read and written). */
#include "common.glsl"

layout(push_constant) uniform PC {
    VOX_GLSL_PC_HEAD(VOX_ATTENTION_BACKWARD_BUFS) VOX_GLSL_FIELDS(VOX_ATTENTION_BACKWARD_ARGS)
} pc;

layout(std430, set = 0, binding = 0) readonly buffer Q { ELEM q[]; };
layout(std430, set = 0, binding = 1) readonly buffer K { ELEM k[]; };
layout(std430, set = 0, binding = 2) readonly buffer Vv { ELEM v[]; };
layout(std430, set = 0, binding = 3) readonly buffer O { ELEM o[]; };
#ifdef DOUT_WRITABLE
layout(std430, set = 0, binding = 4) buffer Dout { ELEM dout[]; };
#else
layout(std430, set = 0, binding = 4) readonly buffer Dout { ELEM dout[]; };
#endif
layout(std430, set = 0, binding = 5) buffer Lse { float lse[]; }; /* [2][BH][S]: LSE, then delta */
layout(std430, set = 0, binding = 6) writeonly buffer DQ { ELEM dq[]; };
layout(std430, set = 0, binding = 7) writeonly buffer DK { ELEM dk[]; };
layout(std430, set = 0, binding = 8) writeonly buffer DV { ELEM dv[]; };
layout(std430, set = 0, binding = 9) readonly buffer Mask { int mask[]; };
layout(std430, set = 0, binding = 10) readonly buffer Fill { int fill_src[]; };
layout(std430, set = 0, binding = 11) readonly buffer BlockValid { int block_valid[]; };

/* element offsets of the bindings (push-constant head) */
#define OFF_Q pc.off[0]
#define OFF_K pc.off[1]
#define OFF_V pc.off[2]
#define OFF_O pc.off[3]
#define OFF_DOUT pc.off[4]
#define OFF_LSE pc.off[5]
#define OFF_DQ pc.off[6]
#define OFF_DK pc.off[7]
#define OFF_DV pc.off[8]
#define OFF_MASK pc.off[9]
#define OFF_FILL pc.off[10]
#define OFF_VALID pc.off[11]

uint bwd_nb() { return vox_u64lo(pc.NB); }
uint bwd_slots() { return vox_u64lo(pc.NB) * uint(pc.V); }
/* rows of the packed mask's header: R = BH*NB */
uint bwd_rows() { return vox_u64lo(pc.BH) * vox_u64lo(pc.NB); }
int block_rows(uint blk) { return block_valid[OFF_VALID + blk]; }

/* Whether local row r of block blk (head bh) is computed, r < block_rows(blk). */
bool row_computed(uint bh, uint blk, uint r)
{
    uint slot = blk * uint(pc.V) + r;
    return pc.has_fill == 0 || fill_src[OFF_FILL + bh * bwd_slots() + slot] == int(slot);
}

/* The LSE of row `row` (bh*S + slot) and its delta (the work half). */
float row_lse(uint row) { return lse[OFF_LSE + row]; }
float row_delta(uint row) { return lse[OFF_LSE + vox_u64lo(pc.BH) * bwd_slots() + row]; }

/* Scores carry more than f32: P = exp(s*scale - lse) turns an absolute error
 * of s*scale into a relative error of P, and with logits of hundreds f32's
 * rounding of q.k, of the scale or of their product would exceed the f32
 * tolerances. So the dot product keeps the rounding errors of its sum apart
 * (TwoSum; the products' own errors are smaller and not kept), the scale
 * comes in two parts (scale + scale_lo) and s*scale is formed exactly by
 * Veltkamp splitting (fma is not fused on every device).
 * add_score: s + c += x; prob: P of the unscaled score s + c. */
void add_score(inout float s, inout float c, float x)
{
    precise float t = s + x;
    precise float xb = t - s;
    precise float err = (s - (t - xb)) + (x - xb);
    c += err;
    s = t;
}
/* a = hi + lo with 12-bit halves (|a| < 2^100) */
void split(float a, out float hi, out float lo)
{
    precise float t = 4097.0 * a;
    precise float h = t - (t - a);
    hi = h;
    lo = a - h;
}
float prob(float s, float c, float l)
{
    precise float p = s * pc.scale;
    precise float x = p - l;
    if (abs(s) < 1e30) {
        float sh, sl, ch, cl;
        split(s, sh, sl);
        split(pc.scale, ch, cl);
        precise float pe = ((sh * ch - p) + sh * cl + sl * ch) + sl * cl; /* s*scale - p, exactly */
        x += pe + (s * pc.scale_lo + c * pc.scale);
    }
    return exp(x);
}
