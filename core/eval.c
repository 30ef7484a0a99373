/* Mask quality on sampled rows, in fp64 on the host: recall (dense attention
 * mass inside the mask) and output error vs dense attention. */
#include "half.h"
#include "plan.h"

#include <math.h>
#include <stdlib.h>

/* Reads a whole tensor to host doubles [B][H][N][D]. */
static vox_status read_tensor(const vox_plan *plan, const vox_tensor *t, double **out)
{
    size_t span = vox_tensor_span_bytes(t);
    size_t n = (size_t)(t->batch * t->heads * t->tokens * t->head_dim);
    unsigned char *raw = malloc(span);
    double *x = malloc(sizeof(double) * n);
    vox_status st = (!raw || !x) ? VOX_ERR_OUT_OF_MEMORY : VOX_OK;
    if (!st)
        st = plan->ctx->be->buffer_read(plan->ctx->dev, t->buffer->impl, t->offset, raw, span);
    for (int64_t b = 0; !st && b < t->batch; b++)
        for (int64_t h = 0; h < t->heads; h++)
            for (int64_t i = 0; i < t->tokens; i++)
                for (int64_t d = 0; d < t->head_dim; d++)
                    x[(((size_t)b * t->heads + h) * t->tokens + i) * t->head_dim + d] = vox_load(
                        raw, t->dtype, b * t->stride_batch + h * t->stride_head + i * t->stride_token + d);
    free(raw);
    if (st) {
        free(x);
        x = NULL;
    }
    *out = x;
    return st;
}

vox_status vox_plan_evaluate(const vox_plan *cplan, const vox_tensor *q, const vox_tensor *k,
                             const vox_tensor *v, const vox_tensor *out, int rows_per_head,
                             vox_eval_result *result)
{
    if (!cplan || !result)
        return VOX_ERR_INVALID_ARGUMENT;
    vox_plan *plan = (vox_plan *)cplan;
    const vox_plan_params *p = &plan->p;
    const vox_layout *L = &plan->L;
    if (rows_per_head < 1 || rows_per_head > L->n_video_tokens)
        return vox_fail(&plan->ctx->log, VOX_ERR_INVALID_ARGUMENT, "evaluate: rows_per_head %d not in [1,%lld]",
                        rows_per_head, (long long)L->n_video_tokens);
    vox_status st = vox_check_tensor(plan, q, "q", p->dtype, p->head_dim);
    if (!st) st = vox_check_tensor(plan, k, "k", p->dtype, p->head_dim);
    if (!st) st = vox_check_tensor(plan, v, "v", p->dtype, p->head_dim);
    if (!st) st = vox_check_tensor(plan, out, "out", p->dtype, p->head_dim);
    if (st)
        return st;
    if (!plan->built)
        return vox_fail(&plan->ctx->log, VOX_ERR_INVALID_STATE, "evaluate: plan not built");
    st = vox_plan_fetch_masks(plan);
    if (st)
        return st;
    st = plan->ctx->be->finish(plan->ctx->dev);
    if (st)
        return st;
    int64_t N = L->n_tokens, D = p->head_dim, NB = L->n_blocks, R = rows_per_head;
    double *Q = NULL, *K = NULL, *Vv = NULL, *O = NULL;
    int64_t *rows = malloc(sizeof(int64_t) * (size_t)R);
    double *s = malloc(sizeof(double) * (size_t)N);
    unsigned char *allowed = malloc((size_t)NB);
    st = (!rows || !s || !allowed) ? VOX_ERR_OUT_OF_MEMORY : VOX_OK;
    if (!st && !vox_sample_distinct(p->seed ^ 0x5eed5eedull, L->n_video_tokens, R, rows))
        st = VOX_ERR_OUT_OF_MEMORY;
    if (!st) st = read_tensor(plan, q, &Q);
    if (!st) st = read_tensor(plan, k, &K);
    if (!st) st = read_tensor(plan, v, &Vv);
    if (!st) st = read_tensor(plan, out, &O);
    double recall = 0, num = 0, den = 0;
    int64_t video0 = L->text_before ? L->text : 0;
    for (int64_t bh = 0; !st && bh < plan->BH; bh++) {
        const double *q0 = Q + bh * N * D, *k0 = K + bh * N * D, *v0 = Vv + bh * N * D, *o0 = O + bh * N * D;
        for (int64_t r = 0; r < R; r++) {
            int64_t t = video0 + rows[r];
            int64_t blk = L->token_slot[t] / L->V;
            int32_t cnt;
            const int32_t *cols = vox_plan_row_cols(plan, bh * NB + blk, &cnt);
            for (int64_t j = 0; j < NB; j++)
                allowed[j] = 0;
            for (int32_t c = 0; c < cnt; c++)
                allowed[cols[c]] = 1;
            double mx = -INFINITY;
            for (int64_t j = 0; j < N; j++) {
                double acc = 0;
                for (int64_t d = 0; d < D; d++)
                    acc += q0[t * D + d] * k0[j * D + d];
                s[j] = acc * plan->scale;
                if (s[j] > mx)
                    mx = s[j];
            }
            double z = 0, zin = 0;
            for (int64_t j = 0; j < N; j++) {
                s[j] = exp(s[j] - mx);
                z += s[j];
                if (allowed[L->token_slot[j] / L->V])
                    zin += s[j];
            }
            recall += zin / z;
            for (int64_t d = 0; d < D; d++) {
                double acc = 0;
                for (int64_t j = 0; j < N; j++)
                    acc += s[j] * v0[j * D + d];
                acc /= z;
                double e = o0[t * D + d] - acc;
                num += e * e;
                den += acc * acc;
            }
        }
    }
    free(Q);
    free(K);
    free(Vv);
    free(O);
    free(rows);
    free(s);
    free(allowed);
    if (st)
        return st;
    result->rows = R * plan->BH;
    result->recall = recall / (double)result->rows;
    result->rel_error = den > 0 ? num / den : num;
    return VOX_OK;
}
