/* Device out of memory: on every device other than the CPU reference, a plan
 * whose working buffers are each about twice the device's memory (a huge
 * batch; sizes chosen so that nothing overflows, so the only right answer is
 * VOX_ERR_DEVICE_OUT_OF_MEMORY), and a buffer of that size, must fail with
 * VOX_ERR_DEVICE_OUT_OF_MEMORY; the same context must then still run a small
 * case equal to the CPU reference.
 *
 * The reference device gets the same treatment with host memory (a buffer
 * beyond the address space; a plan of 4 x 1.5 TiB buffers where the kernel refuses such
 * overcommits), which exercises the core's cleanup on a failed plan.
 *
 * Exit 77 (skip) when the machine has no device other than the reference:
 * the GPU part is the point of this test (run on the GPU machine). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "workload.h"

typedef struct dev_state {
    int index;
    vox_device_desc desc;
} dev_state;

/* A plan whose q/k/v/out block buffers are each >= `bytes`, all sizes well
 * inside the core's limits (BH*slots <= INT32_MAX). */
static int huge_params(uint64_t bytes, vox_plan_params *p)
{
    vox_plan_defaults(p);
    p->head_dim = 256; /* f32: 1 KiB per row */
    p->frames = p->height = p->width = 4; /* one 4x4x4 block: 64 slots */
    uint64_t rows = bytes / 1024 + 1, bh = rows / 64 + 1;
    if (bh * 64 > INT32_MAX)
        return 0;
    int64_t batch = bh < (1u << 20) ? (int64_t)bh : (1 << 20);
    p->batch = batch;
    p->heads = (int64_t)((bh + (uint64_t)batch - 1) / (uint64_t)batch);
    return 1;
}

/* A small case on ctx must equal the reference. */
static void small_case_works(vox_context *ctx, const char *id)
{
    int errors = 0;
    vox_context *ref = tu_context("cpu", &errors);
    assert_non_null(ref);
    tu_case c;
    tu_workload_case(&c, &(const vox_workload){"small", 1, 2, 32, 2, 4, 8, 4, 0}, VOX_MASK_BSA,
                     (const int[3]){2, 4, 4}, 7);
    c.p.kv_rule = VOX_KV_TOPK, c.p.kv_topk = 2, c.p.kv_min_blocks = 1;
    tu_result a, b;
    vox_status st = tu_run(ctx, &c.p, 0, c.q, c.k, c.v, &a);
    printf("    %s: small case after the failure: %s\n", id, vox_status_string(st));
    assert_int_equal(st, VOX_OK);
    assert_int_equal(tu_run(ref, &c.p, 0, c.q, c.k, c.v, &b), VOX_OK);
    char why[256];
    int same = tu_compare(&a, &b, tu_tolerance(c.p.dtype), 1e-9, why, sizeof why);
    printf("    %s: vs cpu: %s\n", id, why);
    assert_true(same);
    tu_result_free(&a), tu_result_free(&b);
    tu_case_free(&c);
    vox_context_destroy(ref);
}

static void t_device_oom(void **state)
{
    dev_state *ds = *state;
    int errors = 0;
    vox_context *ctx = tu_context(ds->desc.id, &errors);
    assert_non_null(ctx);
    uint64_t mem = ds->desc.memory_bytes ? ds->desc.memory_bytes : (1ull << 40);
    uint64_t want = 2 * mem;
    printf("    %s: %.1f GiB device memory, asking for %.1f GiB per buffer\n", ds->desc.id,
           (double)mem / 1073741824.0, (double)want / 1073741824.0);

    /* one buffer twice the device memory */
    vox_buffer *buf = NULL;
    vox_status st = vox_buffer_create(ctx, (size_t)want, &buf);
    printf("    %s: buffer of %.1f GiB -> %s\n", ds->desc.id, (double)want / 1073741824.0, vox_status_string(st));
    vox_buffer_destroy(buf);
    assert_int_equal(st, VOX_ERR_DEVICE_OUT_OF_MEMORY);
    assert_null(buf);

    /* a plan whose every working buffer is twice the device memory */
    vox_plan_params p;
    assert_true(huge_params(want, &p));
    vox_plan *plan = NULL;
    st = vox_plan_create(ctx, &p, &plan);
    printf("    %s: plan batch %lld heads %lld D %lld -> %s (%d error message(s))\n", ds->desc.id,
           (long long)p.batch, (long long)p.heads, (long long)p.head_dim, vox_status_string(st), errors);
    vox_plan_destroy(plan);
    assert_int_equal(st, VOX_ERR_DEVICE_OUT_OF_MEMORY);
    assert_null(plan);
    assert_true(errors >= 1); /* said so through the logger */

    /* the context keeps working, twice (the failure left nothing behind) */
    small_case_works(ctx, ds->desc.id);
    small_case_works(ctx, ds->desc.id);
    vox_context_destroy(ctx);
}

static int overcommit_always(void)
{
    FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
    int mode = 0;
    if (f) {
        if (fscanf(f, "%d", &mode) != 1)
            mode = 0;
        fclose(f);
    }
    return mode == 1;
}

static void t_reference_oom(void **state)
{
    dev_state *ds = *state;
    int errors = 0;
    vox_context *ctx = tu_context(ds->desc.id, &errors);
    assert_non_null(ctx);
    vox_buffer *buf = NULL;
    /* beyond any address space: malloc must fail */
    vox_status st = vox_buffer_create(ctx, (size_t)1 << 62, &buf);
    printf("    %s: buffer of 4 EiB -> %s\n", ds->desc.id, vox_status_string(st));
    assert_int_equal(st, VOX_ERR_DEVICE_OUT_OF_MEMORY);
    assert_null(buf);
    if (overcommit_always()) {
        printf("    %s: vm.overcommit_memory=1: a 1.5 TiB plan would be granted lazily; not tried\n", ds->desc.id);
    } else {
        vox_plan_params p;
        assert_true(huge_params((uint64_t)3 << 39, &p));
        vox_plan *plan = NULL;
        st = vox_plan_create(ctx, &p, &plan);
        printf("    %s: plan of 4 x 1.5 TiB buffers -> %s\n", ds->desc.id, vox_status_string(st));
        vox_plan_destroy(plan);
        assert_int_equal(st, VOX_ERR_DEVICE_OUT_OF_MEMORY);
        assert_null(plan);
    }
    small_case_works(ctx, ds->desc.id);
    vox_context_destroy(ctx);
}

int main(void)
{
    int n = 0, others = 0, failed = 0;
    if (vox_device_count(&n) || n < 1)
        return 1;
    dev_state *states = calloc((size_t)n, sizeof *states);
    for (int i = 0; i < n; i++) {
        dev_state *ds = &states[i];
        ds->index = i;
        vox_device_info(i, &ds->desc);
        int ref = ds->desc.type == VOX_DEVICE_REFERENCE;
        others += !ref;
        const struct CMUnitTest ref_tests[] = {cmocka_unit_test_prestate(t_reference_oom, ds)};
        const struct CMUnitTest dev_tests[] = {cmocka_unit_test_prestate(t_device_oom, ds)};
        const struct CMUnitTest *tests = ref ? ref_tests : dev_tests;
        char group[96];
        snprintf(group, sizeof group, "oom %s", ds->desc.id);
        failed += _cmocka_run_group_tests(group, tests, 1, NULL, NULL);
    }
    free(states);
    if (failed)
        return 1;
    if (!others) {
        printf("SKIP: no device other than the CPU reference on this machine (the reference part passed)\n");
        return 77;
    }
    return 0;
}
