/* Results of `voxattn bench` and their writers: JSON, CSV and the block-mask
 * export (.npy files, see perf/README.md). */
#ifndef VOX_PERF_BENCH_OUT_H
#define VOX_PERF_BENCH_OUT_H

#include <stdint.h>

#include "voxattn.h"

typedef struct bench_device {
    int index;
    int named; /* asked for by --device */
    vox_device_desc d;
} bench_device;

/* One (device, shape, mode, parameter) record. NAN / -1: not applicable. */
typedef struct bench_result {
    char device[32], device_name[128], backend[16], preset[32];
    int64_t batch, heads, head_dim, frames, height, width, text, tokens;
    int text_before;
    char dtype[8];
    int block[3];
    char mode[8];
    char param[64];
    double tau;            /* BSA cumulative, NAN otherwise */
    int topk;              /* BSA top-k (also the k of a target density), -1 otherwise */
    double target_density; /* --density, NAN otherwise */
    double keep;           /* query_keep */
    double density, kept_query_fraction;
    int64_t n_spatial, n_temporal, n_dense_heads;
    double ms_median, ms_min, ms_max, ms_p90;
    int runs, warmup, sets;
    double tflops_effective, flops, flops_dense, build_ms, speedup_vs_dense;
    int64_t plan_bytes; /* vox_plan_stats.device_bytes after the builds (-1: none) */
    int64_t plan_bytes_bwd; /* the same after the backward's runs (its buffers and packed mask; -1: none) */
    /* --backward: medians of the backward alone and of forward (with LSE) +
     * backward; effective TFLOP/s count 2.5x resp. 3.5x the forward's FLOPs */
    double bwd_ms, fwdbwd_ms, bwd_tflops, fwdbwd_tflops;
    int timer_device; /* backend has device timestamps (else host time) */
    char status[192]; /* "ok", "skipped: ...", "unsupported: ...", "error: ..." */
    char mask_dir[256]; /* relative to --export-mask DIR, "" if none */
} bench_result;

typedef struct bench_results {
    bench_result *r;
    int n, cap;
} bench_results;

typedef struct bench_meta {
    int argc;
    char **argv;
    const bench_device *devices;
    int n_devices;
} bench_meta;

int bench_write_json(const char *path, const bench_meta *meta, const bench_results *rs);
int bench_write_csv(const char *path, const bench_results *rs);
/* Writes dir/name/{meta.json,row_ptr.npy,kv_offsets.npy,kv_block.npy,token_slots.npy[,keep.npy]}. */
int bench_export_mask(const char *dir, const char *name, const vox_plan *plan, const bench_result *r);

#endif
