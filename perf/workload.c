#include "workload.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const vox_workload vox_workload_presets[] = {
    {"tiny", 1, 2, 64, 4, 8, 8, 8, 0},
    {"wan-1.3b-480p", 1, 12, 128, 21, 30, 52, 0, 0},
    {"wan-14b-720p", 1, 40, 128, 21, 45, 80, 0, 0},
    {"hunyuan-720p", 1, 24, 128, 33, 45, 80, 256, 0},
    {"cogvideox-5b", 1, 48, 64, 13, 30, 45, 226, 1},
};
const int vox_workload_preset_count = sizeof vox_workload_presets / sizeof vox_workload_presets[0];

const vox_workload *vox_workload_find(const char *name)
{
    for (int i = 0; i < vox_workload_preset_count; i++)
        if (strcmp(vox_workload_presets[i].name, name) == 0)
            return &vox_workload_presets[i];
    return NULL;
}

int vox_workload_thin(const vox_workload *w)
{
    return w->frames * w->height * w->width <= VOX_WORKLOAD_THIN_TOKENS;
}

static int clip(int window, int block) { return window < block ? window : block; }

void vox_workload_plan_params(const vox_workload *w, vox_dtype dtype, vox_mask_mode mode, const int *block,
                              vox_plan_params *p)
{
    vox_plan_defaults(p);
    p->batch = w->batch, p->heads = w->heads, p->head_dim = w->head_dim;
    p->frames = w->frames, p->height = w->height, p->width = w->width;
    p->text_tokens = w->text;
    p->text_position = w->text_before ? VOX_TEXT_BEFORE : VOX_TEXT_AFTER;
    p->dtype = dtype;
    p->mask_mode = mode;
    if (block && block[0]) {
        p->block_t = block[0], p->block_h = block[1], p->block_w = block[2];
    } else if (vox_workload_thin(w)) {
        p->block_t = 1, p->block_h = 4, p->block_w = 4;
        p->svg_space_blocks = 0;
        p->kv_min_blocks = 2;
    } else {
        p->block_t = p->block_h = p->block_w = 4;
    }
    p->window_t = clip(p->window_t, p->block_t);
    p->window_h = clip(p->window_h, p->block_h);
    p->window_w = clip(p->window_w, p->block_w);
}

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t next_u64(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double uniform(rng *r) { return ((double)(next_u64(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

static double normal(rng *r)
{
    return sqrt(-2.0 * log(uniform(r))) * cos(6.283185307179586 * uniform(r));
}

/* One (b, h) head; each has its own random stream, so heads can be generated
 * in any order or in parallel and give the same data. */
static void generate_head(const vox_workload *w, uint64_t seed, double sharpness, int64_t bh, double *freq,
                          double *phase, float *q, float *k, float *v)
{
    int64_t D = w->head_dim, N = vox_workload_tokens(w), nv = w->frames * w->height * w->width;
    int64_t half = D / 2;
    rng r = {(seed * 0x2545f4914f6cdd1dull + 1) ^ ((uint64_t)(bh + 1) * 0xd1b54a32d192ed03ull)};
    /* logit scale: alpha^2 * scale ~ 6*sharpness at zero distance */
    double alpha = sqrt(6.0 * sharpness * sqrt((double)D));
    int temporal = (int)((bh % w->heads) & 1);
    /* length scales in tokens: spatial heads decorrelate across frames,
     * temporal heads across space */
    double lt = temporal ? 1e9 : 0.35, ls = temporal ? 2.0 : 8.0;
    for (int64_t f = 0; f < half; f++) {
        freq[3 * f] = normal(&r) / lt;
        freq[3 * f + 1] = normal(&r) / ls;
        freq[3 * f + 2] = normal(&r) / ls;
        phase[f] = 6.283185307179586 * uniform(&r);
    }
    size_t base = (size_t)(bh * N);
    double norm = sqrt(1.0 / (double)half);
    for (int64_t i = 0; i < N; i++) {
        int64_t vi = w->text_before ? i - w->text : i;
        float *qi = q + (base + (size_t)i) * (size_t)D, *ki = k + (base + (size_t)i) * (size_t)D;
        float *vv = v + (base + (size_t)i) * (size_t)D;
        if (vi < 0 || vi >= nv) { /* text token: weak, unstructured */
            for (int64_t e = 0; e < D; e++) {
                qi[e] = (float)(0.5 * normal(&r));
                ki[e] = (float)(0.5 * normal(&r));
                vv[e] = (float)normal(&r);
            }
            continue;
        }
        double t = (double)(vi / (w->height * w->width));
        double y = (double)((vi / w->width) % w->height), x = (double)(vi % w->width);
        for (int64_t f = 0; f < half; f++) {
            double a = freq[3 * f] * t + freq[3 * f + 1] * y + freq[3 * f + 2] * x + phase[f];
            double c = cos(a) * norm * alpha, s = sin(a) * norm * alpha;
            qi[2 * f] = (float)(c + 0.15 * normal(&r));
            qi[2 * f + 1] = (float)(s + 0.15 * normal(&r));
            ki[2 * f] = (float)(c + 0.15 * normal(&r));
            ki[2 * f + 1] = (float)(s + 0.15 * normal(&r));
        }
        /* values vary smoothly with position plus noise */
        for (int64_t e = 0; e < D; e++)
            vv[e] = (float)(sin(0.3 * (double)e + 0.5 * t + 0.2 * y - 0.1 * x) + 0.25 * normal(&r));
    }
}

int vox_workload_generate_heads(const vox_workload *w, uint64_t seed, double sharpness, int64_t bh0, int64_t bh1,
                                float *q, float *k, float *v)
{
    int64_t half = w->head_dim / 2;
    double *freq = malloc(sizeof(double) * 3 * (size_t)half);
    double *phase = malloc(sizeof(double) * (size_t)half);
    if (!freq || !phase) {
        free(freq), free(phase);
        return -1;
    }
    for (int64_t bh = bh0; bh < bh1; bh++)
        generate_head(w, seed, sharpness, bh, freq, phase, q, k, v);
    free(freq), free(phase);
    return 0;
}

int vox_workload_generate(const vox_workload *w, uint64_t seed, double sharpness, float *q, float *k,
                          float *v)
{
    return vox_workload_generate_heads(w, seed, sharpness, 0, w->batch * w->heads, q, k, v);
}
