/* Missing runtimes and drivers. Run by meson with the environment prepared
 * before the process starts (device enumeration runs once per process):
 *
 *   test_missing libs        VOXATTN_{OPENCL,VULKAN,CUDA,HIP}_LIBRARY point at
 *                            files that do not exist
 *   test_missing bad-device  the same, plus VOXATTN_DEVICE=nonsense
 *   test_missing bad-icd     the OpenCL ICD loader and the Vulkan loader load,
 *                            but their only driver names a missing library
 *
 * In every mode: each compiled GPU backend of the affected set reports
 * unavailable with a reason, vox_device_count works and lists the CPU
 * reference, contexts on the missing backends return
 * VOX_ERR_BACKEND_UNAVAILABLE, bad indices/ids give statuses, and the CPU
 * reference still computes attention correctly. */
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

static const char *g_mode = "libs";

/* Backends the mode takes away. */
static int affected(vox_backend_kind b)
{
    if (!strcmp(g_mode, "bad-icd"))
        return b == VOX_BACKEND_OPENCL || b == VOX_BACKEND_VULKAN;
    return b != VOX_BACKEND_CPU;
}

static void t_backend_info(void **state)
{
    (void)state;
    for (int b = 0; b < VOX_BACKEND_COUNT; b++) {
        vox_backend_desc d;
        memset(&d, 0x5a, sizeof d);
        assert_int_equal(vox_backend_info((vox_backend_kind)b, &d), VOX_OK);
        assert_int_equal(d.backend, b);
        assert_non_null(d.name);
        assert_non_null(memchr(d.reason, 0, sizeof d.reason)); /* terminated */
        printf("    %-7s compiled=%d available=%d devices=%d reason: %s\n", d.name, d.compiled, d.available,
               d.device_count, d.reason);
        if (b == VOX_BACKEND_CPU) {
            assert_true(d.compiled && d.available && d.device_count == 1);
            continue;
        }
        if (!d.compiled) {
            assert_false(d.available);
            assert_true(strlen(d.reason) > 0);
            continue;
        }
        if (affected((vox_backend_kind)b)) {
            assert_false(d.available);
            assert_int_equal(d.device_count, 0);
            assert_true(strlen(d.reason) > 0); /* says why */
        }
    }
    vox_backend_desc d;
    assert_int_equal(vox_backend_info(VOX_BACKEND_COUNT, &d), VOX_ERR_INVALID_ARGUMENT);
    assert_int_equal(vox_backend_info((vox_backend_kind)-1, &d), VOX_ERR_INVALID_ARGUMENT);
    assert_int_equal(vox_backend_info(VOX_BACKEND_CPU, NULL), VOX_ERR_INVALID_ARGUMENT);
}

static void t_devices(void **state)
{
    (void)state;
    int n = -1, refs = 0;
    assert_int_equal(vox_device_count(&n), VOX_OK);
    assert_true(n >= 1);
    for (int i = 0; i < n; i++) {
        vox_device_desc d;
        assert_int_equal(vox_device_info(i, &d), VOX_OK);
        printf("    device %d: %s (%s)\n", i, d.id, d.name);
        assert_false(affected(d.backend));
        refs += d.type == VOX_DEVICE_REFERENCE;
    }
    assert_int_equal(refs, 1);
    vox_device_desc d;
    assert_int_equal(vox_device_info(n, &d), VOX_ERR_INVALID_ARGUMENT);
    assert_int_equal(vox_device_info(-1, &d), VOX_ERR_INVALID_ARGUMENT);
    assert_int_equal(vox_device_count(NULL), VOX_ERR_INVALID_ARGUMENT);
}

static vox_status context_on(const char *id, int index, const vox_native_queue *native, int *errors)
{
    vox_context_params p;
    tu_context_params(&p, id, errors);
    p.device_index = index;
    p.native = native;
    vox_context *ctx = (vox_context *)&p; /* must be reset to NULL on failure */
    vox_status st = vox_context_create(&p, &ctx);
    if (st)
        assert_null(ctx);
    vox_context_destroy(ctx);
    return st;
}

static void t_contexts(void **state)
{
    (void)state;
    static const char *const ids[] = {"opencl:0", "vulkan:0", "cuda:0", "hip:0", "opencl", "vulkan:7"};
    static const vox_backend_kind kinds[] = {VOX_BACKEND_OPENCL, VOX_BACKEND_VULKAN, VOX_BACKEND_CUDA,
                                             VOX_BACKEND_HIP,    VOX_BACKEND_OPENCL, VOX_BACKEND_VULKAN};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        if (!affected(kinds[i]))
            continue;
        int errors = 0;
        vox_status st = context_on(ids[i], -1, NULL, &errors);
        printf("    context %-9s -> %s (%d error message(s))\n", ids[i], vox_status_string(st), errors);
        assert_int_equal(st, VOX_ERR_BACKEND_UNAVAILABLE);
        assert_true(errors >= 1); /* the reason went to the logger */
        vox_native_queue nq;
        memset(&nq, 0, sizeof nq);
        nq.backend = kinds[i];
        nq.queue = (void *)&nq; /* never dereferenced: the backend is not there */
        assert_int_equal(context_on(NULL, -1, &nq, &errors), VOX_ERR_BACKEND_UNAVAILABLE);
    }
    int n = 0, errors = 0;
    vox_device_count(&n);
    assert_int_equal(context_on(NULL, n, NULL, &errors), VOX_ERR_INVALID_ARGUMENT);
    /* an empty id means "unset": the environment, then the best device */
    if (!strcmp(g_mode, "bad-device"))
        assert_int_equal(context_on("", -1, NULL, &errors), VOX_ERR_BACKEND_UNAVAILABLE);
    else if (!getenv("VOXATTN_DEVICE"))
        assert_int_equal(context_on("", -1, NULL, &errors), VOX_OK);
    assert_int_equal(context_on("cpu:1", -1, NULL, &errors), VOX_ERR_BACKEND_UNAVAILABLE);
    vox_native_queue nq;
    memset(&nq, 0, sizeof nq);
    nq.backend = (vox_backend_kind)42;
    assert_int_equal(context_on(NULL, -1, &nq, &errors), VOX_ERR_INVALID_ARGUMENT);
    vox_context *ctx = NULL;
    assert_int_equal(vox_context_create(NULL, &ctx), VOX_ERR_INVALID_ARGUMENT);
    vox_context_params p;
    vox_context_defaults(&p);
    assert_int_equal(vox_context_create(&p, NULL), VOX_ERR_INVALID_ARGUMENT);
    p.log_level = (vox_log_level)9;
    assert_int_equal(vox_context_create(&p, &ctx), VOX_ERR_INVALID_ARGUMENT);
}

static void t_env_device(void **state)
{
    (void)state;
    const char *env = getenv("VOXATTN_DEVICE");
    int errors = 0;
    if (!strcmp(g_mode, "bad-device")) {
        assert_non_null(env);
        assert_string_equal(env, "nonsense");
        /* no device_id: the environment decides, and names no device */
        vox_status st = context_on(NULL, -1, NULL, &errors);
        printf("    VOXATTN_DEVICE=nonsense -> %s\n", vox_status_string(st));
        assert_int_equal(st, VOX_ERR_BACKEND_UNAVAILABLE);
        assert_true(errors >= 1);
    } else if (!env) {
        /* no selection at all: the best device, which here is not a missing one */
        assert_int_equal(context_on(NULL, -1, NULL, &errors), VOX_OK);
    }
    /* an explicit id or index beats the environment */
    assert_int_equal(context_on("cpu", -1, NULL, &errors), VOX_OK);
    assert_int_equal(context_on(NULL, 0, NULL, &errors), VOX_OK);
}

/* The library needs none of the missing runtimes to compute. */
static void t_cpu_still_computes(void **state)
{
    (void)state;
    int errors = 0;
    vox_context *ctx = tu_context("cpu", &errors);
    assert_non_null(ctx);
    tu_case c;
    tu_workload_case(&c, &(const vox_workload){"small", 1, 2, 16, 2, 4, 6, 3, 0}, VOX_MASK_DENSE,
                     (const int[3]){2, 2, 4}, 1);
    tu_result r;
    assert_int_equal(tu_run(ctx, &c.p, 0, c.q, c.k, c.v, &r), VOX_OK);
    double eo, el;
    assert_int_equal(tu_naive_err(&r, c.q, c.k, c.v, &eo, &el), r.B * r.H * r.N);
    assert_true(eo <= 1e-10);
    assert_true(el <= 1e-9);
    tu_case_free(&c);
    tu_result_free(&r);
    vox_context_destroy(ctx);
    assert_int_equal(errors, 0);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        g_mode = argv[1];
    if (strcmp(g_mode, "libs") && strcmp(g_mode, "bad-device") && strcmp(g_mode, "bad-icd")) {
        fprintf(stderr, "usage: test_missing libs|bad-device|bad-icd\n");
        return 2;
    }
    printf("mode %s\n", g_mode);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_backend_info), cmocka_unit_test(t_devices),          cmocka_unit_test(t_contexts),
        cmocka_unit_test(t_env_device),   cmocka_unit_test(t_cpu_still_computes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
