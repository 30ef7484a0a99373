/* Shared test helpers: error metrics, deterministic data, contexts, guarded
 * tensor upload/readback, the per-device test driver and one naive attention
 * row (declared in testutil.h). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double tu_norm_err(const double *a, const double *r, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) && !isnan(r[i]))
            return INFINITY;
        if (isinf(r[i]) || isnan(r[i])) {
            if (!(a[i] == r[i] || (isnan(a[i]) && isnan(r[i]))))
                return INFINITY;
            continue;
        }
        num += (a[i] - r[i]) * (a[i] - r[i]);
        den += r[i] * r[i];
    }
    return den > 0 ? num / den : num;
}

double tu_max_abs_err(const double *a, const double *r, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(r[i]) && isfinite(a[i])) {
            double e = fabs(a[i] - r[i]);
            m = e > m ? e : m;
        } else if (!(a[i] == r[i] || (isnan(a[i]) && isnan(r[i])))) {
            return INFINITY; /* NaN / +-Inf at different entries */
        }
    }
    return m;
}

double tu_tolerance(vox_dtype dtype)
{
    switch (dtype) {
    case VOX_F32: return 1e-10;
    case VOX_F16: return 1e-5;
    default: return 3e-5; /* bf16: one rounding step of 2^-8 on some elements */
    }
}

void tu_fill_normal(uint64_t seed, double scale, float *x, size_t n)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 7;
    for (size_t i = 0; i < n; i++) {
        double u[2];
        for (int j = 0; j < 2; j++) {
            uint64_t z = (s += 0x9e3779b97f4a7c15ull);
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            z ^= z >> 31;
            u[j] = ((double)(z >> 11) + 0.5) / 9007199254740992.0;
        }
        x[i] = (float)(scale * sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]));
    }
}

void tu_normal_qkv(size_t n, uint64_t seed, float **q, float **k, float **v)
{
    *q = malloc(sizeof(float) * n), *k = malloc(sizeof(float) * n), *v = malloc(sizeof(float) * n);
    tu_fill_normal(seed, 1.0, *q, n), tu_fill_normal(seed + 1, 1.0, *k, n), tu_fill_normal(seed + 2, 1.0, *v, n);
}

void tu_workload_case(tu_case *c, const vox_workload *w, vox_mask_mode mode, const int block[3], uint64_t seed)
{
    c->n = (size_t)(w->batch * w->heads * vox_workload_tokens(w) * w->head_dim);
    vox_workload_plan_params(w, VOX_F32, mode, block, &c->p);
    tu_normal_qkv(c->n, seed, &c->q, &c->k, &c->v);
}

void tu_case_free(tu_case *c)
{
    free(c->q), free(c->k), free(c->v);
}

void tu_log(void *user, vox_log_level level, const char *msg)
{
    if (user && level == VOX_LOG_ERROR)
        (*(int *)user)++;
    if (getenv("VOXATTN_TEST_VERBOSE"))
        fprintf(stderr, "    [log %d] %s\n", (int)level, msg);
}

void tu_context_params(vox_context_params *p, const char *id, int *error_count)
{
    vox_context_defaults(p);
    p->device_id = id;
    p->log = tu_log;
    p->log_user = error_count;
    p->log_level = VOX_LOG_DEBUG;
}

vox_context *tu_context(const char *id, int *error_count)
{
    vox_context_params p;
    tu_context_params(&p, id, error_count);
    vox_context *ctx = NULL;
    return vox_context_create(&p, &ctx) == VOX_OK ? ctx : NULL;
}

static vox_tensor layout(vox_buffer *buf, vox_dtype dtype, int64_t B, int64_t H, int64_t N, int64_t D, int bnhd)
{
    return bnhd ? vox_tensor_bnhd(buf, dtype, B, H, N, D) : vox_tensor_bhnd(buf, dtype, B, H, N, D);
}

/* Guard pattern byte i (not a fill any kernel writes: not 0, not 0xFF). */
static unsigned char guard_byte(size_t i) { return (unsigned char)(0xA5 ^ (i * 37)); }

/* A new tensor of the given layout in a buffer with `guard` guard bytes
 * before and after it (offset = guard), holding f32 host data src
 * [B][H][N][D] converted to dtype, or 0xFF bytes (NaN) if src is NULL. */
static vox_status make_tensor(vox_context *ctx, vox_dtype dtype, const float *src, int64_t B, int64_t H, int64_t N,
                              int64_t D, int bnhd, size_t guard, vox_tensor *out)
{
    size_t es = vox_dtype_size(dtype), bytes = (size_t)(B * H * N * D) * es, total = bytes + 2 * guard;
    vox_tensor t = layout(NULL, dtype, B, H, N, D, bnhd);
    unsigned char *raw = malloc(total), *data = raw + guard;
    if (!raw)
        return VOX_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; i < guard; i++)
        raw[i] = guard_byte(i), data[bytes + i] = guard_byte(guard + i);
    if (!src)
        memset(data, 0xff, bytes);
    for (int64_t b = 0; src && b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < N; i++)
                vox_convert(dtype, data + (size_t)(b * t.stride_batch + h * t.stride_head + i * t.stride_token) * es,
                            VOX_F32, src + ((b * H + h) * N + i) * D, (size_t)D);
    vox_status st = vox_buffer_create(ctx, total, &t.buffer);
    if (!st) st = vox_buffer_write(t.buffer, 0, raw, total);
    free(raw);
    if (st) {
        vox_buffer_destroy(t.buffer);
        return st;
    }
    t.offset = guard;
    *out = t;
    return VOX_OK;
}

int tu_guards_intact(const vox_tensor *t)
{
    size_t span = vox_tensor_span_bytes(t);
    unsigned char g[2 * TU_GUARD_BYTES];
    if (t->offset != TU_GUARD_BYTES || vox_buffer_read(t->buffer, 0, g, TU_GUARD_BYTES) ||
        vox_buffer_read(t->buffer, TU_GUARD_BYTES + span, g + TU_GUARD_BYTES, TU_GUARD_BYTES))
        return 0;
    for (size_t i = 0; i < 2 * TU_GUARD_BYTES; i++)
        if (g[i] != guard_byte(i))
            return 0;
    return 1;
}

vox_status tu_upload_tensor(vox_context *ctx, vox_dtype dtype, const float *src, int64_t B, int64_t H,
                            int64_t N, int64_t D, int bnhd, vox_tensor *out)
{
    return make_tensor(ctx, dtype, src, B, H, N, D, bnhd, 0, out);
}

vox_status tu_poisoned_tensor(vox_context *ctx, vox_dtype dtype, int64_t B, int64_t H, int64_t N, int64_t D,
                              int bnhd, vox_tensor *out)
{
    return make_tensor(ctx, dtype, NULL, B, H, N, D, bnhd, 0, out);
}

vox_status tu_upload_guarded(vox_context *ctx, vox_dtype dtype, const float *src, int64_t B, int64_t H,
                             int64_t N, int64_t D, int bnhd, vox_tensor *out)
{
    return make_tensor(ctx, dtype, src, B, H, N, D, bnhd, TU_GUARD_BYTES, out);
}

vox_status tu_poisoned_guarded(vox_context *ctx, vox_dtype dtype, int64_t B, int64_t H, int64_t N, int64_t D,
                               int bnhd, vox_tensor *out)
{
    return make_tensor(ctx, dtype, NULL, B, H, N, D, bnhd, TU_GUARD_BYTES, out);
}

double *tu_read_tensor(const vox_tensor *t)
{
    size_t span = vox_tensor_span_bytes(t), es = vox_dtype_size(t->dtype);
    size_t n = (size_t)(t->batch * t->heads * t->tokens * t->head_dim);
    unsigned char *raw = malloc(span);
    double *x = malloc(sizeof(double) * n);
    float tmp;
    if (!raw || !x || vox_buffer_read(t->buffer, t->offset, raw, span)) {
        free(raw), free(x);
        return NULL;
    }
    size_t o = 0;
    for (int64_t b = 0; b < t->batch; b++)
        for (int64_t h = 0; h < t->heads; h++)
            for (int64_t i = 0; i < t->tokens; i++)
                for (int64_t d = 0; d < t->head_dim; d++) {
                    int64_t e = b * t->stride_batch + h * t->stride_head + i * t->stride_token + d;
                    vox_convert(VOX_F32, &tmp, t->dtype, raw + (size_t)e * es, 1);
                    x[o++] = tmp;
                }
    free(raw);
    return x;
}

void tu_free_tensor(vox_tensor *t)
{
    vox_buffer_destroy(t->buffer);
    t->buffer = NULL;
}

void tu_round_through(vox_dtype dtype, float *x, size_t n)
{
    uint16_t h;
    for (size_t i = 0; i < n && dtype != VOX_F32; i++) {
        vox_convert(dtype, &h, VOX_F32, &x[i], 1);
        vox_convert(VOX_F32, &x[i], dtype, &h, 1);
    }
}

void tu_mask_case_apply(const tu_mask_case *c, vox_plan_params *p)
{
    p->mask_mode = c->mode;
    p->kv_rule = c->rule;
    if (c->rule == VOX_KV_TOPK)
        p->kv_topk = (int)c->param;
    else if (c->rule == VOX_KV_STAT)
        p->kv_z = c->param;
    else
        p->kv_tau = c->param;
    p->query_keep = c->keep;
    p->text_tokens = c->text;
}

int tu_for_each_device(const char *title, const char *backend, const char *device, int max_skipped,
                       void (*run)(const vox_device_desc *dev, void *user, tu_tally *t), void *user)
{
    int count = 0;
    vox_device_count(&count);
    tu_tally per[VOX_BACKEND_COUNT] = {{0}};
    int ran[VOX_BACKEND_COUNT] = {0};
    for (int i = 0; i < count; i++) {
        vox_device_desc d;
        vox_device_info(i, &d);
        if ((backend && strcmp(d.backend_name, backend)) || (device && strcmp(d.id, device)))
            continue;
        tu_tally one = {0, 0, 0};
        run(&d, user, &one);
        if ((one.passed == 0 && one.failed == 0) || one.skipped > max_skipped) { /* a skip is not a pass */
            printf("   FAIL: %s passed %d, skipped %d (a device must pass something and skip at most %d)\n",
                   d.id, one.passed, one.skipped, max_skipped);
            one.failed++;
        }
        per[d.backend].passed += one.passed, per[d.backend].failed += one.failed;
        per[d.backend].skipped += one.skipped;
        ran[d.backend] = 1;
    }
    printf("\n%s summary (a device fails when it skips every case or more than %d)\n%-8s %7s %7s %7s\n", title,
           max_skipped, "backend", "passed", "failed", "skipped");
    int failed = 0, any = 0;
    for (int b = 0; b < VOX_BACKEND_COUNT; b++) {
        vox_backend_desc bd;
        vox_backend_info((vox_backend_kind)b, &bd);
        if (backend && strcmp(bd.name, backend))
            continue;
        if (!ran[b]) {
            printf("%-8s %7s %7s %7s   (no device: %s)\n", bd.name, "-", "-", "all", bd.reason);
            continue;
        }
        any = 1;
        failed += per[b].failed;
        printf("%-8s %7d %7d %7d\n", bd.name, per[b].passed, per[b].failed, per[b].skipped);
    }
    if (!any)
        return 77;
    return failed ? 1 : 0;
}

double tu_naive_row(const double *q, const double *k, const double *v, const unsigned char *allowed, int64_t N,
                    int64_t D, double scale, double *out)
{
    double mx = -INFINITY, z = 0;
    double *s = malloc(sizeof(double) * (size_t)N);
    for (int64_t j = 0; j < N; j++) {
        if (!allowed[j])
            continue;
        double acc = 0;
        for (int64_t d = 0; d < D; d++)
            acc += q[d] * k[j * D + d];
        s[j] = acc * scale;
        if (s[j] > mx)
            mx = s[j];
    }
    for (int64_t d = 0; d < D; d++)
        out[d] = 0;
    for (int64_t j = 0; j < N; j++) {
        if (!allowed[j])
            continue;
        double w = exp(s[j] - mx);
        z += w;
        for (int64_t d = 0; d < D; d++)
            out[d] += w * v[j * D + d];
    }
    for (int64_t d = 0; d < D && z > 0; d++)
        out[d] /= z;
    free(s);
    return z > 0 ? mx + log(z) : -INFINITY;
}
