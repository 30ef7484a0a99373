/* Object lifetimes (include/voxattn.h: a context lives until its last buffer
 * and plan are destroyed, core/context.c counts the references).
 *
 * On every device: a context, five tensor buffers (q, k, v, out, lse) and a
 * BSA plan with query pruning; a first build + forward gives the expected
 * output. Then the seven objects are destroyed one at a time in several
 * orders, the context among the first in most of them; after every destroy
 * that leaves the plan and all buffers alive, the plan is built again and
 * run forward on fresh inputs written through the buffers, and must give
 * the expected output bit for bit. Run under ASan (.ci/sanitize.sh step 1)
 * and valgrind (step 3): no use after free, no leak, in any order. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "workload.h"

enum { OBJ_CTX, OBJ_PLAN, OBJ_Q, OBJ_K, OBJ_V, OBJ_O, OBJ_L, OBJ_COUNT };

static const char *const obj_name[OBJ_COUNT] = {"context", "plan", "q", "k", "v", "out", "lse"};

/* Destroy orders (the context first, second, in the middle, last). */
static const int orders[][OBJ_COUNT] = {
    {OBJ_CTX, OBJ_PLAN, OBJ_Q, OBJ_K, OBJ_V, OBJ_O, OBJ_L},
    {OBJ_CTX, OBJ_Q, OBJ_K, OBJ_V, OBJ_O, OBJ_L, OBJ_PLAN},
    {OBJ_CTX, OBJ_L, OBJ_O, OBJ_PLAN, OBJ_V, OBJ_K, OBJ_Q},
    {OBJ_O, OBJ_CTX, OBJ_Q, OBJ_PLAN, OBJ_L, OBJ_K, OBJ_V},
    {OBJ_PLAN, OBJ_Q, OBJ_CTX, OBJ_K, OBJ_V, OBJ_O, OBJ_L},
    {OBJ_Q, OBJ_K, OBJ_V, OBJ_CTX, OBJ_O, OBJ_L, OBJ_PLAN},
    {OBJ_PLAN, OBJ_Q, OBJ_K, OBJ_V, OBJ_O, OBJ_L, OBJ_CTX},
};

typedef struct objs {
    vox_context *ctx;
    vox_plan *plan;
    vox_tensor t[OBJ_COUNT]; /* q, k, v, out, lse at their OBJ_ index */
    int alive[OBJ_COUNT];
} objs;

static void destroy(objs *o, int which)
{
    if (which == OBJ_CTX)
        vox_context_destroy(o->ctx);
    else if (which == OBJ_PLAN)
        vox_plan_destroy(o->plan);
    else
        tu_free_tensor(&o->t[which]);
    o->alive[which] = 0;
}

/* Writes q, k, v, builds, runs forward, reads out (caller frees); NULL on a
 * failed call (printed). */
static double *build_forward(objs *o, const vox_workload *w, const float *q, const float *k, const float *v)
{
    const float *src[3] = {q, k, v};
    size_t bytes = sizeof(float) * (size_t)(w->batch * w->heads * vox_workload_tokens(w) * w->head_dim);
    for (int i = 0; i < 3; i++)
        if (vox_buffer_write(o->t[OBJ_Q + i].buffer, 0, src[i], bytes)) {
            printf("  buffer write failed\n");
            return NULL;
        }
    vox_status st = vox_plan_build(o->plan, &o->t[OBJ_Q], &o->t[OBJ_K], &o->t[OBJ_V]);
    if (!st)
        st = vox_attention_forward(o->plan, &o->t[OBJ_Q], &o->t[OBJ_K], &o->t[OBJ_V], &o->t[OBJ_O], &o->t[OBJ_L]);
    if (st) {
        printf("  build/forward: %s\n", vox_status_string(st));
        return NULL;
    }
    return tu_read_tensor(&o->t[OBJ_O]);
}

/* One destroy order on one device: 0 passed, 1 failed, 77 the device
 * cannot run the plan. */
static int run_order(const vox_device_desc *dev, const int *order)
{
    const vox_workload w = {"lifetime", 1, 2, 16, 2, 8, 8, 5, 0};
    const int64_t N = vox_workload_tokens(&w);
    tu_case c;
    tu_workload_case(&c, &w, VOX_MASK_BSA, (const int[3]){1, 4, 4}, 7);
    c.p.query_keep = 0.5;
    objs o;
    memset(&o, 0, sizeof o);
    int rc = 0;
    o.ctx = tu_context(dev->id, NULL);
    if (!o.ctx) {
        printf("  %s: no context\n", dev->id);
        tu_case_free(&c);
        return 1;
    }
    o.alive[OBJ_CTX] = 1;
    vox_status st = vox_plan_create(o.ctx, &c.p, &o.plan);
    if (st) {
        printf("  %s: plan create: %s\n", dev->id, vox_status_string(st));
        vox_context_destroy(o.ctx);
        tu_case_free(&c);
        return tu_is_cannot_do(st) ? 77 : 1;
    }
    o.alive[OBJ_PLAN] = 1;
    for (int i = OBJ_Q; i <= OBJ_V; i++) {
        const float *x = i == OBJ_Q ? c.q : i == OBJ_K ? c.k : c.v;
        st = tu_upload_tensor(o.ctx, VOX_F32, x, w.batch, w.heads, N, w.head_dim, 0, &o.t[i]);
        o.alive[i] = !st;
    }
    if (!st)
        st = tu_poisoned_tensor(o.ctx, VOX_F32, w.batch, w.heads, N, w.head_dim, 0, &o.t[OBJ_O]);
    o.alive[OBJ_O] = !st;
    if (!st)
        st = tu_poisoned_tensor(o.ctx, VOX_F32, w.batch, w.heads, N, 1, 0, &o.t[OBJ_L]);
    o.alive[OBJ_L] = !st;
    double *want = st ? NULL : build_forward(&o, &w, c.q, c.k, c.v);
    if (!want)
        rc = 1;
    printf("  %s order", dev->id);
    for (int i = 0; i < OBJ_COUNT; i++)
        printf(" %s", obj_name[order[i]]);
    printf("\n");
    for (int i = 0; i < OBJ_COUNT; i++) {
        if (!o.alive[order[i]])
            continue;
        destroy(&o, order[i]);
        int all = o.alive[OBJ_PLAN];
        for (int b = OBJ_Q; b <= OBJ_L; b++)
            all &= o.alive[b];
        if (!all || !want || rc)
            continue;
        /* the plan and its buffers still work, the context gone or not */
        for (int b = OBJ_Q; b <= OBJ_V; b++) /* other contents first: the rerun must rewrite */
            vox_buffer_write(o.t[b].buffer, 0, c.v, sizeof(float) * c.n);
        double *got = build_forward(&o, &w, c.q, c.k, c.v);
        if (!got || memcmp(got, want, sizeof(double) * c.n)) {
            printf("  FAIL after destroying %s: rerun %s\n", obj_name[order[i]], got ? "differs" : "failed");
            rc = 1;
        }
        free(got);
    }
    for (int i = 0; i < OBJ_COUNT; i++) /* whatever a failure left */
        if (o.alive[i])
            destroy(&o, i);
    free(want);
    tu_case_free(&c);
    return rc;
}

/* usage: test_lifetime [--device ID] (default: every device) */
int main(int argc, char **argv)
{
    const char *only = argc == 3 && !strcmp(argv[1], "--device") ? argv[2] : NULL;
    if (argc != 1 && !only) {
        fprintf(stderr, "usage: test_lifetime [--device ID]\n");
        return 2;
    }
    int n = 0, failed = 0, ran = 0;
    if (vox_device_count(&n) || n < 1) {
        fprintf(stderr, "no devices\n");
        return 1;
    }
    for (int d = 0; d < n; d++) {
        vox_device_desc dev;
        if (vox_device_info(d, &dev))
            return 1;
        if (only && strcmp(only, dev.id))
            continue;
        for (size_t i = 0; i < sizeof orders / sizeof orders[0]; i++) {
            int rc = run_order(&dev, orders[i]);
            failed += rc == 1;
            ran += rc == 0;
        }
    }
    /* destroy functions accept NULL */
    vox_context_destroy(NULL), vox_plan_destroy(NULL), vox_buffer_destroy(NULL);
    printf("lifetime: %d orders passed, %d failed\n", ran, failed);
    return failed || !ran ? 1 : 0;
}
