/* The block layout (docs/algorithms.md): each 3D block contiguous, blocks in
 * (t,y,x) order, ragged edge blocks padded, global tokens in trailing blocks.
 * Inside a video block the valid tokens come first, grouped by query window
 * (windows in (t,y,x) order, tokens in (t,y,x) order inside a window), so a
 * window is a contiguous slot range and padding is a block's tail. */
#include "layout.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SLOTS ((int64_t)1 << 30) /* int32 tables with headroom */

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

void vox_layout_free(vox_layout *L)
{
    free(L->slot_token);
    free(L->token_slot);
    free(L->block_valid);
    free(L->block_coord);
    free(L->win_ptr);
    free(L->windows);
    memset(L, 0, sizeof *L);
}

static int is_pow2(int v) { return v > 0 && (v & (v - 1)) == 0; }

vox_status vox_layout_build(vox_layout *L, const vox_plan_params *p, char *why, size_t n)
{
    memset(L, 0, sizeof *L);
    if (p->frames < 1 || p->height < 1 || p->width < 1 || p->text_tokens < 0) {
        snprintf(why, n, "grid %lldx%lldx%lld with %lld text tokens is invalid", (long long)p->frames,
                 (long long)p->height, (long long)p->width, (long long)p->text_tokens);
        return VOX_ERR_INVALID_ARGUMENT;
    }
    if (p->frames > MAX_SLOTS || p->height > MAX_SLOTS || p->width > MAX_SLOTS ||
        p->text_tokens > MAX_SLOTS || p->frames * p->height > MAX_SLOTS ||
        p->frames * p->height * p->width > MAX_SLOTS) {
        snprintf(why, n, "grid too large (more than 2^30 tokens)");
        return VOX_ERR_INVALID_ARGUMENT;
    }
    if (p->block_t < 1 || p->block_h < 1 || p->block_w < 1 || p->block_t > 256 ||
        p->block_h > 256 || p->block_w > 256) {
        snprintf(why, n, "block shape (%d,%d,%d) is invalid", p->block_t, p->block_h, p->block_w);
        return VOX_ERR_INVALID_ARGUMENT;
    }
    int V = p->block_t * p->block_h * p->block_w;
    if (!is_pow2(V) || V < 8 || V > 256) {
        snprintf(why, n, "block volume %d must be a power of two in [8,256]", V);
        return VOX_ERR_INVALID_ARGUMENT;
    }
    if (p->text_position != VOX_TEXT_AFTER && p->text_position != VOX_TEXT_BEFORE) {
        snprintf(why, n, "bad text position");
        return VOX_ERR_INVALID_ARGUMENT;
    }
    L->frames = p->frames, L->height = p->height, L->width = p->width, L->text = p->text_tokens;
    L->text_before = p->text_position == VOX_TEXT_BEFORE;
    L->bt = p->block_t, L->bh = p->block_h, L->bw = p->block_w, L->V = V;
    L->gbt = cdiv(p->frames, p->block_t);
    L->gbh = cdiv(p->height, p->block_h);
    L->gbw = cdiv(p->width, p->block_w);
    L->n_video_tokens = p->frames * p->height * p->width;
    L->n_tokens = L->n_video_tokens + p->text_tokens;
    L->n_video_blocks = L->gbt * L->gbh * L->gbw;
    L->n_global_blocks = cdiv(p->text_tokens, V);
    L->n_blocks = L->n_video_blocks + L->n_global_blocks;
    L->n_slots = L->n_blocks * V;
    if (L->n_slots > MAX_SLOTS || L->n_tokens > MAX_SLOTS) {
        snprintf(why, n, "too many tokens (%lld slots)", (long long)L->n_slots);
        return VOX_ERR_INVALID_ARGUMENT;
    }
    /* every (batch, head) row of the block layout is indexed with int32:
     * refuse here, before any table is allocated */
    int64_t bh = p->batch > 0 && p->heads > 0 ? p->batch * p->heads : 1;
    if (bh > INT32_MAX / L->n_slots) {
        snprintf(why, n, "plan too large: %lld heads x %lld slots exceed 2^31 rows", (long long)bh,
                 (long long)L->n_slots);
        return VOX_ERR_INVALID_ARGUMENT;
    }
    /* Windows matter only with query selection on; otherwise clip them. */
    int wt = p->window_t, wh = p->window_h, ww = p->window_w;
    if (p->query_keep >= 1.0) {
        wt = wt > p->block_t ? p->block_t : wt;
        wh = wh > p->block_h ? p->block_h : wh;
        ww = ww > p->block_w ? p->block_w : ww;
    }
    if (wt < 1 || wh < 1 || ww < 1 || wt > p->block_t || wh > p->block_h || ww > p->block_w) {
        snprintf(why, n, "query window (%d,%d,%d) must be >= 1 and fit in the block (%d,%d,%d)",
                 p->window_t, p->window_h, p->window_w, p->block_t, p->block_h, p->block_w);
        return VOX_ERR_INVALID_ARGUMENT;
    }
    if (!(p->query_keep > 0.0 && p->query_keep <= 1.0)) {
        snprintf(why, n, "query_keep %g must be in (0,1]", p->query_keep);
        return VOX_ERR_INVALID_ARGUMENT;
    }
    /* A window shape that does not divide the block means one window per block. */
    int divides = p->block_t % wt == 0 && p->block_h % wh == 0 && p->block_w % ww == 0;
    L->wt = divides ? wt : p->block_t;
    L->wh = divides ? wh : p->block_h;
    L->ww = divides ? ww : p->block_w;

    int64_t wpb = (int64_t)(L->bt / L->wt) * (L->bh / L->wh) * (L->bw / L->ww);
    L->slot_token = malloc(sizeof(int32_t) * (size_t)L->n_slots);
    L->token_slot = malloc(sizeof(int32_t) * (size_t)L->n_tokens + 1);
    L->block_valid = malloc(sizeof(int32_t) * (size_t)L->n_blocks);
    L->block_coord = malloc(sizeof(int32_t) * 3 * (size_t)L->n_blocks);
    L->win_ptr = malloc(sizeof(int32_t) * (size_t)(L->n_video_blocks + 1));
    L->windows = malloc(sizeof(int32_t) * 4 * (size_t)(L->n_video_blocks * wpb));
    if (!L->slot_token || !L->token_slot || !L->block_valid || !L->block_coord || !L->win_ptr ||
        !L->windows) {
        vox_layout_free(L);
        snprintf(why, n, "host out of memory for the block layout");
        return VOX_ERR_OUT_OF_MEMORY;
    }
    for (int64_t s = 0; s < L->n_slots; s++)
        L->slot_token[s] = -1;
    int64_t video0 = L->text_before ? L->text : 0; /* caller index of the first video token */
    int64_t text0 = L->text_before ? 0 : L->n_video_tokens;
    int64_t nw = 0, b = 0;
    for (int64_t tb = 0; tb < L->gbt; tb++)
        for (int64_t yb = 0; yb < L->gbh; yb++)
            for (int64_t xb = 0; xb < L->gbw; xb++, b++) {
                int64_t t0 = tb * L->bt, y0 = yb * L->bh, x0 = xb * L->bw;
                int64_t slot = b * V;
                L->block_coord[3 * b] = (int32_t)tb;
                L->block_coord[3 * b + 1] = (int32_t)yb;
                L->block_coord[3 * b + 2] = (int32_t)xb;
                L->win_ptr[b] = (int32_t)nw;
                for (int64_t wt0 = t0; wt0 < t0 + L->bt; wt0 += L->wt)
                    for (int64_t wy0 = y0; wy0 < y0 + L->bh; wy0 += L->wh)
                        for (int64_t wx0 = x0; wx0 < x0 + L->bw; wx0 += L->ww) {
                            int64_t et = min64(L->wt, L->frames - wt0);
                            int64_t eh = min64(L->wh, L->height - wy0);
                            int64_t ew = min64(L->ww, L->width - wx0);
                            if (et <= 0 || eh <= 0 || ew <= 0)
                                continue; /* window entirely in padding */
                            /* centre (wt/2, wh/2, ww/2) clipped to the valid part */
                            int64_t ct = min64(L->wt / 2, et - 1), cy = min64(L->wh / 2, eh - 1),
                                    cx = min64(L->ww / 2, ew - 1);
                            int64_t m = et * eh * ew;
                            int32_t *w = &L->windows[4 * nw++];
                            w[0] = (int32_t)slot;
                            w[1] = (int32_t)m;
                            w[2] = (int32_t)(slot + (ct * eh + cy) * ew + cx);
                            int64_t keep = (int64_t)ceil(p->query_keep * (double)m - 1e-9);
                            w[3] = (int32_t)(keep < 1 ? 1 : keep > m ? m : keep);
                            for (int64_t t = 0; t < et; t++)
                                for (int64_t y = 0; y < eh; y++)
                                    for (int64_t x = 0; x < ew; x++, slot++) {
                                        int64_t tok = ((wt0 + t) * L->height + (wy0 + y)) * L->width +
                                                      (wx0 + x);
                                        L->slot_token[slot] = (int32_t)(video0 + tok);
                                        L->token_slot[video0 + tok] = (int32_t)slot;
                                    }
                        }
                L->block_valid[b] = (int32_t)(slot - b * V);
            }
    L->win_ptr[L->n_video_blocks] = (int32_t)nw;
    L->n_windows = nw;
    for (int64_t g = 0; g < L->text; g++) {
        int64_t slot = L->n_video_blocks * V + g;
        L->slot_token[slot] = (int32_t)(text0 + g);
        L->token_slot[text0 + g] = (int32_t)slot;
    }
    for (int64_t gb = 0; gb < L->n_global_blocks; gb++) {
        int64_t bb = L->n_video_blocks + gb;
        L->block_valid[bb] = (int32_t)min64(V, L->text - gb * V);
        L->block_coord[3 * bb] = L->block_coord[3 * bb + 1] = L->block_coord[3 * bb + 2] = -1;
    }
    return VOX_OK;
}
