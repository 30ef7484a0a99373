/* `voxattn bench`: placeholder until the perf issue lands. */
#include "../cli/cli.h"

int cmd_bench(int argc, char **argv)
{
    (void)argc, (void)argv;
    fprintf(stderr, "voxattn bench: not yet available\n");
    return 1;
}
