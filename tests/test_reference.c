/* The CPU reference against independent naive attention: dense and CUSTOM
 * masks, LSE, ragged grids, text before/after, dtype round trips, and the
 * block permutation being the identity on every valid token. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "naive.h"
#include "plan.h"
#include "testutil.h"
#include "workload.h"

typedef struct shape {
    int64_t B, H, D, F, Y, X, G;
    int before, bt, bh, bw, bnhd;
} shape;

/* Token -> block computed here from the grid, independent of core/layout.c. */
static int64_t token_block(const shape *s, int64_t t)
{
    int64_t nv = s->F * s->Y * s->X, V = (int64_t)s->bt * s->bh * s->bw;
    int64_t gbt = (s->F + s->bt - 1) / s->bt, gbh = (s->Y + s->bh - 1) / s->bh, gbw = (s->X + s->bw - 1) / s->bw;
    int64_t vi = s->before ? t - s->G : t;
    if (vi < 0 || vi >= nv) {
        int64_t g = s->before ? t : t - nv;
        return gbt * gbh * gbw + g / V;
    }
    int64_t f = vi / (s->Y * s->X), y = (vi / s->X) % s->Y, x = vi % s->X;
    return ((f / s->bt) * gbh + y / s->bh) * gbw + x / s->bw;
}

static void plan_params(const shape *s, vox_plan_params *p)
{
    vox_workload w = {"shape", s->B, s->H, s->D, s->F, s->Y, s->X, s->G, s->before};
    const int block[3] = {s->bt, s->bh, s->bw};
    vox_workload_plan_params(&w, VOX_F32, VOX_MASK_DENSE, block, p);
}

/* Runs the reference with `mask` (NULL = dense; else CSR over blocks, shared)
 * and compares out and LSE with naive token-level attention. */
static void check_against_naive(const shape *s, const int32_t *rp, const int32_t *cols, int64_t NB)
{
    vox_context *ctx = tu_context("cpu", NULL);
    assert_non_null(ctx);
    vox_plan_params p;
    plan_params(s, &p);
    if (rp) {
        p.mask_mode = VOX_MASK_CUSTOM;
        p.custom_masks = 1;
        p.custom_row_ptr = rp;
        p.custom_kv_block = cols;
    }
    vox_plan *plan = NULL;
    assert_int_equal(vox_plan_create(ctx, &p, &plan), VOX_OK);
    int64_t N = s->F * s->Y * s->X + s->G, n = s->B * s->H * N * s->D;
    float *q, *k, *v;
    tu_normal_qkv((size_t)n, 1, &q, &k, &v);
    vox_tensor tq, tk, tv, to, tl;
    assert_int_equal(tu_upload_tensor(ctx, VOX_F32, q, s->B, s->H, N, s->D, s->bnhd, &tq), VOX_OK);
    assert_int_equal(tu_upload_tensor(ctx, VOX_F32, k, s->B, s->H, N, s->D, s->bnhd, &tk), VOX_OK);
    assert_int_equal(tu_upload_tensor(ctx, VOX_F32, v, s->B, s->H, N, s->D, s->bnhd, &tv), VOX_OK);
    assert_int_equal(tu_poisoned_tensor(ctx, VOX_F32, s->B, s->H, N, s->D, s->bnhd, &to), VOX_OK);
    assert_int_equal(tu_poisoned_tensor(ctx, VOX_F32, s->B, s->H, N, 1, 0, &tl), VOX_OK);
    assert_int_equal(vox_attention_forward(plan, &tq, &tk, &tv, &to, &tl), VOX_OK);
    double *out = tu_read_tensor(&to), *lse = tu_read_tensor(&tl);
    double *ref = malloc(sizeof(double) * (size_t)n), *lref = malloc(sizeof(double) * (size_t)(n / s->D));
    double *Q = malloc(sizeof(double) * (size_t)(N * s->D)), *K = malloc(sizeof(double) * (size_t)(N * s->D)),
           *V = malloc(sizeof(double) * (size_t)(N * s->D));
    unsigned char *allowed = malloc((size_t)N);
    int64_t D = s->D;
    for (int64_t bh = 0; bh < s->B * s->H; bh++) {
        for (int64_t i = 0; i < N * D; i++)
            Q[i] = q[bh * N * D + i], K[i] = k[bh * N * D + i], V[i] = v[bh * N * D + i];
        for (int64_t t = 0; t < N; t++) {
            for (int64_t u = 0; u < N; u++) {
                allowed[u] = 1;
                if (rp) {
                    int64_t bi = token_block(s, t), bj = token_block(s, u);
                    allowed[u] = 0;
                    for (int32_t c = rp[bi]; c < rp[bi + 1]; c++)
                        allowed[u] |= cols[c] == bj;
                }
            }
            lref[bh * N + t] = tu_naive_row(Q + t * D, K, V, allowed, N, D, 1.0 / sqrt((double)D),
                                            ref + (bh * N + t) * D);
        }
    }
    double e = tu_norm_err(out, ref, (size_t)n), el = tu_norm_err(lse, lref, (size_t)(n / D));
    if (!(e < 1e-12 && el < 1e-12))
        fail_msg("reference vs naive: out err %.3e, lse err %.3e", e, el);
    (void)NB;
    free(out), free(lse), free(ref), free(lref), free(Q), free(K), free(V), free(allowed);
    free(q), free(k), free(v);
    tu_free_tensor(&tq), tu_free_tensor(&tk), tu_free_tensor(&tv), tu_free_tensor(&to), tu_free_tensor(&tl);
    vox_plan_destroy(plan);
    vox_context_destroy(ctx);
}

static const shape shapes[] = {
    {1, 2, 16, 3, 5, 7, 0, 0, 2, 2, 2, 0},  {1, 2, 16, 3, 5, 7, 0, 0, 4, 4, 4, 1},
    {1, 1, 8, 3, 5, 7, 9, 0, 2, 2, 2, 0},   {2, 1, 8, 3, 5, 7, 9, 1, 4, 4, 4, 1},
    {1, 2, 32, 4, 8, 8, 8, 0, 4, 4, 4, 0},  {1, 1, 16, 2, 3, 11, 40, 1, 1, 4, 8, 0},
    {1, 1, 8, 1, 1, 1, 0, 0, 2, 2, 2, 0},   {1, 1, 8, 1, 1, 1, 1, 1, 2, 2, 2, 0},
};

static void test_dense_vs_naive(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        check_against_naive(&shapes[i], NULL, NULL, 0);
}

static void test_custom_vs_token_mask(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        int64_t V = (int64_t)s->bt * s->bh * s->bw;
        int64_t NB = ((s->F + s->bt - 1) / s->bt) * ((s->Y + s->bh - 1) / s->bh) * ((s->X + s->bw - 1) / s->bw) +
                     (s->G + V - 1) / V;
        int32_t *rp = malloc(sizeof(int32_t) * (size_t)(NB + 1)), *cols = malloc(sizeof(int32_t) * (size_t)(NB * NB));
        uint64_t r = 99 + i;
        rp[0] = 0;
        for (int64_t a = 0, n = 0; a < NB; a++) {
            for (int64_t b = 0; b < NB; b++) {
                r = r * 6364136223846793005ull + 1442695040888963407ull;
                if ((r >> 33) % 3 == 0 || a == b) /* keep rows non-empty: own block */
                    cols[n++] = (int32_t)b;
            }
            rp[a + 1] = (int32_t)n;
        }
        check_against_naive(s, rp, cols, NB);
        free(rp), free(cols);
    }
}

static void test_dtype_round_trip(void **state)
{
    (void)state;
    /* values exactly representable in f16 and bf16 survive both ways */
    const float exact[] = {0.0f, -0.0f, 1.0f, -2.5f, 0.125f, 1024.0f, 3.0f, -0.75f};
    for (size_t i = 0; i < 8; i++)
        for (vox_dtype dt = VOX_F16; dt <= VOX_BF16; dt++) {
            uint16_t h;
            float back;
            assert_int_equal(vox_convert(dt, &h, VOX_F32, &exact[i], 1), VOX_OK);
            assert_int_equal(vox_convert(VOX_F32, &back, dt, &h, 1), VOX_OK);
            assert_true(memcmp(&back, &exact[i], 4) == 0);
        }
    /* f16 specifics: max, overflow to inf, subnormals, round to nearest even */
    float in[] = {65504.0f, 65520.0f, 5.960464477539063e-8f, 1.0f + 1.0f / 2048.0f, 1.0f + 3.0f / 2048.0f, INFINITY};
    uint16_t expect16[] = {0x7bff, 0x7c00, 0x0001, 0x3c00, 0x3c02, 0x7c00};
    for (int i = 0; i < 6; i++) {
        uint16_t h;
        vox_convert(VOX_F16, &h, VOX_F32, &in[i], 1);
        assert_int_equal(h, expect16[i]);
    }
    /* bf16: nearest even, NaN stays NaN */
    float b_in[] = {1.0f + 1.0f / 256.0f, 1.0f + 3.0f / 256.0f, NAN};
    uint16_t h;
    vox_convert(VOX_BF16, &h, VOX_F32, &b_in[0], 1);
    assert_int_equal(h, 0x3f80);
    vox_convert(VOX_BF16, &h, VOX_F32, &b_in[1], 1);
    assert_int_equal(h, 0x3f82);
    vox_convert(VOX_BF16, &h, VOX_F32, &b_in[2], 1);
    float back;
    vox_convert(VOX_F32, &back, VOX_BF16, &h, 1);
    assert_true(isnan(back));
    /* random data: every f16 and bf16 value converts back to itself */
    for (uint32_t u = 0; u < 65536; u++) {
        uint16_t x = (uint16_t)u, y;
        for (vox_dtype dt = VOX_F16; dt <= VOX_BF16; dt++) {
            float f;
            vox_convert(VOX_F32, &f, dt, &x, 1);
            vox_convert(dt, &y, VOX_F32, &f, 1);
            if (!isnan(f))
                assert_int_equal(x, y);
        }
    }
    assert_int_equal(vox_convert(VOX_F16, &h, (vox_dtype)9, &back, 1), VOX_ERR_INVALID_ARGUMENT);
}

/* f16/bf16 attention: the reference reads stored 16-bit inputs and rounds
 * only the output, so it equals the f32 run on the same (rounded) inputs to
 * within one output rounding. */
static void test_half_attention(void **state)
{
    (void)state;
    shape s = {1, 2, 16, 3, 5, 7, 5, 0, 2, 2, 2, 0};
    int64_t N = s.F * s.Y * s.X + s.G, n = s.H * N * s.D;
    vox_context *ctx = tu_context("cpu", NULL);
    float *x[3];
    for (int i = 0; i < 3; i++) {
        x[i] = malloc(sizeof(float) * (size_t)n);
        tu_fill_normal((uint64_t)(10 + i), 1.0, x[i], (size_t)n);
    }
    for (vox_dtype dt = VOX_F16; dt <= VOX_BF16; dt++) {
        double *outs[2];
        for (int pass = 0; pass < 2; pass++) {
            vox_dtype use = pass ? dt : VOX_F32;
            vox_plan_params p;
            plan_params(&s, &p);
            p.dtype = use;
            vox_plan *plan = NULL;
            assert_int_equal(vox_plan_create(ctx, &p, &plan), VOX_OK);
            vox_tensor t[4];
            for (int i = 0; i < 3; i++) {
                float *r = malloc(sizeof(float) * (size_t)n);
                memcpy(r, x[i], sizeof(float) * (size_t)n);
                tu_round_through(dt, r, (size_t)n);
                assert_int_equal(tu_upload_tensor(ctx, use, r, 1, s.H, N, s.D, 0, &t[i]), VOX_OK);
                free(r);
            }
            assert_int_equal(tu_poisoned_tensor(ctx, use, 1, s.H, N, s.D, 0, &t[3]), VOX_OK);
            assert_int_equal(vox_attention_forward(plan, &t[0], &t[1], &t[2], &t[3], NULL), VOX_OK);
            outs[pass] = tu_read_tensor(&t[3]);
            for (int i = 0; i < 4; i++)
                tu_free_tensor(&t[i]);
            vox_plan_destroy(plan);
        }
        double e = tu_norm_err(outs[1], outs[0], (size_t)n);
        if (e > (dt == VOX_F16 ? 1e-6 : 2e-5))
            fail_msg("%s attention vs f32 on the same inputs: %.3e", dt == VOX_F16 ? "f16" : "bf16", e);
        free(outs[0]), free(outs[1]);
    }
    for (int i = 0; i < 3; i++)
        free(x[i]);
    vox_context_destroy(ctx);
}

/* permute_to_blocks then permute_from_blocks is the identity on every token,
 * each valid slot holds a token of its block's box, and padding is a tail. */
static void test_permutation_identity(void **state)
{
    (void)state;
    vox_context *ctx = tu_context("cpu", NULL);
    const int blocks[][3] = {{1, 4, 4}, {2, 2, 2}, {4, 4, 4}, {2, 4, 4}, {1, 8, 16}, {4, 4, 8}, {2, 8, 8}, {1, 1, 16}};
    const int64_t grids[][4] = {{1, 1, 1, 0}, {3, 5, 7, 0}, {4, 8, 8, 8}, {5, 9, 11, 13}, {2, 3, 17, 1}, {7, 1, 9, 40}};
    int combos = 0;
    for (size_t bi = 0; bi < 8; bi++)
        for (size_t gi = 0; gi < 6; gi++)
            for (int before = 0; before < 2; before++) {
                shape s = {2, 3, 8, grids[gi][0], grids[gi][1], grids[gi][2], grids[gi][3], before,
                           blocks[bi][0], blocks[bi][1], blocks[bi][2], (int)(bi & 1)};
                vox_plan_params p;
                plan_params(&s, &p);
                vox_plan *plan = NULL;
                assert_int_equal(vox_plan_create(ctx, &p, &plan), VOX_OK);
                const vox_layout *L = &plan->L;
                int64_t N = L->n_tokens, V = L->V;
                for (int64_t t = 0; t < N; t++) {
                    int32_t sl = L->token_slot[t];
                    assert_int_equal(L->slot_token[sl], t);
                    assert_int_equal(sl / V, token_block(&s, t));
                    assert_true(sl % V < L->block_valid[sl / V]); /* valid tokens first */
                }
                int64_t valid = 0;
                for (int64_t b = 0; b < L->n_blocks; b++)
                    valid += L->block_valid[b];
                assert_int_equal(valid, N);
                /* round trip of real data through the two ops */
                int64_t n = s.B * s.H * N * s.D;
                float *x = malloc(sizeof(float) * (size_t)n);
                tu_fill_normal(gi * 8 + bi, 1.0, x, (size_t)n);
                vox_tensor tin, tout;
                assert_int_equal(tu_upload_tensor(ctx, VOX_F32, x, s.B, s.H, N, s.D, s.bnhd, &tin), VOX_OK);
                assert_int_equal(tu_poisoned_tensor(ctx, VOX_F32, s.B, s.H, N, s.D, !s.bnhd, &tout), VOX_OK);
                vox_op_permute_to to = {{{tin.buffer->impl, 0}, VOX_F32, tin.stride_batch, tin.stride_head,
                                         tin.stride_token},
                                        {plan->qb.impl, 0},
                                        {plan->slot_token.impl, 0}};
                vox_op_permute_from from = {{plan->qb.impl, 0}, {NULL, 0},
                                            {{tout.buffer->impl, 0}, VOX_F32, tout.stride_batch, tout.stride_head,
                                             tout.stride_token},
                                            {{NULL, 0}, VOX_F32, 0, 0, 0},
                                            {plan->token_slot.impl, 0},
                                            {NULL, 0}};
                assert_int_equal(ctx->be->permute_to(ctx->dev, &plan->dims, &to), VOX_OK);
                assert_int_equal(ctx->be->permute_from(ctx->dev, &plan->dims, &from), VOX_OK);
                double *a = tu_read_tensor(&tin), *b = tu_read_tensor(&tout);
                assert_memory_equal(a, b, sizeof(double) * (size_t)n);
                free(a), free(b), free(x);
                tu_free_tensor(&tin), tu_free_tensor(&tout);
                vox_plan_destroy(plan);
                combos++;
            }
    assert_int_equal(combos, 96);
    vox_context_destroy(ctx);
}

/* ---- block_means against the naive recomputation (naive.c) ---- */

static vox_bref wrap_host(vox_context *ctx, void *p, size_t bytes, vox_buffer **keep)
{
    assert_int_equal(vox_buffer_wrap(ctx, (uint64_t)(uintptr_t)p, bytes, keep), VOX_OK);
    return (vox_bref){(*keep)->impl, 0};
}

/* One block_means case: ragged valid counts (some blocks full), random x,
 * and (kept) a random ascending subset of each block's valid rows. The
 * reference's f32 means must equal the naive fp64 means to f32 rounding. */
static void block_means_case(vox_context *ctx, uint64_t seed, int64_t BH, int64_t NB, int64_t V, int64_t D, int kept)
{
    uint64_t rs = seed * 2654435761u + 1;
#define NEXT() (rs = rs * 6364136223846793005ull + 1442695040888963407ull, rs >> 33)
    int64_t S = NB * V;
    int32_t *valid = malloc(sizeof(int32_t) * (size_t)NB), *kc = malloc(sizeof(int32_t) * (size_t)(BH * NB)),
            *kr = malloc(sizeof(int32_t) * (size_t)(BH * NB * V));
    float *x = malloc(sizeof(float) * (size_t)(BH * S * D)), *out = malloc(sizeof(float) * (size_t)(BH * NB * D));
    double *want = malloc(sizeof(double) * (size_t)(BH * NB * D));
    for (int64_t j = 0; j < NB; j++)
        valid[j] = NEXT() % 3 == 0 ? (int32_t)V : 1 + (int32_t)(NEXT() % (uint64_t)V);
    tu_fill_normal(seed, 1.0, x, (size_t)(BH * S * D));
    for (int64_t i = 0; i < BH * S * D; i++)
        x[i] += 0.5f; /* a nonzero mean, so a wrong divisor shows */
    for (int64_t m = 0; m < BH * NB; m++) {
        int32_t c = 0;
        for (int32_t r = 0; r < valid[m % NB]; r++)
            if (NEXT() % 2 || (c == 0 && r == valid[m % NB] - 1))
                kr[m * V + c++] = r;
        kc[m] = c;
    }
    for (int64_t i = 0; i < BH * NB * D; i++)
        out[i] = NAN;
    /* x as a caller tensor [1, BH, S, D] whose token t sits in slot t */
    int32_t *slot_token = malloc(sizeof(int32_t) * (size_t)S);
    for (int64_t t = 0; t < S; t++)
        slot_token[t] = (int32_t)t;
    vox_buffer *b[6];
    vox_op_dims d = {1, BH, D, 0, NB, NB, V, VOX_F32, wrap_host(ctx, valid, sizeof(int32_t) * (size_t)NB, &b[0]),
                     {0, 0, 0}, valid};
    vox_op_block_means op = {{wrap_host(ctx, x, sizeof(float) * (size_t)(BH * S * D), &b[1]), VOX_F32, BH * S * D,
                              S * D, D},
                             wrap_host(ctx, slot_token, sizeof(int32_t) * (size_t)S, &b[5]),
                             kept ? wrap_host(ctx, kc, sizeof(int32_t) * (size_t)(BH * NB), &b[2]) : (vox_bref){0},
                             kept ? wrap_host(ctx, kr, sizeof(int32_t) * (size_t)(BH * NB * V), &b[3]) : (vox_bref){0},
                             wrap_host(ctx, out, sizeof(float) * (size_t)(BH * NB * D), &b[4])};
    assert_int_equal(ctx->be->block_means(ctx->dev, &d, &op), VOX_OK);
    for (int i = 0; i < 6; i++)
        if (kept || (i != 2 && i != 3))
            vox_buffer_destroy(b[i]);
    naive_dims nd = {BH, NB, NB, V, D, valid};
    naive_block_means(&nd, x, kept ? kc : NULL, kr, want);
    for (int64_t i = 0; i < BH * NB * D; i++)
        if (!(fabs(out[i] - want[i]) <= 1.2e-7 * fabs(want[i]) + 1e-30))
            fail_msg("block_means (seed %llu, V %lld, %s rows): head %lld block %lld dim %lld: reference %.9g, "
                     "naive %.9g (valid %d)",
                     (unsigned long long)seed, (long long)V, kept ? "kept" : "valid", (long long)(i / D / NB),
                     (long long)(i / D % NB), (long long)(i % D), (double)out[i], want[i], valid[i / D % NB]);
#undef NEXT
    free(valid), free(kc), free(kr), free(x), free(out), free(want), free(slot_token);
}

static void test_block_means_vs_naive(void **state)
{
    (void)state;
    vox_context *ctx = tu_context("cpu", NULL);
    assert_non_null(ctx);
    for (uint64_t seed = 1; seed <= 8; seed++) {
        block_means_case(ctx, seed, 2, 7, 16, 8, 0);
        block_means_case(ctx, seed, 2, 7, 16, 8, 1);
        block_means_case(ctx, 50 + seed, 3, 5, 64, 32, 0);
        block_means_case(ctx, 50 + seed, 1, 5, 64, 32, 1);
    }
    vox_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_vs_naive),
        cmocka_unit_test(test_custom_vs_token_mask),
        cmocka_unit_test(test_dtype_round_trip),
        cmocka_unit_test(test_half_attention),
        cmocka_unit_test(test_permutation_identity),
        cmocka_unit_test(test_block_means_vs_naive),
    };
    return cmocka_run_group_tests_name("reference", tests, NULL, NULL);
}
