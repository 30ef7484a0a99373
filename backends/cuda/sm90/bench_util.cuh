/* What the two standalone harnesses (bench_sm90.cu, bench_sm90_bwd.cu) share:
 * the CUDA error check, the hang watchdog, the racecheck switch (VOX_RACE), and the 16-bit conversions and hash
 * of their data generators. Harness code only; the library does not include it. */
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <chrono>
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#define CK(x)                                                                                                \
    do {                                                                                                     \
        cudaError_t e_ = (x);                                                                                \
        if (e_ != cudaSuccess) {                                                                             \
            fprintf(stderr, "CUDA error %s at %s:%d: %s\n", cudaGetErrorString(e_), __FILE__, __LINE__, #x); \
            exit(1);                                                                                         \
        }                                                                                                    \
    } while (0)

/* Wait for the device (stream 0); a wait longer than VOX_HANG_S seconds (default 20; raise it
 * under compute-sanitizer, whose tools slow kernels 10-1000x) is reported as a hang of `what` in
 * config `name` and ends the process with status 3. */
static void bench_sync(const char *what, const char *name)
{
    static const double limit = getenv("VOX_HANG_S") ? atof(getenv("VOX_HANG_S")) : 20.0;
    auto t0 = std::chrono::steady_clock::now();
    while (cudaStreamQuery(0) == cudaErrorNotReady) {
        if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > limit) {
            printf("HANG in %s (%s) -- aborting\n", what, name);
            fflush(stdout);
            _exit(3);
        }
    }
    CK(cudaDeviceSynchronize());
}

/* VOX_RACE=1: the correctness configs shrink (BH = 1, at most 2048 rows per head where the shape
 * allows) so that compute-sanitizer racecheck runs of either harness finish in well under a minute. */
static bool bench_race()
{
    static const bool on = getenv("VOX_RACE") && atoi(getenv("VOX_RACE"));
    return on;
}

static __device__ __forceinline__ float h2f(unsigned short h, bool bf)
{
    return bf ? __uint_as_float((unsigned)h << 16) : __half2float(__ushort_as_half(h));
}
static __device__ __forceinline__ unsigned short f2h(float f, bool bf)
{
    return bf ? __bfloat16_as_ushort(__float2bfloat16_rn(f)) : __half_as_ushort(__float2half_rn(f));
}
static __device__ __forceinline__ unsigned hash32(unsigned long long x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return (unsigned)x;
}
