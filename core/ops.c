/* Op names, presence of an op in a backend table, and the capability check
 * that plan creation runs before any device work. */
#include <stdio.h>

#include "backend.h"

const char *vox_op_name(vox_op op)
{
    static const char *const names[VOX_OP_COUNT] = {
#define VOX_OP_NAME(name) #name,
        VOX_KERNEL_OPS(VOX_OP_NAME)
#undef VOX_OP_NAME
    };
    return (int)op >= 0 && op < VOX_OP_COUNT ? names[op] : "unknown";
}

int vox_backend_has_op(const vox_backend *be, vox_op op)
{
    switch (op) { /* table members are named after the ops */
#define VOX_OP_HAS(name) \
    case VOX_OP_##name: return be->name != NULL;
        VOX_KERNEL_OPS(VOX_OP_HAS)
#undef VOX_OP_HAS
    default: return 0;
    }
}

vox_status vox_backend_check_op(const vox_backend *be, void *dev, const vox_logger *log,
                                const vox_op_dims *d, vox_op op)
{
    if (!vox_backend_has_op(be, op))
        return vox_fail(log, VOX_ERR_UNSUPPORTED, "%s backend has no %s op", be->name, vox_op_name(op));
    if (!be->supports)
        return VOX_OK;
    char why[256] = "";
    vox_status st = be->supports(dev, d, op, why, sizeof why);
    if (st)
        return vox_fail(log, VOX_ERR_UNSUPPORTED, "%s cannot run %s: %s", be->name, vox_op_name(op),
                        why[0] ? why : vox_status_string(st));
    return VOX_OK;
}
