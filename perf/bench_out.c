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

static void json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.9g", v);
    else
        fputs("null", f);
}

static const char *device_type_name(vox_device_type t)
{
    return t == VOX_DEVICE_REFERENCE ? "reference" : t == VOX_DEVICE_GPU ? "gpu" : t == VOX_DEVICE_CPU ? "cpu"
                                                                                                       : "other";
}

static void json_result(FILE *f, const bench_result *r)
{
#define KS(k, v) fprintf(f, ", \"" k "\": "), json_str(f, v)
#define KN(k, v) fprintf(f, ", \"" k "\": "), json_num(f, v)
#define KI(k, v) fprintf(f, ", \"" k "\": %lld", (long long)(v))
    fputs("    {\"device\": ", f);
    json_str(f, r->device);
    KS("device_name", r->device_name);
    KS("backend", r->backend);
    KS("preset", r->preset);
    KI("batch", r->batch);
    KI("heads", r->heads);
    KI("head_dim", r->head_dim);
    KI("frames", r->frames);
    KI("height", r->height);
    KI("width", r->width);
    KI("text", r->text);
    fprintf(f, ", \"text_before\": %s", r->text_before ? "true" : "false");
    KI("tokens", r->tokens);
    KS("dtype", r->dtype);
    fprintf(f, ", \"block\": [%d, %d, %d]", r->block[0], r->block[1], r->block[2]);
    KS("mode", r->mode);
    KS("param", r->param);
    KN("tau", r->tau);
    if (r->topk >= 0)
        KI("topk", r->topk);
    else
        fputs(", \"topk\": null", f);
    KN("target_density", r->target_density);
    KN("keep", r->keep);
    KS("status", r->status);
    KN("density", r->density);
    KN("kept_query_fraction", r->kept_query_fraction);
    KN("ms_median", r->ms_median);
    KN("ms_min", r->ms_min);
    KN("ms_max", r->ms_max);
    KN("ms_p90", r->ms_p90);
    KI("runs", r->runs);
    KI("warmup", r->warmup);
    KI("input_sets", r->sets);
    KN("tflops_effective", r->tflops_effective);
    KN("flops", r->flops);
    KN("flops_dense", r->flops_dense);
    KN("build_ms", r->build_ms);
    KN("speedup_vs_dense", r->speedup_vs_dense);
    KN("bwd_ms", r->bwd_ms);
    KN("fwdbwd_ms", r->fwdbwd_ms);
    KN("bwd_tflops_effective", r->bwd_tflops);
    KN("fwdbwd_tflops_effective", r->fwdbwd_tflops);
    KS("timer", r->timer_device ? "device" : "host");
    if (!strcmp(r->mode, "svg") && !strcmp(r->status, "ok"))
        fprintf(f, ", \"svg_heads\": {\"spatial\": %lld, \"temporal\": %lld, \"dense\": %lld}",
                (long long)r->n_spatial, (long long)r->n_temporal, (long long)r->n_dense_heads);
    if (r->mask_dir[0])
        KS("mask_dir", r->mask_dir);
    else
        fputs(", \"mask_dir\": null", f);
    fputs("}", f);
#undef KS
#undef KN
#undef KI
}

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
        fputs(i ? ",\n      {" : "\n      {", f);
        fputs("\"id\": ", f);
        json_str(f, d->id);
        fputs(", \"backend\": ", f);
        json_str(f, d->backend_name);
        fputs(", \"name\": ", f);
        json_str(f, d->name);
        fputs(", \"vendor\": ", f);
        json_str(f, d->vendor);
        fputs(", \"driver\": ", f);
        json_str(f, d->driver);
        fputs(", \"type\": ", f);
        json_str(f, device_type_name(d->type));
        fprintf(f, ", \"memory_bytes\": %llu, \"compute_units\": %u, \"bf16\": %s, \"matrix_units\": %s, "
                   "\"device_timer\": %s}",
                (unsigned long long)d->memory_bytes, d->compute_units, d->caps & VOX_CAP_BF16 ? "true" : "false",
                d->caps & VOX_CAP_MATRIX_UNITS ? "true" : "false", d->caps & VOX_CAP_TIMER ? "true" : "false");
    }
    fputs("]},\n  \"results\": [", f);
    for (int i = 0; i < rs->n; i++) {
        fputs(i ? ",\n" : "\n", f);
        json_result(f, &rs->r[i]);
    }
    fputs(rs->n ? "\n  ]\n}\n" : "]\n}\n", f);
    int bad = ferror(f);
    return (fclose(f) != 0) | bad;
}

/* ------------------------------------------------------------------- CSV */

static void csv_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, ",%.9g", v);
    else
        fputs(",", f);
}

static void csv_str(FILE *f, const char *s, int first)
{
    if (!first)
        fputc(',', f);
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

int bench_write_csv(const char *path, const bench_results *rs)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    fputs("device,device_name,backend,preset,batch,heads,head_dim,frames,height,width,text,text_before,tokens,"
          "dtype,block,mode,param,tau,topk,target_density,keep,status,density,kept_query_fraction,ms_median,"
          "ms_min,ms_max,ms_p90,runs,warmup,input_sets,tflops_effective,flops,flops_dense,build_ms,"
          "speedup_vs_dense,bwd_ms,fwdbwd_ms,bwd_tflops_effective,fwdbwd_tflops_effective,timer,mask_dir\n",
          f);
    for (int i = 0; i < rs->n; i++) {
        const bench_result *r = &rs->r[i];
        char block[48];
        snprintf(block, sizeof block, "%dx%dx%d", r->block[0], r->block[1], r->block[2]);
        csv_str(f, r->device, 1);
        csv_str(f, r->device_name, 0);
        csv_str(f, r->backend, 0);
        csv_str(f, r->preset, 0);
        fprintf(f, ",%lld,%lld,%lld,%lld,%lld,%lld,%lld,%d,%lld", (long long)r->batch, (long long)r->heads,
                (long long)r->head_dim, (long long)r->frames, (long long)r->height, (long long)r->width,
                (long long)r->text, r->text_before, (long long)r->tokens);
        csv_str(f, r->dtype, 0);
        csv_str(f, block, 0);
        csv_str(f, r->mode, 0);
        csv_str(f, r->param, 0);
        csv_num(f, r->tau);
        if (r->topk >= 0)
            fprintf(f, ",%d", r->topk);
        else
            fputs(",", f);
        csv_num(f, r->target_density);
        csv_num(f, r->keep);
        csv_str(f, r->status, 0);
        csv_num(f, r->density);
        csv_num(f, r->kept_query_fraction);
        csv_num(f, r->ms_median);
        csv_num(f, r->ms_min);
        csv_num(f, r->ms_max);
        csv_num(f, r->ms_p90);
        fprintf(f, ",%d,%d,%d", r->runs, r->warmup, r->sets);
        csv_num(f, r->tflops_effective);
        csv_num(f, r->flops);
        csv_num(f, r->flops_dense);
        csv_num(f, r->build_ms);
        csv_num(f, r->speedup_vs_dense);
        csv_num(f, r->bwd_ms);
        csv_num(f, r->fwdbwd_ms);
        csv_num(f, r->bwd_tflops);
        csv_num(f, r->fwdbwd_tflops);
        csv_str(f, r->timer_device ? "device" : "host", 0);
        csv_str(f, r->mask_dir, 0);
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
