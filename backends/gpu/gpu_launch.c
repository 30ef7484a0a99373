/* CUDA/HIP host layer: the kernel table (names from gpu_kernels.h) and
 * launching, with the shared-memory opt-in and the grid checks. */
#include <stdio.h>

#include "gpu_internal.h"

#define GPU_FN_NAME(name) "vox_" #name,
const char *const gpu_fn_names[GPU_FN_COUNT] = {VOX_GPU_KERNELS(GPU_FN_NAME)};
#undef GPU_FN_NAME
_Static_assert(sizeof gpu_fn_names / sizeof gpu_fn_names[0] == GPU_FN_COUNT, "one name per kernel");
_Static_assert(GPU_FN_REQUIRED > 0 && GPU_FN_REQUIRED < GPU_FN_COUNT, "required kernels come first");

uint64_t gpu_dptr(vox_bref r) { return r.buf ? ((gpu_buf *)r.buf)->ptr + r.offset : 0; }

vox_status gpu_launch(gpu_dev *g, int fn, int64_t grid, unsigned bx, unsigned by, size_t smem, void **args)
{
    const gpu_api *G = g->api;
    if (!g->fn[fn])
        return vox_fail(&g->log, VOX_ERR_UNSUPPORTED, "%s: kernel %s not in this build", G->name, gpu_fn_names[fn]);
    if (grid <= 0)
        return VOX_OK;
    if (grid > 0x7fffffff)
        return vox_fail(&g->log, VOX_ERR_UNSUPPORTED, "%s: %s: grid of %lld blocks too large", G->name,
                        gpu_fn_names[fn], (long long)grid);
    if (smem > (size_t)g->max_smem) {
        if (smem > (size_t)g->max_smem_optin || !G->set_max_smem)
            return vox_fail(&g->log, VOX_ERR_UNSUPPORTED, "%s: %s needs %zu B of shared memory, device has %d",
                            G->name, gpu_fn_names[fn], smem, g->max_smem_optin);
        if (g->fn_smem[fn] < (int)smem) {
            int rc = G->set_max_smem(g->fn[fn], (int)smem);
            if (rc)
                return gpu_err(g, rc, "raise the shared memory limit");
            g->fn_smem[fn] = (int)smem;
        }
    }
    vox_status st = gpu_push(g);
    if (st)
        return st;
    int rc = G->launch(g->fn[fn], (unsigned)grid, bx, by, (unsigned)smem, g->stream, args);
    G->pop(g);
    if (rc) {
        char what[96];
        snprintf(what, sizeof what, "launch of %s", gpu_fn_names[fn]);
        return gpu_err(g, rc, what);
    }
    return VOX_OK;
}

vox_status gpu_launch_op(gpu_dev *g, int fn, int64_t grid, unsigned bx, unsigned by, size_t smem,
                         const void *bufs, const void *args)
{
    void *params[] = {(void *)(uintptr_t)bufs, (void *)(uintptr_t)args};
    return gpu_launch(g, fn, grid, bx, by, smem, params);
}

int64_t gpu_cap_grid(const gpu_dev *g, int64_t work, int per_sm)
{
    int64_t cap = (int64_t)(g->sm_count > 0 ? g->sm_count : 16) * per_sm;
    return work < cap ? work : cap;
}
