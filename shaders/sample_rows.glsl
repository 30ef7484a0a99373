/* Shared by sample_rows.comp and its coop-matrix pass sample_rows_cm.comp (included after their push
 * constants, which declare heads, sb, sh, st and tok): the slot table at binding 8, past the op's offset
 * table, and where a sampled or streamed row lies in q, k, v. Where head bh's rows start (they share
 * strides) and the element index of slot s's row from there: the caller's tensors through slot_token
 * (pc.tok = 1 + the table's element offset at binding 8) or the block copies (tok 0; sb, sh, st then
 * describe [BH][S][D]). */
layout(std430, set = 0, binding = 8) readonly buffer SlotTok { int slot_tok[]; };

uint sr_row_origin(uint bh)
{
    uint hd = uint(pc.heads), b = bh / hd;
    return b * vox_u64lo(pc.sb) + (bh - b * hd) * vox_u64lo(pc.sh);
}
uint sr_row_at(uint xo, uint s)
{
    uint tk = vox_u64lo(pc.tok);
    return xo + (tk != 0u ? uint(slot_tok[tk - 1u + s]) : s) * vox_u64lo(pc.st);
}
