/* CUDA/HIP host layer: the kernel table (names from the op files, through
 * gpu_kernels.h) and launching, with the shared-memory opt-in, the grid
 * checks and the record of each op's last kernel. */
#include <stdio.h>
#include <time.h>

#include "gpu_internal.h"

#define GPU_FN_NAME(name) "vox_" #name,
const char *const gpu_fn_names[GPU_FN_COUNT] = {VOX_GPU_KERNELS(GPU_FN_NAME)};
#undef GPU_FN_NAME
_Static_assert(sizeof gpu_fn_names / sizeof gpu_fn_names[0] == GPU_FN_COUNT, "one name per kernel");
_Static_assert(GPU_FN_REQUIRED > 0 && GPU_FN_REQUIRED < GPU_FN_COUNT, "required kernels come first");

/* A kernel's static shared memory counts against the limit that needs no opt-in too (its sum with
 * the dynamic bytes may not pass max_smem), so the limit is raised once the dynamic bytes plus this
 * allowance pass it: the most any kernel of the module declares is 1296 B (kv_select's tensor-core
 * kernels; session 14: their 48384 dynamic bytes at head_dim 32 failed to launch). */
#define GPU_STATIC_SMEM 4096

uint64_t gpu_dptr(vox_bref r) { return r.buf ? ((gpu_buf *)r.buf)->ptr + r.offset : 0; }

vox_status gpu_launch_fn(gpu_dev *g, vox_op op, void *f, const char *name, int *smem_raised, int64_t grid,
                         unsigned bx, unsigned by, size_t smem, void **args)
{
    const gpu_api *G = g->api;
    if (!f)
        return vox_fail(&g->log, VOX_ERR_UNSUPPORTED, "%s: kernel %s not in this build", G->name, name);
    g->last_kernel[op] = name;
    if (grid <= 0)
        return VOX_OK;
    if (grid > 0x7fffffff)
        return vox_fail(&g->log, VOX_ERR_UNSUPPORTED, "%s: %s: grid of %lld blocks too large", G->name, name,
                        (long long)grid);
    if (smem > (size_t)g->max_smem && (smem > (size_t)g->max_smem_optin || !G->set_max_smem))
        return vox_fail(&g->log, VOX_ERR_UNSUPPORTED, "%s: %s needs %zu B of shared memory, device has %d",
                        G->name, name, smem, g->max_smem_optin);
    vox_status st = gpu_push(g);
    if (st)
        return st;
    int rc = 0;
    if (G->set_max_smem && smem + GPU_STATIC_SMEM > (size_t)g->max_smem &&
        *smem_raised < (int)smem) { /* with the context current */
        rc = G->set_max_smem(f, (int)smem);
        if (rc) {
            G->pop(g);
            return gpu_err(g, rc, "raise the shared memory limit");
        }
        *smem_raised = (int)smem;
    }
    struct timespec t0, t1;
    if (g->profile) { /* diagnostics only: run this launch alone and log its time */
        G->sync(g->stream);
        clock_gettime(CLOCK_MONOTONIC, &t0);
    }
    rc = G->launch(f, (unsigned)grid, bx, by, (unsigned)smem, g->stream, args);
    if (g->profile && !rc) {
        G->sync(g->stream);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        vox_log(&g->log, VOX_LOG_INFO, "%s profile: %s grid %lld x %u: %.3f ms (host, incl. launch)", G->name, name,
                (long long)grid, bx, (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) * 1e-6);
    }
    G->pop(g);
    if (rc) {
        char what[96];
        snprintf(what, sizeof what, "launch of %s", name);
        return gpu_err(g, rc, what);
    }
    return VOX_OK;
}

vox_status gpu_launch(gpu_dev *g, vox_op op, int fn, int64_t grid, unsigned bx, unsigned by, size_t smem,
                      void **args)
{
    return gpu_launch_fn(g, op, g->fn[fn], gpu_fn_names[fn], &g->fn_smem[fn], grid, bx, by, smem, args);
}

vox_status gpu_launch_op(gpu_dev *g, vox_op op, int fn, int64_t grid, unsigned bx, unsigned by, size_t smem,
                         const void *bufs, const void *args)
{
    void *params[] = {(void *)(uintptr_t)bufs, (void *)(uintptr_t)args};
    return gpu_launch(g, op, fn, grid, bx, by, smem, params);
}

const char *gpu_last_kernel(void *dev, vox_op op)
{
    const gpu_dev *g = dev;
    return op >= 0 && op < VOX_OP_COUNT ? g->last_kernel[op] : NULL;
}

int64_t gpu_cap_grid(const gpu_dev *g, int64_t work, int per_sm)
{
    int64_t cap = (int64_t)(g->sm_count > 0 ? g->sm_count : 16) * per_sm;
    return work < cap ? work : cap;
}
