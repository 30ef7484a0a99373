/* JSON / CSV writers and the block-mask export of `voxattn bench`. */
#include "bench_out.h"

#include <errno.h>
#include <math.h>
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

static void write_result(row_out *o, const bench_result *r)
{
    row_str(o, "device", r->device);
    row_str(o, "device_name", r->device_name);
    row_str(o, "backend", r->backend);
    row_str(o, "preset", r->preset);
    row_int(o, "batch", r->batch, 1);
    row_int(o, "heads", r->heads, 1);
    row_int(o, "head_dim", r->head_dim, 1);
    row_int(o, "frames", r->frames, 1);
    row_int(o, "height", r->height, 1);
    row_int(o, "width", r->width, 1);
    row_int(o, "text", r->text, 1);
    if (row_key(o, "text_before")) {
        if (o->form == ROW_JSON)
            fputs(r->text_before ? "true" : "false", o->f);
        else
            fprintf(o->f, "%d", r->text_before);
    }
    row_int(o, "tokens", r->tokens, 1);
    row_str(o, "dtype", r->dtype);
    if (row_key(o, "block")) /* JSON [t, h, w], CSV txhxw */
        fprintf(o->f, o->form == ROW_JSON ? "[%d, %d, %d]" : "%dx%dx%d", r->block[0], r->block[1], r->block[2]);
    row_str(o, "mode", r->mode);
    row_str(o, "param", r->param);
    row_num(o, "tau", r->tau);
    row_int(o, "topk", r->topk, r->topk >= 0);
    row_num(o, "target_density", r->target_density);
    row_num(o, "keep", r->keep);
    row_str(o, "status", r->status);
    row_num(o, "density", r->density);
    row_num(o, "kept_query_fraction", r->kept_query_fraction);
    row_num(o, "ms_median", r->ms_median);
    row_num(o, "ms_min", r->ms_min);
    row_num(o, "ms_max", r->ms_max);
    row_num(o, "ms_p90", r->ms_p90);
    row_int(o, "runs", r->runs, 1);
    row_int(o, "warmup", r->warmup, 1);
    row_int(o, "input_sets", r->sets, 1);
    row_num(o, "tflops_effective", r->tflops_effective);
    row_num(o, "flops", r->flops);
    row_num(o, "flops_dense", r->flops_dense);
    row_num(o, "build_ms", r->build_ms);
    row_num(o, "speedup_vs_dense", r->speedup_vs_dense);
    row_num(o, "bwd_ms", r->bwd_ms);
    row_num(o, "fwdbwd_ms", r->fwdbwd_ms);
    row_num(o, "bwd_tflops_effective", r->bwd_tflops);
    row_num(o, "fwdbwd_tflops_effective", r->fwdbwd_tflops);
    row_str(o, "timer", r->timer_device ? "device" : "host");
    if (o->form == ROW_JSON && !strcmp(r->mode, "svg") && !strcmp(r->status, "ok")) /* JSON only */
        fprintf(o->f, ", \"svg_heads\": {\"spatial\": %lld, \"temporal\": %lld, \"dense\": %lld}",
                (long long)r->n_spatial, (long long)r->n_temporal, (long long)r->n_dense_heads);
    row_str(o, "mask_dir", r->mask_dir[0] ? r->mask_dir : NULL);
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
