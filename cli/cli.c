#include "cli.h"

#include <stdlib.h>
#include <string.h>

int cli_check(vox_status st, const char *what)
{
    if (st == VOX_OK)
        return 0;
    fprintf(stderr, "voxattn: %s: %s\n", what, vox_status_string(st));
    return 1;
}

void cli_log(void *user, vox_log_level level, const char *msg)
{
    (void)user;
    static const char *names[] = {"error", "warn", "info", "debug"};
    fprintf(stderr, "[%s] %s\n", names[level], msg);
}

vox_status cli_context(const char *device, int verbose, vox_context **ctx)
{
    vox_context_params cp;
    vox_context_defaults(&cp);
    cp.device_id = device;
    cp.log = cli_log;
    cp.log_level = verbose ? VOX_LOG_DEBUG : VOX_LOG_WARN;
    cp.time_builds = 1; /* demo and bench report build times */
    return vox_context_create(&cp, ctx);
}

vox_status cli_upload(vox_context *ctx, vox_dtype dtype, const float *host, size_t count, vox_buffer **buf)
{
    size_t es = vox_dtype_size(dtype);
    void *tmp = malloc(count * es);
    if (!tmp)
        return VOX_ERR_OUT_OF_MEMORY;
    vox_status st = vox_convert(dtype, tmp, VOX_F32, host, count);
    if (!st)
        st = vox_buffer_create(ctx, count * es, buf);
    if (!st) {
        st = vox_buffer_write(*buf, 0, tmp, count * es);
        if (st) {
            vox_buffer_destroy(*buf);
            *buf = NULL;
        }
    }
    free(tmp);
    return st;
}

vox_status cli_download(vox_buffer *buf, vox_dtype dtype, float *host, size_t count)
{
    size_t es = vox_dtype_size(dtype);
    void *tmp = malloc(count * es);
    if (!tmp)
        return VOX_ERR_OUT_OF_MEMORY;
    vox_status st = vox_buffer_read(buf, 0, tmp, count * es);
    if (!st)
        st = vox_convert(VOX_F32, host, dtype, tmp, count);
    free(tmp);
    return st;
}

int cli_parse_dtype(const char *s, vox_dtype *dtype)
{
    if (!strcmp(s, "f32")) *dtype = VOX_F32;
    else if (!strcmp(s, "f16")) *dtype = VOX_F16;
    else if (!strcmp(s, "bf16")) *dtype = VOX_BF16;
    else return 0;
    return 1;
}

const char *cli_dtype_name(vox_dtype dtype)
{
    return dtype == VOX_F32 ? "f32" : dtype == VOX_F16 ? "f16" : "bf16";
}
