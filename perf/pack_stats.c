/* pack_stats: how well the sm_90a forward's packing of query blocks into CTAs
 * shares KV tiles, measured on real BSA masks built by the library (any
 * device; the cpu reference builds hunyuan-720p masks in seconds per head).
 *
 * The sm_90a forward (backends/cuda/sm90/attention_forward_sm90.cuh) runs a
 * CTA over G consecutive query blocks of one head in a packing order; their
 * processed rows are concatenated and rows 64w..64w+63 go to consumer
 * warpgroup w, which runs every KV tile that one of its rows' blocks lists;
 * the producer streams the union of all the CTA's lists once. So
 *   tensor = sum over warpgroups of |union of its blocks' lists|   (wgmma work)
 *   l2     = sum over CTAs of |union of all its blocks' lists|      (K/V bytes)
 * both in 64-key tiles (a partial KV block costs ceil(valid/16) 16-key chunks,
 * four to a tile). This tool builds the masks for each query_keep, then
 * evaluates packing orders (the device planner's, and alternatives) with the
 * device planner's greedy packing, and prints both figures relative to
 * keep 1 with the current order. See backends/cuda/sm90/NOTES.md (session 11).
 *
 * usage: pack_stats [--device ID] [--preset NAME] [--block T,H,W] [--density D] [--keep LIST]
 *                   [--heads N] [--seed S] [--sharpness X] [--nwg-pruned 2|3]
 *                   [--nwg-dense 2|3] [--gmax G] [--save FILE | --load FILE] [-v]
 * --save writes the built masks to FILE, --load reads them instead of building (the model's
 * options can then be varied without generating inputs again). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "voxattn.h"
#include "workload.h"

#define GMAX_MAX 16       /* VOX_SM90_GMAX is 8; --gmax models more */
static int GMAX = 8;
#define PLAN_PAIRS 16     /* VOX_SM90_PLAN_PAIRS */
#define PLAN_TEST 128     /* VOX_SM90_PLAN_TEST */
#define MAXK 8
#define NSTRAT 64

static int verbose;

static void log_cb(void *u, vox_log_level l, const char *m)
{
    (void)u;
    if (l <= VOX_LOG_WARN || verbose)
        fprintf(stderr, "voxattn: %s\n", m);
}

/* One head's mask. */
typedef struct head_mask {
    int32_t *ptr, *cols; /* CSR over NB blocks */
    int32_t *kept;       /* kept rows per block (keep 1: valid rows) */
} head_mask;

typedef struct mask_set {
    double keep;
    int pruned;          /* kept_count used by the kernel (query_keep < 1) */
    head_mask *h;        /* [BH] */
    double density, flops;
} mask_set;

typedef struct geom {
    int NB, NBv, gt, gh, gw, V, BH, words;
    int *valid;    /* [NB] valid rows (= valid keys) per block */
    double *wt;    /* [NB] cost of KV block j in 64-key tiles */
} geom;

/* --------------------------------------------------------------- orders */

/* Block at position x of the order with axis a fastest (0 w, 1 h, 2 t), as plan_order. */
static int axis_order(const geom *g, int a, int x)
{
    int gt = g->gt, gh = g->gh, gw = g->gw;
    if (a == 1) {
        int h = x % gh, r = x / gh, w = r % gw, t = r / gw;
        return (t * gh + h) * gw + w;
    }
    if (a == 2) {
        int t = x % gt, r = x / gt, w = r % gw, h = r / gw;
        return (t * gh + h) * gw + w;
    }
    (void)gt;
    return x;
}

/* A tiled order: tiles of (tt, th, tw) blocks; inside a tile the axes in order
 * in[0] (fastest), in[1], in[2]; tiles in raster order with axis out[0]
 * fastest, then out[1], out[2]. Axes: 0 w, 1 h, 2 t. */
typedef struct tiling {
    int ext[3];      /* tile extent per axis (w, h, t) */
    int in[3], out[3];
} tiling;

typedef struct key_pos {
    long long key;
    int blk;
} key_pos;

static int cmp_key(const void *a, const void *b)
{
    long long x = ((const key_pos *)a)->key, y = ((const key_pos *)b)->key;
    return x < y ? -1 : x > y;
}

static void tiled_order(const geom *g, const tiling *T, int *order)
{
    key_pos *kp = malloc(sizeof *kp * (size_t)g->NBv);
    int dim[3] = {g->gw, g->gh, g->gt};
    int nt[3];
    for (int a = 0; a < 3; a++)
        nt[a] = (dim[a] + T->ext[a] - 1) / T->ext[a];
    for (int b = 0; b < g->NBv; b++) {
        int c[3] = {b % g->gw, (b / g->gw) % g->gh, b / (g->gw * g->gh)};
        long long outer = 0, inner = 0;
        for (int i = 2; i >= 0; i--) {
            int a = T->out[i];
            outer = outer * nt[a] + c[a] / T->ext[a];
        }
        for (int i = 2; i >= 0; i--) {
            int a = T->in[i];
            inner = inner * T->ext[a] + c[a] % T->ext[a];
        }
        kp[b].key = outer * 4096 + inner, kp[b].blk = b;
    }
    qsort(kp, (size_t)g->NBv, sizeof *kp, cmp_key);
    for (int x = 0; x < g->NBv; x++)
        order[x] = kp[x].blk;
    for (int x = g->NBv; x < g->NB; x++)
        order[x] = x;
    free(kp);
}

/* The device planner's axis choice (vox_attn_sm90_plan): sampled pairs per axis, shared columns. */
static int planner_axis(const geom *g, const head_mask *m, unsigned char *bits)
{
    int NBv = g->NBv, npair = NBv / 2 < PLAN_PAIRS ? NBv / 2 : PLAN_PAIRS;
    int ext[3] = {g->gw, g->gh, g->gt}, shared[3] = {0, 0, 0};
    if (NBv < 4)
        return 0;
    for (int a = 0; a < 3; a++) {
        if (ext[a] < 2)
            continue;
        for (int k = 0; k < npair; k++) {
            int x = 2 * (int)(((long long)k * (NBv / 2)) / npair);
            int ma = axis_order(g, a, x), mb = axis_order(g, a, x + 1);
            memset(bits, 0, (size_t)g->NB);
            for (int c = m->ptr[ma]; c < m->ptr[ma + 1]; c++)
                bits[m->cols[c]] = 1;
            int cb = m->ptr[mb + 1] - m->ptr[mb];
            cb = cb < PLAN_TEST ? cb : PLAN_TEST;
            for (int c = 0; c < cb; c++)
                shared[a] += bits[m->cols[m->ptr[mb] + c]];
        }
    }
    int axis = 0;
    if (shared[1] > shared[axis])
        axis = 1;
    if (shared[2] > shared[axis])
        axis = 2;
    return axis;
}

/* ---------------------------------------------------------------- costs */

typedef struct cost {
    double tensor, l2;
    long long items, wgs;
    double s_tensor, s_l2; /* the same over every 8th item only (what a device planner could sample) */
} cost;

/* Weighted popcount of a bitset (KV block costs in tiles). */
static double wcount(const geom *g, const uint64_t *b)
{
    double s = 0;
    for (int w = 0; w < g->words; w++) {
        uint64_t x = b[w];
        while (x) {
            int j = __builtin_ctzll(x);
            x &= x - 1;
            s += g->wt[w * 64 + j];
        }
    }
    return s;
}

/* Lists of one head as bitsets [NB][words]. */
static uint64_t *head_bits(const geom *g, const head_mask *m)
{
    uint64_t *b = calloc((size_t)g->NB * (size_t)g->words, sizeof *b);
    for (int i = 0; i < g->NB; i++)
        for (int c = m->ptr[i]; c < m->ptr[i + 1]; c++) {
            int j = m->cols[c];
            b[(size_t)i * g->words + j / 64] |= 1ull << (j % 64);
        }
    return b;
}

/* Costs of one item (blocks blk[0..G-1] with rows r[]), as the kernel runs it. */
static void item_cost(const geom *g, const uint64_t *bits, const int *blk, const int *r, int G, int nwg, cost *c,
                      uint64_t *u, uint64_t *uw)
{
    int pre = 0;
    memset(u, 0, sizeof *u * (size_t)g->words);
    for (int w = 0; w < nwg; w++) {
        memset(uw, 0, sizeof *uw * (size_t)g->words);
        int any = 0, p = 0;
        for (int k = 0; k < G; k++) {
            int lo = p, hi = p + r[k];
            p = hi;
            if (r[k] > 0 && lo < 64 * w + 64 && hi > 64 * w) {
                const uint64_t *bb = bits + (size_t)blk[k] * g->words;
                for (int x = 0; x < g->words; x++)
                    uw[x] |= bb[x];
                any = 1;
            }
        }
        if (any) {
            const double t = wcount(g, uw);
            c->tensor += t;
            if (c->items % 8 == 0)
                c->s_tensor += t;
            c->wgs++;
            for (int x = 0; x < g->words; x++)
                u[x] |= uw[x];
        }
    }
    (void)pre;
    const double l = wcount(g, u);
    c->l2 += l;
    if (c->items % 8 == 0)
        c->s_l2 += l;
    c->items++;
}

/* The device planner's greedy packing of positions (rows <= maxrows, <= GMAX blocks). tile > 0:
 * an item never spans a tile boundary (positions multiple of `tile` in the order start a tile
 * group). */
static void pack_cost(const geom *g, const uint64_t *bits, const head_mask *m, const int *order, int maxrows,
                      int nwg, const int *tstart, cost *c)
{
    uint64_t *u = malloc(sizeof *u * (size_t)g->words), *uw = malloc(sizeof *uw * (size_t)g->words);
    int blk[GMAX_MAX], r[GMAX_MAX], G = 0, tot = 0, gfirst = 0;
    for (int x = 0; x < g->NB; x++) {
        int b = order[x], rr = m->kept[b] < 0 ? 0 : m->kept[b];
        /* VOX_SM90_PACK_CLOSE / _FIRST (sm90_smem.h), with GMAX as modelled and 8 positions per
         * warpgroup window */
        if (G > 0 && (tot + rr > maxrows || G == GMAX || (rr > 0 && tot % 64 != 0 && G - gfirst >= 8) ||
                      (tstart && tstart[x]))) {
            item_cost(g, bits, blk, r, G, nwg, c, u, uw);
            G = 0, tot = 0;
        }
        if (rr > 0 && (tot % 64 == 0 || (tot + rr - 1) / 64 > tot / 64))
            gfirst = G;
        blk[G] = b, r[G] = rr, G++, tot += rr;
    }
    if (G > 0)
        item_cost(g, bits, blk, r, G, nwg, c, u, uw);
    free(u), free(uw);
}

/* ------------------------------------------------------------ strategies */

typedef struct strat {
    char name[48];
    int kind;      /* 0 planner axis, 1 fixed axis, 2 tiling, 3 best of a family per head (oracle) */
    int axis;
    tiling T;
    int aligned;   /* items do not span tiles */
} strat;

static int n_strat;
static strat strats[NSTRAT];

static void add_tiling(const char *name, int ew, int eh, int et, const int in[3], const int out[3], int aligned)
{
    strat *s = &strats[n_strat++];
    snprintf(s->name, sizeof s->name, "%s%s", name, aligned ? "/al" : "");
    s->kind = 2;
    s->T.ext[0] = ew, s->T.ext[1] = eh, s->T.ext[2] = et;
    memcpy(s->T.in, in, sizeof s->T.in);
    memcpy(s->T.out, out, sizeof s->T.out);
    s->aligned = aligned;
}

/* Greedy clustering by list overlap (kind 4, a model only): from the planner's order, each cluster starts at
 * the first block not yet taken and adds, while its rows fit maxrows and it holds fewer than GMAX blocks, the
 * block among the next `win` untaken positions whose list adds the fewest KV tiles to the cluster's union
 * (ties: the earlier position). The clusters are concatenated; tstart marks each cluster's first position. */
static void cluster_order(const geom *g, const head_mask *m, const uint64_t *bits, int win, int maxrows,
                          const int *base, int *order, int *tstart)
{
    unsigned char *taken = calloc((size_t)g->NB, 1);
    uint64_t *u = malloc(sizeof *u * (size_t)g->words), *t = malloc(sizeof *t * (size_t)g->words);
    int out = 0;
    for (int x = 0; x < g->NBv; x++) {
        int b = base[x];
        if (taken[b])
            continue;
        taken[b] = 1;
        tstart[out] = 1, order[out++] = b;
        int rows = m->kept[b] < 0 ? 0 : m->kept[b], G = 1;
        memcpy(u, bits + (size_t)b * g->words, sizeof *u * (size_t)g->words);
        while (G < GMAX) {
            int best = -1, seen = 0;
            double bc = 1e300;
            for (int y = x + 1; y < g->NBv && seen < win; y++) {
                int c = base[y];
                if (taken[c])
                    continue;
                seen++;
                int rc = m->kept[c] < 0 ? 0 : m->kept[c];
                if (rows + rc > maxrows)
                    continue;
                const uint64_t *bb = bits + (size_t)c * g->words;
                for (int w = 0; w < g->words; w++)
                    t[w] = bb[w] & ~u[w];
                double add = wcount(g, t);
                if (add < bc)
                    bc = add, best = c;
            }
            if (best < 0)
                break;
            taken[best] = 1;
            order[out++] = best;
            rows += m->kept[best] < 0 ? 0 : m->kept[best], G++;
            const uint64_t *bb = bits + (size_t)best * g->words;
            for (int w = 0; w < g->words; w++)
                u[w] |= bb[w];
        }
    }
    for (int x = g->NBv; x < g->NB; x++)
        tstart[x] = x == g->NBv, order[x] = x;
    free(taken), free(u), free(t);
}

static void make_order(const geom *g, const strat *s, const head_mask *m, unsigned char *tmp, int *order, int *tstart)
{
    if (tstart)
        memset(tstart, 0, sizeof *tstart * (size_t)g->NB);
    if (s->kind <= 1) {
        int a = s->kind == 0 ? planner_axis(g, m, tmp) : s->axis;
        for (int x = 0; x < g->NB; x++)
            order[x] = x < g->NBv ? axis_order(g, a, x) : x;
        return;
    }
    tiled_order(g, &s->T, order);
    if (tstart) {
        /* a new tile starts where the tile coordinates change */
        int prev = -1;
        for (int x = 0; x < g->NBv; x++) {
            int b = order[x], c[3] = {b % g->gw, (b / g->gw) % g->gh, b / (g->gw * g->gh)};
            int id = ((c[2] / s->T.ext[2]) * 4096 + c[1] / s->T.ext[1]) * 4096 + c[0] / s->T.ext[0];
            tstart[x] = id != prev;
            prev = id;
        }
        if (g->NBv < g->NB)
            tstart[g->NBv] = 1; /* the global blocks */
    }
}


/* ------------------------------------------------------------- mask files */

static int wr(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) != n; }
static int rd(FILE *f, void *p, size_t n) { return fread(p, 1, n, f) != n; }

static int save_masks(const char *path, const geom *g, const mask_set *ms, int nk, int64_t BH)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return 1;
    int e = wr(f, g, sizeof *g) || wr(f, &nk, sizeof nk) || wr(f, &BH, sizeof BH) ||
            wr(f, g->valid, sizeof *g->valid * (size_t)g->NB);
    for (int ki = 0; ki < nk && !e; ki++) {
        e = wr(f, &ms[ki], sizeof ms[ki]);
        for (int64_t m = 0; m < BH && !e; m++) {
            const head_mask *h = &ms[ki].h[m];
            e = wr(f, h->ptr, sizeof *h->ptr * (size_t)(g->NB + 1)) ||
                wr(f, h->cols, sizeof *h->cols * (size_t)h->ptr[g->NB]) || wr(f, h->kept, sizeof *h->kept * (size_t)g->NB);
        }
    }
    return fclose(f) || e;
}

static int load_masks(const char *path, geom *g, mask_set *ms, int *nk, double *keeps, int64_t *BH)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "pack_stats: cannot read %s\n", path);
        return 1;
    }
    int e = rd(f, g, sizeof *g) || rd(f, nk, sizeof *nk) || rd(f, BH, sizeof *BH) || *nk < 1 || *nk > MAXK;
    if (!e) {
        g->words = (g->NB + 63) / 64;
        g->valid = calloc((size_t)g->words * 64, sizeof *g->valid);
        g->wt = calloc((size_t)g->words * 64, sizeof *g->wt);
        e = rd(f, g->valid, sizeof *g->valid * (size_t)g->NB);
    }
    for (int ki = 0; ki < *nk && !e; ki++) {
        e = rd(f, &ms[ki], sizeof ms[ki]);
        keeps[ki] = ms[ki].keep;
        ms[ki].h = calloc((size_t)*BH, sizeof *ms[ki].h);
        for (int64_t m = 0; m < *BH && !e; m++) {
            head_mask *h = &ms[ki].h[m];
            h->ptr = malloc(sizeof *h->ptr * (size_t)(g->NB + 1));
            e = rd(f, h->ptr, sizeof *h->ptr * (size_t)(g->NB + 1));
            if (!e) {
                h->cols = malloc(sizeof *h->cols * (size_t)(h->ptr[g->NB] + 1));
                h->kept = malloc(sizeof *h->kept * (size_t)g->NB);
                e = rd(f, h->cols, sizeof *h->cols * (size_t)h->ptr[g->NB]) || rd(f, h->kept, sizeof *h->kept * (size_t)g->NB);
            }
        }
    }
    fclose(f);
    if (e)
        fprintf(stderr, "pack_stats: %s is not a mask file of this tool\n", path);
    return e;
}

int main(int argc, char **argv)
{
    const char *dev = "cpu", *preset = "hunyuan-720p", *save_path = NULL, *load_path = NULL;
    double density = 0.1, keeps[MAXK] = {1.0, 0.5, 0.25};
    int nk = 3, heads = 0, nwg_list[2] = {2, 3}, n_nwg = 2, nwg_dense = 3;
    uint64_t seed = 1;
    double sharp = 1.0;
    int block[3] = {0, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-v")) {
            verbose = 1;
            continue;
        }
        if (!v)
            goto usage;
        i++;
        if (!strcmp(a, "--device")) dev = v;
        else if (!strcmp(a, "--preset")) preset = v;
        else if (!strcmp(a, "--save")) save_path = v;
        else if (!strcmp(a, "--load")) load_path = v;
        else if (!strcmp(a, "--density")) density = atof(v);
        else if (!strcmp(a, "--heads")) heads = atoi(v);
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--block")) {
            if (sscanf(v, "%d,%d,%d", &block[0], &block[1], &block[2]) != 3 || block[0] < 1 || block[1] < 1 ||
                block[2] < 1)
                goto usage;
        }
        else if (!strcmp(a, "--sharpness")) sharp = atof(v);
        else if (!strcmp(a, "--nwg-pruned")) {
            n_nwg = sscanf(v, "%d,%d", &nwg_list[0], &nwg_list[1]);
            if (n_nwg < 1)
                goto usage;
        }
        else if (!strcmp(a, "--nwg-dense")) nwg_dense = atoi(v);
        else if (!strcmp(a, "--gmax")) {
            GMAX = atoi(v);
            if (GMAX < 1 || GMAX > GMAX_MAX)
                goto usage;
        }
        else if (!strcmp(a, "--keep")) {
            nk = 0;
            for (char *p = (char *)v; *p && nk < MAXK;) {
                keeps[nk++] = strtod(p, &p);
                if (*p == ',')
                    p++;
                else
                    break;
            }
        } else
            goto usage;
    }
    const vox_workload *wp = vox_workload_find(preset);
    if (!wp)
        goto usage;
    vox_workload w = *wp;
    if (heads > 0 && heads < w.heads)
        w.heads = heads;
    int64_t BH = w.batch * w.heads;
    geom g = {0};
    mask_set ms[MAXK];
    if (load_path) {
        if (load_masks(load_path, &g, ms, &nk, keeps, &BH))
            return 1;
        w.heads = BH / w.batch;
    } else {
        vox_context_params cp;
        vox_context_defaults(&cp);
        cp.device_id = dev, cp.log = log_cb, cp.log_level = verbose ? VOX_LOG_DEBUG : VOX_LOG_WARN;
        vox_context *ctx = NULL;
        if (vox_context_create(&cp, &ctx)) {
            fprintf(stderr, "pack_stats: no context on %s\n", dev);
            return 1;
        }
        int64_t N = vox_workload_tokens(&w);
        size_t n = (size_t)(BH * N * w.head_dim);
        float *q = malloc(n * sizeof *q), *k = malloc(n * sizeof *k), *v = malloc(n * sizeof *v);
        uint16_t *tmp = malloc(n * 2);
        if (!q || !k || !v || !tmp || vox_workload_generate(&w, seed, sharp, q, k, v)) {
            fprintf(stderr, "pack_stats: input generation failed\n");
            return 1;
        }
        free(v);
        vox_buffer *bq = NULL, *bk = NULL;
        if (vox_convert(VOX_BF16, tmp, VOX_F32, q, n) || vox_buffer_create(ctx, n * 2, &bq) ||
            vox_buffer_write(bq, 0, tmp, n * 2) || vox_convert(VOX_BF16, tmp, VOX_F32, k, n) ||
            vox_buffer_create(ctx, n * 2, &bk) || vox_buffer_write(bk, 0, tmp, n * 2)) {
            fprintf(stderr, "pack_stats: upload failed\n");
            return 1;
        }
        free(q), free(k), free(tmp);
        vox_tensor tq = vox_tensor_bhnd(bq, VOX_BF16, w.batch, w.heads, N, w.head_dim);
        vox_tensor tk = vox_tensor_bhnd(bk, VOX_BF16, w.batch, w.heads, N, w.head_dim);

        for (int ki = 0; ki < nk; ki++) {
            vox_plan_params pp;
            vox_workload_plan_params(&w, VOX_BF16, VOX_MASK_BSA, block[0] ? block : NULL, &pp);
            vox_plan *plan = NULL;
            vox_plan_stats st;
            /* the bench's density rule: top-k with k = round(density * video blocks) */
            if (vox_plan_create(ctx, &pp, &plan) || vox_plan_stats_get(plan, &st)) {
                fprintf(stderr, "pack_stats: plan create failed\n");
                return 1;
            }
            vox_plan_destroy(plan);
            pp.query_keep = keeps[ki];
            pp.kv_rule = VOX_KV_TOPK;
            pp.kv_topk = (int)llround(density * (double)st.n_video_blocks);
            if (pp.kv_topk < 1)
                pp.kv_topk = 1;
            if (pp.kv_min_blocks > pp.kv_topk)
                pp.kv_min_blocks = pp.kv_topk;
            if (vox_plan_create(ctx, &pp, &plan) || vox_plan_build(plan, &tq, &tk, NULL) ||
                vox_plan_stats_get(plan, &st)) {
                fprintf(stderr, "pack_stats: plan build failed\n");
                return 1;
            }
            int NB = (int)st.n_blocks, V = st.block_volume;
            if (!g.NB) {
                g.NB = NB, g.NBv = (int)st.n_video_blocks, g.V = V, g.BH = (int)BH;
                g.gt = (int)st.grid_blocks_t, g.gh = (int)st.grid_blocks_h, g.gw = (int)st.grid_blocks_w;
                g.words = (NB + 63) / 64;
                g.valid = calloc((size_t)g.words * 64, sizeof *g.valid);
                g.wt = calloc((size_t)g.words * 64, sizeof *g.wt);
            }
            ms[ki].keep = keeps[ki], ms[ki].pruned = keeps[ki] < 1.0, ms[ki].density = st.density,
            ms[ki].flops = st.flops;
            ms[ki].h = calloc((size_t)BH, sizeof *ms[ki].h);
            int8_t *keep = malloc((size_t)NB * V);
            int32_t *cols = malloc(sizeof *cols * (size_t)NB * NB);
            for (int64_t m = 0; m < BH; m++) {
                head_mask *h = &ms[ki].h[m];
                int64_t nnz = 0;
                h->ptr = malloc(sizeof *h->ptr * (size_t)(NB + 1));
                if (vox_plan_export_mask(plan, m, h->ptr, cols, (int64_t)NB * NB, &nnz, keep)) {
                    fprintf(stderr, "pack_stats: export failed\n");
                    return 1;
                }
                h->cols = malloc(sizeof *h->cols * (size_t)(nnz ? nnz : 1));
                memcpy(h->cols, cols, sizeof *cols * (size_t)nnz);
                h->kept = calloc((size_t)NB, sizeof *h->kept);
                for (int j = 0; j < NB; j++) {
                    int kc = 0, vc = 0;
                    for (int s = 0; s < V; s++)
                        kc += keep[(size_t)j * V + s] == 1, vc += keep[(size_t)j * V + s] != -1;
                    h->kept[j] = kc;
                    if (ki == 0 && m == 0)
                        g.valid[j] = vc;
                }
            }
            free(keep), free(cols);
            vox_plan_destroy(plan);
            fprintf(stderr, "pack_stats: keep %g built (density %.4f)\n", keeps[ki], st.density);
        }
        vox_buffer_destroy(bq), vox_buffer_destroy(bk);
        vox_context_destroy(ctx);
        if (save_path && save_masks(save_path, &g, ms, nk, BH))
            fprintf(stderr, "pack_stats: could not write %s\n", save_path);
    }
    for (int j = 0; j < g.NB; j++)
        g.wt[j] = g.valid[j] >= 64 ? g.valid[j] / 64.0 : ((g.valid[j] + 15) / 16) / 4.0;

    /* strategies */
    static const char *axis_names[4] = {"planner-axis", "axis-w", "axis-h", "axis-t"};
    for (int a = 0; a < 4; a++) {
        strat *s = &strats[n_strat++];
        snprintf(s->name, sizeof s->name, "%s", axis_names[a]);
        s->kind = a ? 1 : 0, s->axis = a ? a - 1 : 0;
    }
    {
        const int W = 0, H = 1, T = 2;
        const int whT[3] = {W, H, T}, hwT[3] = {H, W, T}, wtH[3] = {W, T, H}, twH[3] = {T, W, H}, htW[3] = {H, T, W},
                  thW[3] = {T, H, W};
        for (int al = 0; al < 2; al++) {
            /* 4-block tiles (a CTA at keep 0.5) */
            add_tiling("hw2x2(w)", 2, 2, 1, whT, whT, al);
            add_tiling("hw2x2(h)", 2, 2, 1, hwT, whT, al);
            add_tiling("tw2x2(w)", 2, 1, 2, wtH, whT, al);
            add_tiling("tw2x2(t)", 2, 1, 2, twH, whT, al);
            add_tiling("th2x2(h)", 1, 2, 2, htW, whT, al);
            add_tiling("th2x2(t)", 1, 2, 2, thW, whT, al);
            /* 8-block tiles (a CTA at keep 0.25) */
            add_tiling("thw2x2x2(w,h)", 2, 2, 2, whT, whT, al);
            add_tiling("thw2x2x2(w,t)", 2, 2, 2, wtH, whT, al);
            add_tiling("thw2x2x2(h,t)", 2, 2, 2, htW, whT, al);
            add_tiling("hw2x4(w)", 4, 2, 1, whT, whT, al);
            add_tiling("hw4x2(h)", 2, 4, 1, hwT, whT, al);
            add_tiling("tw2x4(w)", 4, 1, 2, wtH, whT, al);
            add_tiling("th2x4(h)", 1, 4, 2, htW, whT, al);
            add_tiling("hw4x2(w)", 2, 4, 1, whT, whT, al);
            add_tiling("hw2x4(h)", 4, 2, 1, hwT, whT, al);
            add_tiling("tw4x2(t)", 2, 1, 4, twH, whT, al);
            add_tiling("th4x2(t)", 1, 2, 4, thW, whT, al);
        }
    }
    for (int c = 0; c < 3; c++) { /* kind 4: clusters by list overlap, windows of 16, 64, 256 positions */
        strat *s = &strats[n_strat++];
        static const int wins[3] = {16, 64, 256};
        snprintf(s->name, sizeof s->name, "cluster(%d)", wins[c]);
        s->kind = 4, s->axis = wins[c], s->aligned = 1;
    }
    int NS = n_strat;
    int *order = malloc(sizeof *order * (size_t)g.NB), *tstart = malloc(sizeof *tstart * (size_t)g.NB);
    int *base = malloc(sizeof *base * (size_t)g.NB);
    unsigned char *tmpb = malloc((size_t)g.NB);
    /* per keep, per strategy, per head */
    cost *res = calloc((size_t)nk * NS * BH, sizeof *res);
    for (int ni = 0; ni < n_nwg; ni++) {
    const int nwg_pruned = nwg_list[ni];
    memset(res, 0, sizeof *res * (size_t)nk * NS * BH);
    for (int ki = 0; ki < nk; ki++) {
        int nwg = ms[ki].pruned ? nwg_pruned : nwg_dense, maxrows = 64 * nwg;
        for (int m = 0; m < BH; m++) {
            uint64_t *bits = head_bits(&g, &ms[ki].h[m]);
            make_order(&g, &strats[0], &ms[ki].h[m], tmpb, base, NULL); /* the planner's order: the clusters' */
            for (int s = 0; s < NS; s++) {
                if (strats[s].kind == 4) {
                    memset(tstart, 0, sizeof *tstart * (size_t)g.NB);
                    cluster_order(&g, &ms[ki].h[m], bits, strats[s].axis, maxrows, base, order, tstart);
                } else
                    make_order(&g, &strats[s], &ms[ki].h[m], tmpb, order, tstart);
                pack_cost(&g, bits, &ms[ki].h[m], order, maxrows, nwg, strats[s].aligned ? tstart : NULL,
                          &res[((size_t)ki * NS + s) * BH + m]);
            }
            free(bits);
        }
    }
    /* reference: keep 1 (first keep), planner-axis */
    double ref_t = 0, ref_l = 0;
    for (int m = 0; m < BH; m++)
        ref_t += res[m].tensor, ref_l += res[m].l2;
    printf("pack_stats: %s, %d heads, NB %d (video %d, grid %dx%dx%d), V %d, density %.3f\n", w.name, (int)BH, g.NB,
           g.NBv, g.gt, g.gh, g.gw, g.V, ms[0].density);
    printf("reference (keep %g, planner-axis, %d warpgroups): tensor %.0f tiles, l2 %.0f tiles; pruned keeps "
           "with %d warpgroups\n", ms[0].keep, nwg_dense, ref_t, ref_l, nwg_pruned);
    printf("%-22s", "strategy");
    for (int ki = 0; ki < nk; ki++)
        printf("  keep %-4g tensor   l2  ", ms[ki].keep);
    printf("\n");
    /* extra rows: per head the strategy with the least tensor work (oracle), the least modelled
     * time 0.553 tensor + 0.447 l2 (oracle), and the least of each on a 1/8 sample of the items */
    static const char *extra[4] = {"best-per-head(tensor)", "best-per-head(time)", "sampled-best(tensor)",
                                   "sampled-best(time)"};
    for (int s = 0; s < NS + 4; s++) {
        printf("%-22s", s < NS ? strats[s].name : extra[s - NS]);
        for (int ki = 0; ki < nk; ki++) {
            double t = 0, l = 0;
            for (int m = 0; m < BH; m++) {
                const cost *c;
                if (s < NS) {
                    c = &res[((size_t)ki * NS + s) * BH + m];
                } else {
                    const int e = s - NS;
                    int best = 0;
                    double bv = 1e300;
                    for (int z = 0; z < NS; z++) {
                        const cost *y = &res[((size_t)ki * NS + z) * BH + m];
                        const double v = e == 0 ? y->tensor : e == 1 ? 0.553 * y->tensor + 0.447 * y->l2
                                       : e == 2 ? y->s_tensor : 0.553 * y->s_tensor + 0.447 * y->s_l2;
                        if (v < bv)
                            bv = v, best = z;
                    }
                    c = &res[((size_t)ki * NS + best) * BH + m];
                }
                t += c->tensor, l += c->l2;
            }
            printf("     %6.3f  %6.3f    ", t / ref_t, l / ref_l);
        }
        printf("\n");
    }
    /* per-head detail of the current planner and the best few */
    if (verbose)
        for (int ki = 0; ki < nk; ki++)
            for (int m = 0; m < BH; m++) {
                printf("keep %g head %2d:", ms[ki].keep, m);
                for (int s = 0; s < NS; s++)
                    printf(" %s %.0f/%.0f", strats[s].name, res[((size_t)ki * NS + s) * BH + m].tensor,
                           res[((size_t)ki * NS + s) * BH + m].l2);
                printf("\n");
            }
    }
    return 0;
usage:
    fprintf(stderr, "usage: pack_stats [--device ID] [--preset NAME] [--block T,H,W] [--density D] [--keep LIST] [--heads N] "
                    "[--seed S] [--sharpness X] [--nwg-pruned 2[,3]] [--nwg-dense 2|3] [--gmax G] [--save F | --load F] "
                    "[-v]\n");
    return 2;
}
