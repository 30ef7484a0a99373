/* The host's monotonic clock in milliseconds, for bench, demo and the tests
 * (device timing goes through vox_timer_begin/end or a backend's timers). */
#ifndef VOX_PERF_CLOCK_H
#define VOX_PERF_CLOCK_H

#include <time.h>

static inline double vox_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

#endif
