/* How sample_rows and query_select read q, k, v (the rows_view of the CUDA/HIP kernels), included after
 * the op's push constants, which declare heads, sb, sh, st and tok: the slot table at binding
 * ROWS_VIEW_BINDING (8 unless the op defines it), past the op's offset table, and where a row lies in the
 * tensor. rv_origin: where head bh's rows start (they share strides); rv_row_at: the element index of slot
 * s's row from there, the caller's tensor through slot_token (pc.tok = 1 + the table's element offset at
 * that binding) or a block copy (tok 0; sb, sh, st then describe [BH][S][D]). Padding slots (token -1)
 * are never read. */
#ifndef ROWS_VIEW_BINDING
#define ROWS_VIEW_BINDING 8
#endif
layout(std430, set = 0, binding = ROWS_VIEW_BINDING) readonly buffer SlotTok { int slot_tok[]; };

uint rv_origin(uint bh)
{
    uint hd = uint(pc.heads), b = bh / hd;
    return b * vox_u64lo(pc.sb) + (bh - b * hd) * vox_u64lo(pc.sh);
}
uint rv_row_at(uint xo, uint s)
{
    uint tk = vox_u64lo(pc.tok);
    return xo + (tk != 0u ? uint(slot_tok[tk - 1u + s]) : s) * vox_u64lo(pc.st);
}
/* rv_row_at for a slot that may be padding: *pad, and then the origin's row (an index in range, never read) */
uint rv_row_or_pad(uint xo, uint s, out bool pad)
{
    uint tk = vox_u64lo(pc.tok);
    int t = tk != 0u ? slot_tok[tk - 1u + s] : int(s);
    pad = t < 0;
    return xo + uint(max(t, 0)) * vox_u64lo(pc.st);
}
