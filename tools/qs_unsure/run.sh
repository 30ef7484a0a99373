#!/bin/sh
# Builds and runs qs_unsure.c against perf/workload.c: the share of hunyuan-720p's query windows (keep 0.5,
# windows 2x2x2) that a query_select certificate with eps(n roundings) leaves to the exact path.
# usage: sh tools/qs_unsure/run.sh [heads (2)]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${TMPDIR:-/tmp}/qs_unsure.$$
mkdir -p "$out"
printf '#include "voxattn.h"\nvox_status vox_plan_defaults(vox_plan_params *p) { (void)p; return VOX_OK; }\n' >"$out/stub.c"
cc -O2 -Wall -I"$root/perf" -I"$root/include" -o "$out/qs_unsure" "$root/tools/qs_unsure/qs_unsure.c" "$out/stub.c" \
    "$root/perf/workload.c" -lm
"$out/qs_unsure" "${1:-2}"
rm -rf "$out"
