/* Logging through the caller's callback (private). */
#ifndef VOX_CORE_LOG_H
#define VOX_CORE_LOG_H

#include "voxattn.h"

typedef struct vox_logger {
    vox_log_fn fn;
    void *user;
    vox_log_level level;
} vox_logger;

#if defined(__GNUC__)
#define VOX_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VOX_PRINTF(a, b)
#endif

/* Formats and forwards a message; a NULL logger or callback drops it. */
void vox_log(const vox_logger *log, vox_log_level level, const char *fmt, ...) VOX_PRINTF(3, 4);

/* Logs at ERROR level and returns `status`, for `return vox_fail(...)`. */
vox_status vox_fail(const vox_logger *log, vox_status status, const char *fmt, ...)
    VOX_PRINTF(3, 4);

#endif
