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

vox_status tu_upload_tensor(vox_context *ctx, vox_dtype dtype, const float *src, int64_t B, int64_t H,
                            int64_t N, int64_t D, int bnhd, vox_tensor *out)
{
    size_t n = (size_t)(B * H * N * D), es = vox_dtype_size(dtype);
    unsigned char *raw = malloc(n * es);
    if (!raw)
        return VOX_ERR_OUT_OF_MEMORY;
    vox_tensor t = layout(NULL, dtype, B, H, N, D, bnhd);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < N; i++)
                vox_convert(dtype, raw + (size_t)(b * t.stride_batch + h * t.stride_head + i * t.stride_token) * es,
                            VOX_F32, src + ((b * H + h) * N + i) * D, (size_t)D);
    vox_status st = vox_buffer_create(ctx, n * es, &t.buffer);
    if (!st) st = vox_buffer_write(t.buffer, 0, raw, n * es);
    free(raw);
    if (st) {
        vox_buffer_destroy(t.buffer);
        return st;
    }
    *out = t;
    return VOX_OK;
}

vox_status tu_poisoned_tensor(vox_context *ctx, vox_dtype dtype, int64_t B, int64_t H, int64_t N, int64_t D,
                              int bnhd, vox_tensor *out)
{
    size_t bytes = (size_t)(B * H * N * D) * vox_dtype_size(dtype);
    vox_tensor t = layout(NULL, dtype, B, H, N, D, bnhd);
    unsigned char *raw = malloc(bytes);
    if (!raw)
        return VOX_ERR_OUT_OF_MEMORY;
    memset(raw, 0xff, bytes);
    vox_status st = vox_buffer_create(ctx, bytes, &t.buffer);
    if (!st) st = vox_buffer_write(t.buffer, 0, raw, bytes);
    free(raw);
    if (st) {
        vox_buffer_destroy(t.buffer);
        return st;
    }
    *out = t;
    return VOX_OK;
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

int tu_for_each_device(const char *title, const char *backend, const char *device,
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
        run(&d, user, &per[d.backend]);
        ran[d.backend] = 1;
    }
    printf("\n%s summary\n%-8s %7s %7s %7s\n", title, "backend", "passed", "failed", "skipped");
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
