/* Shared helpers of the voxattn command line (demo, devices, bench). */
#ifndef VOX_CLI_H
#define VOX_CLI_H

#include <stdio.h>

#include "voxattn.h"
#include "workload.h"

/* Prints the error and returns 1 when st != VOX_OK. */
int cli_check(vox_status st, const char *what);
void cli_log(void *user, vox_log_level level, const char *msg);

/* Creates a context on `device` (NULL: VOXATTN_DEVICE, then the best device). */
vox_status cli_context(const char *device, int verbose, vox_context **ctx);

/* Uploads f32 host data converted to dtype into a new buffer. */
vox_status cli_upload(vox_context *ctx, vox_dtype dtype, const float *host, size_t count, vox_buffer **buf);
/* Reads `count` elements of dtype back as f32. */
vox_status cli_download(vox_buffer *buf, vox_dtype dtype, float *host, size_t count);

int cli_parse_dtype(const char *s, vox_dtype *dtype);
const char *cli_dtype_name(vox_dtype dtype);

int cmd_devices(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
