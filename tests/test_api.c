/* Bad input through every public entry: each returns its documented status
 * (and nothing leaks: the suite runs under valgrind/ASan in CI). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "testutil.h"

#define INVALID VOX_ERR_INVALID_ARGUMENT

static int errors;

static vox_context *cpu(void) { return tu_context("cpu", &errors); }

static void small_params(vox_plan_params *p)
{
    vox_plan_defaults(p);
    p->heads = 2, p->head_dim = 16, p->frames = 2, p->height = 4, p->width = 4, p->text_tokens = 3;
    p->block_t = 1, p->block_h = 4, p->block_w = 4;
}

static void test_status_strings(void **state)
{
    (void)state;
    for (int s = 0; s >= -9; s--)
        assert_non_null(vox_status_string((vox_status)s));
    assert_string_equal(vox_status_string((vox_status)-1000), "unknown status");
    assert_int_equal(vox_dtype_size((vox_dtype)5), 0);
}

static void test_devices_and_contexts(void **state)
{
    (void)state;
    int n = -1;
    assert_int_equal(vox_device_count(NULL), INVALID);
    assert_int_equal(vox_device_count(&n), VOX_OK);
    assert_true(n >= 1);
    vox_device_desc d;
    assert_int_equal(vox_device_info(-1, &d), INVALID);
    assert_int_equal(vox_device_info(n, &d), INVALID);
    assert_int_equal(vox_device_info(0, NULL), INVALID);
    vox_backend_desc b;
    assert_int_equal(vox_backend_info(VOX_BACKEND_COUNT, &b), INVALID);
    assert_int_equal(vox_backend_info((vox_backend_kind)-1, &b), INVALID);
    assert_int_equal(vox_backend_info(VOX_BACKEND_CPU, NULL), INVALID);
    for (int k = 0; k < VOX_BACKEND_COUNT; k++) {
        assert_int_equal(vox_backend_info((vox_backend_kind)k, &b), VOX_OK);
        if (!b.available)
            assert_true(strlen(b.reason) > 0); /* unavailable always says why */
    }

    vox_context_params p;
    vox_context *ctx = (vox_context *)&p; /* must be reset to NULL on failure */
    assert_int_equal(vox_context_defaults(NULL), INVALID);
    assert_int_equal(vox_context_create(NULL, &ctx), INVALID);
    assert_null(ctx);
    vox_context_defaults(&p);
    assert_int_equal(vox_context_create(&p, NULL), INVALID);
    p.device_index = 1000;
    assert_int_equal(vox_context_create(&p, &ctx), INVALID);
    vox_context_defaults(&p);
    p.device_id = "nonsense:7";
    assert_int_equal(vox_context_create(&p, &ctx), VOX_ERR_BACKEND_UNAVAILABLE);
    vox_context_defaults(&p);
    p.log_level = (vox_log_level)42;
    assert_int_equal(vox_context_create(&p, &ctx), INVALID);
    vox_native_queue nq = {VOX_BACKEND_COUNT, 0, 0, 0, 0, 0, 0};
    vox_context_defaults(&p);
    p.native = &nq;
    assert_int_equal(vox_context_create(&p, &ctx), INVALID);
    vox_context_destroy(NULL);
    assert_int_equal(vox_context_finish(NULL), INVALID);
    assert_int_equal(vox_context_device(NULL, &d), INVALID);
    double ms;
    assert_int_equal(vox_timer_begin(NULL), INVALID);
    assert_int_equal(vox_timer_end(NULL, &ms), INVALID);
}

static void test_buffers(void **state)
{
    (void)state;
    vox_context *ctx = cpu();
    vox_buffer *b = (vox_buffer *)ctx;
    assert_int_equal(vox_buffer_create(NULL, 16, &b), INVALID);
    assert_null(b);
    assert_int_equal(vox_buffer_create(ctx, 0, &b), INVALID);
    assert_int_equal(vox_buffer_create(ctx, 16, NULL), INVALID);
    assert_int_equal(vox_buffer_wrap(ctx, 0, 16, &b), INVALID);
    assert_int_equal(vox_buffer_create(ctx, 16, &b), VOX_OK);
    char host[32] = {0};
    assert_int_equal(vox_buffer_write(NULL, 0, host, 4), INVALID);
    assert_int_equal(vox_buffer_write(b, 0, NULL, 4), INVALID);
    assert_int_equal(vox_buffer_write(b, 8, host, 9), VOX_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(vox_buffer_write(b, SIZE_MAX, host, 2), VOX_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(vox_buffer_read(b, 1, host, 16), VOX_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(vox_buffer_read(b, 0, NULL, 1), INVALID);
    assert_int_equal(vox_buffer_write(b, 0, host, 16), VOX_OK);
    assert_int_equal(vox_buffer_read(b, 0, host, 16), VOX_OK);
    assert_int_equal(vox_buffer_size(b), 16);
    assert_int_equal(vox_buffer_size(NULL), 0);
    vox_buffer_destroy(b);
    vox_buffer_destroy(NULL);
    vox_context_destroy(ctx);
}

typedef void (*mutate_fn)(vox_plan_params *p);
#define MUT(name, body) static void name(vox_plan_params *p) { body; }
MUT(m_batch0, p->batch = 0)
MUT(m_heads_neg, p->heads = -1)
MUT(m_dim0, p->head_dim = 0)
MUT(m_dim7, p->head_dim = 7)
MUT(m_dim512, p->head_dim = 512)
MUT(m_frames0, p->frames = 0)
MUT(m_width_neg, p->width = -3)
MUT(m_text_neg, p->text_tokens = -1)
MUT(m_huge_grid, p->frames = (int64_t)1 << 40; p->height = (int64_t)1 << 40)
MUT(m_overflow, p->frames = 1 << 20; p->height = 1 << 10; p->width = 1 << 9)
MUT(m_block0, p->block_t = 0)
MUT(m_block_npot, p->block_w = 3)
MUT(m_block_big, p->block_t = 8; p->block_h = 8; p->block_w = 8)
MUT(m_dtype, p->dtype = (vox_dtype)7)
MUT(m_mode, p->mask_mode = (vox_mask_mode)9)
MUT(m_text_pos, p->text_position = (vox_text_position)5)
MUT(m_scale_nan, p->scale = NAN)
MUT(m_scale_neg, p->scale = -1)
MUT(m_keep0, p->query_keep = 0)
MUT(m_keep_big, p->query_keep = 1.5)
MUT(m_keep_nan, p->query_keep = NAN)
MUT(m_window_big, p->query_keep = 0.5; p->window_t = 2)
MUT(m_window0, p->query_keep = 0.5; p->window_h = 0)
MUT(m_tau0, p->mask_mode = VOX_MASK_BSA; p->kv_tau = 0)
MUT(m_tau_big, p->mask_mode = VOX_MASK_BSA; p->kv_tau = 1.01)
MUT(m_topk0, p->mask_mode = VOX_MASK_BSA; p->kv_rule = VOX_KV_TOPK; p->kv_topk = 0)
MUT(m_z_inf, p->mask_mode = VOX_MASK_BSA; p->kv_rule = VOX_KV_STAT; p->kv_z = INFINITY)
MUT(m_rule, p->mask_mode = VOX_MASK_BSA; p->kv_rule = (vox_kv_rule)8)
MUT(m_min_neg, p->mask_mode = VOX_MASK_BSA; p->kv_min_blocks = -1)
MUT(m_max_neg, p->mask_mode = VOX_MASK_BSA; p->kv_max_blocks = -1)
MUT(m_rows0, p->mask_mode = VOX_MASK_SVG; p->svg_sample_rows = 0)
MUT(m_rows_big, p->mask_mode = VOX_MASK_SVG; p->svg_sample_rows = 33)
MUT(m_svg_neg, p->mask_mode = VOX_MASK_SVG; p->svg_space_blocks = -1)
MUT(m_svg_dense_nan, p->mask_mode = VOX_MASK_SVG; p->svg_dense_above = NAN)

static void test_plan_params(void **state)
{
    (void)state;
    static const mutate_fn bad[] = {m_batch0, m_heads_neg, m_dim0, m_dim7, m_dim512, m_frames0, m_width_neg,
                                    m_text_neg, m_huge_grid, m_overflow, m_block0, m_block_npot, m_block_big,
                                    m_dtype, m_mode, m_text_pos, m_scale_nan, m_scale_neg, m_keep0, m_keep_big,
                                    m_keep_nan, m_window_big, m_window0, m_tau0, m_tau_big, m_topk0, m_z_inf,
                                    m_rule, m_min_neg, m_max_neg, m_rows0, m_rows_big, m_svg_neg, m_svg_dense_nan};
    vox_context *ctx = cpu();
    vox_plan_params p;
    vox_plan *plan = (vox_plan *)ctx;
    assert_int_equal(vox_plan_defaults(NULL), INVALID);
    small_params(&p);
    assert_int_equal(vox_plan_create(NULL, &p, &plan), INVALID);
    assert_null(plan);
    assert_int_equal(vox_plan_create(ctx, NULL, &plan), INVALID);
    assert_int_equal(vox_plan_create(ctx, &p, NULL), INVALID);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        small_params(&p);
        bad[i](&p);
        int before = errors;
        vox_status st = vox_plan_create(ctx, &p, &plan);
        if (st != INVALID)
            fail_msg("bad parameter set %zu: status %d", i, (int)st);
        assert_null(plan);
        assert_true(errors > before); /* every rejection is explained through the logger */
    }
    small_params(&p);
    assert_int_equal(vox_plan_create(ctx, &p, &plan), VOX_OK);
    vox_plan_destroy(plan);
    vox_plan_destroy(NULL);
    vox_context_destroy(ctx);
}

static void test_custom_csr(void **state)
{
    (void)state;
    vox_context *ctx = cpu();
    vox_plan_params p;
    vox_plan *plan = NULL;
    /* grid 2x4x4 with (1,4,4): 2 video blocks + 1 global block = 3 blocks */
    int32_t good_rp[] = {0, 2, 3, 6}, good_cols[] = {0, 2, 1, 0, 1, 2};
    struct {
        int32_t rp[4];
        int32_t cols[6];
        int64_t masks;
        int null_rp, null_cols;
    } bad[] = {
        {{1, 2, 3, 6}, {0, 2, 1, 0, 1, 2}, 1, 0, 0}, /* row_ptr[0] != 0 */
        {{0, 2, 1, 6}, {0, 2, 1, 0, 1, 2}, 1, 0, 0}, /* decreasing */
        {{0, 2, 3, 6}, {2, 0, 1, 0, 1, 2}, 1, 0, 0}, /* unsorted */
        {{0, 2, 3, 6}, {0, 0, 1, 0, 1, 2}, 1, 0, 0}, /* duplicate */
        {{0, 2, 3, 6}, {0, 3, 1, 0, 1, 2}, 1, 0, 0}, /* out of range */
        {{0, 2, 3, 6}, {0, -1, 1, 0, 1, 2}, 1, 0, 0}, /* negative */
        {{0, 2, 3, 6}, {0, 2, 1, 0, 1, 2}, 3, 0, 0}, /* mask count neither 1 nor B*H */
        {{0, 2, 3, 6}, {0, 2, 1, 0, 1, 2}, 1, 1, 0}, /* NULL row_ptr */
        {{0, 2, 3, 6}, {0, 2, 1, 0, 1, 2}, 1, 0, 1}, /* NULL columns */
        {{0, 2, 3, 7}, {0, 2, 1, 0, 1, 2}, 1, 0, 0}, /* row longer than n_blocks */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        small_params(&p);
        p.mask_mode = VOX_MASK_CUSTOM;
        p.custom_masks = bad[i].masks;
        p.custom_row_ptr = bad[i].null_rp ? NULL : bad[i].rp;
        p.custom_kv_block = bad[i].null_cols ? NULL : bad[i].cols;
        vox_status st = vox_plan_create(ctx, &p, &plan);
        if (st != INVALID)
            fail_msg("bad CSR %zu: status %d", i, (int)st);
    }
    small_params(&p);
    p.mask_mode = VOX_MASK_CUSTOM;
    p.custom_masks = 1;
    p.custom_row_ptr = good_rp;
    p.custom_kv_block = good_cols;
    assert_int_equal(vox_plan_create(ctx, &p, &plan), VOX_OK);
    good_cols[0] = 99; /* the plan copied the CSR */
    int32_t rp[4], cols[9];
    int64_t nnz;
    assert_int_equal(vox_plan_export_mask(plan, 0, rp, cols, 9, &nnz, NULL), VOX_OK);
    assert_int_equal(nnz, 6);
    assert_int_equal(cols[0], 0);
    assert_int_equal(vox_plan_export_mask(plan, 2, rp, cols, 9, &nnz, NULL), INVALID);
    assert_int_equal(vox_plan_export_mask(plan, -1, rp, cols, 9, &nnz, NULL), INVALID);
    assert_int_equal(vox_plan_export_mask(plan, 0, rp, cols, 3, &nnz, NULL), VOX_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(vox_plan_export_mask(plan, 0, NULL, cols, 9, &nnz, NULL), INVALID);
    assert_int_equal(vox_plan_export_mask(NULL, 0, rp, cols, 9, &nnz, NULL), INVALID);
    vox_plan_destroy(plan);
    vox_context_destroy(ctx);
}

static void test_tensors(void **state)
{
    (void)state;
    vox_context *ctx = cpu(), *other = cpu();
    vox_plan_params p;
    small_params(&p);
    vox_plan *plan = NULL;
    assert_int_equal(vox_plan_create(ctx, &p, &plan), VOX_OK);
    int64_t N = 2 * 4 * 4 + 3, n = 2 * N * 16;
    vox_buffer *buf = NULL, *small = NULL, *foreign = NULL;
    assert_int_equal(vox_buffer_create(ctx, (size_t)n * 4, &buf), VOX_OK);
    assert_int_equal(vox_buffer_create(ctx, (size_t)n * 4 - 4, &small), VOX_OK);
    assert_int_equal(vox_buffer_create(other, (size_t)n * 4, &foreign), VOX_OK);
    float *zeros = calloc((size_t)n, sizeof(float));
    assert_int_equal(vox_buffer_write(buf, 0, zeros, (size_t)n * 4), VOX_OK); /* buffers start undefined */
    free(zeros);
    vox_tensor good = vox_tensor_bhnd(buf, VOX_F32, 1, 2, N, 16);
    assert_int_equal(vox_attention_forward(plan, &good, &good, &good, &good, NULL), VOX_OK);
    assert_int_equal(vox_attention_forward(NULL, &good, &good, &good, &good, NULL), INVALID);
    assert_int_equal(vox_attention_forward(plan, NULL, &good, &good, &good, NULL), INVALID);
    assert_int_equal(vox_attention_forward(plan, &good, &good, &good, NULL, NULL), INVALID);
    vox_tensor t;
#define EXPECT(mod, status)                                                                                    \
    do {                                                                                                       \
        t = good;                                                                                              \
        mod;                                                                                                   \
        assert_int_equal(vox_attention_forward(plan, &good, &t, &good, &good, NULL), status);                  \
    } while (0)
    EXPECT(t.buffer = NULL, INVALID);
    EXPECT(t.dtype = VOX_F16, INVALID);
    EXPECT(t.dtype = (vox_dtype)9, INVALID);
    EXPECT(t.tokens = N - 1, INVALID);
    EXPECT(t.heads = 1, INVALID);
    EXPECT(t.head_dim = 8, INVALID);
    EXPECT(t.batch = 0, INVALID);
    EXPECT(t.stride_token = 8, INVALID);                   /* rows overlap */
    EXPECT(t.stride_head = 16, INVALID);                   /* heads overlap tokens */
    EXPECT(t.stride_token = -16, INVALID);                 /* negative */
    EXPECT(t.offset = 2, INVALID);                         /* misaligned */
    EXPECT(t.offset = 4, VOX_ERR_BUFFER_TOO_SMALL);       /* runs past the end */
    EXPECT(t.buffer = small, VOX_ERR_BUFFER_TOO_SMALL);
    EXPECT(t.buffer = foreign, INVALID);                   /* another context */
    EXPECT(t.stride_head = INT64_MAX / 2, INVALID);        /* size overflows */
    EXPECT(t.stride_token = INT64_MAX / 4, INVALID);
    EXPECT(t.offset = SIZE_MAX - 3, VOX_ERR_BUFFER_TOO_SMALL);
    /* lse must be f32 with head_dim 1 */
    vox_tensor lse = vox_tensor_bhnd(buf, VOX_F32, 1, 2, N, 1);
    assert_int_equal(vox_attention_forward(plan, &good, &good, &good, &good, &lse), VOX_OK);
    lse.head_dim = 16;
    assert_int_equal(vox_attention_forward(plan, &good, &good, &good, &good, &lse), INVALID);
    assert_int_equal(vox_tensor_span_bytes(NULL), 0);
    vox_plan_destroy(plan);

    /* SVG/BSA plans must be built before forward; build validates tensors */
    p.mask_mode = VOX_MASK_BSA;
    assert_int_equal(vox_plan_create(ctx, &p, &plan), VOX_OK);
    assert_int_equal(vox_attention_forward(plan, &good, &good, &good, &good, NULL), VOX_ERR_INVALID_STATE);
    int32_t rp[8], cols[64];
    int64_t nnz;
    assert_int_equal(vox_plan_export_mask(plan, 0, rp, cols, 64, &nnz, NULL), VOX_ERR_INVALID_STATE);
    assert_int_equal(vox_plan_build(plan, NULL, &good, NULL), INVALID);
    t = good;
    t.buffer = small;
    assert_int_equal(vox_plan_build(plan, &good, &t, NULL), VOX_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(vox_plan_build(plan, &good, &good, NULL), VOX_OK);
    assert_int_equal(vox_attention_forward(plan, &good, &good, &good, &good, NULL), VOX_OK);
    vox_plan_destroy(plan);
    p.mask_mode = VOX_MASK_SVG;
    p.svg_sample_rows = 8;
    assert_int_equal(vox_plan_create(ctx, &p, &plan), VOX_OK);
    assert_int_equal(vox_plan_build(plan, &good, &good, NULL), INVALID); /* SVG needs v */
    assert_int_equal(vox_plan_build(plan, &good, &good, &good), VOX_OK);
    vox_eval_result ev;
    assert_int_equal(vox_plan_evaluate(plan, &good, &good, &good, &good, 0, &ev), INVALID);
    assert_int_equal(vox_plan_evaluate(plan, &good, &good, &good, &good, 33, &ev), INVALID);
    assert_int_equal(vox_plan_evaluate(plan, &good, &good, &good, &good, 4, NULL), INVALID);
    vox_plan_stats s;
    assert_int_equal(vox_plan_stats_get(NULL, &s), INVALID);
    assert_int_equal(vox_plan_stats_get(plan, NULL), INVALID);
    assert_int_equal(vox_plan_head_classes(NULL, NULL, NULL, NULL), INVALID);
    assert_int_equal(vox_plan_token_slots(plan, NULL), INVALID);
    double ms;
    assert_int_equal(vox_plan_last_build_ms(plan, NULL), INVALID);
    /* this context does not time builds (they must never wait) */
    assert_int_equal(vox_plan_last_build_ms(plan, &ms), VOX_ERR_INVALID_STATE);
    vox_plan_destroy(plan);
    vox_context_params tp;
    vox_context_defaults(&tp);
    tp.device_id = "cpu";
    tp.time_builds = 1;
    vox_context *timed = NULL;
    assert_int_equal(vox_context_create(&tp, &timed), VOX_OK);
    assert_int_equal(vox_plan_create(timed, &p, &plan), VOX_OK);
    vox_buffer *tb = NULL;
    size_t tbytes = vox_tensor_span_bytes(&good);
    assert_int_equal(vox_buffer_create(timed, tbytes, &tb), VOX_OK);
    void *zbuf = calloc(1, tbytes);
    assert_int_equal(vox_buffer_write(tb, 0, zbuf, tbytes), VOX_OK); /* defined inputs (valgrind) */
    free(zbuf);
    vox_tensor tg = good;
    tg.buffer = tb;
    assert_int_equal(vox_plan_build(plan, &tg, &tg, &tg), VOX_OK);
    ms = -1;
    assert_int_equal(vox_plan_last_build_ms(plan, &ms), VOX_OK);
    assert_true(ms >= 0);
    vox_plan_destroy(plan);
    vox_buffer_destroy(tb);
    vox_context_destroy(timed);
    vox_buffer_destroy(buf), vox_buffer_destroy(small), vox_buffer_destroy(foreign);
    vox_context_destroy(ctx), vox_context_destroy(other);
}

/* Unsupported dtypes on a device without them: covered per backend in
 * conformance (skip) and here via the plan's device check on the cpu, which
 * supports all three. */
static void test_dtypes_supported_on_cpu(void **state)
{
    (void)state;
    vox_context *ctx = cpu();
    vox_plan_params p;
    for (vox_dtype dt = VOX_F32; dt <= VOX_BF16; dt++) {
        small_params(&p);
        p.dtype = dt;
        vox_plan *plan = NULL;
        assert_int_equal(vox_plan_create(ctx, &p, &plan), VOX_OK);
        vox_plan_destroy(plan);
    }
    vox_context_destroy(ctx);
}

/* ---- optional ops: a NULL op or a refusing supports() fails plan creation ---- */

static char g_log[4096]; /* every message of the context, one per line */
static int g_allocs;     /* buffer_alloc calls through the test table */
static const vox_backend *g_cpu;

static void capture_log(void *user, vox_log_level level, const char *msg)
{
    (void)user, (void)level;
    size_t used = strlen(g_log);
    snprintf(g_log + used, sizeof g_log - used, "%s\n", msg);
}

static vox_status counting_alloc(void *dev, size_t bytes, void **buf)
{
    g_allocs++;
    return g_cpu->buffer_alloc(dev, bytes, buf);
}

static vox_status refuse_attention(void *dev, const vox_op_dims *d, vox_op op, char *reason, size_t n)
{
    (void)dev, (void)d;
    if (op != VOX_OP_attention_forward)
        return VOX_OK;
    snprintf(reason, n, "test device: no attention at head_dim %lld", (long long)d->head_dim);
    return VOX_ERR_UNSUPPORTED;
}

/* Creates a plan of `mode` (query_keep `keep`) through `table`; returns the
 * status and leaves the log of the call in g_log. */
static vox_status create_through(vox_context *ctx, const vox_backend *table, vox_mask_mode mode, double keep)
{
    vox_plan_params p;
    small_params(&p);
    p.mask_mode = mode;
    p.query_keep = keep;
    p.window_t = 1;
    p.svg_sample_rows = 8;
    g_log[0] = 0;
    g_allocs = 0;
    const vox_backend *saved = ctx->be;
    ctx->be = table;
    vox_plan *plan = (vox_plan *)ctx;
    vox_status st = vox_plan_create(ctx, &p, &plan);
    if (st)
        assert_null(plan);
    vox_plan_destroy(plan);
    ctx->be = saved;
    return st;
}

static void test_optional_ops(void **state)
{
    (void)state;
    vox_context_params cp;
    tu_context_params(&cp, "cpu", NULL); /* log_user NULL, as by default */
    cp.log = capture_log;
    vox_context *ctx = NULL;
    assert_int_equal(vox_context_create(&cp, &ctx), VOX_OK);
    g_cpu = ctx->be;
    assert_ptr_equal(g_cpu, vox_backend_cpu());
    for (int op = 0; op < VOX_OP_COUNT; op++) /* the reference has every op */
        assert_true(vox_backend_has_op(g_cpu, (vox_op)op));

    /* no kv_select: BSA refused before any device work, the log names the op */
    vox_backend no_kv = *g_cpu;
    no_kv.kv_select = NULL;
    no_kv.buffer_alloc = counting_alloc;
    assert_false(vox_backend_has_op(&no_kv, VOX_OP_kv_select));
    assert_int_equal(create_through(ctx, &no_kv, VOX_MASK_BSA, 1.0), VOX_ERR_UNSUPPORTED);
    assert_non_null(strstr(g_log, "kv_select"));
    assert_int_equal(g_allocs, 0);
    /* ... while plans that do not run kv_select are accepted */
    assert_int_equal(create_through(ctx, &no_kv, VOX_MASK_DENSE, 1.0), VOX_OK);
    assert_true(g_allocs > 0);
    assert_int_equal(create_through(ctx, &no_kv, VOX_MASK_SVG, 1.0), VOX_OK);
    assert_int_equal(create_through(ctx, &no_kv, VOX_MASK_DENSE, 0.5), VOX_OK);

    /* no sample_rows: SVG refused; no query_select: query_keep < 1 refused */
    vox_backend no_sr = *g_cpu, no_qs = *g_cpu;
    no_sr.sample_rows = NULL;
    no_qs.query_select = NULL;
    assert_int_equal(create_through(ctx, &no_sr, VOX_MASK_SVG, 1.0), VOX_ERR_UNSUPPORTED);
    assert_non_null(strstr(g_log, "sample_rows"));
    assert_int_equal(create_through(ctx, &no_sr, VOX_MASK_BSA, 1.0), VOX_OK);
    assert_int_equal(create_through(ctx, &no_qs, VOX_MASK_DENSE, 0.5), VOX_ERR_UNSUPPORTED);
    assert_non_null(strstr(g_log, "query_select"));
    assert_int_equal(create_through(ctx, &no_qs, VOX_MASK_DENSE, 1.0), VOX_OK);

    /* supports() refusing attention_forward: even a DENSE plan is refused,
     * with the device's reason in the log, before any device work */
    vox_backend refusing = *g_cpu;
    refusing.supports = refuse_attention;
    refusing.buffer_alloc = counting_alloc;
    assert_int_equal(create_through(ctx, &refusing, VOX_MASK_DENSE, 1.0), VOX_ERR_UNSUPPORTED);
    assert_non_null(strstr(g_log, "attention_forward"));
    assert_non_null(strstr(g_log, "test device: no attention at head_dim 16"));
    assert_int_equal(g_allocs, 0);
    assert_int_equal(create_through(ctx, &refusing, VOX_MASK_BSA, 1.0), VOX_ERR_UNSUPPORTED);

    /* the untouched table still plans everything */
    assert_ptr_equal(ctx->be, g_cpu);
    assert_int_equal(create_through(ctx, g_cpu, VOX_MASK_BSA, 0.5), VOX_OK);
    vox_context_destroy(ctx);
}

/* ---- masks a faulty device wrote: refused by the host, never walked past ---- */

static int g_fault; /* 1: row 0's count past its room, 2: row 0's first column -7, 3: block 3's kept count past the
                       volume, 4: block 0's first kept row 99 */

/* what query_select wrote (faults 3 and 4 spoil it after the q means used it) */
static vox_bref g_kept, g_kept_rows;

static vox_status faulty_kv_select(void *dev, const vox_op_dims *d, const vox_op_kv_select *p)
{
    vox_status st = g_cpu->kv_select(dev, d, p);
    const int32_t bads[5] = {0, 1 << 20, -7, 1000, 99};
    const vox_bref at[5] = {{NULL, 0}, p->kv_count, p->kv_cols, g_kept, g_kept_rows};
    if (!st && g_fault)
        st = g_cpu->buffer_write(dev, at[g_fault].buf, at[g_fault].offset + (g_fault == 3 ? 4 * 3 : 0), &bads[g_fault],
                                 sizeof bads[g_fault]);
    return st;
}

static vox_status keeping_query_select(void *dev, const vox_op_dims *d, const vox_op_query_select *p)
{
    g_kept = p->kept_count, g_kept_rows = p->kept_rows;
    return g_cpu->query_select(dev, d, p);
}

static void test_faulty_masks(void **state)
{
    (void)state;
    vox_context_params cp;
    tu_context_params(&cp, "cpu", NULL);
    cp.log = capture_log;
    vox_context *ctx = NULL;
    assert_int_equal(vox_context_create(&cp, &ctx), VOX_OK);
    g_cpu = ctx->be;
    vox_backend faulty = *g_cpu;
    faulty.kv_select = faulty_kv_select;
    faulty.query_select = keeping_query_select;
    ctx->be = &faulty; /* the plan's buffers and ops through the test table */
    vox_plan_params p;
    small_params(&p);
    p.mask_mode = VOX_MASK_BSA;
    p.kv_rule = VOX_KV_TOPK;
    p.kv_topk = 2;
    p.window_t = 1; /* query_select's windows fit the (1,4,4) blocks */
    const int64_t N = 2 * 4 * 4 + 3;
    float *x = malloc(sizeof(float) * 2 * N * 16);
    tu_fill_normal(7, 1.0, x, (size_t)(2 * N * 16));
    vox_tensor t;
    assert_int_equal(tu_upload_tensor(ctx, VOX_F32, x, 1, 2, N, 16, 0, &t), VOX_OK);
    for (int fault = 0; fault <= 4; fault++) {
        g_fault = fault;
        p.query_keep = fault >= 3 ? 0.5 : 1.0;
        vox_plan *plan = NULL;
        g_log[0] = 0;
        vox_status st = vox_plan_create(ctx, &p, &plan);
        if (st)
            print_message("%s", g_log);
        assert_int_equal(st, VOX_OK);
        assert_int_equal(vox_plan_build(plan, &t, &t, &t), VOX_OK); /* nothing read back yet */
        g_log[0] = 0;
        vox_plan_stats s;
        int32_t rp[8], cols[64];
        int8_t keep[3 * 16]; /* NB 3 blocks (two video, one text) of volume 16 */
        int64_t nnz;
        if (!fault) {
            assert_int_equal(vox_plan_stats_get(plan, &s), VOX_OK);
            assert_int_equal(vox_plan_export_mask(plan, 0, rp, cols, 64, &nnz, keep), VOX_OK);
        } else {
            /* refused, with the row named, every time it is asked (no half-read state kept) */
            for (int again = 0; again < 2; again++) {
                assert_int_equal(vox_plan_stats_get(plan, &s), VOX_ERR_BACKEND);
                assert_int_equal(vox_plan_export_mask(plan, 0, rp, cols, 64, &nnz, keep), VOX_ERR_BACKEND);
            }
            assert_non_null(strstr(g_log, "not a mask"));
        }
        vox_plan_destroy(plan);
    }
    tu_free_tensor(&t);
    free(x);
    ctx->be = g_cpu;
    vox_context_destroy(ctx);
}

/* vox_attention_merge: values (two batch entries, three parts, one without
 * keys in some rows), in place, and every bad input refused with nothing
 * written. */
static void test_merge(void **state)
{
    (void)state;
    vox_context *ctx = cpu(), *other = cpu();
    enum { B = 2, H = 2, N = 5, D = 4, P = 3 };
    const size_t ot = B * H * N * D, lt = B * H * N; /* elements of an out and an lse tensor */
    vox_buffer *buf = NULL, *foreign = NULL;
    /* parts then their LSEs, out, lse */
    size_t bytes = 4 * (P * ot + P * lt + ot + lt);
    assert_int_equal(vox_buffer_create(ctx, bytes, &buf), VOX_OK);
    assert_int_equal(vox_buffer_create(other, bytes, &foreign), VOX_OK);
    float *host = malloc(bytes), *back = malloc(bytes);
    for (size_t i = 0; i < P * ot; i++)
        host[i] = (float)((i * 37 % 101) / 50.0 - 1);
    for (size_t i = 0; i < P * lt; i++)
        host[P * ot + i] = (float)((i * 13 % 17) / 4.0 - 2);
    for (size_t r = 0; r < lt; r += 3) /* part 1 has no keys in every third row */
        host[P * ot + lt + r] = -INFINITY;
    for (size_t i = P * (ot + lt); i < bytes / 4; i++)
        host[i] = 7;
    assert_int_equal(vox_buffer_write(buf, 0, host, bytes), VOX_OK);
    vox_tensor parts[P], lses[P];
    for (int i = 0; i < P; i++) {
        parts[i] = vox_tensor_bhnd(buf, VOX_F32, B, H, N, D), parts[i].offset = 4 * (size_t)i * ot;
        lses[i] = vox_tensor_bhnd(buf, VOX_F32, B, H, N, 1), lses[i].offset = 4 * (P * ot + (size_t)i * lt);
    }
    vox_tensor out = vox_tensor_bnhd(buf, VOX_F32, B, H, N, D), lse = vox_tensor_bhnd(buf, VOX_F32, B, H, N, 1);
    out.offset = 4 * P * (ot + lt), lse.offset = 4 * (P * (ot + lt) + ot);
#define MERGE_REFUSED(status, n, p, l, o, s)                                                \
    do {                                                                                    \
        assert_int_equal(vox_attention_merge(ctx, n, p, l, o, s), status);                  \
        assert_int_equal(vox_buffer_read(buf, 0, back, bytes), VOX_OK);                     \
        assert_memory_equal(back, host, bytes); /* nothing written */                       \
    } while (0)
    vox_tensor t[P], tl[P], o2;
    MERGE_REFUSED(INVALID, 0, parts, lses, &out, &lse);
    MERGE_REFUSED(INVALID, P, NULL, lses, &out, &lse);
    MERGE_REFUSED(INVALID, P, parts, NULL, &out, &lse);
    MERGE_REFUSED(INVALID, P, parts, lses, NULL, &lse);
    MERGE_REFUSED(INVALID, P, parts, lses, &out, NULL);
    assert_int_equal(vox_attention_merge(NULL, P, parts, lses, &out, &lse), INVALID);
#define MERGE_BAD(status, mod)                                                              \
    do {                                                                                    \
        memcpy(t, parts, sizeof t), memcpy(tl, lses, sizeof tl), o2 = out;                  \
        mod;                                                                                \
        MERGE_REFUSED(status, P, t, tl, &o2, &lse);                                         \
    } while (0)
    MERGE_BAD(INVALID, t[1].tokens = N - 1);               /* shapes differ */
    MERGE_BAD(INVALID, t[2].dtype = VOX_F16);              /* dtype differs from out */
    MERGE_BAD(INVALID, tl[0].head_dim = 2);                /* an LSE is [B,H,N,1] */
    MERGE_BAD(INVALID, tl[1].dtype = VOX_BF16);            /* LSEs are f32 */
    MERGE_BAD(INVALID, t[1].stride_token = 2);             /* rows overlap */
    MERGE_BAD(INVALID, o2.batch = 0);
    MERGE_BAD(INVALID, t[0].buffer = foreign);             /* another context */
    MERGE_BAD(VOX_ERR_BUFFER_TOO_SMALL, t[2].offset = bytes - 4);
    MERGE_BAD(INVALID, o2 = parts[1]);                     /* out may only be parts[0] */
    MERGE_BAD(INVALID, o2.offset = lse.offset - 4 * (ot - 1)); /* out overlaps lse */
    MERGE_BAD(INVALID, o2.offset = parts[2].offset + 4);   /* out overlaps a part */
    MERGE_REFUSED(INVALID, P, parts, lses, &out, &lses[2]); /* lse may only be part_lses[0] */
    MERGE_REFUSED(INVALID, P, parts, lses, &lses[0], &lse); /* out is f32 [..,D] */

    /* the values, in f64 */
    assert_int_equal(vox_attention_merge(ctx, P, parts, lses, &out, &lse), VOX_OK);
    assert_int_equal(vox_buffer_read(buf, 0, back, bytes), VOX_OK);
    for (size_t r = 0; r < lt; r++) {
        size_t b = r / (H * N), h = r / N % H, n = r % N;
        double m = -INFINITY, s = 0;
        for (int i = 0; i < P; i++)
            m = fmax(m, host[P * ot + (size_t)i * lt + r]);
        for (int i = 0; i < P; i++)
            s += exp(host[P * ot + (size_t)i * lt + r] - m);
        assert_true(fabs(back[P * (ot + lt) + ot + r] - (m + log(s))) < 1e-5);
        for (size_t e = 0; e < D; e++) {
            double x = 0;
            for (int i = 0; i < P; i++)
                x += exp(host[P * ot + (size_t)i * lt + r] - m) / s * host[(size_t)i * ot + r * D + e];
            size_t at = P * (ot + lt) + ((b * N + n) * H + h) * D + e; /* out is [B,N,H,D] */
            assert_true(fabs(back[at] - x) < 1e-5);
        }
    }
    /* in place into parts[0] and part_lses[0]: the same result */
    assert_int_equal(vox_attention_merge(ctx, P, parts, lses, &parts[0], &lses[0]), VOX_OK);
    float *again = malloc(bytes);
    assert_int_equal(vox_buffer_read(buf, 0, again, bytes), VOX_OK);
    for (size_t r = 0; r < lt; r++) {
        size_t b = r / (H * N), h = r / N % H, n = r % N;
        assert_true(fabs(again[P * ot + r] - back[P * (ot + lt) + ot + r]) < 1e-6);
        for (size_t e = 0; e < D; e++)
            assert_true(fabs(again[r * D + e] - back[P * (ot + lt) + ((b * N + n) * H + h) * D + e]) < 1e-6);
    }
    /* n = 1 with every LSE -inf: zeros and -inf */
    for (size_t r = 0; r < lt; r++)
        host[P * ot + r] = -INFINITY;
    assert_int_equal(vox_buffer_write(buf, 0, host, bytes), VOX_OK);
    assert_int_equal(vox_attention_merge(ctx, 1, parts, lses, &out, &lse), VOX_OK);
    assert_int_equal(vox_buffer_read(buf, 0, again, bytes), VOX_OK);
    for (size_t i = 0; i < ot; i++)
        assert_true(again[P * (ot + lt) + i] == 0.0f);
    for (size_t r = 0; r < lt; r++)
        assert_true(again[P * (ot + lt) + ot + r] == -INFINITY);
#undef MERGE_BAD
#undef MERGE_REFUSED
    free(host), free(back), free(again);
    vox_buffer_destroy(buf), vox_buffer_destroy(foreign);
    vox_context_destroy(ctx), vox_context_destroy(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_devices_and_contexts),
        cmocka_unit_test(test_buffers),
        cmocka_unit_test(test_plan_params),
        cmocka_unit_test(test_custom_csr),
        cmocka_unit_test(test_tensors),
        cmocka_unit_test(test_dtypes_supported_on_cpu),
        cmocka_unit_test(test_optional_ops),
        cmocka_unit_test(test_faulty_masks),
        cmocka_unit_test(test_merge),
    };
    return cmocka_run_group_tests_name("api", tests, NULL, NULL);
}
