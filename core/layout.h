/* 3D blocking of a video token grid plus global tokens (private). */
#ifndef VOX_CORE_LAYOUT_H
#define VOX_CORE_LAYOUT_H

#include <stdint.h>

#include "voxattn.h"

typedef struct vox_layout {
    int64_t frames, height, width, text;
    int text_before;
    int bt, bh, bw, V;
    int wt, wh, ww;            /* effective query window */
    int64_t gbt, gbh, gbw;     /* blocks along t, y, x */
    int64_t n_video_tokens, n_tokens;
    int64_t n_video_blocks, n_global_blocks, n_blocks, n_slots;
    int32_t *slot_token;  /* [n_slots] caller token or -1 */
    int32_t *token_slot;  /* [n_tokens] */
    int32_t *block_valid; /* [n_blocks] */
    int32_t *block_coord; /* [n_blocks*3] */
    int32_t *win_ptr;     /* [n_video_blocks+1] */
    int32_t *windows;     /* [n_windows*4]: first slot, len, centre slot, keep */
    int64_t n_windows;
} vox_layout;

/* Validates grid/blocks/windows (returns a status and a message) and fills the
 * tables. query_keep sets each window's keep count ceil(query_keep*m). */
vox_status vox_layout_build(vox_layout *L, const vox_plan_params *p, char *why, size_t why_size);
void vox_layout_free(vox_layout *L);

#endif
