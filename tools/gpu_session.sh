#!/bin/sh
# One call of the GPU machine (see README "Performance"): binaries built on
# the CPU machine in $B (meson build dir carried along), logs to $OUT.
#   sh tools/gpu_session.sh check   conformance on every device, compute-sanitizer
#                                   on cuda, out-of-memory test
#   sh tools/gpu_session.sh cuda    bench cuda + PyTorch baselines on the same masks
#   sh tools/gpu_session.sh apis    bench vulkan and opencl on the NVIDIA drivers
#   sh tools/gpu_session.sh perf    the README table: ONE bench over cuda, vulkan and
#                                   opencl, then the PyTorch baselines on its masks,
#                                   then perf/report.py (MODES, TIMEOUT override)
set -u
B=${B:-build-gpu}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
sh .gpu/prepare.sh >"$OUT/prepare.log" 2>&1
# NVIDIA's Vulkan ICD (libGLX_nvidia) needs libglvnd; X11 client libs go aside.
if [ -d .gl ]; then
  for f in .gl/libglvnd0_* .gl/libglx0_* .gl/libegl1_* .gl/libopengl0_* .gl/libgl1_* .gl/libgles2_*; do dpkg -x "$f" /; done
  mkdir -p /tmp/glx && for f in .gl/libx* .gl/libbsd0_* .gl/libmd0_*; do dpkg -x "$f" /tmp/glx; done
  ldconfig
  export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}/tmp/glx/usr/lib/x86_64-linux-gnu"
fi
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-}
[ -z "$VK_DRIVER_FILES" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] &&
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
VK_LOADER_DEBUG=error,warn "$B/cli/voxattn" devices >"$OUT/devices.txt" 2>"$OUT/vk_loader.txt"; cat "$OUT/devices.txt"
presets="wan-1.3b-480p,hunyuan-720p"
case "${1:-check}" in
check)
  # one process per device: a driver that aborts (PoCL's compiler) cannot hide the others
  for dev in $("$B/cli/voxattn" devices | awk '/^  [a-z]/ {print $1}'); do
    log="$OUT/conformance_$(echo "$dev" | tr : _).txt"
    "$B/tests/conformance" --device "$dev" >"$log" 2>&1
    echo "conformance $dev rc=$?"; grep -E "^[a-z]+ +[0-9]+ +[0-9]+ +[0-9]+" "$log"
    grep -E "FAIL" "$log" | head -10
  done
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
  [ -x "$B/tests/robust/test_oom" ] && { "$B/tests/robust/test_oom" 2>&1 | grep -E "vulkan|PASSED|FAILED"; }
  # one bench per device and preset, each bounded, so a slow one cannot starve the rest
  for preset in wan-1.3b-480p hunyuan-720p; do
    for dev in vulkan:0 opencl:1; do
      tag="$(echo "$dev" | tr -d :)_$(echo "$preset" | cut -d- -f1)"
      timeout 200 "$B/cli/voxattn" bench --device "$dev" --preset "$preset" --mode dense,bsa \
        --density 0.25,0.1 --json "$OUT/bench_$tag.json" >"/tmp/bench_$tag.txt" 2>&1
      echo "bench $dev $preset rc=$?"; grep -E "^(vulkan|opencl)" "/tmp/bench_$tag.txt"
    done
  done
  ;;
perf)
  # NVIDIA's OpenCL ICD only (PoCL 5.0 here aborts in its compiler): it is opencl:0
  export OCL_ICD_VENDORS=/etc/OpenCL/vendors/nvidia.icd
  timeout "${TIMEOUT:-420}" "$B/cli/voxattn" bench --device cuda:0 --device vulkan:0 --device opencl:0 \
    --preset "$presets" --mode "${MODES:-dense,bsa,svg}" --density 0.25,0.1 \
    --json "$OUT/bench.json" --csv "$OUT/bench.csv" --export-mask /tmp/masks >"$OUT/bench.txt" 2>"$OUT/bench.err"
  echo "bench rc=$?"; cat "$OUT/bench.txt"; grep -E "ready in|failed|error" "$OUT/bench.err" | head
  timeout 150 python3 perf/baselines.py --masks /tmp/masks --bench "$OUT/bench.json" \
    --json "$OUT/torch.json" >"/tmp/baselines.txt" 2>&1
  echo "baselines rc=$?"; tail -12 /tmp/baselines.txt
  python3 perf/report.py "$OUT/bench.json" "$OUT/torch.json" --out "$OUT/table.md"
  ;;
final)
  # PoCL 5.0 on this machine aborts in its kernel compiler: NVIDIA's ICD only
  export OCL_ICD_VENDORS=/etc/OpenCL/vendors/nvidia.icd
  "$B/tests/robust/test_hostile" >"/tmp/hostile.txt" 2>&1; echo "hostile rc=$?"
  grep -E "^ *(cuda|vulkan|opencl|cpu)|PASSED|FAILED" /tmp/hostile.txt | sort | uniq -c | head -20
  "$B/tests/conformance" --device opencl:0 2>&1 | grep -E "^opencl +[0-9]|FAIL"
  for dev in vulkan:0 opencl:0; do
    tag="$(echo "$dev" | tr -d :)_hunyuan"
    timeout 250 "$B/cli/voxattn" bench --device "$dev" --preset hunyuan-720p --mode dense,bsa --density 0.25,0.1 \
      --warmup 1 --json "$OUT/bench_$tag.json" >"/tmp/bench_$tag.txt" 2>&1
    echo "bench $dev hunyuan rc=$?"; grep -E "^(vulkan|opencl)" "/tmp/bench_$tag.txt"; tail -3 "/tmp/bench_$tag.txt"
  done
  ;;
esac
