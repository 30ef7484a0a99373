/* libFuzzer target: plan creation, CUSTOM masks, build, forward, export,
 * stats and evaluation on the cpu device, from arbitrary bytes.
 *
 * The input is read as a stream of choices. Every parameter is mostly drawn
 * from a small valid range and sometimes from a list of invalid values
 * (zero, negative, too large, NaN, overflow bait), so that allocations stay
 * bounded (a valid plan has at most 2x2 heads and 5x5x5+16 tokens) while
 * every validation path is reached. CUSTOM CSR arrays have arbitrary content;
 * their lengths are what the API promises the library may read
 * (custom_masks*n_blocks+1 row pointers and row_ptr[last] columns when the
 * row pointers are sane; a short array otherwise, which the library must
 * reject before reading the columns). Tensors get arbitrary strides, offsets,
 * shapes and dtypes against small buffers.
 *
 * Checked: every call returns VOX_OK or one of the documented negative
 * statuses; a failed create leaves *out NULL; inputs that are valid by
 * construction are accepted; ASan/UBSan/LSan (no crash, no UB, no leak);
 * libFuzzer's -timeout (no hang). The backward runs after the forward on
 * tensors drawn the same way (and sometimes NULL); with every tensor valid
 * after a successful forward that wrote the LSE it must succeed. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "voxattn.h"

#define BAD() __builtin_trap()

static uint32_t u32(rd *r)
{
    uint32_t x = 0;
    for (int k = 0; k < 4; k++)
        x |= (uint32_t)u8(r) << (8 * k);
    return x;
}
static uint64_t u64(rd *r) { return (uint64_t)u32(r) | (uint64_t)u32(r) << 32; }

/* Mostly a value in [lo,hi]; one time in 8 an entry of bad[]. */
static int64_t pick(rd *r, int64_t lo, int64_t hi, const int64_t *bad, int nbad)
{
    uint8_t b = u8(r);
    if (b >= 224 && nbad > 0)
        return bad[b % nbad];
    return lo + (int64_t)(b % (uint64_t)(hi - lo + 1));
}
static double pickd(rd *r, const double *good, int ngood, const double *bad, int nbad)
{
    uint8_t b = u8(r);
    if (b >= 240) {
        double d;
        uint64_t x = u64(r);
        memcpy(&d, &x, sizeof d); /* raw bits: NaN, Inf, denormals, anything */
        return d;
    }
    if (b >= 208 && nbad > 0)
        return bad[b % nbad];
    return good[b % ngood];
}

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const int64_t bad_count[] = {0, -1, (1 << 20) + 1, INT64_MAX, INT64_MIN};
static const int64_t bad_dim[] = {0, -3, ((int64_t)1 << 30) + 1, ((int64_t)1 << 31), INT64_MAX, INT64_MIN};
static const int64_t bad_text[] = {-1, ((int64_t)1 << 30) + 1, INT64_MAX, INT64_MIN};
static const int64_t bad_hd[] = {0, 4, 12, 264, -8, INT64_MAX, INT64_MIN};
static const int64_t bad_block[] = {0, -1, 3, 257, 1 << 30, INT32_MIN, 6};
static const int64_t bad_enum[] = {-1, 4, 77, INT32_MAX, INT32_MIN};
static const int64_t bad_int[] = {-1, INT32_MAX, INT32_MIN, 0};

static vox_context *g_ctx, *g_ctx2;
static int g_log_calls;

static void fuzz_log(void *user, vox_log_level level, const char *msg)
{
    (void)user;
    if ((int)level < VOX_LOG_ERROR || level > VOX_LOG_DEBUG || !msg)
        BAD();
    if (strlen(msg) > 4096) /* also makes ASan read the whole message */
        BAD();
    g_log_calls++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    g_ctx = fuzz_cpu_context(fuzz_log, VOX_LOG_DEBUG, "fuzz_plan");
    g_ctx2 = fuzz_cpu_context(fuzz_log, VOX_LOG_DEBUG, "fuzz_plan");
    return 0;
}

static vox_status check(vox_status st)
{
    if (st > 0 || st < VOX_ERR_BUFFER_TOO_SMALL)
        BAD(); /* undocumented status */
    const char *s = vox_status_string(st);
    if (!s || !*s)
        BAD();
    return st;
}

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* n_blocks as the library will compute it, or -1 if the shape is invalid. */
static int64_t blocks_of(const vox_plan_params *p)
{
    if (p->frames < 1 || p->height < 1 || p->width < 1 || p->text_tokens < 0 || p->frames > 64 ||
        p->height > 64 || p->width > 64 || p->text_tokens > 64)
        return -1;
    if (p->block_t < 1 || p->block_h < 1 || p->block_w < 1 || p->block_t > 256 || p->block_h > 256 ||
        p->block_w > 256)
        return -1;
    int64_t V = (int64_t)p->block_t * p->block_h * p->block_w;
    if (V < 1 || V > 256)
        return -1;
    return cdiv(p->frames, p->block_t) * cdiv(p->height, p->block_h) * cdiv(p->width, p->block_w) +
           cdiv(p->text_tokens, V);
}

static void read_params(rd *r, vox_plan_params *p)
{
    vox_plan_defaults(p);
    p->batch = pick(r, 1, 2, bad_count, N(bad_count));
    p->heads = pick(r, 1, 2, bad_count, N(bad_count));
    static const int64_t hd[] = {8, 16, 32};
    uint8_t b = u8(r);
    p->head_dim = b >= 232 ? bad_hd[b % N(bad_hd)] : hd[b % 3];
    p->frames = pick(r, 1, 5, bad_dim, N(bad_dim));
    p->height = pick(r, 1, 5, bad_dim, N(bad_dim));
    p->width = pick(r, 1, 5, bad_dim, N(bad_dim));
    p->text_tokens = pick(r, 0, 16, bad_text, N(bad_text));
    p->text_position = (vox_text_position)pick(r, 0, 1, bad_enum, N(bad_enum));
    static const int blk[] = {1, 2, 4, 8, 16};
    int *bd[3] = {&p->block_t, &p->block_h, &p->block_w};
    for (int i = 0; i < 3; i++) {
        b = u8(r);
        *bd[i] = b >= 232 ? (int)bad_block[b % N(bad_block)] : blk[b % 5];
    }
    p->dtype = (vox_dtype)pick(r, 0, 2, bad_enum, N(bad_enum));
    static const double scales[] = {0.0, 0.125, 1.0, 1e-30, 1e30, 3e38};
    static const double bad_scale[] = {-1.0, NAN, INFINITY, -INFINITY, -1e-300};
    p->scale = pickd(r, scales, N(scales), bad_scale, N(bad_scale));
    p->mask_mode = (vox_mask_mode)pick(r, 0, 3, bad_enum, N(bad_enum));
    static const double keeps[] = {1.0, 1.0, 0.5, 0.25, 0.1, 0.999, 1e-9};
    static const double bad_keep[] = {0.0, -0.5, 1.5, NAN, INFINITY};
    p->query_keep = pickd(r, keeps, N(keeps), bad_keep, N(bad_keep));
    p->window_t = (int)pick(r, 1, 4, bad_int, N(bad_int));
    p->window_h = (int)pick(r, 1, 4, bad_int, N(bad_int));
    p->window_w = (int)pick(r, 1, 4, bad_int, N(bad_int));
    p->svg_sample_rows = (int)pick(r, 1, 40, bad_int, N(bad_int));
    p->svg_frame_blocks = (int)pick(r, 0, 3, bad_int, N(bad_int));
    p->svg_space_blocks = (int)pick(r, 0, 3, bad_int, N(bad_int));
    p->svg_first_frame_sink = (int)pick(r, 0, 1, bad_int, N(bad_int));
    static const double above[] = {INFINITY, 0.0, 0.5, 1e-3};
    static const double bad_above[] = {NAN, -1.0};
    p->svg_dense_above = pickd(r, above, N(above), bad_above, N(bad_above));
    p->kv_rule = (vox_kv_rule)pick(r, 0, 2, bad_enum, N(bad_enum));
    static const double taus[] = {0.9, 0.5, 1.0, 1e-6, 0.999999};
    static const double bad_tau[] = {0.0, 1.1, NAN, -1.0, INFINITY};
    p->kv_tau = pickd(r, taus, N(taus), bad_tau, N(bad_tau));
    p->kv_topk = (int)pick(r, 1, 12, bad_int, N(bad_int));
    static const double zs[] = {0.0, 1.0, -1.0, 3.0, 1e300, -1e300};
    static const double bad_z[] = {NAN, INFINITY, -INFINITY};
    p->kv_z = pickd(r, zs, N(zs), bad_z, N(bad_z));
    p->kv_min_blocks = (int)pick(r, 0, 10, bad_int, N(bad_int));
    p->seed = u64(r);
}

/* CUSTOM arrays. *rp / *cols are owned by the caller afterwards. */
static void read_custom(rd *r, vox_plan_params *p, int32_t **rp_out, int32_t **cols_out)
{
    *rp_out = *cols_out = NULL;
    int valid_bh = p->batch >= 1 && p->batch <= 2 && p->heads >= 1 && p->heads <= 2;
    int64_t NB = blocks_of(p), BH = valid_bh ? p->batch * p->heads : 1;
    uint8_t b = u8(r);
    if (b < 150)
        p->custom_masks = 1;
    else if (b < 230)
        p->custom_masks = valid_bh ? BH : 1;
    else
        p->custom_masks = (int64_t[]){0, -1, 3, 5, INT64_MAX, INT64_MIN}[b % 6];
    if (NB < 1 || !valid_bh || (p->custom_masks != 1 && p->custom_masks != BH)) {
        /* the library must reject before reading these: give it a tiny array */
        *rp_out = calloc(1, sizeof(int32_t));
        p->custom_row_ptr = (u8(r) & 1) ? *rp_out : NULL;
        p->custom_kv_block = NULL;
        return;
    }
    int64_t rows = p->custom_masks * NB;
    int32_t *rp = malloc(sizeof(int32_t) * (size_t)(rows + 1));
    rp[0] = 0;
    for (int64_t i = 0; i < rows; i++) {
        int64_t c = u8(r) % (NB + 2); /* NB+1 entries is one too many */
        int64_t next = rp[i] + c;
        rp[i + 1] = (int32_t)(next > INT32_MAX ? INT32_MAX : next);
    }
    b = u8(r);
    if (b >= 216) { /* corrupt one row pointer */
        int64_t at = (int64_t)(u32(r) % (uint64_t)(rows + 1));
        rp[at] = (int32_t)(int64_t[]){-1, 1, INT32_MAX, INT32_MIN, 7, 0}[b % 6];
    }
    *rp_out = rp;
    p->custom_row_ptr = (b == 215) ? NULL : rp;
    /* the row pointers the library accepts (its documented rules) */
    int sane = rp[0] == 0;
    for (int64_t i = 0; sane && i < rows; i++)
        sane = rp[i + 1] >= rp[i] && (int64_t)rp[i + 1] - rp[i] <= NB;
    int64_t nnz = sane ? rp[rows] : 0;
    int32_t *cols = malloc(sizeof(int32_t) * (size_t)(nnz + 1));
    for (int64_t i = 0; sane && i < rows; i++) {
        int64_t j = (int64_t)(u8(r) % (NB + 1)) - (u8(r) == 255); /* sometimes starts at -1 */
        for (int32_t e = rp[i]; e < rp[i + 1]; e++) {
            cols[e] = (int32_t)j;
            j += 1 + (u8(r) % 3 == 0); /* ascending, sometimes past NB */
        }
    }
    b = u8(r);
    if (nnz > 0 && b >= 224) { /* duplicate, descending or out of range entry */
        int64_t at = (int64_t)(u32(r) % (uint64_t)nnz);
        cols[at] = (int32_t)(int64_t[]){-1, 0, INT32_MAX, INT32_MIN, (int32_t)NB, at > 0 ? cols[at - 1] : 0}[b % 6];
    }
    *cols_out = cols;
    p->custom_kv_block = (nnz > 0 && u8(r) == 255) ? NULL : cols;
}

typedef struct tens {
    vox_tensor t;
    int valid; /* valid by construction */
} tens;

/* A tensor of the plan's shape in a random layout over a small buffer. */
static void make_tensor(rd *r, vox_context *ctx, vox_dtype dtype, int64_t B, int64_t H, int64_t Nt, int64_t D,
                        tens *out)
{
    memset(out, 0, sizeof *out);
    uint8_t b = u8(r);
    size_t es = vox_dtype_size(dtype) ? vox_dtype_size(dtype) : 4;
    vox_tensor t = (b & 1) ? vox_tensor_bnhd(NULL, dtype, B, H, Nt, D) : vox_tensor_bhnd(NULL, dtype, B, H, Nt, D);
    int valid = 1;
    switch ((b >> 1) % 8) {
    case 0: case 1: case 2: break; /* natural layouts */
    case 3: { /* padded token stride */
        int64_t pad = u8(r) % 5;
        t.stride_token = D + pad;
        t.stride_head = t.stride_token * Nt + (u8(r) % 3);
        t.stride_batch = t.stride_head * H;
        break;
    }
    case 4: /* arbitrary small strides: may overlap */
        t.stride_batch = (int64_t)(u32(r) % 4096) - 8;
        t.stride_head = (int64_t)(u32(r) % 4096) - 8;
        t.stride_token = (int64_t)(u32(r) % 256) - 8;
        valid = 0;
        break;
    case 5: { /* extreme strides */
        static const int64_t ex[] = {INT64_MAX, INT64_MIN, -1, 0, (int64_t)1 << 40, (int64_t)1 << 62};
        int64_t *s[3] = {&t.stride_batch, &t.stride_head, &t.stride_token};
        *s[u8(r) % 3] = ex[u8(r) % N(ex)];
        valid = 0;
        break;
    }
    case 6: { /* wrong shape or dtype */
        int w = u8(r) % 6;
        if (w == 0) t.batch += 1;
        if (w == 1) t.heads -= 1;
        if (w == 2) t.tokens += (u8(r) & 1) ? 1 : -1;
        if (w == 3) t.head_dim = (u8(r) & 1) ? 1 : D * 2;
        if (w == 4) t.dtype = (vox_dtype)((dtype + 1) % 3);
        if (w == 5) t.dtype = (vox_dtype)(int)(int64_t[]){-1, 3, 99}[u8(r) % 3];
        valid = 0;
        break;
    }
    default: /* offset */
        t.offset = (size_t)(u8(r) % 9) * ((u8(r) & 1) ? es : 1);
        if (u8(r) == 255)
            t.offset = SIZE_MAX - (size_t)(u8(r) % 16);
        valid = t.offset % es == 0 && t.offset < 4096;
        break;
    }
    size_t span = vox_tensor_span_bytes(&t), bytes = 4096;
    if (span && span <= ((size_t)16 << 20) && t.offset < 4096)
        bytes = span + t.offset;
    b = u8(r);
    if (b >= 224 && bytes > 1) { /* one element (or byte) short */
        bytes -= (b & 1) ? 1 : es;
        valid = 0;
    } else if (b >= 200) {
        bytes += (size_t)(b % 64);
    }
    vox_context *owner = ctx;
    if (u8(r) == 254) { /* a buffer of another context */
        owner = g_ctx2;
        valid = 0;
    }
    if (check(vox_buffer_create(owner, bytes, &t.buffer)) == VOX_OK) {
        /* contents: small normals, or raw bytes (NaN, Inf, huge values) */
        uint8_t *raw = malloc(bytes);
        uint64_t s = u64(r);
        int rawbits = u8(r) >= 224;
        for (size_t i = 0; i < bytes; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            raw[i] = (uint8_t)(s >> 56);
        }
        if (!rawbits && es <= 4 && vox_dtype_size(dtype)) {
            size_t n = bytes / es;
            float *f = malloc(sizeof(float) * (n + 1));
            for (size_t i = 0; i < n; i++)
                f[i] = (float)((int)raw[i] - 128) / 32.0f;
            check(vox_convert(dtype, raw, VOX_F32, f, n));
            free(f);
        }
        check(vox_buffer_write(t.buffer, 0, raw, bytes));
        free(raw);
    } else {
        valid = 0;
    }
    if (t.dtype != dtype || t.batch != B || t.heads != H || t.tokens != Nt || t.head_dim != D)
        valid = 0;
    out->t = t;
    out->valid = valid;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rd r = {data, size, 0};
    vox_plan_params p;
    read_params(&r, &p);
    int32_t *rp = NULL, *cols = NULL;
    if (p.mask_mode == VOX_MASK_CUSTOM)
        read_custom(&r, &p, &rp, &cols);
    vox_plan *plan = (vox_plan *)&p; /* must be reset */
    vox_status st = check(vox_plan_create(g_ctx, &p, &plan));
    free(rp), free(cols);
    if (st) {
        if (plan)
            BAD();
        return 0;
    }
    if (!plan)
        BAD();
    vox_plan_stats s;
    if (check(vox_plan_stats_get(plan, &s)) != VOX_OK)
        BAD();
    int64_t B = p.batch, H = p.heads, Nt = s.tokens, D = p.head_dim, BH = B * H, NB = s.n_blocks;
    if (Nt != p.frames * p.height * p.width + p.text_tokens || NB < 1 || s.n_heads_total != BH)
        BAD();
    int needs_build = p.mask_mode == VOX_MASK_SVG || p.mask_mode == VOX_MASK_BSA || p.query_keep < 1.0;
    if (s.built == needs_build)
        BAD();
    int32_t *slots = malloc(sizeof(int32_t) * (size_t)Nt);
    if (check(vox_plan_token_slots(plan, slots)) != VOX_OK)
        BAD();
    for (int64_t t = 0; t < Nt; t++)
        if (slots[t] < 0 || slots[t] >= NB * s.block_volume)
            BAD();
    free(slots);

    tens q, k, v, o, l;
    make_tensor(&r, g_ctx, p.dtype, B, H, Nt, D, &q);
    make_tensor(&r, g_ctx, p.dtype, B, H, Nt, D, &k);
    make_tensor(&r, g_ctx, p.dtype, B, H, Nt, D, &v);
    make_tensor(&r, g_ctx, p.dtype, B, H, Nt, D, &o);
    make_tensor(&r, g_ctx, VOX_F32, B, H, Nt, 1, &l);
    uint8_t nulls = u8(&r);
    const vox_tensor *tv = (nulls & 0xf0) == 0xf0 ? NULL : &v.t;
    const vox_tensor *tl = (nulls & 0x0f) >= 0x0c ? NULL : &l.t;

    /* export before a build: only static masks are available */
    int32_t *erp = malloc(sizeof(int32_t) * (size_t)(NB + 1));
    int32_t *ecols = malloc(sizeof(int32_t) * (size_t)(NB * NB + 1));
    int8_t *keep = malloc((size_t)(NB * s.block_volume));
    int64_t nnz = 0;
    st = check(vox_plan_export_mask(plan, 0, erp, ecols, NB * NB, &nnz, keep));
    if ((st == VOX_OK) != !needs_build)
        BAD();

    int built_ok = !needs_build;
    st = check(vox_plan_build(plan, &q.t, &k.t, tv));
    if (needs_build && st == VOX_OK)
        built_ok = 1;
    int build_inputs_valid = q.valid && k.valid && (p.mask_mode != VOX_MASK_SVG || (tv && v.valid));
    if (needs_build && build_inputs_valid && st != VOX_OK)
        BAD(); /* valid inputs rejected */
    st = check(vox_attention_forward(plan, &q.t, &k.t, tv, &o.t, tl));
    int fwd_valid = q.valid && k.valid && tv && v.valid && o.valid && (!tl || l.valid) && built_ok;
    if (fwd_valid && st != VOX_OK)
        BAD();

    /* backward: dout and the gradients drawn like the other tensors */
    tens go, gq, gk, gv;
    make_tensor(&r, g_ctx, p.dtype, B, H, Nt, D, &go);
    make_tensor(&r, g_ctx, p.dtype, B, H, Nt, D, &gq);
    make_tensor(&r, g_ctx, p.dtype, B, H, Nt, D, &gk);
    make_tensor(&r, g_ctx, p.dtype, B, H, Nt, D, &gv);
    uint8_t bnull = u8(&r);
    const vox_tensor *tgo = bnull == 0xff ? NULL : &go.t, *tgk = bnull == 0xfe ? NULL : &gk.t;
    int fwd_done = fwd_valid && tl && st == VOX_OK;
    st = check(vox_attention_backward(plan, &q.t, &k.t, tv, &o.t, tl, tgo, &gq.t, tgk, &gv.t));
    if (fwd_done && tgo && tgk && go.valid && gq.valid && gk.valid && gv.valid && st != VOX_OK)
        BAD();
    vox_buffer_destroy(go.t.buffer), vox_buffer_destroy(gq.t.buffer);
    vox_buffer_destroy(gk.t.buffer), vox_buffer_destroy(gv.t.buffer);

    /* merge q and k through the LSEs l and ml into o and ol, or in place
     * into q and l: valid tensors in separate buffers must be accepted */
    tens ml, ol;
    make_tensor(&r, g_ctx, VOX_F32, B, H, Nt, 1, &ml);
    make_tensor(&r, g_ctx, VOX_F32, B, H, Nt, 1, &ol);
    const vox_tensor parts[2] = {q.t, k.t}, lses[2] = {l.t, ml.t};
    int in_place = u8(&r) & 1;
    st = check(vox_attention_merge(g_ctx, 1 + (u8(&r) & 1), parts, lses, in_place ? &q.t : &o.t,
                                   in_place ? &l.t : &ol.t));
    if (q.valid && k.valid && l.valid && ml.valid && (in_place || (o.valid && ol.valid)) && st != VOX_OK)
        BAD();
    vox_buffer_destroy(ml.t.buffer), vox_buffer_destroy(ol.t.buffer);

    /* exports with arbitrary mask index and capacity */
    for (int rep = 0; rep < 2; rep++) {
        int64_t m = (int64_t)(u8(&r) % (BH + 2)) - (u8(&r) == 255);
        uint8_t c = u8(&r);
        int64_t cap = c < 160 ? NB * NB : c < 200 ? (int64_t)(c % (NB + 1)) : c < 250 ? 0 : -1;
        st = check(vox_plan_export_mask(plan, m, erp, cap > 0 ? ecols : (c & 1) ? NULL : ecols, cap, &nnz,
                                        (u8(&r) & 1) ? keep : NULL));
        if (st == VOX_OK && (nnz < 0 || nnz > NB * NB || erp[NB] != nnz))
            BAD();
        if (built_ok && m >= 0 && m < BH && cap >= NB * NB && st != VOX_OK)
            BAD();
    }
    if (check(vox_plan_stats_get(plan, &s)) != VOX_OK)
        BAD();
    if (s.built && !(s.density >= 0 && s.density <= 1.0 + 1e-12))
        BAD();
    vox_head_class *cls = malloc(sizeof *cls * (size_t)BH);
    double *es = malloc(sizeof(double) * (size_t)BH);
    check(vox_plan_head_classes(plan, cls, es, NULL));
    free(cls), free(es);
    vox_eval_result ev;
    int rows = (int)pick(&r, 1, 4, bad_int, N(bad_int));
    check(vox_plan_evaluate(plan, &q.t, &k.t, tv ? tv : &v.t, &o.t, rows, &ev));
    double ms;
    check(vox_plan_last_build_ms(plan, &ms));

    free(erp), free(ecols), free(keep);
    vox_buffer_destroy(q.t.buffer), vox_buffer_destroy(k.t.buffer), vox_buffer_destroy(v.t.buffer);
    vox_buffer_destroy(o.t.buffer), vox_buffer_destroy(l.t.buffer);
    vox_plan_destroy(plan);
    return 0;
}
