#!/bin/sh
# One call of the GPU machine (see README "Performance"): binaries built on
# the CPU machine in $B (meson build dir carried along), logs to $OUT.
#   sh tools/gpu_session.sh check   conformance on every device, compute-sanitizer
#                                   on cuda, out-of-memory test
#   sh tools/gpu_session.sh cuda    bench cuda + PyTorch baselines on the same masks
#   sh tools/gpu_session.sh apis    bench vulkan and opencl on the NVIDIA drivers
set -u
B=${B:-build-gpu}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
sh .gpu/prepare.sh >"$OUT/prepare.log" 2>&1
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-}
[ -z "$VK_DRIVER_FILES" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] &&
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
"$B/cli/voxattn" devices | tee "$OUT/devices.txt"
presets="wan-1.3b-480p,hunyuan-720p"
case "${1:-check}" in
check)
  "$B/tests/conformance" >"$OUT/conformance.txt" 2>&1
  echo "conformance rc=$?"; sed -n '/conformance summary/,$p' "$OUT/conformance.txt"
  grep -E "FAIL" "$OUT/conformance.txt" | head -20
  compute-sanitizer --tool memcheck "$B/tests/conformance" --backend cuda >"$OUT/sanitizer.txt" 2>&1
  echo "sanitizer rc=$?"; grep -E "ERROR SUMMARY" "$OUT/sanitizer.txt"
  [ -x "$B/tests/robust/test_oom" ] && { "$B/tests/robust/test_oom" >"$OUT/oom.txt" 2>&1; echo "oom rc=$?"; tail -15 "$OUT/oom.txt"; }
  ;;
cuda)
  timeout 400 "$B/cli/voxattn" bench --device cuda:0 --preset "$presets" --mode dense,bsa,svg \
    --json "$OUT/bench_cuda.json" --export-mask /tmp/masks >"$OUT/bench_cuda.txt" 2>"$OUT/bench_cuda.err"
  echo "bench rc=$?"; cat "$OUT/bench_cuda.txt"
  timeout 150 python3 perf/baselines.py --masks /tmp/masks --bench "$OUT/bench_cuda.json" \
    --json "$OUT/bench_torch.json" >"$OUT/baselines.txt" 2>&1
  echo "baselines rc=$?"; tail -20 "$OUT/baselines.txt"
  ;;
apis)
  timeout 560 "$B/cli/voxattn" bench --device vulkan --device opencl --preset "$presets" --mode dense,bsa \
    --density 0.25,0.1 --json "$OUT/bench_apis.json" >"$OUT/bench_apis.txt" 2>"$OUT/bench_apis.err"
  echo "bench rc=$?"; cat "$OUT/bench_apis.txt"; tail -5 "$OUT/bench_apis.err"
  ;;
esac
