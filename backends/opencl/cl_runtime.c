/* The OpenCL runtime: libOpenCL (the ICD loader) is loaded at run time and
 * every cl* entry point used (VOX_CL_FUNCS in cl_internal.h) is resolved
 * into one table, g_cl; the Khronos headers give only types and constants.
 * Also the names of the runtime's error codes and their vox_status. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cl_internal.h"
#include "loader.h"

#define X_NAME(name, ret, params) #name,
static const char *const g_cl_names[] = {VOX_CL_FUNCS(X_NAME)};
#undef X_NAME
#define N_CL_FUNCS (sizeof g_cl_names / sizeof g_cl_names[0])
_Static_assert(sizeof(cl_api) == N_CL_FUNCS * sizeof(void *), "function table layout");

cl_api g_cl;
static void *g_cl_lib;
static int g_cl_ok;
static char g_cl_reason[256];
static pthread_mutex_t g_load_lock = PTHREAD_MUTEX_INITIALIZER;

int cl_load(char *reason, size_t n)
{
    pthread_mutex_lock(&g_load_lock);
    if (!g_cl_ok && !g_cl_reason[0]) {
        static const char *const names[] = {"libOpenCL.so.1", "libOpenCL.so", NULL};
        g_cl_lib = vox_dl_open(names, "VOXATTN_OPENCL_LIBRARY", g_cl_reason, sizeof g_cl_reason);
        if (g_cl_lib) {
            void *slots[N_CL_FUNCS];
            if (vox_dl_resolve(g_cl_lib, g_cl_names, slots, N_CL_FUNCS, g_cl_reason, sizeof g_cl_reason)) {
                vox_dl_close(g_cl_lib);
                g_cl_lib = NULL;
            } else {
                memcpy(&g_cl, slots, sizeof g_cl);
                g_cl_ok = 1;
            }
        }
        if (!g_cl_ok && !g_cl_reason[0])
            snprintf(g_cl_reason, sizeof g_cl_reason, "cannot load the OpenCL ICD loader");
    }
    int ok = g_cl_ok;
    if (!ok && reason && n)
        snprintf(reason, n, "%s", g_cl_reason);
    pthread_mutex_unlock(&g_load_lock);
    return ok;
}

const char *cl_err_name(cl_int e)
{
    switch (e) {
    case CL_DEVICE_NOT_FOUND: return "CL_DEVICE_NOT_FOUND";
    case CL_DEVICE_NOT_AVAILABLE: return "CL_DEVICE_NOT_AVAILABLE";
    case CL_COMPILER_NOT_AVAILABLE: return "CL_COMPILER_NOT_AVAILABLE";
    case CL_MEM_OBJECT_ALLOCATION_FAILURE: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
    case CL_PROFILING_INFO_NOT_AVAILABLE: return "CL_PROFILING_INFO_NOT_AVAILABLE";
    case CL_BUILD_PROGRAM_FAILURE: return "CL_BUILD_PROGRAM_FAILURE";
    case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
    case CL_INVALID_DEVICE: return "CL_INVALID_DEVICE";
    case CL_INVALID_CONTEXT: return "CL_INVALID_CONTEXT";
    case CL_INVALID_COMMAND_QUEUE: return "CL_INVALID_COMMAND_QUEUE";
    case CL_INVALID_MEM_OBJECT: return "CL_INVALID_MEM_OBJECT";
    case CL_INVALID_BUILD_OPTIONS: return "CL_INVALID_BUILD_OPTIONS";
    case CL_INVALID_PROGRAM: return "CL_INVALID_PROGRAM";
    case CL_INVALID_KERNEL_NAME: return "CL_INVALID_KERNEL_NAME";
    case CL_INVALID_KERNEL_ARGS: return "CL_INVALID_KERNEL_ARGS";
    case CL_INVALID_ARG_INDEX: return "CL_INVALID_ARG_INDEX";
    case CL_INVALID_ARG_VALUE: return "CL_INVALID_ARG_VALUE";
    case CL_INVALID_ARG_SIZE: return "CL_INVALID_ARG_SIZE";
    case CL_INVALID_WORK_GROUP_SIZE: return "CL_INVALID_WORK_GROUP_SIZE";
    case CL_INVALID_WORK_ITEM_SIZE: return "CL_INVALID_WORK_ITEM_SIZE";
    case CL_INVALID_GLOBAL_WORK_SIZE: return "CL_INVALID_GLOBAL_WORK_SIZE";
    case CL_INVALID_BUFFER_SIZE: return "CL_INVALID_BUFFER_SIZE";
    case CL_INVALID_EVENT: return "CL_INVALID_EVENT";
    case CL_INVALID_OPERATION: return "CL_INVALID_OPERATION";
    case CL_INVALID_PLATFORM: return "CL_INVALID_PLATFORM";
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "CL error";
    }
}

vox_status cl_status(cl_int e)
{
    if (e == CL_MEM_OBJECT_ALLOCATION_FAILURE || e == CL_OUT_OF_RESOURCES || e == CL_INVALID_BUFFER_SIZE)
        return VOX_ERR_DEVICE_OUT_OF_MEMORY;
    if (e == CL_OUT_OF_HOST_MEMORY)
        return VOX_ERR_OUT_OF_MEMORY;
    return VOX_ERR_BACKEND;
}

double cl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}
