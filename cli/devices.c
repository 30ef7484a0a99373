/* `voxattn devices`: every backend, available or not and why, then devices. */
#include "cli.h"

int cmd_devices(int argc, char **argv)
{
    (void)argc, (void)argv;
    printf("%-8s %-10s %s\n", "backend", "status", "details");
    for (int b = 0; b < VOX_BACKEND_COUNT; b++) {
        vox_backend_desc bd;
        if (cli_check(vox_backend_info((vox_backend_kind)b, &bd), "backend info"))
            return 1;
        const char *status = !bd.compiled ? "not built" : bd.available ? "available" : "unavailable";
        printf("%-8s %-10s %s\n", bd.name, status,
               bd.available ? (bd.reason[0] ? bd.reason : "") : bd.reason);
    }
    int n = 0;
    if (cli_check(vox_device_count(&n), "device count"))
        return 1;
    printf("\n%d device(s), best first (select with VOXATTN_DEVICE=<id> or --device <id>):\n", n);
    for (int i = 0; i < n; i++) {
        vox_device_desc d;
        if (cli_check(vox_device_info(i, &d), "device info"))
            return 1;
        printf("  %-10s %s [%s] %s, %.1f GiB%s%s%s", d.id, d.name, d.vendor, d.driver,
               (double)d.memory_bytes / (1024.0 * 1024.0 * 1024.0), d.caps & VOX_CAP_F16 ? ", f16" : "",
               d.caps & VOX_CAP_BF16 ? ", bf16" : "", d.caps & VOX_CAP_MATRIX_UNITS ? ", matrix units" : "");
        if (d.subgroup_size)
            printf(", subgroup %u", d.subgroup_size);
        printf("\n");
    }
    return 0;
}
