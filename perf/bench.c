/* `voxattn bench`: the cross-backend benchmark of perf/ (see perf/README.md).
 *
 * For every shape (workload presets and/or a custom grid) and every selected
 * device, the structured synthetic workload is generated for several seeds
 * (input sets), uploaded, and each mask configuration (dense, BSA with tau /
 * top-k / target density and query_keep, SVG) is planned, built (warm-up
 * builds, then at least 10 timed builds rotating among the input sets,
 * ending on set 0: build time = median) and run: warm-up runs, then timed runs
 * (vox_timer_begin/end around each forward, the backend's own timestamps)
 * rotating among the input sets. Results go to a table on stdout, JSON and CSV
 * files; progress goes to stderr. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "../cli/cli.h"
#include "clock.h"
#include "bench_out.h"

#define MAX_LIST 32
#define SMALL_FLOPS 2e9 /* dense FLOPs up to which non-GPU devices run a shape unasked */
#define BUILD_RUNS 10 /* timed builds per configuration, at least (and at least the input sets) */
#define BUILD_WARM_MS 1000.0 /* --build-only: untimed builds for this long before the timed ones */

typedef struct bench_opts {
    const char *presets[MAX_LIST];
    int n_presets;
    const char *devices[MAX_LIST];
    int n_devices;
    int custom; /* --grid given */
    vox_workload cw;
    int64_t batch; /* 0: as the shape says */
    int block[3];  /* 0: default */
    vox_dtype dtype;
    int dtype_given;
    double tau[MAX_LIST];
    int n_tau;
    int topk[MAX_LIST];
    int n_topk;
    double density[MAX_LIST];
    int n_density;
    double keep[MAX_LIST];
    int n_keep;
    int kv_max; /* --kv-max: BSA's kv_max_blocks (0: none) */
    int mode_dense, mode_bsa, mode_svg;
    int warmup, runs, sets;
    uint64_t seed;
    double sharpness;
    const char *json, *csv, *export_dir;
    int verbose;
    int backward; /* --backward */
    int quick;    /* --quick: --runs and --sets as given (no raise to 20 runs on GPUs and 3 sets) */
    int build_only; /* --build-only: time the mask builds alone (no forward; builds to warm the clock first) */
    int grad_hash; /* --grad-hash: after the backward's runs, a hash of dq, dk, dv's bytes on stderr */
    const char *ab; /* --ab: environment variants interleaved run by run in the backward's timing (ab_apply) */
} bench_opts;

static void bench_usage(FILE *f)
{
    fprintf(f,
            "usage: voxattn bench [options]\n"
            "shapes (default: tiny when no GPU is selected, else wan-1.3b-480p and hunyuan-720p):\n"
            "  --preset NAME        a workload preset (repeatable or comma list; 'all'); --list shows them\n"
            "  --grid FxHxW         a custom latent grid, with --heads H (24) --dim D (128) --text G (0)\n"
            "                       --text-before\n"
            "  --batch B            batch size (overrides the presets' batch 1)\n"
            "  --block t,h,w        block shape (default 4,4,4; 1,4,4 for grids <= 4096 tokens)\n"
            "  --dtype f32|f16|bf16 default bf16 on GPUs with bf16, else f32\n"
            "devices:\n"
            "  --device ID          cpu, cuda:0, vulkan:1, ... or a backend name (repeatable);\n"
            "                       default every device; non-GPU devices (the cpu reference, PoCL,\n"
            "                       lavapipe) run only small shapes unless named\n"
            "masks:\n"
            "  --mode LIST          of dense,bsa,svg (default dense,bsa,svg)\n"
            "  --tau LIST           BSA cumulative thresholds, e.g. 0.5,0.8,0.9\n"
            "  --topk LIST          BSA top-k block counts\n"
            "  --density LIST       BSA target densities, run as top-k with k = round(d * video blocks)\n"
            "                       (default when none of --tau/--topk/--density is given: tau 0.9 and\n"
            "                       density 0.25,0.1)\n"
            "  --keep LIST          BSA query_keep values (default 1)\n"
            "  --kv-max N           BSA kv_max_blocks: at most N blocks a rule admits per query block\n"
            "                       (default 0: none; bounds a tau mask's memory)\n"
            "timing:\n"
            "  --warmup N (3)  --runs N (20; at least 20 on GPUs)  --sets N (3, at least 3 input sets)\n"
            "  --quick              take --runs and --sets as given (short A/B runs; fewer samples per median)\n"
            "  --build-only         time the mask builds alone: no forward (its columns print nan); the\n"
            "                       timed builds follow 1 s of untimed ones, which bring the clock up\n"
            "  --grad-hash          after --backward's runs, print a hash of dq, dk, dv's bytes (bitwise A/B of\n"
            "                       backward variants: same inputs, same hash)\n"
            "  --ab SPEC            with --backward: variants V0/V1/... (each a comma list of NAME=VALUE, '-'\n"
            "                       none) set in the environment before each timed backward, run i taking\n"
            "                       variant i mod n; a median per variant (and hashes per variant with\n"
            "                       --grad-hash); forward + backward not timed. Only for switches the\n"
            "                       library reads at each call (docs/environment.md)\n"
            "  --seed S (1)  --sharpness X (1.0, logit scale of the synthetic workload)\n"
            "  --backward           also time vox_attention_backward alone and forward (with LSE)\n"
            "                       + backward (effective FLOPs: 2.5x and 3.5x the forward's)\n"
            "output:\n"
            "  --json FILE  --csv FILE  --export-mask DIR (block masks as .npy, see perf/README.md)\n"
            "  -v  verbose library log;  -h, --help\n");
}

static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    int64_t v;
    if (!parse_i64(s, lo, hi, &v))
        return 0;
    *out = (int)v;
    return 1;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return 0;
    *out = v;
    return 1;
}

/* Comma list of values in [lo,hi], appended to arr (at most MAX_LIST in
 * all): item(t, lo, hi, arr, i) parses t into arr[i]. */
typedef int (*list_item)(const char *t, double lo, double hi, void *arr, int i);
static int parse_list(const char *s, double lo, double hi, void *arr, int *n, list_item item)
{
    char buf[512];
    if (strlen(s) >= sizeof buf)
        return 0;
    strcpy(buf, s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n >= MAX_LIST || !item(t, lo, hi, arr, *n))
            return 0;
        (*n)++;
    }
    return *n > 0;
}

static int double_item(const char *t, double lo, double hi, void *arr, int i)
{
    return parse_double(t, lo, hi, (double *)arr + i);
}

static int int_item(const char *t, double lo, double hi, void *arr, int i)
{
    return parse_int(t, (int)lo, (int)hi, (int *)arr + i);
}

static int parse_dlist(const char *s, double lo, double hi, double *arr, int *n)
{
    return parse_list(s, lo, hi, arr, n, double_item);
}

static int parse_ilist(const char *s, int lo, int hi, int *arr, int *n)
{
    return parse_list(s, lo, hi, arr, n, int_item);
}

static int parse_grid(const char *s, int64_t *f, int64_t *h, int64_t *w)
{
    char buf[128];
    if (strlen(s) >= sizeof buf)
        return 0;
    strcpy(buf, s);
    int64_t v[3];
    int n = 0;
    for (char *save = NULL, *t = strtok_r(buf, "x", &save); t; t = strtok_r(NULL, "x", &save)) {
        if (n >= 3 || !parse_i64(t, 1, 1 << 20, &v[n]))
            return 0;
        n++;
    }
    if (n != 3)
        return 0;
    *f = v[0], *h = v[1], *w = v[2];
    return 1;
}

static int parse_modes(const char *s, bench_opts *o)
{
    char buf[128];
    if (strlen(s) >= sizeof buf)
        return 0;
    strcpy(buf, s);
    o->mode_dense = o->mode_bsa = o->mode_svg = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "dense")) o->mode_dense = 1;
        else if (!strcmp(t, "bsa")) o->mode_bsa = 1;
        else if (!strcmp(t, "svg")) o->mode_svg = 1;
        else return 0;
    }
    return o->mode_dense || o->mode_bsa || o->mode_svg;
}

static int add_presets(const char *s, bench_opts *o)
{
    char buf[512];
    if (strlen(s) >= sizeof buf)
        return 0;
    strcpy(buf, s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "all")) {
            for (int i = 0; i < vox_workload_preset_count && o->n_presets < MAX_LIST; i++)
                o->presets[o->n_presets++] = vox_workload_presets[i].name;
            continue;
        }
        const vox_workload *w = vox_workload_find(t);
        if (!w) {
            fprintf(stderr, "bench: unknown preset '%s' (voxattn bench --list)\n", t);
            return 0;
        }
        if (o->n_presets >= MAX_LIST)
            return 0;
        o->presets[o->n_presets++] = w->name; /* static storage */
    }
    return 1;
}

static void list_presets(void)
{
    printf("%-16s %-14s %6s %6s %5s %4s %8s\n", "preset", "grid", "text", "batch", "heads", "D", "tokens");
    for (int i = 0; i < vox_workload_preset_count; i++) {
        const vox_workload *w = &vox_workload_presets[i];
        char g[48];
        snprintf(g, sizeof g, "%lldx%lldx%lld", (long long)w->frames, (long long)w->height, (long long)w->width);
        printf("%-16s %-14s %4lld %s %6lld %5lld %4lld %8lld\n", w->name, g, (long long)w->text,
               w->text ? (w->text_before ? "b" : "a") : " ", (long long)w->batch, (long long)w->heads,
               (long long)w->head_dim, (long long)vox_workload_tokens(w));
    }
}

/* The options that set one field of bench_opts: a flag (set to 1) or a value
 * parsed into [lo, hi] (a list appends and counts in the int at n_off). */
typedef enum { O_FLAG, O_I64, O_INT, O_DOUBLE, O_DLIST, O_ILIST, O_TEXT } opt_kind;

typedef struct field_opt {
    const char *name;
    opt_kind kind;
    size_t off, n_off; /* in bench_opts */
    double lo, hi;
} field_opt;

#define AT(member) offsetof(bench_opts, member)
static const field_opt k_field_opts[] = {
    {"-v", O_FLAG, AT(verbose), 0, 0, 0},
    {"--text-before", O_FLAG, AT(cw.text_before), 0, 0, 0},
    {"--backward", O_FLAG, AT(backward), 0, 0, 0},
    {"--quick", O_FLAG, AT(quick), 0, 0, 0},
    {"--build-only", O_FLAG, AT(build_only), 0, 0, 0},
    {"--grad-hash", O_FLAG, AT(grad_hash), 0, 0, 0},
    {"--heads", O_I64, AT(cw.heads), 0, 1, 4096},
    {"--text", O_I64, AT(cw.text), 0, 0, 1 << 20},
    {"--batch", O_I64, AT(batch), 0, 1, 4096},
    {"--tau", O_DLIST, AT(tau), AT(n_tau), 1e-9, 1.0},
    {"--topk", O_ILIST, AT(topk), AT(n_topk), 1, 1 << 30},
    {"--density", O_DLIST, AT(density), AT(n_density), 1e-9, 1.0},
    {"--keep", O_DLIST, AT(keep), AT(n_keep), 1e-9, 1.0},
    {"--kv-max", O_INT, AT(kv_max), 0, 0, 1 << 30},
    {"--warmup", O_INT, AT(warmup), 0, 0, 100000},
    {"--runs", O_INT, AT(runs), 0, 1, 1000000},
    {"--sets", O_INT, AT(sets), 0, 1, 64},
    {"--sharpness", O_DOUBLE, AT(sharpness), 0, 1e-6, 1e6},
    {"--json", O_TEXT, AT(json), 0, 0, 0},
    {"--csv", O_TEXT, AT(csv), 0, 0, 0},
    {"--export-mask", O_TEXT, AT(export_dir), 0, 0, 0},
    {"--ab", O_TEXT, AT(ab), 0, 0, 0},
};
#undef AT

static const field_opt *find_field_opt(const char *name)
{
    for (size_t i = 0; i < sizeof k_field_opts / sizeof k_field_opts[0]; i++)
        if (!strcmp(name, k_field_opts[i].name))
            return &k_field_opts[i];
    return NULL;
}

/* Sets the field of option f from its value s (NULL for a flag); 0 if s is bad. */
static int set_field_opt(const field_opt *f, const char *s, bench_opts *o)
{
    char *at = (char *)o + f->off;
    int *n = (int *)((char *)o + f->n_off);
    switch (f->kind) {
    case O_FLAG: *(int *)at = 1; return 1;
    case O_I64: return parse_i64(s, (int64_t)f->lo, (int64_t)f->hi, (int64_t *)at);
    case O_INT: return parse_int(s, (int)f->lo, (int)f->hi, (int *)at);
    case O_DOUBLE: return parse_double(s, f->lo, f->hi, (double *)at);
    case O_DLIST: return parse_dlist(s, f->lo, f->hi, (double *)at, n);
    case O_ILIST: return parse_ilist(s, (int)f->lo, (int)f->hi, (int *)at, n);
    case O_TEXT: *(const char **)at = s; return 1;
    }
    return 0;
}

/* Returns 0 ok, 1 --help/--list handled (exit 0), 2 usage error. */
static int parse_args(int argc, char **argv, bench_opts *o)
{
    memset(o, 0, sizeof *o);
    o->cw.name = "custom";
    o->cw.batch = 1, o->cw.heads = 24, o->cw.head_dim = 128;
    o->dtype = VOX_F32;
    o->mode_dense = o->mode_bsa = o->mode_svg = 1;
    o->warmup = 3, o->runs = 20, o->sets = 3, o->seed = 1, o->sharpness = 1.0;
    int64_t v64;
    const field_opt *fo;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *nx = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED()                                                       \
    do {                                                             \
        if (!nx) {                                                   \
            fprintf(stderr, "bench: %s needs a value\n", a);         \
            return 2;                                                \
        }                                                            \
        i++;                                                         \
    } while (0)
#define BAD()                                                        \
    do {                                                             \
        fprintf(stderr, "bench: bad value for %s: '%s'\n", a, nx);   \
        return 2;                                                    \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bench_usage(stdout);
            return 1;
        } else if (!strcmp(a, "--list")) {
            list_presets();
            return 1;
        } else if ((fo = find_field_opt(a))) {
            if (fo->kind != O_FLAG)
                NEED();
            if (!set_field_opt(fo, fo->kind == O_FLAG ? NULL : nx, o)) BAD();
        } else if (!strcmp(a, "--preset")) {
            NEED();
            if (!add_presets(nx, o)) BAD();
        } else if (!strcmp(a, "--device")) {
            NEED();
            if (o->n_devices >= MAX_LIST) BAD();
            o->devices[o->n_devices++] = nx;
        } else if (!strcmp(a, "--grid")) {
            NEED();
            if (!parse_grid(nx, &o->cw.frames, &o->cw.height, &o->cw.width)) BAD();
            o->custom = 1;
        } else if (!strcmp(a, "--dim")) {
            NEED();
            if (!parse_i64(nx, 2, 1024, &v64) || (v64 & 1)) BAD();
            o->cw.head_dim = v64;
        } else if (!strcmp(a, "--block")) {
            NEED();
            int n = 0;
            if (!parse_ilist(nx, 1, 256, o->block, &n) || n != 3) BAD();
        } else if (!strcmp(a, "--dtype")) {
            NEED();
            if (!cli_parse_dtype(nx, &o->dtype)) BAD();
            o->dtype_given = 1;
        } else if (!strcmp(a, "--mode")) {
            NEED();
            if (!parse_modes(nx, o)) BAD();
        } else if (!strcmp(a, "--seed")) {
            NEED();
            if (!parse_i64(nx, 0, INT64_MAX, &v64)) BAD();
            o->seed = (uint64_t)v64;
        } else {
            fprintf(stderr, "bench: unknown option '%s'\n", a);
            return 2;
        }
#undef NEED
#undef BAD
    }
    if (o->build_only && (o->backward || o->ab)) {
        fprintf(stderr, "bench: --build-only times no forward or backward (drop --backward / --ab)\n");
        return 2;
    }
    if (o->sets < 3 && !o->quick) {
        fprintf(stderr, "bench: --sets %d raised to 3 (inputs rotate among at least 3 sets)\n", o->sets);
        o->sets = 3;
    }
    if (!o->n_tau && !o->n_topk && !o->n_density) {
        o->tau[o->n_tau++] = 0.9;
        o->density[o->n_density++] = 0.25;
        o->density[o->n_density++] = 0.1;
    }
    if (!o->n_keep)
        o->keep[o->n_keep++] = 1.0;
    return 0;
}

/* ------------------------------------------------------------------ devices */

static int select_devices(const bench_opts *o, bench_device *devs, int *n_devs)
{
    int n = 0;
    *n_devs = 0;
    if (cli_check(vox_device_count(&n), "device count"))
        return 1;
    for (int i = 0; i < n && *n_devs < MAX_LIST; i++) {
        vox_device_desc d;
        if (cli_check(vox_device_info(i, &d), "device info"))
            return 1;
        int named = 0;
        for (int j = 0; j < o->n_devices; j++)
            if (!strcmp(o->devices[j], d.id) || !strcmp(o->devices[j], d.backend_name))
                named = 1;
        if (o->n_devices && !named)
            continue;
        devs[*n_devs].index = i;
        devs[*n_devs].named = named;
        devs[*n_devs].d = d;
        (*n_devs)++;
    }
    for (int j = 0; j < o->n_devices; j++) {
        int found = 0;
        for (int i = 0; i < *n_devs; i++)
            found |= !strcmp(o->devices[j], devs[i].d.id) || !strcmp(o->devices[j], devs[i].d.backend_name);
        if (!found) {
            fprintf(stderr, "bench: no device '%s' (see voxattn devices)\n", o->devices[j]);
            return 2;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ shapes */

typedef struct bench_shape {
    vox_workload w;
    int block[3];    /* the block in use */
    int block_given; /* --block; else the workload's default (thin on small grids, as the demo) */
} bench_shape;

static void shape_init(bench_shape *s, const vox_workload *w, const bench_opts *o)
{
    s->w = *w;
    if (o->batch)
        s->w.batch = o->batch;
    s->block_given = o->block[0] != 0;
    vox_plan_params p;
    vox_workload_plan_params(&s->w, VOX_F32, VOX_MASK_DENSE, s->block_given ? o->block : NULL, &p);
    s->block[0] = p.block_t, s->block[1] = p.block_h, s->block[2] = p.block_w;
}

static double shape_dense_flops(const bench_shape *s)
{
    double N = (double)vox_workload_tokens(&s->w);
    return 4.0 * N * N * (double)s->w.head_dim * (double)(s->w.batch * s->w.heads);
}

/* ----------------------------------------------------------- configurations */

typedef struct bench_config {
    vox_mask_mode mode;
    const char *mode_name;
    int rule; /* 0 none, 1 tau, 2 topk, 3 target density (topk) */
    double tau;
    int topk;
    double target;
    double keep;
    int kv_max; /* BSA: kv_max_blocks */
} bench_config;

static int make_configs(const bench_opts *o, bench_config *c, int cap)
{
    int n = 0;
    if (o->mode_dense && n < cap)
        c[n++] = (bench_config){VOX_MASK_DENSE, "dense", 0, 0, 0, 0, 1.0, 0};
    if (o->mode_bsa)
        for (int ki = 0; ki < o->n_keep; ki++) {
            for (int i = 0; i < o->n_tau && n < cap; i++)
                c[n++] = (bench_config){VOX_MASK_BSA, "bsa", 1, o->tau[i], 0, 0, o->keep[ki], o->kv_max};
            for (int i = 0; i < o->n_topk && n < cap; i++)
                c[n++] = (bench_config){VOX_MASK_BSA, "bsa", 2, 0, o->topk[i], 0, o->keep[ki], o->kv_max};
            for (int i = 0; i < o->n_density && n < cap; i++)
                c[n++] = (bench_config){VOX_MASK_BSA, "bsa", 3, 0, 0, o->density[i], o->keep[ki], o->kv_max};
        }
    if (o->mode_svg && n < cap)
        c[n++] = (bench_config){VOX_MASK_SVG, "svg", 0, 0, 0, 0, 1.0, 0};
    return n;
}

static void plan_params(const bench_shape *s, const bench_config *c, vox_dtype dtype, int64_t n_video_blocks,
                        vox_plan_params *p)
{
    vox_workload_plan_params(&s->w, dtype, c->mode, s->block_given ? s->block : NULL, p);
    if (c->mode == VOX_MASK_BSA) {
        p->query_keep = c->keep;
        p->kv_max_blocks = c->kv_max;
        if (c->rule == 1) {
            p->kv_rule = VOX_KV_CUMULATIVE;
            p->kv_tau = c->tau;
        } else {
            p->kv_rule = VOX_KV_TOPK;
            int64_t k = c->rule == 2 ? c->topk : (int64_t)llround(c->target * (double)n_video_blocks);
            if (k < 1)
                k = 1;
            if (n_video_blocks > 0 && k > n_video_blocks)
                k = n_video_blocks;
            p->kv_topk = (int)k;
            if (p->kv_min_blocks > p->kv_topk)
                p->kv_min_blocks = p->kv_topk;
        }
    }
}

/* ------------------------------------------------------------------ inputs */

/* Host f32 input sets of the current shape, cached when they fit in memory. */
typedef struct input_cache {
    const bench_shape *shape;
    size_t n; /* elements per tensor */
    int sets;
    int cached, filled;
    float **q, **k, **v;
} input_cache;

static void cache_free(input_cache *ic)
{
    for (int s = 0; ic->q && s < ic->sets; s++)
        free(ic->q[s]), free(ic->k[s]), free(ic->v[s]);
    free(ic->q), free(ic->k), free(ic->v);
    memset(ic, 0, sizeof *ic);
}

static int cache_init(input_cache *ic, const bench_shape *s, int sets)
{
    memset(ic, 0, sizeof *ic);
    ic->shape = s;
    ic->sets = sets;
    ic->n = (size_t)(s->w.batch * s->w.heads * vox_workload_tokens(&s->w) * s->w.head_dim);
    ic->q = calloc((size_t)sets, sizeof(float *));
    ic->k = calloc((size_t)sets, sizeof(float *));
    ic->v = calloc((size_t)sets, sizeof(float *));
    if (!ic->q || !ic->k || !ic->v)
        return 1;
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    double phys = pages > 0 && psize > 0 ? (double)pages * (double)psize : 0;
    ic->cached = phys > 0 && (double)ic->n * 4.0 * 3.0 * sets < 0.4 * phys;
    return 0;
}

/* Parallel generation: worker threads take (set, head) jobs from a shared
 * counter; heads have their own random streams, so the data does not depend
 * on the thread count. */
typedef struct gen_pool {
    const vox_workload *w;
    uint64_t seed; /* set s uses seed + s */
    double sharp;
    int s0, nsets; /* sets s0 .. s0+nsets-1, arrays indexed from 0 */
    int64_t heads; /* b*H heads per set */
    float **q, **k, **v;
    pthread_mutex_t lock;
    int64_t next;
    int rc;
} gen_pool;

static void *gen_worker(void *arg)
{
    gen_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        int64_t j = p->next++;
        pthread_mutex_unlock(&p->lock);
        if (j >= p->nsets * p->heads)
            break;
        int i = (int)(j / p->heads);
        int64_t bh = j % p->heads;
        if (vox_workload_generate_heads(p->w, p->seed + (uint64_t)(p->s0 + i), p->sharp, bh, bh + 1, p->q[i], p->k[i],
                                        p->v[i])) {
            pthread_mutex_lock(&p->lock);
            p->rc = 1;
            pthread_mutex_unlock(&p->lock);
        }
    }
    return NULL;
}

/* Generates sets s0 .. s0+nsets-1 into q[i], k[i], v[i] (i = set - s0) on every core. */
static int generate_sets(const vox_workload *w, uint64_t seed, double sharp, int s0, int nsets, float **q, float **k,
                         float **v)
{
    gen_pool p = {w, seed, sharp, s0, nsets, w->batch * w->heads, q, k, v, PTHREAD_MUTEX_INITIALIZER, 0, 0};
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int64_t jobs = (int64_t)nsets * p.heads;
    int nt = (int)(ncpu < 1 ? 1 : ncpu > 64 ? 64 : ncpu);
    if (nt > jobs)
        nt = (int)jobs;
    pthread_t th[64];
    int started = 0;
    for (int t = 1; t < nt; t++) {
        if (pthread_create(&th[started], NULL, gen_worker, &p) != 0)
            break; /* fewer threads: the others take the jobs */
        started++;
    }
    gen_worker(&p);
    for (int t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    pthread_mutex_destroy(&p.lock);
    return p.rc;
}

/* Cached mode: generates every set at once. */
static int cache_fill(input_cache *ic, uint64_t seed, double sharp)
{
    int S = ic->sets;
    double t0 = vox_clock_ms();
    fprintf(stderr, "bench: generating %d input sets of %s (%lld tokens)\n", S, ic->shape->w.name,
            (long long)vox_workload_tokens(&ic->shape->w));
    for (int s = 0; s < S; s++) {
        ic->q[s] = malloc(sizeof(float) * ic->n), ic->k[s] = malloc(sizeof(float) * ic->n);
        ic->v[s] = malloc(sizeof(float) * ic->n);
        if (!ic->q[s] || !ic->k[s] || !ic->v[s])
            return 1;
    }
    int rc = generate_sets(&ic->shape->w, seed, sharp, 0, S, ic->q, ic->k, ic->v);
    if (!rc)
        fprintf(stderr, "bench: input sets ready in %.1f s\n", (vox_clock_ms() - t0) * 1e-3);
    return rc;
}

/* Pointers to set s; *owned says whether the caller frees them. */
static int cache_get(input_cache *ic, int s, uint64_t seed, double sharp, float **q, float **k, float **v,
                     int *owned)
{
    if (ic->cached && !ic->filled) {
        ic->filled = 1;
        if (cache_fill(ic, seed, sharp)) {
            for (int i = 0; i < ic->sets; i++) { /* fall back to one set at a time */
                free(ic->q[i]), free(ic->k[i]), free(ic->v[i]);
                ic->q[i] = ic->k[i] = ic->v[i] = NULL;
            }
            ic->cached = 0;
        }
    }
    if (ic->cached && ic->q[s]) {
        *q = ic->q[s], *k = ic->k[s], *v = ic->v[s], *owned = 0;
        return 0;
    }
    float *a = malloc(sizeof(float) * ic->n), *b = malloc(sizeof(float) * ic->n),
          *c = malloc(sizeof(float) * ic->n);
    if (!a || !b || !c || generate_sets(&ic->shape->w, seed, sharp, s, 1, &a, &b, &c)) {
        free(a), free(b), free(c);
        return 1;
    }
    if (ic->cached) {
        ic->q[s] = a, ic->k[s] = b, ic->v[s] = c;
        *owned = 0;
    } else {
        *owned = 1;
    }
    *q = a, *k = b, *v = c;
    return 0;
}

/* ----------------------------------------------------------------- results */

static bench_result *results_add(bench_results *rs)
{
    if (rs->n == rs->cap) {
        int cap = rs->cap ? 2 * rs->cap : 32;
        bench_result *r = realloc(rs->r, sizeof *r * (size_t)cap);
        if (!r)
            return NULL;
        rs->r = r, rs->cap = cap;
    }
    bench_result *r = &rs->r[rs->n++];
    memset(r, 0, sizeof *r);
    return r;
}

static void result_fill_shape(bench_result *r, const bench_shape *s, const bench_config *c, const bench_device *bd,
                              vox_dtype dtype)
{
    snprintf(r->device, sizeof r->device, "%s", bd->d.id);
    snprintf(r->device_name, sizeof r->device_name, "%s", bd->d.name);
    snprintf(r->backend, sizeof r->backend, "%s", bd->d.backend_name);
    snprintf(r->preset, sizeof r->preset, "%s", s->w.name);
    r->batch = s->w.batch, r->heads = s->w.heads, r->head_dim = s->w.head_dim;
    r->frames = s->w.frames, r->height = s->w.height, r->width = s->w.width;
    r->text = s->w.text, r->text_before = s->w.text_before;
    r->tokens = vox_workload_tokens(&s->w);
    snprintf(r->dtype, sizeof r->dtype, "%s", cli_dtype_name(dtype));
    memcpy(r->block, s->block, sizeof r->block);
    snprintf(r->mode, sizeof r->mode, "%s", c->mode_name);
    r->tau = c->rule == 1 ? c->tau : NAN;
    r->topk = c->rule >= 2 ? c->topk : -1; /* density rule: filled once k is known */
    r->target_density = c->rule == 3 ? c->target : NAN;
    r->keep = c->keep;
    if (c->rule == 1)
        snprintf(r->param, sizeof r->param, "tau=%g", c->tau);
    else if (c->rule == 2)
        snprintf(r->param, sizeof r->param, "topk=%d", c->topk);
    else if (c->rule == 3)
        snprintf(r->param, sizeof r->param, "density=%g", c->target);
    if (c->mode == VOX_MASK_BSA && c->keep < 1.0) {
        size_t l = strlen(r->param);
        snprintf(r->param + l, sizeof r->param - l, "%skeep=%g", l ? "," : "", c->keep);
    }
    if (c->mode == VOX_MASK_BSA && c->kv_max > 0) {
        size_t l = strlen(r->param);
        snprintf(r->param + l, sizeof r->param - l, "%smax=%d", l ? "," : "", c->kv_max);
    }
    r->density = r->kept_query_fraction = r->ms_median = r->ms_min = r->ms_max = r->ms_p90 = NAN;
    r->tflops_effective = r->flops = r->flops_dense = r->build_ms = r->speedup_vs_dense = NAN;
    r->bwd_ms = r->fwdbwd_ms = r->bwd_tflops = r->fwdbwd_tflops = NAN;
    r->plan_bytes = -1;
    r->plan_bytes_bwd = -1;
    r->timer_device = (bd->d.caps & VOX_CAP_TIMER) != 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Status class of an error: skipped (memory), unsupported, or error. */
static void set_status(bench_result *r, vox_status st, const char *what)
{
    const char *cls = st == VOX_ERR_OUT_OF_MEMORY || st == VOX_ERR_DEVICE_OUT_OF_MEMORY ? "skipped"
                      : st == VOX_ERR_UNSUPPORTED || st == VOX_ERR_BACKEND_UNAVAILABLE ? "unsupported"
                                                                                         : "error";
    snprintf(r->status, sizeof r->status, "%s: %s: %s", cls, what, vox_status_string(st));
}

/* -------------------------------------------------------------- one device */

typedef struct device_run {
    vox_context *ctx;
    vox_dtype dtype;
    int sets;
    vox_buffer **bq, **bk, **bv, *bo;
    vox_tensor *q, *k, *v, out;
    /* --backward: the LSE and the three gradients (dout is another set's v) */
    vox_buffer *blse, *bg[3];
    vox_tensor lse, grad[3];
} device_run;

static void device_run_free(device_run *dr)
{
    for (int s = 0; dr->bq && s < dr->sets; s++)
        vox_buffer_destroy(dr->bq[s]), vox_buffer_destroy(dr->bk[s]), vox_buffer_destroy(dr->bv[s]);
    vox_buffer_destroy(dr->bo);
    vox_buffer_destroy(dr->blse);
    for (int g = 0; g < 3; g++)
        vox_buffer_destroy(dr->bg[g]);
    free(dr->bq), free(dr->bk), free(dr->bv), free(dr->q), free(dr->k), free(dr->v);
    vox_context_destroy(dr->ctx);
    memset(dr, 0, sizeof *dr);
}

static void sanitize(char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '.' && *s != '_')
            *s = '_';
}

/* One timed step of a configuration (repetition i). */
typedef vox_status (*bench_step)(device_run *dr, vox_plan *plan, int i);

/* --ab: the number of variants of spec (separated by '/'). */
static int ab_count(const char *spec)
{
    int n = 1;
    for (const char *c = spec; *c; c++)
        n += *c == '/';
    return n;
}

/* --ab: unsets every variable any variant of spec names, then sets variant k's (k < 0: none); its text into
 * name (n bytes). Variants: '/'-separated comma lists of NAME=VALUE; "-" or "" is no assignment. */
static void ab_apply(const char *spec, int k, char *name, size_t n)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", spec);
    if (name && n)
        name[0] = 0;
    for (int pass = 0; pass < 2; pass++) {
        int v = 0;
        for (char *a = buf; a; v++) {
            char *end = strchr(a, '/');
            if (end)
                *end = 0;
            if (pass && v == k && name && n) {
                const size_t l = strlen(a) < n - 1 ? strlen(a) : n - 1;
                memcpy(name, a, l);
                name[l] = 0;
            }
            char tmp[sizeof buf];
            memcpy(tmp, a, strlen(a) + 1);
            for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(t, '=');
                if (!eq)
                    continue;
                *eq = 0;
                if (!pass)
                    unsetenv(t);
                else if (v == k)
                    setenv(t, eq + 1, 1);
            }
            if (end)
                *end = '/';
            a = end ? end + 1 : NULL;
        }
    }
}

/* o->warmup untimed steps, a finish, then o->runs steps each between device
 * timestamps; ms[i] gets repetition i's time. ab (--ab, else NULL): step i runs
 * with variant i mod ab_count(ab) applied, the warmup o->warmup per variant. */
static vox_status timed_runs(const bench_opts *o, device_run *dr, vox_plan *plan, bench_step step, double *ms,
                             const char *ab)
{
    vox_status st = VOX_OK;
    const int nv = ab ? ab_count(ab) : 1;
    for (int i = 0; !st && i < o->warmup * nv; i++) {
        if (ab)
            ab_apply(ab, i % nv, NULL, 0);
        st = step(dr, plan, i);
    }
    if (!st)
        st = vox_context_finish(dr->ctx);
    for (int i = 0; !st && i < o->runs; i++) {
        if (ab)
            ab_apply(ab, i % nv, NULL, 0);
        st = vox_timer_begin(dr->ctx);
        if (!st)
            st = step(dr, plan, i);
        double t = 0;
        vox_status st2 = vox_timer_end(dr->ctx, &t);
        if (!st)
            st = st2;
        ms[i] = t;
    }
    return st;
}

/* The forward, rotating the input sets. */
static vox_status step_forward(device_run *dr, vox_plan *plan, int i)
{
    int si = i % dr->sets;
    return vox_attention_forward(plan, &dr->q[si], &dr->k[si], &dr->v[si], &dr->out, NULL);
}

/* The backward of set 0's forward; dout is set 1's v (any tensor of the
 * shape; set 0's own v would alias an input). */
static vox_status step_backward(device_run *dr, vox_plan *plan, int i)
{
    (void)i;
    return vox_attention_backward(plan, &dr->q[0], &dr->k[0], &dr->v[0], &dr->out, &dr->lse, &dr->v[1 % dr->sets],
                                  &dr->grad[0], &dr->grad[1], &dr->grad[2]);
}

/* Set 0's forward with LSE, then its backward. */
static vox_status step_forward_backward(device_run *dr, vox_plan *plan, int i)
{
    vox_status st = vox_attention_forward(plan, &dr->q[0], &dr->k[0], &dr->v[0], &dr->out, &dr->lse);
    return st ? st : step_backward(dr, plan, i);
}


/* FNV-1a 64 of the last run's gradient bytes, on stderr (label: the --ab variant or ""); words: over 8-byte
 * words instead (then bytes of a tail), ~8x faster for --ab's several hashes of full-size gradients (other values
 * than the byte hash's: compare like with like). */
static vox_status grad_hashes(device_run *dr, const bench_result *r, const char *label, int words)
{
    vox_status st = VOX_OK;
    for (int g = 0; !st && g < 3; g++) {
        size_t n = vox_buffer_size(dr->bg[g]);
        unsigned char *h = malloc(n ? n : 1);
        uint64_t x = 14695981039346656037ull;
        vox_status rs = h ? vox_buffer_read(dr->bg[g], 0, h, n) : VOX_ERR_OUT_OF_MEMORY;
        size_t i = 0;
        for (; !rs && words && i + 8 <= n; i += 8) {
            uint64_t w;
            memcpy(&w, h + i, 8);
            x = (x ^ w) * 1099511628211ull;
        }
        for (; !rs && i < n; i++)
            x = (x ^ h[i]) * 1099511628211ull;
        free(h);
        if (rs)
            fprintf(stderr, "bench: %s: %sd%c hash: %s\n", r->device, label, "qkv"[g], vox_status_string(rs));
        else
            fprintf(stderr, "bench: %s: %sd%c hash%s %016llx (%zu bytes)\n", r->device, label, "qkv"[g],
                    words ? "64" : "", (unsigned long long)x, n);
    }
    return st;
}

/* --ab: the backward alone, run i with variant i mod n (warmup likewise, o->warmup per variant); a line per
 * variant on stderr (median, mean, min); r gets variant 0's median. */
static vox_status time_backward_ab(const bench_opts *o, device_run *dr, vox_plan *plan, double *ms, bench_result *r)
{
    const int nv = ab_count(o->ab);
    vox_status st = timed_runs(o, dr, plan, step_backward, ms, o->ab);
    for (int k = 0; !st && k < nv; k++) {
        double v[1024], sum = 0, mn = 0;
        int n = 0;
        for (int i = k; i < o->runs && n < 1024; i += nv, n++)
            v[n] = ms[i], sum += ms[i], mn = n == 0 || ms[i] < mn ? ms[i] : mn;
        char name[256];
        ab_apply(o->ab, k, name, sizeof name);
        if (!n)
            continue;
        const double med = median_of(v, n), tf = med > 0 ? 2.5 * r->flops / (med * 1e-3) * 1e-12 : NAN;
        fprintf(stderr, "bench: %s: ab %d [%s]: backward median %.3f ms (%.1f TF/s) mean %.3f min %.3f over %d runs\n",
                r->device, k, name, med, tf, sum / n, mn, n);
        if (k == 0)
            r->bwd_ms = med, r->bwd_tflops = tf;
        if (o->grad_hash) { /* that variant's own backward, then its hashes */
            st = step_backward(dr, plan, 0);
            char label[300];
            snprintf(label, sizeof label, "ab %d [%s] ", k, name);
            if (!st)
                st = grad_hashes(dr, r, label, 1);
        }
    }
    ab_apply(o->ab, -1, NULL, 0);
    return st;
}

/* Medians of the backward alone (after one forward with LSE) and of forward
 * + backward, with effective TFLOP/s counting 2.5x and 3.5x the forward's
 * FLOPs. */
static vox_status time_backward(const bench_opts *o, device_run *dr, vox_plan *plan, double *ms, bench_result *r)
{
    vox_status st = vox_attention_forward(plan, &dr->q[0], &dr->k[0], &dr->v[0], &dr->out, &dr->lse);
    if (!st && o->ab)
        st = time_backward_ab(o, dr, plan, ms, r);
    for (int pass = 0; pass < 2 && !st && !o->ab; pass++) { /* 0: backward alone, 1: forward + backward */
        st = timed_runs(o, dr, plan, pass ? step_forward_backward : step_backward, ms, NULL);
        if (!st) {
            double med = median_of(ms, o->runs), mult = pass ? 3.5 : 2.5;
            double tf = med > 0 ? mult * r->flops / (med * 1e-3) * 1e-12 : NAN;
            if (pass)
                r->fwdbwd_ms = med, r->fwdbwd_tflops = tf;
            else
                r->bwd_ms = med, r->bwd_tflops = tf;
        }
    }
    if (!st && o->grad_hash && !o->ab)
        st = grad_hashes(dr, r, "", 0);
    if (st == VOX_ERR_UNSUPPORTED) { /* an optional op: the forward's figures stand */
        fprintf(stderr, "bench: %s: no backward on this device (%s)\n", r->device, vox_status_string(st));
        return VOX_OK;
    }
    if (st)
        set_status(r, st, "backward");
    return st;
}

/* Runs one configuration on an open device; fills r. Returns 0 or 1 (error status set). */
static int run_config(const bench_opts *o, device_run *dr, const bench_shape *s, const bench_config *c,
                      const bench_device *bd, bench_result *r, int64_t n_video_blocks)
{
    vox_plan_params pp;
    plan_params(s, c, dr->dtype, n_video_blocks, &pp);
    if (c->mode == VOX_MASK_BSA && c->rule == 3)
        r->topk = pp.kv_topk;
    vox_plan *plan = NULL;
    vox_status st = vox_plan_create(dr->ctx, &pp, &plan);
    if (st) {
        set_status(r, st, "plan create");
        return 1;
    }
    int S = dr->sets, runs = o->runs, NBT = S > BUILD_RUNS ? S : BUILD_RUNS;
    double *bms = malloc(sizeof(double) * (size_t)NBT);
    double *ms = malloc(sizeof(double) * (size_t)runs);
    if (!bms || !ms) {
        set_status(r, VOX_ERR_OUT_OF_MEMORY, "host");
        free(bms), free(ms), vox_plan_destroy(plan);
        return 1;
    }
    /* builds: o->warmup untimed (at least one: the forward needs the mask;
     * like the forward's, the first builds of a process pay for
     * pipeline/module loading and first-touch allocations), the last set 0's;
     * then the forward's warm-up and timed runs; then NBT = max(S,
     * BUILD_RUNS) timed builds, each rotating the input sets, the last set
     * 0's, so the mask used for timing (and exported) is set 0's. The builds
     * are timed after the forwards so that the GPU runs at its working
     * clock: an H200 drops to 345 MHz while the host generates the inputs,
     * and a configuration's builds alone, short bursts between host waits,
     * did not bring it up (NVIDIA Vulkan's first tau build read 10.9 ms for
     * 2.5: backends/vulkan/NOTES.md, session 13) */
    int nb = 0, nwb = o->warmup > 0 ? o->warmup : 1;
    st = VOX_OK;
    for (int i = 0; !st && i < nwb; i++) {
        int si = ((i - (nwb - 1)) % S + S) % S;
        st = vox_plan_build(plan, &dr->q[si], &dr->k[si], &dr->v[si]);
    }
    if (st) {
        set_status(r, st, "plan build");
        goto done;
    }
    /* warm-up and timed runs, rotating the input sets; --build-only: builds in their place until the
     * device has been busy for BUILD_WARM_MS */
    if (o->build_only) {
        const double t0 = vox_clock_ms();
        double spent = 0.0;
        for (int i = 0; !st && vox_clock_ms() - t0 < BUILD_WARM_MS; i++) {
            int si = i % S;
            st = vox_plan_build(plan, &dr->q[si], &dr->k[si], &dr->v[si]);
            if (!st)
                st = vox_plan_last_build_ms(plan, &spent);
        }
    } else
        st = timed_runs(o, dr, plan, step_forward, ms, NULL);
    if (st) {
        set_status(r, st, o->build_only ? "plan build" : "forward");
        goto done;
    }
    for (int i = 0; !st && i < NBT; i++) {
        int si = ((i - (NBT - 1)) % S + S) % S;
        st = vox_plan_build(plan, &dr->q[si], &dr->k[si], &dr->v[si]);
        if (!st)
            st = vox_plan_last_build_ms(plan, &bms[nb++]);
    }
    if (st) {
        set_status(r, st, "plan build");
        goto done;
    }
    int needs_build = c->mode == VOX_MASK_SVG || c->mode == VOX_MASK_BSA || pp.query_keep < 1.0;
    r->build_ms = needs_build ? median_of(bms, nb) : 0.0;
    vox_plan_stats ps;
    st = vox_plan_stats_get(plan, &ps);
    if (st) {
        set_status(r, st, "plan stats");
        goto done;
    }
    r->density = ps.density;
    r->kept_query_fraction = ps.kept_query_fraction;
    r->plan_bytes = ps.device_bytes;
    r->flops = ps.flops;
    r->flops_dense = ps.flops_dense;
    r->n_spatial = ps.n_spatial, r->n_temporal = ps.n_temporal, r->n_dense_heads = ps.n_dense;
    if (o->build_only) { /* no forward: its figures stay NaN */
        snprintf(r->status, sizeof r->status, "ok");
        goto done;
    }
    qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
    r->runs = runs;
    r->ms_min = ms[0];
    r->ms_max = ms[runs - 1];
    r->ms_median = runs % 2 ? ms[runs / 2] : 0.5 * (ms[runs / 2 - 1] + ms[runs / 2]);
    int p90 = (int)ceil(0.9 * runs) - 1;
    r->ms_p90 = ms[p90 < 0 ? 0 : p90];
    r->tflops_effective = r->ms_median > 0 ? r->flops / (r->ms_median * 1e-3) * 1e-12 : NAN;
    if (o->backward) {
        st = time_backward(o, dr, plan, ms, r);
        if (!st)
            st = vox_plan_stats_get(plan, &ps);
        if (st)
            goto done;
        r->plan_bytes_bwd = ps.device_bytes;
    }
    snprintf(r->status, sizeof r->status, "ok");
    if (o->export_dir && c->mode != VOX_MASK_DENSE) {
        char name[sizeof r->mask_dir];
        snprintf(name, sizeof name, "%s__%s__%s%s%s", bd->d.id, s->w.name, c->mode_name, r->param[0] ? "_" : "",
                 r->param);
        sanitize(name);
        snprintf(r->mask_dir, sizeof r->mask_dir, "%s", name);
        if (bench_export_mask(o->export_dir, name, plan, r))
            fprintf(stderr, "bench: mask export to %s/%s failed\n", o->export_dir, name);
    }
done:
    free(bms), free(ms);
    vox_plan_destroy(plan);
    return st != VOX_OK;
}

/* Opens the device, uploads the input sets; on failure fills *why. */
static vox_status device_open(const bench_opts *o, const bench_device *bd, const bench_shape *s, input_cache *ic,
                              vox_dtype dtype, device_run *dr, const char **what)
{
    memset(dr, 0, sizeof *dr);
    dr->dtype = dtype;
    dr->sets = o->sets;
    *what = "context";
    vox_status st = cli_context(bd->d.id, o->verbose, &dr->ctx);
    if (st)
        return st;
    int S = o->sets;
    dr->bq = calloc((size_t)S, sizeof *dr->bq), dr->bk = calloc((size_t)S, sizeof *dr->bk);
    dr->bv = calloc((size_t)S, sizeof *dr->bv);
    dr->q = calloc((size_t)S, sizeof *dr->q), dr->k = calloc((size_t)S, sizeof *dr->k);
    dr->v = calloc((size_t)S, sizeof *dr->v);
    *what = "host memory";
    if (!dr->bq || !dr->bk || !dr->bv || !dr->q || !dr->k || !dr->v)
        return VOX_ERR_OUT_OF_MEMORY;
    const vox_workload *w = &s->w;
    int64_t N = vox_workload_tokens(w);
    for (int si = 0; si < S; si++) {
        float *q, *k, *v;
        int owned = 0;
        *what = "input generation (host memory)";
        if (cache_get(ic, si, o->seed, o->sharpness, &q, &k, &v, &owned))
            return VOX_ERR_OUT_OF_MEMORY;
        *what = "input upload";
        st = cli_upload(dr->ctx, dtype, q, ic->n, &dr->bq[si]);
        if (!st)
            st = cli_upload(dr->ctx, dtype, k, ic->n, &dr->bk[si]);
        if (!st)
            st = cli_upload(dr->ctx, dtype, v, ic->n, &dr->bv[si]);
        if (owned)
            free(q), free(k), free(v);
        if (st)
            return st;
        dr->q[si] = vox_tensor_bhnd(dr->bq[si], dtype, w->batch, w->heads, N, w->head_dim);
        dr->k[si] = vox_tensor_bhnd(dr->bk[si], dtype, w->batch, w->heads, N, w->head_dim);
        dr->v[si] = vox_tensor_bhnd(dr->bv[si], dtype, w->batch, w->heads, N, w->head_dim);
    }
    *what = "output buffer";
    st = vox_buffer_create(dr->ctx, ic->n * vox_dtype_size(dtype), &dr->bo);
    if (st)
        return st;
    dr->out = vox_tensor_bhnd(dr->bo, dtype, w->batch, w->heads, N, w->head_dim);
    if (o->backward) {
        *what = "backward buffers";
        st = vox_buffer_create(dr->ctx, (size_t)(w->batch * w->heads * N) * sizeof(float), &dr->blse);
        for (int g = 0; g < 3 && !st; g++) {
            st = vox_buffer_create(dr->ctx, ic->n * vox_dtype_size(dtype), &dr->bg[g]);
            dr->grad[g] = vox_tensor_bhnd(dr->bg[g], dtype, w->batch, w->heads, N, w->head_dim);
        }
        if (st)
            return st;
        dr->lse = vox_tensor_bhnd(dr->blse, VOX_F32, w->batch, w->heads, N, 1);
    }
    return VOX_OK;
}

static void progress(const bench_result *r)
{
    if (!strcmp(r->status, "ok"))
        fprintf(stderr, "bench: %-10s %-14s %-5s %-22s density %.3f  %9.3f ms  %8.3f TFLOP/s  build %.3f ms\n",
                r->device, r->preset, r->mode, r->param, r->density, r->ms_median, r->tflops_effective,
                r->build_ms);
    if (!strcmp(r->status, "ok") && r->bwd_ms == r->bwd_ms)
        fprintf(stderr, "bench: %-10s %-14s %-5s %-22s backward %9.3f ms  %8.3f TFLOP/s  fwd+bwd %9.3f ms  %8.3f TFLOP/s"
                "  plan %.1f MB\n", r->device, r->preset, r->mode, r->param, r->bwd_ms, r->bwd_tflops, r->fwdbwd_ms,
                r->fwdbwd_tflops, (double)r->plan_bytes_bwd * 1e-6);
    else
        fprintf(stderr, "bench: %-10s %-14s %-5s %-22s %s\n", r->device, r->preset, r->mode, r->param, r->status);
}

/* All configurations of one shape on one device. Returns 1 if an error occurred. */
static int bench_device_shape(const bench_opts *o, const bench_device *bd, const bench_shape *s, input_cache *ic,
                              const bench_config *cfg, int n_cfg, bench_results *rs)
{
    vox_dtype dtype = o->dtype;
    if (!o->dtype_given)
        dtype = bd->d.type == VOX_DEVICE_GPU && (bd->d.caps & VOX_CAP_BF16) ? VOX_BF16 : VOX_F32;
    int first = rs->n;
    for (int i = 0; i < n_cfg; i++) {
        bench_result *r = results_add(rs);
        if (!r) {
            fprintf(stderr, "bench: out of host memory\n");
            return 1;
        }
        result_fill_shape(r, s, &cfg[i], bd, dtype);
        r->runs = o->runs;
        r->sets = o->sets;
        r->warmup = o->warmup;
    }
    int n_res = rs->n - first;
#define FOR_ALL(stmt)                                                   \
    for (int i_ = 0; i_ < n_res; i_++) {                                \
        bench_result *rr_ = &rs->r[first + i_];                         \
        stmt;                                                           \
        progress(rr_);                                                  \
    }
    /* small-shape rule for non-GPU devices */
    double fl = shape_dense_flops(s);
    if (bd->d.type != VOX_DEVICE_GPU && !bd->named && fl > SMALL_FLOPS) {
        FOR_ALL(snprintf(rr_->status, sizeof rr_->status,
                         "skipped: %.1f GFLOP dense is too large for a non-GPU device (name it with --device "
                         "to force)",
                         fl * 1e-9));
        return 0;
    }
    /* device memory estimate: input sets, output, plan scratch (~4 padded
     * tensors in block layout plus masks) */
    {
        vox_plan_params pp;
        bench_config dc = {VOX_MASK_DENSE, "dense", 0, 0, 0, 0, 1.0, 0};
        plan_params(s, &dc, dtype, 0, &pp);
        double per = (double)s->w.batch * (double)s->w.heads * (double)vox_workload_tokens(&s->w) *
                     (double)s->w.head_dim * (double)vox_dtype_size(dtype);
        double need = per * (3.0 * o->sets + 1.0 + 4.5);
        if (bd->d.memory_bytes && need > 0.95 * (double)bd->d.memory_bytes) {
            FOR_ALL(snprintf(rr_->status, sizeof rr_->status,
                             "skipped: needs about %.1f GiB of device memory, %s has %.1f GiB", need / 1073741824.0,
                             bd->d.id, (double)bd->d.memory_bytes / 1073741824.0));
            return 0;
        }
    }
    device_run dr;
    const char *what = "";
    fprintf(stderr, "bench: %s (%s): %s, %s, preparing %d input sets\n", bd->d.id, bd->d.name, s->w.name,
            cli_dtype_name(dtype), o->sets);
    vox_status st = device_open(o, bd, s, ic, dtype, &dr, &what);
    if (st) {
        FOR_ALL(set_status(rr_, st, what));
        device_run_free(&dr);
        return !strncmp(rs->r[first].status, "error", 5);
    }
    /* video block count for target densities */
    int64_t nvb = 0;
    {
        vox_plan_params pp;
        bench_config dc = {VOX_MASK_DENSE, "dense", 0, 0, 0, 0, 1.0, 0};
        plan_params(s, &dc, dtype, 0, &pp);
        vox_plan *probe = NULL;
        vox_plan_stats ps;
        if (!vox_plan_create(dr.ctx, &pp, &probe) && !vox_plan_stats_get(probe, &ps))
            nvb = ps.n_video_blocks;
        vox_plan_destroy(probe);
    }
    int err = 0;
    double dense_ms = NAN;
    for (int i = 0; i < n_res; i++) {
        bench_result *r = &rs->r[first + i];
        err |= run_config(o, &dr, s, &cfg[i], bd, r, nvb);
        if (cfg[i].mode == VOX_MASK_DENSE && !strcmp(r->status, "ok"))
            dense_ms = r->ms_median;
        progress(r);
    }
    err = 0; /* only "error:" statuses count; skipped / unsupported do not */
    for (int i = 0; i < n_res; i++) {
        bench_result *r = &rs->r[first + i];
        if (!strcmp(r->status, "ok") && dense_ms == dense_ms)
            r->speedup_vs_dense = dense_ms / r->ms_median;
        err |= !strncmp(r->status, "error", 5);
    }
#undef FOR_ALL
    device_run_free(&dr);
    return err;
}

/* ------------------------------------------------------------------ table */

static void print_table(const bench_results *rs)
{
    printf("%-10s %-14s %-5s %-5s %-20s %7s %6s %10s %10s %10s %9s %9s %8s\n", "device", "preset", "dtype", "mode",
           "param", "density", "keptq", "ms_median", "ms_min", "ms_max", "TFLOP/s", "build_ms", "speedup");
    for (int i = 0; i < rs->n; i++) {
        const bench_result *r = &rs->r[i];
        if (strcmp(r->status, "ok")) {
            printf("%-10s %-14s %-5s %-5s %-20s %s\n", r->device, r->preset, r->dtype, r->mode,
                   r->param[0] ? r->param : "-", r->status);
            continue;
        }
        char sp[32];
        if (r->speedup_vs_dense == r->speedup_vs_dense)
            snprintf(sp, sizeof sp, "%.2fx", r->speedup_vs_dense);
        else
            snprintf(sp, sizeof sp, "-");
        printf("%-10s %-14s %-5s %-5s %-20s %7.4f %6.3f %10.3f %10.3f %10.3f %9.3f %9.3f %8s\n", r->device,
               r->preset, r->dtype, r->mode, r->param[0] ? r->param : "-", r->density, r->kept_query_fraction,
               r->ms_median, r->ms_min, r->ms_max, r->tflops_effective, r->build_ms, sp);
    }
    int any = 0;
    for (int i = 0; i < rs->n; i++)
        any |= !strcmp(rs->r[i].status, "ok") && rs->r[i].bwd_ms == rs->r[i].bwd_ms;
    if (!any)
        return;
    printf("\nbackward (effective TFLOP/s: 2.5x the forward's FLOPs; forward + backward: 3.5x)\n");
    printf("%-10s %-14s %-5s %-5s %-20s %10s %9s %10s %9s %12s\n", "device", "preset", "dtype", "mode", "param",
           "bwd_ms", "TFLOP/s", "fwdbwd_ms", "TFLOP/s", "plan_MB");
    for (int i = 0; i < rs->n; i++) {
        const bench_result *r = &rs->r[i];
        if (!strcmp(r->status, "ok") && r->bwd_ms == r->bwd_ms)
            printf("%-10s %-14s %-5s %-5s %-20s %10.3f %9.3f %10.3f %9.3f %12.1f\n", r->device, r->preset, r->dtype,
                   r->mode, r->param[0] ? r->param : "-", r->bwd_ms, r->bwd_tflops, r->fwdbwd_ms, r->fwdbwd_tflops,
                   (double)r->plan_bytes_bwd * 1e-6);
    }
}

/* ------------------------------------------------------------------- main */

int cmd_bench(int argc, char **argv)
{
    bench_opts o;
    int pr = parse_args(argc, argv, &o);
    if (pr == 1)
        return 0;
    if (pr) {
        bench_usage(stderr);
        return 2;
    }
    bench_device devs[MAX_LIST];
    int n_devs = 0;
    int sel = select_devices(&o, devs, &n_devs);
    if (sel) {
        if (sel == 2)
            bench_usage(stderr);
        return sel;
    }
    if (!n_devs) {
        fprintf(stderr, "bench: no device available\n");
        return 1;
    }
    int any_gpu = 0;
    for (int i = 0; i < n_devs; i++) {
        any_gpu |= devs[i].d.type == VOX_DEVICE_GPU;
        if (devs[i].d.type == VOX_DEVICE_GPU && o.runs < 20 && !o.quick)
            fprintf(stderr, "bench: %s is a GPU: timed runs raised from %d to 20\n", devs[i].d.id, o.runs);
    }
    /* shapes */
    bench_shape shapes[MAX_LIST + 1];
    int n_shapes = 0;
    if (!o.n_presets && !o.custom) {
        if (any_gpu) {
            o.presets[o.n_presets++] = "wan-1.3b-480p";
            o.presets[o.n_presets++] = "hunyuan-720p";
        } else {
            o.presets[o.n_presets++] = "tiny";
        }
    }
    for (int i = 0; i < o.n_presets; i++)
        shape_init(&shapes[n_shapes++], vox_workload_find(o.presets[i]), &o);
    if (o.custom)
        shape_init(&shapes[n_shapes++], &o.cw, &o);
    bench_config cfg[4 * MAX_LIST * MAX_LIST / 8 + 2];
    int n_cfg = make_configs(&o, cfg, (int)(sizeof cfg / sizeof cfg[0]));

    bench_results rs = {0};
    bench_meta meta = {argc, argv, devs, n_devs};
    int err = 0;
    double t0 = vox_clock_ms();
    for (int si = 0; si < n_shapes; si++) {
        input_cache ic;
        if (cache_init(&ic, &shapes[si], o.sets)) {
            cache_free(&ic);
            fprintf(stderr, "bench: out of host memory\n");
            err = 1;
            break;
        }
        for (int di = 0; di < n_devs; di++) {
            bench_opts od = o;
            if (devs[di].d.type == VOX_DEVICE_GPU && od.runs < 20 && !od.quick) {
                od.runs = 20;
            }
            err |= bench_device_shape(&od, &devs[di], &shapes[si], &ic, cfg, n_cfg, &rs);
            /* checkpoint: a run stopped by a time limit keeps what finished */
            if (o.json)
                bench_write_json(o.json, &meta, &rs);
            if (o.csv)
                bench_write_csv(o.csv, &rs);
        }
        cache_free(&ic);
    }
    fprintf(stderr, "bench: %d result(s) in %.1f s\n", rs.n, (vox_clock_ms() - t0) * 1e-3);
    print_table(&rs);
    if (o.json && bench_write_json(o.json, &meta, &rs)) {
        fprintf(stderr, "bench: cannot write %s\n", o.json);
        err = 1;
    }
    if (o.csv && bench_write_csv(o.csv, &rs)) {
        fprintf(stderr, "bench: cannot write %s\n", o.csv);
        err = 1;
    }
    free(rs.r);
    return err ? 1 : 0;
}
