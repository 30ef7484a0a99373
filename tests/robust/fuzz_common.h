/* What both libFuzzer targets (fuzz_plan.c, fuzz_numerics.c) share: the
 * input byte reader and the cpu context they run on. */
#ifndef VOX_FUZZ_COMMON_H
#define VOX_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "voxattn.h"

/* The fuzz input, read in order; missing bytes read as 0. */
typedef struct rd {
    const uint8_t *p;
    size_t n, i;
} rd;

static uint8_t u8(rd *r) { return r->i < r->n ? r->p[r->i++] : 0; }

/* A context on the cpu device logging to `log` from `level` up; aborts
 * (naming the target) when there is none. */
static vox_context *fuzz_cpu_context(vox_log_fn log, vox_log_level level, const char *target)
{
    vox_context_params p;
    vox_context_defaults(&p);
    p.device_id = "cpu";
    p.log = log;
    p.log_level = level;
    vox_context *ctx = NULL;
    if (vox_context_create(&p, &ctx)) {
        fprintf(stderr, "%s: no cpu context\n", target);
        abort();
    }
    return ctx;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
