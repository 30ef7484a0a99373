/* voxattn command line: devices, demo, bench. */
#include <string.h>

#include "cli.h"

static void usage(void)
{
    printf("usage: voxattn <command> [options]\n"
           "  devices            list every backend (available or not, and why) and device\n"
           "  demo [options]     structured synthetic video attention: dense vs SVG vs BSA\n"
           "      --device ID  --preset NAME  --dtype f32|f16|bf16  --tau T  --keep Q  -v\n"
           "  bench [options]    benchmark presets on devices (see voxattn bench --help)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage();
        return argc < 2;
    }
    if (!strcmp(argv[1], "devices"))
        return cmd_devices(argc - 1, argv + 1);
    if (!strcmp(argv[1], "demo"))
        return cmd_demo(argc - 1, argv + 1);
    if (!strcmp(argv[1], "bench"))
        return cmd_bench(argc - 1, argv + 1);
    fprintf(stderr, "voxattn: unknown command '%s'\n", argv[1]);
    usage();
    return 2;
}
