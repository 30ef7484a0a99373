/* Threads, within the rules of voxattn.h:
 * - the global queries (vox_device_count, vox_device_info, vox_backend_info,
 *   vox_status_string, vox_dtype_size, vox_convert) from many threads at
 *   once, starting together before anything else touched the registry, so
 *   that device enumeration itself races;
 * - on every device: two threads, each with its own context on that same
 *   device, run conformance-style cases concurrently; results must equal a
 *   single-threaded run (bit for bit on the CPU reference; masks exactly and
 *   outputs within the dtype tolerance elsewhere);
 * - N threads, each with its own context and its own plans, spread over the
 *   devices, concurrently.
 * Plans are never shared between threads: the header forbids it (a plan owns
 * scratch memory that build and forward write).
 * .ci/sanitize.sh runs this under ThreadSanitizer. Worker threads never call
 * cmocka asserts; they report to the main thread. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#define N_GLOBAL_THREADS 12
#define N_WORKERS 6

/* ------------------------------------------------------ global queries */

typedef struct global_res {
    int count;
    char ids[8][32];
    int available[VOX_BACKEND_COUNT];
    int bad; /* inconsistent answers seen */
} global_res;

static pthread_barrier_t g_barrier;

static void *global_worker(void *arg)
{
    global_res *r = arg;
    pthread_barrier_wait(&g_barrier);
    for (int rep = 0; rep < 50; rep++) {
        int n = -1;
        if (vox_device_count(&n) != VOX_OK || n < 1)
            r->bad++;
        if (rep == 0)
            r->count = n;
        else if (n != r->count)
            r->bad++;
        for (int i = 0; i < n && i < 8; i++) {
            vox_device_desc d;
            if (vox_device_info(i, &d) != VOX_OK)
                r->bad++;
            else if (rep == 0)
                memcpy(r->ids[i], d.id, sizeof d.id);
            else if (strcmp(r->ids[i], d.id))
                r->bad++;
        }
        for (int b = 0; b < VOX_BACKEND_COUNT; b++) {
            vox_backend_desc bd;
            if (vox_backend_info((vox_backend_kind)b, &bd) != VOX_OK)
                r->bad++;
            r->available[b] = bd.available;
        }
        for (int s = -10; s <= 1; s++)
            if (!vox_status_string((vox_status)s) || !vox_status_string((vox_status)s)[0])
                r->bad++;
        float f = 1.5f, back = 0;
        uint16_t h;
        if (vox_dtype_size(VOX_BF16) != 2 || vox_convert(VOX_F16, &h, VOX_F32, &f, 1) ||
            vox_convert(VOX_F32, &back, VOX_F16, &h, 1) || back != 1.5f)
            r->bad++;
    }
    return NULL;
}

static void t_global_queries(void **state)
{
    (void)state;
    pthread_t th[N_GLOBAL_THREADS];
    global_res res[N_GLOBAL_THREADS];
    memset(res, 0, sizeof res);
    assert_int_equal(pthread_barrier_init(&g_barrier, NULL, N_GLOBAL_THREADS), 0);
    for (int i = 0; i < N_GLOBAL_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, global_worker, &res[i]), 0);
    for (int i = 0; i < N_GLOBAL_THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&g_barrier);
    for (int i = 0; i < N_GLOBAL_THREADS; i++) {
        assert_int_equal(res[i].bad, 0);
        assert_int_equal(res[i].count, res[0].count);
        assert_memory_equal(res[i].ids, res[0].ids, sizeof res[0].ids);
        assert_memory_equal(res[i].available, res[0].available, sizeof res[0].available);
    }
    printf("    %d threads agree on %d device(s)\n", N_GLOBAL_THREADS, res[0].count);
}

/* ------------------------------------------------------------- cases */

typedef struct tcase {
    const char *name;
    int64_t B, H, D, F, Y, X, G;
    int bt, bh, bw;
    vox_dtype dtype;
    vox_mask_mode mode;
    double keep;
    int bnhd;
} tcase;

static const tcase k_cases[] = {
    {"dense_ragged_text", 1, 2, 16, 3, 5, 7, 5, 2, 2, 2, VOX_F32, VOX_MASK_DENSE, 1.0, 0},
    {"custom_bnhd", 2, 1, 16, 2, 4, 8, 4, 1, 4, 4, VOX_F32, VOX_MASK_CUSTOM, 1.0, 1},
    {"svg_f32", 1, 2, 32, 4, 8, 8, 0, 1, 4, 4, VOX_F32, VOX_MASK_SVG, 1.0, 0},
    {"bsa_f32", 1, 2, 32, 4, 8, 8, 8, 1, 4, 4, VOX_F32, VOX_MASK_BSA, 1.0, 0},
    {"bsa_keep50_f16", 1, 2, 32, 3, 6, 8, 4, 2, 4, 4, VOX_F16, VOX_MASK_BSA, 0.5, 1},
};
#define N_TCASES ((int)(sizeof k_cases / sizeof k_cases[0]))

typedef struct case_data {
    vox_plan_params p;
    int32_t *rp, *cols;
    float *q, *k, *v;
} case_data;

static case_data g_data[N_TCASES];

/* Prepares parameters and inputs (read-only afterwards, shared by threads). */
static void prepare_cases(void)
{
    int errors = 0;
    vox_context *ctx = tu_context("cpu", &errors);
    assert_non_null(ctx);
    for (int c = 0; c < N_TCASES; c++) {
        const tcase *t = &k_cases[c];
        case_data *d = &g_data[c];
        vox_plan_params *p = &d->p;
        vox_plan_defaults(p);
        p->batch = t->B, p->heads = t->H, p->head_dim = t->D;
        p->frames = t->F, p->height = t->Y, p->width = t->X, p->text_tokens = t->G;
        p->block_t = t->bt, p->block_h = t->bh, p->block_w = t->bw;
        p->dtype = t->dtype;
        p->mask_mode = t->mode;
        p->query_keep = t->keep;
        p->kv_rule = VOX_KV_TOPK;
        p->kv_topk = 3;
        p->kv_min_blocks = 1;
        p->svg_sample_rows = 32;
        p->svg_space_blocks = 0;
        p->window_t = t->bt >= 2 ? 2 : 1;
        if (t->mode == VOX_MASK_CUSTOM) {
            int64_t NB = tu_n_blocks(ctx, p);
            assert_true(NB > 0);
            d->rp = malloc(sizeof(int32_t) * (size_t)(NB + 1));
            d->cols = malloc(sizeof(int32_t) * (size_t)(NB * NB));
            int32_t n = 0;
            d->rp[0] = 0;
            for (int64_t i = 0; i < NB; i++) {
                for (int64_t j = 0; j < NB; j++)
                    if ((i * 7 + j * 3) % 5 < 2 || i == j)
                        d->cols[n++] = (int32_t)j;
                d->rp[i + 1] = n;
            }
            p->custom_masks = 1;
            p->custom_row_ptr = d->rp;
            p->custom_kv_block = d->cols;
        }
        size_t n = (size_t)(t->B * t->H * tu_tokens(p) * t->D);
        d->q = malloc(sizeof(float) * n), d->k = malloc(sizeof(float) * n), d->v = malloc(sizeof(float) * n);
        tu_fill_normal(100 + (uint64_t)c, 1.0, d->q, n);
        tu_fill_normal(200 + (uint64_t)c, 1.0, d->k, n);
        tu_fill_normal(300 + (uint64_t)c, 1.0, d->v, n);
    }
    vox_context_destroy(ctx);
}

static void free_cases(void)
{
    for (int c = 0; c < N_TCASES; c++) {
        free(g_data[c].rp), free(g_data[c].cols), free(g_data[c].q), free(g_data[c].k), free(g_data[c].v);
        memset(&g_data[c], 0, sizeof g_data[c]);
    }
}

/* ------------------------------------------------------------ workers */

typedef struct worker {
    int device;   /* global device index */
    int reps;
    int order;    /* 0 forward, 1 backward through the cases */
    tu_result res[N_TCASES];
    vox_status st; /* first failure */
    int failed_case;
    int errors;
    int skipped;  /* cases the device cannot do (status accepted) */
} worker;

static void *run_worker(void *arg)
{
    worker *w = arg;
    vox_context_params cp;
    vox_context_defaults(&cp);
    cp.device_index = w->device;
    cp.log = tu_log;
    cp.log_user = &w->errors;
    vox_context *ctx = NULL;
    w->st = vox_context_create(&cp, &ctx);
    w->failed_case = -1;
    if (w->st)
        return NULL;
    for (int rep = 0; rep < w->reps && !w->st; rep++)
        for (int i = 0; i < N_TCASES && !w->st; i++) {
            int c = w->order ? N_TCASES - 1 - i : i;
            tu_result_free(&w->res[c]);
            const case_data *d = &g_data[c];
            vox_status st = tu_run(ctx, &d->p, k_cases[c].bnhd, d->q, d->k, d->v, &w->res[c]);
            if (st && tu_is_cannot_do(st)) {
                w->skipped++;
                continue;
            }
            if (st) {
                w->st = st;
                w->failed_case = c;
            }
        }
    vox_context_destroy(ctx);
    return NULL;
}

static void free_worker(worker *w)
{
    for (int c = 0; c < N_TCASES; c++)
        tu_result_free(&w->res[c]);
}

/* Every result of w equals the single-threaded one. */
static int same_as(const worker *w, const worker *single, int exact, const char *who)
{
    int ok = 1;
    if (w->st) {
        printf("    %s: FAIL %s in case %s\n", who, vox_status_string(w->st),
               w->failed_case >= 0 ? k_cases[w->failed_case].name : "(context)");
        return 0;
    }
    for (int c = 0; c < N_TCASES; c++) {
        const tu_result *a = &w->res[c], *b = &single->res[c];
        if (!a->out || !b->out) {
            if (!!a->out != !!b->out) {
                printf("    %s: FAIL %s ran in one run only\n", who, k_cases[c].name);
                ok = 0;
            }
            continue;
        }
        char why[256];
        double tol = exact ? 0.0 : tu_tolerance(k_cases[c].dtype);
        if (!tu_compare(a, b, tol, exact ? 0.0 : 1e-9, why, sizeof why)) {
            printf("    %s: FAIL %s differs from the single-threaded run: %s\n", who, k_cases[c].name, why);
            ok = 0;
        }
        if (exact && (memcmp(a->out, b->out, sizeof(double) * (size_t)(a->B * a->H * a->N * a->D)) ||
                      memcmp(a->lse, b->lse, sizeof(double) * (size_t)(a->B * a->H * a->N)))) {
            printf("    %s: FAIL %s not bit-identical to the single-threaded run\n", who, k_cases[c].name);
            ok = 0;
        }
    }
    return ok;
}

static void t_two_contexts_same_device(void **state)
{
    (void)state;
    int n = 0, ok = 1;
    assert_int_equal(vox_device_count(&n), VOX_OK);
    for (int dev = 0; dev < n; dev++) {
        vox_device_desc desc;
        vox_device_info(dev, &desc);
        int exact = desc.type == VOX_DEVICE_REFERENCE;
        worker single;
        memset(&single, 0, sizeof single);
        single.device = dev, single.reps = 1;
        run_worker(&single);
        worker w[2];
        memset(w, 0, sizeof w);
        pthread_t th[2];
        for (int i = 0; i < 2; i++) {
            w[i].device = dev, w[i].reps = 2, w[i].order = i;
            assert_int_equal(pthread_create(&th[i], NULL, run_worker, &w[i]), 0);
        }
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        char who[64];
        int dev_ok = single.st == VOX_OK;
        if (!dev_ok)
            printf("    %s: FAIL single-threaded run: %s\n", desc.id, vox_status_string(single.st));
        for (int i = 0; i < 2 && dev_ok; i++) {
            snprintf(who, sizeof who, "%s thread %d", desc.id, i);
            dev_ok &= same_as(&w[i], &single, exact, who);
        }
        printf("    %s: two contexts, two threads, %d cases x2: %s (%d case(s) not supported)\n", desc.id,
               N_TCASES, dev_ok ? "equal to the single-threaded run" : "FAIL", single.skipped);
        ok &= dev_ok;
        free_worker(&single), free_worker(&w[0]), free_worker(&w[1]);
    }
    assert_true(ok);
}

static void t_n_threads(void **state)
{
    (void)state;
    int n = 0, ok = 1;
    assert_int_equal(vox_device_count(&n), VOX_OK);
    worker *single = calloc((size_t)n, sizeof *single);
    worker *w = calloc(N_WORKERS, sizeof *w);
    assert_non_null(single);
    assert_non_null(w);
    for (int dev = 0; dev < n; dev++) {
        single[dev].device = dev, single[dev].reps = 1;
        run_worker(&single[dev]);
    }
    pthread_t th[N_WORKERS];
    for (int i = 0; i < N_WORKERS; i++) {
        w[i].device = i % n, w[i].reps = 1, w[i].order = i & 1;
        assert_int_equal(pthread_create(&th[i], NULL, run_worker, &w[i]), 0);
    }
    for (int i = 0; i < N_WORKERS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N_WORKERS; i++) {
        vox_device_desc desc;
        vox_device_info(w[i].device, &desc);
        char who[64];
        snprintf(who, sizeof who, "worker %d on %s", i, desc.id);
        int r = single[w[i].device].st == VOX_OK && same_as(&w[i], &single[w[i].device],
                                                            desc.type == VOX_DEVICE_REFERENCE, who);
        printf("    %s: %s\n", who, r ? "equal to the single-threaded run" : "FAIL");
        ok &= r;
        free_worker(&w[i]);
    }
    for (int dev = 0; dev < n; dev++)
        free_worker(&single[dev]);
    free(single), free(w);
    assert_true(ok);
}

static int setup(void **state)
{
    (void)state;
    prepare_cases();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free_cases();
    return 0;
}

int main(void)
{
    /* the global queries run first: nothing has enumerated devices yet */
    const struct CMUnitTest first[] = {cmocka_unit_test(t_global_queries)};
    int failed = cmocka_run_group_tests_name("threads_global", first, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_two_contexts_same_device),
        cmocka_unit_test(t_n_threads),
    };
    failed += cmocka_run_group_tests_name("threads_contexts", tests, setup, teardown);
    return failed ? 1 : 0;
}
