/* Workload presets (docs/), the one translation of a workload into plan
 * parameters (used by bench, demo and the tests), and a structured synthetic
 * video-attention generator: queries and keys carry real spatial-temporal
 * locality (random Fourier features of the token's (t,y,x) position), so
 * heads have the spatial or temporal character real DiT heads show, not
 * white noise. */
#ifndef VOX_PERF_WORKLOAD_H
#define VOX_PERF_WORKLOAD_H

#include <stdint.h>

#include "../include/voxattn.h" /* workload.c is built without the library's include path */

typedef struct vox_workload {
    const char *name;
    int64_t batch, heads, head_dim;
    int64_t frames, height, width, text;
    int text_before;
} vox_workload;

extern const vox_workload vox_workload_presets[];
extern const int vox_workload_preset_count;
const vox_workload *vox_workload_find(const char *name);

static inline int64_t vox_workload_tokens(const vox_workload *w)
{
    return w->frames * w->height * w->width + w->text;
}

/* Grids of at most this many video tokens get thin default blocks. */
#define VOX_WORKLOAD_THIN_TOKENS 4096

/* Whether w's default block is thin: (1,4,4) instead of (4,4,4). */
int vox_workload_thin(const vox_workload *w);

/* Plan parameters of w over vox_plan_defaults: shape, text position, dtype,
 * mask mode and block. block NULL (or {0,..}) picks the default for the grid:
 * (4,4,4), or on a thin grid (1,4,4) with the narrow temporal pattern
 * (svg_space_blocks 0) and kv_min_blocks 2 so that small grids stay
 * selective. Query windows are clipped to the block (a window dimension
 * larger than the block's becomes the block's). */
void vox_workload_plan_params(const vox_workload *w, vox_dtype dtype, vox_mask_mode mode, const int *block,
                              vox_plan_params *p);

/* Fills q, k, v as f32 [B,H,N,D] (caller token order: text before or after the
 * video). Even heads are spatial (attend within their frame), odd heads
 * temporal (attend to their spatial neighbourhood in every frame). `sharpness`
 * scales the logits (1 = moderate concentration). Returns 0 on success. */
int vox_workload_generate(const vox_workload *w, uint64_t seed, double sharpness, float *q, float *k,
                          float *v);
/* The same for heads bh0 <= b*H + h < bh1 only (the rest untouched): every
 * head has its own random stream, so parallel calls give the same data. */
int vox_workload_generate_heads(const vox_workload *w, uint64_t seed, double sharpness, int64_t bh0, int64_t bh1,
                                float *q, float *k, float *v);

#endif
