/* Vulkan backend: recording and submission. The per-device objects every
 * dispatch shares (one descriptor-set layout of VK_NBIND storage buffers, one
 * pipeline layout whose push constants hold the largest op's block, the
 * descriptor pool, command buffer, fence and timestamp pool), the one
 * command buffer's begin / flush, the pipeline cache over the embedded SPIR-V
 * (vk_spirv.h, built by meson.build), vk_dispatch, and the timers.
 *
 * A pipeline is named after its shader variant: <op>[_cm]_<dtype or word>
 * [_d<head_dim bound>], e.g. attention_forward_bf16_d128 (meson.build). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "vk_internal.h"
#include "vk_spirv.h"

_Static_assert(VK_PC_MAX % 4 == 0, "push-constant block size");

static double host_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Milliseconds between two timestamps of the queue (its valid bits, wrapping) */
static double ts_ms(const vk_dev *d, uint64_t t0, uint64_t t1)
{
    const uint64_t mask = d->ts_valid_bits >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << d->ts_valid_bits) - 1);
    return (double)(((t1 & mask) - (t0 & mask)) & mask) * (double)d->limits.timestampPeriod * 1e-6;
}

/* ------------------------------------------------------------ device objects */

vox_status vk_submit_init(vk_dev *d)
{
    VkDescriptorSetLayoutBinding binds[VK_NBIND];
    for (uint32_t i = 0; i < VK_NBIND; i++)
        binds[i] = (VkDescriptorSetLayoutBinding){i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1,
                                                  VK_SHADER_STAGE_COMPUTE_BIT, NULL};
    VkDescriptorSetLayoutCreateInfo dci = {VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, NULL, 0,
                                           VK_NBIND, binds};
    VkResult r = d->fd.vkCreateDescriptorSetLayout(d->device, &dci, NULL, &d->dsl);
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkCreateDescriptorSetLayout");
    /* every op's block where the device allows it (128 bytes are guaranteed);
     * an op whose block does not fit is refused by vk_dispatch */
    d->pc_bytes = d->limits.maxPushConstantsSize & ~3u;
    if (d->pc_bytes >= VK_PC_MAX)
        d->pc_bytes = VK_PC_MAX;
    else
        vox_log(d->log, VOX_LOG_WARN,
                "vulkan: maxPushConstantsSize %u is below the %zu bytes of the largest op's push constants: "
                "ops that need more are refused",
                d->limits.maxPushConstantsSize, (size_t)VK_PC_MAX);
    VkPushConstantRange pcr = {VK_SHADER_STAGE_COMPUTE_BIT, 0, d->pc_bytes};
    VkPipelineLayoutCreateInfo pci = {VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, NULL, 0, 1, &d->dsl, 1, &pcr};
    r = d->fd.vkCreatePipelineLayout(d->device, &pci, NULL, &d->layout);
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkCreatePipelineLayout");
    VkDescriptorPoolSize ps = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, VK_POOL_SETS * VK_NBIND};
    VkDescriptorPoolCreateInfo poci = {VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, NULL, 0, VK_POOL_SETS, 1, &ps};
    VkCommandPoolCreateInfo cpci = {VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, NULL,
                                    VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT, d->qfam};
    r = d->fd.vkCreateCommandPool(d->device, &cpci, NULL, &d->cmdpool);
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkCreateCommandPool");
    for (int i = 0; i < VK_RING; i++) {
        r = d->fd.vkCreateDescriptorPool(d->device, &poci, NULL, &d->ring[i].pool);
        if (r != VK_SUCCESS)
            return vk_status(d, r, "vkCreateDescriptorPool");
        VkCommandBufferAllocateInfo cai = {VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, NULL, d->cmdpool,
                                           VK_COMMAND_BUFFER_LEVEL_PRIMARY, 1};
        r = d->fd.vkAllocateCommandBuffers(d->device, &cai, &d->ring[i].cmd);
        if (r != VK_SUCCESS)
            return vk_status(d, r, "vkAllocateCommandBuffers");
        VkFenceCreateInfo fci = {VK_STRUCTURE_TYPE_FENCE_CREATE_INFO, NULL, 0};
        r = d->fd.vkCreateFence(d->device, &fci, NULL, &d->ring[i].fence);
        if (r != VK_SUCCESS)
            return vk_status(d, r, "vkCreateFence");
    }
    d->cur = 0, d->cmd = d->ring[0].cmd;
    if (d->ts_valid_bits) {
        VkQueryPoolCreateInfo qci = {VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO, NULL, 0, VK_QUERY_TYPE_TIMESTAMP, 2, 0};
        r = d->fd.vkCreateQueryPool(d->device, &qci, NULL, &d->qpool);
        if (r != VK_SUCCESS)
            return vk_status(d, r, "vkCreateQueryPool");
        if (d->profile == 2) {
            qci.queryCount = VK_PROF_Q;
            r = d->fd.vkCreateQueryPool(d->device, &qci, NULL, &d->prof_pool);
            if (r != VK_SUCCESS)
                return vk_status(d, r, "vkCreateQueryPool");
        }
    } else if (d->profile == 2) {
        vox_log(d->log, VOX_LOG_WARN, "vulkan: VOXATTN_VULKAN_PROFILE=2: the queue has no timestamps; no profile");
    }
    /* bound to the bindings an op leaves unused */
    return vk_buffer_create(d, 256, 0, &d->dummy);
}

/* VOXATTN_VULKAN_PROFILE=2: the collected dispatches, most time first (INFO) */
static void prof_report(vk_dev *d)
{
    double total = 0;
    for (int i = 0; i < d->nprof; i++)
        total += d->prof[i].ms;
    if (d->nprof)
        vox_log(d->log, VOX_LOG_INFO, "vulkan device profile: %.3f ms in all (device timestamps around each dispatch)",
                total);
    for (int k = 0; k < d->nprof; k++) {
        int best = k;
        for (int i = k + 1; i < d->nprof; i++)
            if (d->prof[i].ms > d->prof[best].ms)
                best = i;
        if (best != k) {
            vk_prof_row t = d->prof[k];
            d->prof[k] = d->prof[best], d->prof[best] = t;
        }
        vox_log(d->log, VOX_LOG_INFO, "vulkan device profile: %-40s %8llu dispatches %10.3f ms (%.4f ms each)",
                d->prof[k].name, (unsigned long long)d->prof[k].n, d->prof[k].ms,
                d->prof[k].ms / (double)d->prof[k].n);
    }
}

void vk_submit_destroy(vk_dev *d)
{
    prof_report(d);
    vk_buffer_destroy(d, &d->dummy);
    vk_buffer_destroy(d, &d->scratch);
    for (int i = 0; i < d->npipes; i++)
        d->fd.vkDestroyPipeline(d->device, d->pipes[i].pipe, NULL);
#define VK_DESTROY(Type, handle)                                     \
    do {                                                             \
        if (d->handle)                                               \
            d->fd.vkDestroy##Type(d->device, d->handle, NULL);       \
    } while (0)
    VK_DESTROY(QueryPool, qpool);
    VK_DESTROY(QueryPool, prof_pool);
    for (int i = 0; i < VK_RING; i++) {
        VK_DESTROY(Fence, ring[i].fence);
        VK_DESTROY(DescriptorPool, ring[i].pool);
    }
    VK_DESTROY(CommandPool, cmdpool);
    VK_DESTROY(PipelineLayout, layout);
    VK_DESTROY(DescriptorSetLayout, dsl);
#undef VK_DESTROY
}

/* ------------------------------------------------------------ submission */

vox_status vk_begin(vk_dev *d)
{
    if (d->recording)
        return VOX_OK;
    VkCommandBufferBeginInfo bi = {VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO, NULL,
                                   VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT, NULL};
    VkResult r = d->fd.vkBeginCommandBuffer(d->cmd, &bi);
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkBeginCommandBuffer");
    d->recording = 1;
    return VOX_OK;
}

/* Ends and submits the current batch (when recording), its fence to signal: no wait. */
static vox_status submit_current(vk_dev *d)
{
    if (!d->recording)
        return VOX_OK;
    d->recording = 0;
    VkResult r = d->fd.vkEndCommandBuffer(d->cmd);
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkEndCommandBuffer");
    VkSubmitInfo si = {VK_STRUCTURE_TYPE_SUBMIT_INFO, NULL, 0, NULL, NULL, 1, &d->cmd, 0, NULL};
    r = d->fd.vkQueueSubmit(d->queue, 1, &si, d->ring[d->cur].fence);
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkQueueSubmit");
    d->ring[d->cur].busy = 1;
    return VOX_OK;
}

/* Waits for batch i when it was submitted, then makes it reusable (command buffer and pool reset). */
static vox_status reclaim(vk_dev *d, int i)
{
    vox_status st = VOX_OK;
    if (d->ring[i].busy) {
        VkResult r = d->fd.vkWaitForFences(d->device, 1, &d->ring[i].fence, VK_TRUE, UINT64_MAX);
        if (r != VK_SUCCESS)
            st = vk_status(d, r, "vkWaitForFences");
        d->fd.vkResetFences(d->device, 1, &d->ring[i].fence);
        d->ring[i].busy = 0;
    }
    d->ring[i].sets = 0;
    d->fd.vkResetCommandBuffer(d->ring[i].cmd, 0);
    d->fd.vkResetDescriptorPool(d->device, d->ring[i].pool, 0);
    return st;
}

/* Runs everything recorded and waits for it (one host wait, counted). */
vox_status vk_flush(vk_dev *d)
{
    int any = d->recording;
    for (int i = 0; i < VK_RING; i++)
        any |= d->ring[i].busy;
    if (!any)
        return VOX_OK;
    vox_status st = submit_current(d);
    d->host_waits++;
    for (int i = 0; i < VK_RING; i++) {
        vox_status s2 = reclaim(d, i);
        st = st ? st : s2;
    }
    d->recording = 0;
    if (d->prof_n && !st) { /* VOXATTN_VULKAN_PROFILE=2: every timed dispatch has run */
        uint64_t t[VK_PROF_Q];
        VkResult r = d->fd.vkGetQueryPoolResults(d->device, d->prof_pool, 0, d->prof_n, sizeof t, t, sizeof t[0],
                                                 VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
        if (r != VK_SUCCESS)
            st = vk_status(d, r, "vkGetQueryPoolResults");
        for (uint32_t q = 0; !st && q < d->prof_n; q += 2) {
            const double ms = ts_ms(d, t[q], t[q + 1]);
            int k = 0;
            while (k < d->nprof && strcmp(d->prof[k].name, d->prof_name[q / 2]))
                k++;
            if (k == d->nprof && k < VK_PROF_ROWS)
                d->prof[d->nprof++].name = d->prof_name[q / 2];
            if (k < d->nprof)
                d->prof[k].ms += ms, d->prof[k].n++;
        }
    }
    d->prof_n = 0;
    return st;
}

/* The current batch's pool ran out: submit it without waiting and go on recording in the next batch (a host
 * wait only when that batch is still running, i.e. VK_RING batches are queued). */
static vox_status next_batch(vk_dev *d)
{
    vox_status st = submit_current(d);
    if (st)
        return st;
    int n = (d->cur + 1) % VK_RING;
    st = reclaim(d, n); /* VK_RING batches queued: the host waits for the oldest (back-pressure, not a host wait) */
    d->cur = n, d->cmd = d->ring[n].cmd;
    return st ? st : vk_begin(d);
}

/* Runs what is recorded and starts recording again. */
static vox_status restart(vk_dev *d)
{
    vox_status st = vk_flush(d);
    return st ? st : vk_begin(d);
}

void vk_barrier(vk_dev *d, VkPipelineStageFlags src, VkAccessFlags src_access, VkPipelineStageFlags dst,
                VkAccessFlags dst_access)
{
    VkMemoryBarrier mb = {VK_STRUCTURE_TYPE_MEMORY_BARRIER, NULL, src_access, dst_access};
    d->fd.vkCmdPipelineBarrier(d->cmd, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
}

vox_status vk_finish(void *dev) { return vk_flush(dev); }

uint64_t vk_host_waits(void *dev) { return ((const vk_dev *)dev)->host_waits; }

/* ------------------------------------------------------------ pipelines */

/* VOXATTN_VULKAN_PIPELINE_STATS: the driver's statistics of each of the
 * pipeline's executables, one log line each (diagnosis; nothing fails) */
static void log_pipeline_stats(vk_dev *d, const char *name, VkPipeline pipe)
{
    VkPipelineInfoKHR pi = {VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR, NULL, pipe};
    VkPipelineExecutablePropertiesKHR props[4];
    for (int i = 0; i < 4; i++)
        props[i] = (VkPipelineExecutablePropertiesKHR){.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR};
    uint32_t ne = 4;
    VkResult r = d->get_pexec(d->device, &pi, &ne, props);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        vox_log(d->log, VOX_LOG_INFO, "vulkan: pipeline %s: no executable properties (%s)", name, vk_result_string(r));
        return;
    }
    for (uint32_t e = 0; e < ne && e < 4; e++) {
        VkPipelineExecutableInfoKHR ei = {VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR, NULL, pipe, e};
        VkPipelineExecutableStatisticKHR st[32];
        for (int i = 0; i < 32; i++)
            st[i] = (VkPipelineExecutableStatisticKHR){.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR};
        uint32_t ns = 32;
        r = d->get_pstats(d->device, &ei, &ns, st);
        if (r != VK_SUCCESS && r != VK_INCOMPLETE)
            continue;
        char line[1536];
        size_t len = 0;
        line[0] = 0;
        for (uint32_t k = 0; k < ns && k < 32 && len < sizeof line; k++) {
            const VkPipelineExecutableStatisticKHR *s = &st[k];
            int n = s->format == VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR
                        ? snprintf(line + len, sizeof line - len, "%s%s=%u", k ? "; " : "", s->name, (unsigned)s->value.b32)
                    : s->format == VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR
                        ? snprintf(line + len, sizeof line - len, "%s%s=%lld", k ? "; " : "", s->name, (long long)s->value.i64)
                    : s->format == VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR
                        ? snprintf(line + len, sizeof line - len, "%s%s=%llu", k ? "; " : "", s->name,
                                   (unsigned long long)s->value.u64)
                        : snprintf(line + len, sizeof line - len, "%s%s=%g", k ? "; " : "", s->name, s->value.f64);
            if (n < 0)
                break;
            len += (size_t)n;
        }
        vox_log(d->log, VOX_LOG_INFO, "vulkan: pipeline %s [%s]: %s", name, props[e].name, line);
    }
}

/* The pipeline of an embedded shader variant, created on first use. */
static vox_status get_pipeline(vk_dev *d, const char *name, const vk_pipe **out)
{
    for (int i = 0; i < d->npipes; i++)
        if (!strcmp(d->pipes[i].name, name)) {
            *out = &d->pipes[i];
            return VOX_OK;
        }
    char file[96];
    snprintf(file, sizeof file, "%s.spv", name);
    if (strlen(name) >= sizeof d->pipes[0].name)
        return vox_fail(d->log, VOX_ERR_BACKEND, "vulkan: pipeline name %s too long", name);
    const struct vox_vk_spirv_blob *blob = NULL;
    for (size_t i = 0; i < vox_vk_spirv_count; i++)
        if (!strcmp(vox_vk_spirv_table[i].name, file))
            blob = &vox_vk_spirv_table[i];
    if (!blob)
        return vox_fail(d->log, VOX_ERR_BACKEND, "vulkan: no embedded shader %s", file);
    if (d->npipes >= VK_MAX_PIPES)
        return vox_fail(d->log, VOX_ERR_BACKEND, "vulkan: pipeline cache full");
    VkShaderModuleCreateInfo smci = {VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, NULL, 0, blob->size,
                                     (const uint32_t *)(const void *)blob->data};
    VkShaderModule mod;
    VkResult r = d->fd.vkCreateShaderModule(d->device, &smci, NULL, &mod);
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkCreateShaderModule");
    VkComputePipelineCreateInfo ci = {
        VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO, NULL, 0,
        {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, NULL, 0, VK_SHADER_STAGE_COMPUTE_BIT, mod, "main", NULL},
        d->layout, VK_NULL_HANDLE, -1};
    if (d->pstats)
        ci.flags |= VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR;
    VkPipeline pipe;
    r = d->fd.vkCreateComputePipelines(d->device, VK_NULL_HANDLE, 1, &ci, NULL, &pipe);
    d->fd.vkDestroyShaderModule(d->device, mod, NULL);
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkCreateComputePipelines");
    if (d->pstats)
        log_pipeline_stats(d, name, pipe);
    vk_pipe *p = &d->pipes[d->npipes++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->pipe = pipe;
    *out = p;
    return VOX_OK;
}

/* ------------------------------------------------------------ dispatch */

/* The alignment a storage buffer binding's offset must have (1 where the device says 0). */
static VkDeviceSize offset_align(const vk_dev *d)
{
    return d->limits.minStorageBufferOffsetAlignment ? d->limits.minStorageBufferOffsetAlignment : 1;
}

/* The descriptor of each binding (the dummy buffer where unused) and the
 * element offset that remains below the device's offset alignment, written
 * into the push-constant head (off[i] = pcw[2 + i]). */
static vox_status bind_buffers(vk_dev *d, const char *pipe_name, const vk_bind *binds, int nbinds, int nhead,
                               VkDescriptorBufferInfo *infos, uint32_t *pcw)
{
    const VkDeviceSize align = offset_align(d);
    for (int i = 0; i < VK_NBIND; i++) {
        const vk_bind *b = i < nbinds ? &binds[i] : NULL;
        if (!b || !b->b) {
            infos[i] = (VkDescriptorBufferInfo){d->dummy.buf, 0, VK_WHOLE_SIZE};
            continue;
        }
        VkDeviceSize start = (VkDeviceSize)b->off / align * align;
        VkDeviceSize rem = (VkDeviceSize)b->off - start;
        VkDeviceSize range = rem + b->bytes;
        range = (range + 3) & ~(VkDeviceSize)3;
        if (start + range > b->b->size)
            range = b->b->size - start;
        if (b->open_end && range > d->limits.maxStorageBufferRange)
            range = d->limits.maxStorageBufferRange; /* extent unknown on the host: bind what the device allows */
        if (range > d->limits.maxStorageBufferRange)
            return vox_fail(d->log, VOX_ERR_UNSUPPORTED,
                            "vulkan: %s: binding %d spans %llu bytes, above maxStorageBufferRange %u", pipe_name, i,
                            (unsigned long long)range, d->limits.maxStorageBufferRange);
        if (rem % b->es)
            return vox_fail(d->log, VOX_ERR_UNSUPPORTED, "vulkan: %s: offset %zu not aligned to %u bytes", pipe_name,
                            b->off, b->es);
        infos[i] = (VkDescriptorBufferInfo){b->b->buf, start, range};
        if (i < nhead)
            pcw[2 + i] = (uint32_t)(rem / b->es);
    }
    return VOX_OK;
}

const char *vk_last_kernel(void *dev, vox_op op)
{
    const vk_dev *d = dev;
    return op >= 0 && op < VOX_OP_COUNT ? d->last_kernel[op] : NULL;
}

uint32_t vk_bind_rem(const vk_dev *d, const vk_bind *b)
{
    return (uint32_t)(((VkDeviceSize)b->off % offset_align(d)) / b->es);
}

vox_status vk_dispatch(vk_dev *d, vox_op op, const char *pipe_name, const vk_bind *binds, int nbinds,
                       const void *args, size_t args_bytes, uint64_t groups)
{
    return vk_dispatch_ex(d, op, pipe_name, binds, nbinds, nbinds, args, args_bytes, groups);
}

vox_status vk_dispatch_ex(vk_dev *d, vox_op op, const char *pipe_name, const vk_bind *binds, int nbinds, int nhead,
                          const void *args, size_t args_bytes, uint64_t groups)
{
    if (!groups)
        return VOX_OK;
    if (nbinds > VK_NBIND || nhead > nbinds)
        return vox_fail(d->log, VOX_ERR_INVALID_ARGUMENT, "vulkan: %s: %d bindings (%d with offsets)", pipe_name,
                        nbinds, nhead);
    if (groups > UINT32_MAX)
        return vox_fail(d->log, VOX_ERR_UNSUPPORTED, "vulkan: %s: launch of %llu workgroups is too large", pipe_name,
                        (unsigned long long)groups);
    size_t head = VK_PC_HEAD_BYTES((size_t)nhead), pc_bytes = head + args_bytes;
    if (pc_bytes > d->pc_bytes)
        return vox_fail(d->log, VOX_ERR_UNSUPPORTED,
                        "vulkan: %s: needs %zu bytes of push constants, the device allows %u "
                        "(maxPushConstantsSize)",
                        pipe_name, pc_bytes, d->limits.maxPushConstantsSize);
    uint32_t pcw[VK_PC_MAX / 4] = {0};
    VkDescriptorBufferInfo infos[VK_NBIND];
    vox_status st = bind_buffers(d, pipe_name, binds, nbinds, nhead, infos, pcw);
    if (st)
        return st;
    memcpy((unsigned char *)pcw + head, args, args_bytes);
    const vk_pipe *pp = NULL;
    st = get_pipeline(d, pipe_name, &pp);
    if (!st)
        st = vk_begin(d);
    if (st)
        return st;
    double t0 = 0;
    if (d->profile == 1) {
        st = restart(d); /* time this dispatch alone */
        if (st)
            return st;
        t0 = host_ms();
    } else if (d->prof_pool && d->prof_n + 2 > VK_PROF_Q) {
        st = restart(d); /* the profile's queries are full: collect them (a wait, only in this mode) */
        if (st)
            return st;
    }
    if (d->ring[d->cur].sets >= d->pool_sets) { /* the batch is full: on in the next one (no wait) */
        st = next_batch(d);
        if (st)
            return st;
    }
    VkDescriptorSetAllocateInfo ai = {VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, NULL, d->ring[d->cur].pool, 1,
                                      &d->dsl};
    VkDescriptorSet set;
    VkResult r = d->fd.vkAllocateDescriptorSets(d->device, &ai, &set);
    if (r == VK_ERROR_OUT_OF_POOL_MEMORY || r == VK_ERROR_FRAGMENTED_POOL) {
        /* pool exhausted: submit this batch without waiting, go on in the next one */
        st = next_batch(d);
        if (st)
            return st;
        ai.descriptorPool = d->ring[d->cur].pool; /* the new batch's pool, not the full one */
        r = d->fd.vkAllocateDescriptorSets(d->device, &ai, &set);
    }
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkAllocateDescriptorSets");
    d->ring[d->cur].sets++;
    VkWriteDescriptorSet w[VK_NBIND];
    for (uint32_t i = 0; i < VK_NBIND; i++)
        w[i] = (VkWriteDescriptorSet){VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, NULL, set, i, 0, 1,
                                      VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, NULL, &infos[i], NULL};
    d->fd.vkUpdateDescriptorSets(d->device, VK_NBIND, w, 0, NULL);
    const int prof = d->prof_pool != VK_NULL_HANDLE;
    if (prof) { /* VOXATTN_VULKAN_PROFILE=2: when everything before has run, and after this dispatch */
        d->fd.vkCmdResetQueryPool(d->cmd, d->prof_pool, d->prof_n, 2);
        d->fd.vkCmdWriteTimestamp(d->cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, d->prof_pool, d->prof_n);
    }
    d->fd.vkCmdBindPipeline(d->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pp->pipe);
    d->last_kernel[op] = pp->name;
    d->fd.vkCmdBindDescriptorSets(d->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, d->layout, 0, 1, &set, 0, NULL);
    uint64_t maxx = d->limits.maxComputeWorkGroupCount[0], maxy = d->limits.maxComputeWorkGroupCount[1];
    uint64_t gx = groups < maxx ? groups : maxx;
    uint64_t per = gx * maxy;
    pcw[1] = (uint32_t)groups;
    for (uint64_t base = 0; base < groups; base += per) {
        uint64_t n = groups - base < per ? groups - base : per;
        uint64_t gy = (n + gx - 1) / gx;
        pcw[0] = (uint32_t)base;
        d->fd.vkCmdPushConstants(d->cmd, d->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, (uint32_t)pc_bytes, pcw);
        d->fd.vkCmdDispatch(d->cmd, (uint32_t)gx, (uint32_t)gy, 1);
    }
    vk_barrier(d, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
               VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
               VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT);
    if (prof) {
        d->fd.vkCmdWriteTimestamp(d->cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, d->prof_pool, d->prof_n + 1);
        d->prof_name[d->prof_n / 2] = pp->name;
        d->prof_n += 2;
    }
    if (d->profile == 1) {
        st = vk_flush(d);
        vox_log(d->log, VOX_LOG_INFO, "vulkan profile: %s %llu workgroups %.3f ms (host, incl. submit)", pipe_name,
                (unsigned long long)groups, host_ms() - t0);
        return st;
    }
    return VOX_OK;
}

/* ------------------------------------------------------------ timers */

vox_status vk_timer_begin(void *dev)
{
    vk_dev *d = dev;
    d->timer_started = 1;
    if (!d->qpool) {
        vox_status st = vk_flush(d);
        d->timer_host_ms = host_ms();
        return st;
    }
    vox_status st = vk_begin(d);
    if (st)
        return st;
    d->fd.vkCmdResetQueryPool(d->cmd, d->qpool, 0, 2);
    d->fd.vkCmdWriteTimestamp(d->cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, d->qpool, 0);
    return VOX_OK;
}

vox_status vk_timer_end(void *dev, double *ms)
{
    vk_dev *d = dev;
    *ms = 0;
    if (!d->timer_started)
        return vk_flush(d);
    d->timer_started = 0;
    if (!d->qpool) {
        vox_status st = vk_flush(d);
        *ms = host_ms() - d->timer_host_ms;
        return st;
    }
    vox_status st = vk_begin(d);
    if (st)
        return st;
    d->fd.vkCmdWriteTimestamp(d->cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, d->qpool, 1);
    st = vk_flush(d);
    if (st)
        return st;
    uint64_t t[2];
    VkResult r = d->fd.vkGetQueryPoolResults(d->device, d->qpool, 0, 2, sizeof t, t, sizeof t[0],
                                             VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkGetQueryPoolResults");
    *ms = ts_ms(d, t[0], t[1]);
    return VOX_OK;
}
