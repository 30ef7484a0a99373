#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static void vox_vlog(const vox_logger *log, vox_log_level level, const char *fmt, va_list ap)
{
    if (!log || !log->fn || level > log->level)
        return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    log->fn(log->user, level, msg);
}

void vox_log(const vox_logger *log, vox_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vox_vlog(log, level, fmt, ap);
    va_end(ap);
}

vox_status vox_fail(const vox_logger *log, vox_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vox_vlog(log, VOX_LOG_ERROR, fmt, ap);
    va_end(ap);
    return status;
}

const char *vox_status_string(vox_status status)
{
    switch (status) {
    case VOX_OK: return "ok";
    case VOX_ERR_INVALID_ARGUMENT: return "invalid argument";
    case VOX_ERR_OUT_OF_MEMORY: return "host out of memory";
    case VOX_ERR_DEVICE_OUT_OF_MEMORY: return "device out of memory";
    case VOX_ERR_UNSUPPORTED: return "unsupported by this device";
    case VOX_ERR_BACKEND_UNAVAILABLE: return "backend unavailable";
    case VOX_ERR_BACKEND: return "backend error";
    case VOX_ERR_COMPILE: return "kernel compilation failed";
    case VOX_ERR_INVALID_STATE: return "invalid state";
    case VOX_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    }
    return "unknown status";
}
