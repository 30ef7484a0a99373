/* JSON / CSV writers and the block-mask export of `voxattn bench`. */
#include "bench_out.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ JSON */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static const char *device_type_name(vox_device_type t)
{
    return t == VOX_DEVICE_REFERENCE ? "reference" : t == VOX_DEVICE_GPU ? "gpu" : t == VOX_DEVICE_CPU ? "cpu"
                                                                                                       : "other";
}

/* ------------------------------------------------------------------- CSV */

static void csv_str(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\n")) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
}

/* ---------------------------------------------------------- result rows */

/* A result is written by one walk over its fields (write_result) in one of
 * three forms: JSON `"key": value` pairs, CSV cells, or the CSV header (the
 * keys). An absent value (a NULL string, a non-finite number, an int not
 * present) is null in JSON and an empty cell in CSV. */
typedef enum { ROW_JSON, ROW_CSV, ROW_CSV_HEADER } row_form;

typedef struct row_out {
    FILE *f;
    row_form form;
    int n; /* fields written so far */
} row_out;

/* The separator and the key; 1 when the value is to follow (not a header). */
static int row_key(row_out *o, const char *key)
{
    if (o->form == ROW_JSON)
        fprintf(o->f, "%s\"%s\": ", o->n ? ", " : "", key);
    else if (o->n)
        fputc(',', o->f);
    o->n++;
    if (o->form == ROW_CSV_HEADER)
        fputs(key, o->f);
    return o->form != ROW_CSV_HEADER;
}

static void row_absent(row_out *o)
{
    if (o->form == ROW_JSON)
        fputs("null", o->f);
}

static void row_str(row_out *o, const char *key, const char *s)
{
    if (!row_key(o, key))
        return;
    if (!s)
        row_absent(o);
    else if (o->form == ROW_JSON)
        json_str(o->f, s);
    else
        csv_str(o->f, s);
}

static void row_num(row_out *o, const char *key, double v)
{
    if (!row_key(o, key))
        return;
    if (isfinite(v))
        fprintf(o->f, "%.9g", v);
    else
        row_absent(o);
}

static void row_int(row_out *o, const char *key, long long v, int present)
{
    if (!row_key(o, key))
        return;
    if (present)
        fprintf(o->f, "%lld", v);
    else
        row_absent(o);
}

/* How a result field is read and written. */
typedef enum {
    F_STR,       /* char array */
    F_STR_SET,   /* char array, absent when "" */
    F_I64,       /* int64_t */
    F_INT,       /* int */
    F_INT_SET,   /* int, absent when < 0 */
    F_NUM,       /* double, absent when not finite */
    F_BOOL,      /* int: JSON true/false, CSV 0/1 */
    F_BLOCK,     /* int[3]: JSON [t, h, w], CSV txhxw */
    F_TIMER,     /* int: "device" when set, else "host" */
    F_SVG_HEADS, /* JSON only, of an svg result that ran: the head counts */
} field_kind;

typedef struct result_field {
    const char *key;
    field_kind kind;
    size_t off; /* in bench_result */
} result_field;

#define AT(member) offsetof(bench_result, member)
/* A result's fields in the order they are written (the CSV columns). */
static const result_field k_fields[] = {
    {"device", F_STR, AT(device)},
    {"device_name", F_STR, AT(device_name)},
    {"backend", F_STR, AT(backend)},
    {"preset", F_STR, AT(preset)},
    {"batch", F_I64, AT(batch)},
    {"heads", F_I64, AT(heads)},
    {"head_dim", F_I64, AT(head_dim)},
    {"frames", F_I64, AT(frames)},
    {"height", F_I64, AT(height)},
    {"width", F_I64, AT(width)},
    {"text", F_I64, AT(text)},
    {"text_before", F_BOOL, AT(text_before)},
    {"tokens", F_I64, AT(tokens)},
    {"dtype", F_STR, AT(dtype)},
    {"block", F_BLOCK, AT(block)},
    {"mode", F_STR, AT(mode)},
    {"param", F_STR, AT(param)},
    {"tau", F_NUM, AT(tau)},
    {"topk", F_INT_SET, AT(topk)},
    {"target_density", F_NUM, AT(target_density)},
    {"keep", F_NUM, AT(keep)},
    {"status", F_STR, AT(status)},
    {"density", F_NUM, AT(density)},
    {"kept_query_fraction", F_NUM, AT(kept_query_fraction)},
    {"ms_median", F_NUM, AT(ms_median)},
    {"ms_min", F_NUM, AT(ms_min)},
    {"ms_max", F_NUM, AT(ms_max)},
    {"ms_p90", F_NUM, AT(ms_p90)},
    {"runs", F_INT, AT(runs)},
    {"warmup", F_INT, AT(warmup)},
    {"input_sets", F_INT, AT(sets)},
    {"tflops_effective", F_NUM, AT(tflops_effective)},
    {"flops", F_NUM, AT(flops)},
    {"flops_dense", F_NUM, AT(flops_dense)},
    {"build_ms", F_NUM, AT(build_ms)},
    {"plan_bytes", F_I64, AT(plan_bytes)},
    {"speedup_vs_dense", F_NUM, AT(speedup_vs_dense)},
    {"bwd_ms", F_NUM, AT(bwd_ms)},
    {"fwdbwd_ms", F_NUM, AT(fwdbwd_ms)},
    {"plan_bytes_bwd", F_I64, AT(plan_bytes_bwd)},
    {"bwd_tflops_effective", F_NUM, AT(bwd_tflops)},
    {"fwdbwd_tflops_effective", F_NUM, AT(fwdbwd_tflops)},
    {"timer", F_TIMER, AT(timer_device)},
    {"svg_heads", F_SVG_HEADS, 0},
    {"mask_dir", F_STR_SET, AT(mask_dir)},
};
#undef AT

static void write_field(row_out *o, const result_field *f, const bench_result *r)
{
    const char *at = (const char *)r + f->off;
    int i = 0; /* the value of an int field */
    if (f->kind == F_INT || f->kind == F_INT_SET || f->kind == F_BOOL || f->kind == F_TIMER)
        memcpy(&i, at, sizeof i);
    switch (f->kind) {
    case F_STR: row_str(o, f->key, at); break;
    case F_STR_SET: row_str(o, f->key, *at ? at : NULL); break;
    case F_I64: row_int(o, f->key, *(const int64_t *)at, 1); break;
    case F_INT: row_int(o, f->key, i, 1); break;
    case F_INT_SET: row_int(o, f->key, i, i >= 0); break;
    case F_NUM: row_num(o, f->key, *(const double *)at); break;
    case F_TIMER: row_str(o, f->key, i ? "device" : "host"); break;
    case F_BOOL:
        if (row_key(o, f->key)) {
            if (o->form == ROW_JSON)
                fputs(i ? "true" : "false", o->f);
            else
                fprintf(o->f, "%d", i);
        }
        break;
    case F_BLOCK:
        if (row_key(o, f->key))
            fprintf(o->f, o->form == ROW_JSON ? "[%d, %d, %d]" : "%dx%dx%d", r->block[0], r->block[1], r->block[2]);
        break;
    case F_SVG_HEADS:
        if (o->form == ROW_JSON && !strcmp(r->mode, "svg") && !strcmp(r->status, "ok"))
            fprintf(o->f, ", \"%s\": {\"spatial\": %lld, \"temporal\": %lld, \"dense\": %lld}", f->key,
                    (long long)r->n_spatial, (long long)r->n_temporal, (long long)r->n_dense_heads);
        break;
    }
}

static void write_result(row_out *o, const bench_result *r)
{
    for (size_t i = 0; i < sizeof k_fields / sizeof k_fields[0]; i++)
        write_field(o, &k_fields[i], r);
}

/* -------------------------------------------------------------- writers */

int bench_write_json(const char *path, const bench_meta *meta, const bench_results *rs)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    char date[64], host[256] = "unknown";
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    if (gethostname(host, sizeof host - 1))
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = 0;
    char ver[32];
    snprintf(ver, sizeof ver, "%d.%d.%d", VOXATTN_VERSION_MAJOR, VOXATTN_VERSION_MINOR, VOXATTN_VERSION_PATCH);
    fputs("{\n  \"meta\": {\"tool\": \"voxattn bench\", \"schema\": 1, \"date\": ", f);
    json_str(f, date);
    fputs(", \"host\": ", f);
    json_str(f, host);
    fputs(", \"library_version\": ", f);
    json_str(f, ver);
    fputs(", \"command\": [", f);
    for (int i = 0; i < meta->argc; i++) {
        if (i)
            fputs(", ", f);
        json_str(f, meta->argv[i]);
    }
    fputs("],\n    \"devices\": [", f);
    for (int i = 0; i < meta->n_devices; i++) {
        const vox_device_desc *d = &meta->devices[i].d;
        row_out o = {f, ROW_JSON, 0};
        fputs(i ? ",\n      {" : "\n      {", f);
        row_str(&o, "id", d->id);
        row_str(&o, "backend", d->backend_name);
        row_str(&o, "name", d->name);
        row_str(&o, "vendor", d->vendor);
        row_str(&o, "driver", d->driver);
        row_str(&o, "type", device_type_name(d->type));
        fprintf(f, ", \"memory_bytes\": %llu, \"compute_units\": %u, \"bf16\": %s, \"matrix_units\": %s, "
                   "\"device_timer\": %s}",
                (unsigned long long)d->memory_bytes, d->compute_units, d->caps & VOX_CAP_BF16 ? "true" : "false",
                d->caps & VOX_CAP_MATRIX_UNITS ? "true" : "false", d->caps & VOX_CAP_TIMER ? "true" : "false");
    }
    fputs("]},\n  \"results\": [", f);
    for (int i = 0; i < rs->n; i++) {
        row_out o = {f, ROW_JSON, 0};
        fputs(i ? ",\n    {" : "\n    {", f);
        write_result(&o, &rs->r[i]);
        fputs("}", f);
    }
    fputs(rs->n ? "\n  ]\n}\n" : "]\n}\n", f);
    int bad = ferror(f);
    return (fclose(f) != 0) | bad;
}

int bench_write_csv(const char *path, const bench_results *rs)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    row_out header = {f, ROW_CSV_HEADER, 0};
    static const bench_result none; /* the header walk writes no value */
    write_result(&header, &none);
    fputc('\n', f);
    for (int i = 0; i < rs->n; i++) {
        row_out o = {f, ROW_CSV, 0};
        write_result(&o, &rs->r[i]);
        fputc('\n', f);
    }
    int bad = ferror(f);
    return (fclose(f) != 0) | bad;
}

/* ------------------------------------------------------------ mask export */

/* .npy version 1.0, little-endian (this tool runs on little-endian hosts). */
static int write_npy(const char *path, const char *descr, const int64_t *shape, int ndim, const void *data,
                     size_t bytes)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return 1;
    char dict[256], sh[128] = "";
    size_t l = 0;
    for (int i = 0; i < ndim; i++)
        l += (size_t)snprintf(sh + l, sizeof sh - l, "%lld,%s", (long long)shape[i], i + 1 < ndim ? " " : "");
    if (ndim > 1 && l > 0) /* (a, b) rather than (a, b,) */
        sh[l - 1] = 0;
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, sh);
    size_t total = 10 + (size_t)n + 1; /* magic, version, len, dict, '\n' */
    size_t pad = (64 - total % 64) % 64;
    uint16_t hl = (uint16_t)((size_t)n + pad + 1);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff),
                             (unsigned char)(hl >> 8)};
    fwrite(pre, 1, sizeof pre, f);
    fwrite(dict, 1, (size_t)n, f);
    for (size_t i = 0; i < pad; i++)
        fputc(' ', f);
    fputc('\n', f);
    if (bytes)
        fwrite(data, 1, bytes, f);
    int bad = ferror(f);
    return (fclose(f) != 0) | bad;
}

static int make_dir(const char *p)
{
    return mkdir(p, 0777) && errno != EEXIST;
}

int bench_export_mask(const char *dir, const char *name, const vox_plan *plan, const bench_result *r)
{
    vox_plan_stats s;
    if (vox_plan_stats_get(plan, &s) || make_dir(dir))
        return 1;
    size_t plen = strlen(dir) + strlen(name) + 32;
    char *path = malloc(plen), *sub = malloc(plen);
    int64_t M = r->batch * r->heads, NB = s.n_blocks, V = s.block_volume;
    int keep_wanted = r->keep < 1.0;
    int32_t *row_ptr = malloc(sizeof(int32_t) * (size_t)(M * (NB + 1)));
    int64_t *offs = malloc(sizeof(int64_t) * (size_t)(M + 1));
    int32_t *slots = malloc(sizeof(int32_t) * (size_t)s.tokens);
    int8_t *keep = keep_wanted ? malloc((size_t)(M * NB * V)) : NULL;
    int64_t cap = NB * NB * 2, used = 0;
    int32_t *kv = malloc(sizeof(int32_t) * (size_t)cap);
    int rc = !path || !sub || !row_ptr || !offs || !slots || !kv || (keep_wanted && !keep);
    if (!rc) {
        snprintf(sub, plen, "%s/%s", dir, name);
        rc = make_dir(sub);
    }
    offs[0] = 0;
    for (int64_t m = 0; !rc && m < M; m++) {
        if (cap - used < NB * NB) { /* room for one more full mask */
            int64_t nc = cap * 2 > used + NB * NB ? cap * 2 : used + NB * NB;
            int32_t *t = realloc(kv, sizeof(int32_t) * (size_t)nc);
            if (!t) {
                rc = 1;
                break;
            }
            kv = t, cap = nc;
        }
        int64_t nnz = 0;
        rc = vox_plan_export_mask(plan, m, row_ptr + m * (NB + 1), kv + used, cap - used, &nnz,
                                  keep ? keep + m * NB * V : NULL) != VOX_OK;
        used += nnz;
        offs[m + 1] = used;
    }
    if (!rc)
        rc = vox_plan_token_slots(plan, slots) != VOX_OK;
    if (!rc) {
        int64_t sh[2] = {M, NB + 1};
        snprintf(path, plen, "%s/row_ptr.npy", sub);
        rc |= write_npy(path, "<i4", sh, 2, row_ptr, sizeof(int32_t) * (size_t)(M * (NB + 1)));
        sh[0] = M + 1;
        snprintf(path, plen, "%s/kv_offsets.npy", sub);
        rc |= write_npy(path, "<i8", sh, 1, offs, sizeof(int64_t) * (size_t)(M + 1));
        sh[0] = used;
        snprintf(path, plen, "%s/kv_block.npy", sub);
        rc |= write_npy(path, "<i4", sh, 1, kv, sizeof(int32_t) * (size_t)used);
        sh[0] = s.tokens;
        snprintf(path, plen, "%s/token_slots.npy", sub);
        rc |= write_npy(path, "<i4", sh, 1, slots, sizeof(int32_t) * (size_t)s.tokens);
        if (keep) {
            int64_t sk[2] = {M, NB * V};
            snprintf(path, plen, "%s/keep.npy", sub);
            rc |= write_npy(path, "|i1", sk, 2, keep, (size_t)(M * NB * V));
        }
        snprintf(path, plen, "%s/meta.json", sub);
        FILE *f = fopen(path, "w");
        if (!f) {
            rc = 1;
        } else {
            fprintf(f,
                    "{\"format\": \"voxattn-mask\", \"version\": 1, \"device\": \"%s\", \"preset\": \"%s\", "
                    "\"mode\": \"%s\", \"param\": \"%s\",\n \"batch\": %lld, \"heads\": %lld, \"head_dim\": %lld, "
                    "\"frames\": %lld, \"height\": %lld, \"width\": %lld, \"text\": %lld, \"text_before\": %s,\n "
                    "\"tokens\": %lld, \"dtype\": \"%s\", \"block\": [%d, %d, %d], \"block_volume\": %lld, "
                    "\"n_blocks\": %lld, \"n_video_blocks\": %lld, \"n_global_blocks\": %lld, "
                    "\"padded_tokens\": %lld,\n \"masks\": %lld, \"nnz\": %lld, \"density\": %.9g, "
                    "\"kept_query_fraction\": %.9g, \"keep\": %.9g, \"has_keep\": %s}\n",
                    r->device, r->preset, r->mode, r->param, (long long)r->batch, (long long)r->heads,
                    (long long)r->head_dim, (long long)r->frames, (long long)r->height, (long long)r->width,
                    (long long)r->text, r->text_before ? "true" : "false", (long long)s.tokens, r->dtype,
                    r->block[0], r->block[1], r->block[2], (long long)V, (long long)NB, (long long)s.n_video_blocks,
                    (long long)s.n_global_blocks, (long long)(NB * V), (long long)M, (long long)used, s.density,
                    s.kept_query_fraction, r->keep, keep ? "true" : "false");
            rc |= ferror(f) | (fclose(f) != 0);
        }
    }
    free(path), free(sub), free(row_ptr), free(offs), free(slots), free(keep), free(kv);
    return rc;
}
