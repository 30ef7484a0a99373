/* Workload presets of DESIGN.md and a structured synthetic video-attention
 * generator: queries and keys carry real spatial-temporal locality (random
 * Fourier features of the token's (t,y,x) position), so heads have the
 * spatial or temporal character real DiT heads show, not white noise. */
#ifndef VOX_PERF_WORKLOAD_H
#define VOX_PERF_WORKLOAD_H

#include <stdint.h>

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
