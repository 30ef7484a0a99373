/* libFuzzer target: forward and build numerics on the cpu device, checked
 * against the numerics contract (docs/numerics.md).
 *
 * Input format (bytes read in order; missing bytes read as 0):
 *   0 mask mode (%4)      1 dtype (%3)        2 heads (1 + %2)   3 head_dim {8,16,32}[%3]
 *   4 frames (1 + %4)     5 height (1 + %6)   6 width (1 + %6)   7 text tokens (%10)
 *   8 text position (%2)  9 block shape (%5 of k_blocks)        10 scale (%6 of k_scales)
 *  11 query_keep (%4 of k_keeps)             12 window t/h/w (bits 0,1,2: 1 or 2,
 *     clipped to the block)
 *  13 kv rule (%3)       14 tau (%4)         15 topk (1 + %6)   16 z (%4)
 *  17 min_blocks (%5)    18..25 seed (u64 LE: normal q/k/v, CUSTOM mask)
 *  26 CUSTOM density (a block pair is allowed when a hash byte < it)
 *  then up to 32 poison records of 4 bytes: [tensor %3 + 3 * value %9]
 *  [head] [token] [dim: 255 = every element of the row, else %head_dim],
 *  value from k_poison (NaN, +Inf, -Inf, +-1e38, 65504, 3e38, 1e-40, 0).
 * Inputs are rounded through the plan dtype, and the checks look at the
 * values the device sees (a huge f32 value is Inf in f16).
 *
 * Checked: create, build and forward return VOX_OK (the inputs are valid by
 * construction); ASan/UBSan (no out-of-bounds access); and, per head from the
 * exported mask and keep flags, for every kept row with at least one key:
 *   - every input finite (q row, k and v of its allowed keys): output finite,
 *     LSE not NaN;
 *   - NaN or Inf in its q row, or NaN in an allowed key: output and LSE NaN;
 *   - NaN in element d of an allowed value: output element d NaN;
 * for every kept row without keys: output 0, LSE -inf; for every pruned row:
 * its output and LSE are those of a kept row of its own block (never of a
 * row outside it). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "voxattn.h"

#define BAD(...) (fprintf(stderr, "fuzz_numerics: " __VA_ARGS__), fprintf(stderr, "\n"), __builtin_trap())

static const int k_blocks[5][3] = {{1, 4, 4}, {2, 2, 4}, {2, 4, 4}, {4, 4, 4}, {1, 2, 8}};
static const double k_scales[6] = {0.0, 0.125, 1.0, 1e-30, 1e30, 3.4028234663852886e38};
static const double k_keeps[4] = {1.0, 0.5, 0.25, 0.1};
static const double k_taus[4] = {0.9, 0.5, 1.0, 1e-6};
static const double k_zs[4] = {0.0, 1.0, -1.0, 3.0};
static const float k_poison[9] = {NAN, INFINITY, -INFINITY, 1e38f, -1e38f, 65504.0f, 3e38f, 1e-40f, 0.0f};

static vox_context *g_ctx;

/* Library messages go to stderr with FUZZ_VERBOSE set (to read a finding). */
static void quiet(void *user, vox_log_level level, const char *msg)
{
    (void)user, (void)level;
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "voxattn: %s\n", msg);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    g_ctx = fuzz_cpu_context(quiet, VOX_LOG_WARN, "fuzz_numerics");
    return 0;
}

static uint64_t mix(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ull;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Standard normal (Box-Muller) from the stream. */
static float normal(uint64_t *s)
{
    double u = ((double)(mix(s) >> 11) + 0.5) / 9007199254740992.0, v = (double)(mix(s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* Uploads host f32 data as `dtype` (rounding it in place to what the device
 * sees) into a new buffer; [B][H][N][D] contiguous. */
static vox_tensor upload(float *x, size_t n, vox_dtype dtype, int64_t H, int64_t N, int64_t D)
{
    size_t es = vox_dtype_size(dtype);
    void *raw = malloc(n * es);
    vox_buffer *b = NULL;
    if (vox_convert(dtype, raw, VOX_F32, x, n) || vox_convert(VOX_F32, x, dtype, raw, n) ||
        vox_buffer_create(g_ctx, n * es, &b) || vox_buffer_write(b, 0, raw, n * es))
        BAD("upload failed");
    free(raw);
    return vox_tensor_bhnd(b, dtype, 1, H, N, D);
}

static float *download(const vox_tensor *t, size_t n)
{
    size_t es = vox_dtype_size(t->dtype);
    void *raw = malloc(n * es);
    float *x = malloc(sizeof(float) * n);
    if (vox_buffer_read(t->buffer, 0, raw, n * es) || vox_convert(VOX_F32, x, t->dtype, raw, n))
        BAD("download failed");
    free(raw);
    return x;
}

static int row_has(const float *x, int64_t D, int nan_only)
{
    for (int64_t e = 0; e < D; e++)
        if (nan_only ? isnan(x[e]) : !isfinite(x[e]))
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rd r = {data, size, 0};
    vox_plan_params p;
    vox_plan_defaults(&p);
    p.mask_mode = (vox_mask_mode)(u8(&r) % 4);
    p.dtype = (vox_dtype)(u8(&r) % 3);
    p.batch = 1;
    p.heads = 1 + u8(&r) % 2;
    p.head_dim = (int64_t[]){8, 16, 32}[u8(&r) % 3];
    p.frames = 1 + u8(&r) % 4, p.height = 1 + u8(&r) % 6, p.width = 1 + u8(&r) % 6;
    p.text_tokens = u8(&r) % 10;
    p.text_position = (vox_text_position)(u8(&r) % 2);
    const int *blk = k_blocks[u8(&r) % 5];
    p.block_t = blk[0], p.block_h = blk[1], p.block_w = blk[2];
    p.scale = k_scales[u8(&r) % 6];
    p.query_keep = k_keeps[u8(&r) % 4];
    uint8_t w = u8(&r);
    p.window_t = 1 + (w & 1), p.window_h = 1 + ((w >> 1) & 1), p.window_w = 1 + ((w >> 2) & 1);
    /* windows must fit the block when query_keep < 1 */
    p.window_t = p.window_t > blk[0] ? blk[0] : p.window_t;
    p.window_h = p.window_h > blk[1] ? blk[1] : p.window_h;
    p.window_w = p.window_w > blk[2] ? blk[2] : p.window_w;
    p.kv_rule = (vox_kv_rule)(u8(&r) % 3);
    p.kv_tau = k_taus[u8(&r) % 4];
    p.kv_topk = 1 + u8(&r) % 6;
    p.kv_z = k_zs[u8(&r) % 4];
    p.kv_min_blocks = u8(&r) % 5;
    uint64_t seed = 0;
    for (int i = 0; i < 8; i++)
        seed |= (uint64_t)u8(&r) << (8 * i);
    uint8_t density = u8(&r);
    int64_t video = p.frames * p.height * p.width;
    p.svg_sample_rows = (int)(video < 16 ? video : 16);
    const int64_t H = p.heads, D = p.head_dim, N = video + p.text_tokens;

    /* CUSTOM: a shared mask, rows may be empty */
    int32_t *rp = NULL, *cols = NULL;
    if (p.mask_mode == VOX_MASK_CUSTOM) {
        int64_t V = (int64_t)blk[0] * blk[1] * blk[2];
        int64_t NB = ((p.frames + blk[0] - 1) / blk[0]) * ((p.height + blk[1] - 1) / blk[1]) *
                         ((p.width + blk[2] - 1) / blk[2]) + (p.text_tokens + V - 1) / V;
        rp = malloc(sizeof(int32_t) * (size_t)(NB + 1));
        cols = malloc(sizeof(int32_t) * (size_t)(NB * NB + 1));
        uint64_t s = seed ^ 0x5eed;
        rp[0] = 0;
        for (int64_t i = 0; i < NB; i++) {
            rp[i + 1] = rp[i];
            for (int64_t j = 0; j < NB; j++)
                if ((uint8_t)mix(&s) < density)
                    cols[rp[i + 1]++] = (int32_t)j;
        }
        p.custom_masks = 1, p.custom_row_ptr = rp, p.custom_kv_block = cols;
    }
    vox_plan *plan = NULL;
    vox_status st = vox_plan_create(g_ctx, &p, &plan);
    free(rp), free(cols);
    if (st)
        BAD("plan create: %s", vox_status_string(st));
    vox_plan_stats stats;
    if (vox_plan_stats_get(plan, &stats) || stats.tokens != N)
        BAD("stats");
    const int64_t NB = stats.n_blocks, V = stats.block_volume, S = NB * V;

    /* inputs: normals, then the poison records */
    size_t n = (size_t)(H * N * D);
    float *x[3];
    uint64_t s = seed;
    for (int t = 0; t < 3; t++) {
        x[t] = malloc(sizeof(float) * n);
        for (size_t i = 0; i < n; i++)
            x[t][i] = normal(&s);
    }
    for (int rec = 0; rec < 32 && r.i < r.n; rec++) {
        uint8_t a = u8(&r), hb = u8(&r), tb = u8(&r), db = u8(&r);
        float *row = x[a % 3] + ((hb % H) * N + tb % N) * D;
        float val = k_poison[(a / 3) % 9];
        for (int64_t e = 0; e < D; e++)
            if (db == 255 || e == db % D)
                row[e] = val;
    }
    vox_tensor tq = upload(x[0], n, p.dtype, H, N, D), tk = upload(x[1], n, p.dtype, H, N, D),
               tv = upload(x[2], n, p.dtype, H, N, D);
    float *q = x[0], *k = x[1], *v = x[2]; /* now rounded through the dtype */
    vox_buffer *bo = NULL, *bl = NULL;
    if (vox_buffer_create(g_ctx, n * vox_dtype_size(p.dtype), &bo) ||
        vox_buffer_create(g_ctx, sizeof(float) * (size_t)(H * N), &bl))
        BAD("buffers");
    vox_tensor to = vox_tensor_bhnd(bo, p.dtype, 1, H, N, D), tl = vox_tensor_bhnd(bl, VOX_F32, 1, H, N, 1);
    if ((st = vox_plan_build(plan, &tq, &tk, &tv)))
        BAD("build: %s", vox_status_string(st));
    if ((st = vox_attention_forward(plan, &tq, &tk, &tv, &to, &tl)))
        BAD("forward: %s", vox_status_string(st));
    float *out = download(&to, n), *lse = download(&tl, (size_t)(H * N));

    int32_t *slot = malloc(sizeof(int32_t) * (size_t)N), *erp = malloc(sizeof(int32_t) * (size_t)(NB + 1)),
            *ecols = malloc(sizeof(int32_t) * (size_t)(NB * NB));
    int8_t *keep = malloc((size_t)S);
    int64_t *tok_of_slot = malloc(sizeof(int64_t) * (size_t)S);
    /* per key block: valid keys, any NaN key, NaN/Inf per value element */
    int64_t *bkeys = malloc(sizeof(int64_t) * (size_t)NB);
    unsigned char *bknan = malloc((size_t)NB), *bvnan = malloc((size_t)(NB * D)), *bvinf = malloc((size_t)(NB * D));
    if (vox_plan_token_slots(plan, slot))
        BAD("token slots");
    for (int64_t i = 0; i < S; i++)
        tok_of_slot[i] = -1;
    for (int64_t t = 0; t < N; t++)
        tok_of_slot[slot[t]] = t;
    for (int64_t h = 0; h < H; h++) {
        int64_t nnz;
        if (vox_plan_export_mask(plan, h, erp, ecols, NB * NB, &nnz, keep))
            BAD("export");
        const float *qh = q + h * N * D, *kh = k + h * N * D, *vh = v + h * N * D, *oh = out + h * N * D;
        const float *lh = lse + h * N;
        memset(bkeys, 0, sizeof(int64_t) * (size_t)NB), memset(bknan, 0, (size_t)NB);
        memset(bvnan, 0, (size_t)(NB * D)), memset(bvinf, 0, (size_t)(NB * D));
        for (int64_t u = 0; u < N; u++) {
            int64_t jb = slot[u] / V;
            bkeys[jb]++;
            bknan[jb] |= (unsigned char)row_has(kh + u * D, D, 1);
            for (int64_t e = 0; e < D; e++)
                bvnan[jb * D + e] |= isnan(vh[u * D + e]), bvinf[jb * D + e] |= isinf(vh[u * D + e]);
        }
        for (int64_t t = 0; t < N; t++) {
            int64_t ib = slot[t] / V;
            if (keep[slot[t]] == 0) { /* pruned: a kept row of its block */
                int found = 0;
                for (int64_t sl = ib * V; sl < (ib + 1) * V && !found; sl++) {
                    int64_t u = tok_of_slot[sl];
                    found = keep[sl] == 1 && u >= 0 && !memcmp(oh + u * D, oh + t * D, sizeof(float) * (size_t)D) &&
                            !memcmp(lh + u, lh + t, sizeof(float));
                }
                if (!found)
                    BAD("head %lld token %lld (slot %d): pruned row's output is no kept row of its block", (long long)h,
                        (long long)t, slot[t]);
                continue;
            }
            if (keep[slot[t]] != 1)
                BAD("head %lld token %lld: keep flag %d on a valid slot", (long long)h, (long long)t, keep[slot[t]]);
            int64_t keys = 0;
            int q_bad = row_has(qh + t * D, D, 0), k_nan = 0, k_bad = 0, v_bad = 0;
            unsigned char v_nan_dim[32] = {0};
            for (int32_t c = erp[ib]; c < erp[ib + 1]; c++) {
                int64_t jb = ecols[c];
                keys += bkeys[jb];
                k_nan |= bknan[jb];
                for (int64_t e = 0; e < D; e++)
                    v_nan_dim[e] |= bvnan[jb * D + e], v_bad |= bvnan[jb * D + e] | bvinf[jb * D + e];
            }
            for (int32_t c = erp[ib]; c < erp[ib + 1] && !k_bad; c++) /* Inf keys: rare, look at the rows */
                for (int64_t sl = ecols[c] * V; sl < (ecols[c] + 1) * V && !k_bad; sl++)
                    k_bad = tok_of_slot[sl] >= 0 && row_has(kh + tok_of_slot[sl] * D, D, 0);
            const float *o = oh + t * D;
            if (keys == 0) {
                for (int64_t e = 0; e < D; e++)
                    if (o[e] != 0.0f)
                        BAD("head %lld token %lld: row without keys, output %g", (long long)h, (long long)t, o[e]);
                if (!(isinf(lh[t]) && lh[t] < 0))
                    BAD("head %lld token %lld: row without keys, lse %g", (long long)h, (long long)t, lh[t]);
                continue;
            }
            if (!q_bad && !k_bad && !v_bad) {
                if (row_has(o, D, 0) || isnan(lh[t]))
                    BAD("head %lld token %lld: finite inputs, non-finite output (lse %g)", (long long)h, (long long)t,
                        lh[t]);
            }
            if (q_bad || k_nan) {
                for (int64_t e = 0; e < D; e++)
                    if (!isnan(o[e]))
                        BAD("head %lld token %lld: %s, output[%lld] = %g", (long long)h, (long long)t,
                            q_bad ? "non-finite query" : "NaN key", (long long)e, o[e]);
                if (!isnan(lh[t]))
                    BAD("head %lld token %lld: %s, lse %g", (long long)h, (long long)t,
                        q_bad ? "non-finite query" : "NaN key", lh[t]);
            }
            for (int64_t e = 0; e < D; e++)
                if (v_nan_dim[e] && !isnan(o[e]))
                    BAD("head %lld token %lld: NaN value in dim %lld, output %g", (long long)h, (long long)t,
                        (long long)e, o[e]);
        }
    }
    free(bkeys), free(bknan), free(bvnan), free(bvinf);
    free(slot), free(erp), free(ecols), free(keep), free(tok_of_slot);
    free(out), free(lse), free(x[0]), free(x[1]), free(x[2]);
    vox_buffer_destroy(tq.buffer), vox_buffer_destroy(tk.buffer), vox_buffer_destroy(tv.buffer);
    vox_buffer_destroy(bo), vox_buffer_destroy(bl);
    vox_plan_destroy(plan);
    return 0;
}
