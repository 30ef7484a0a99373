#!/bin/sh
# One call of the GPU machine (see README "Performance"): binaries built on
# the CPU machine in $B (meson build dir carried along), logs to $OUT.
#   sh tools/gpu_session.sh verify     conformance, op-level harness and hostile inputs on
#                                      every GPU device, each CUDA attention path, both
#                                      sanitizers; with OLD=dir, wan bench of OLD then B
#   sh tools/gpu_session.sh check      conformance and hostile inputs on every GPU
#                                      device, compute-sanitizer on cuda, OOM test
#   sh tools/gpu_session.sh bench      the README table: ONE bench over cuda, vulkan
#                                      and opencl on wan-1.3b-480p and hunyuan-720p
#                                      (dense, BSA ~25% and ~10%, SVG), masks exported
#   sh tools/gpu_session.sh baselines  PyTorch cuDNN/flash/flex on that run's shapes
#                                      and exported masks, then perf/report.py
#   sh tools/gpu_session.sh builds     issue 17's build column: --build-only, the five masks
#                                      (tau 0.9, top-k 10%, each at keep 1 and 0.5, SVG) on
#                                      cuda, vulkan and opencl, hunyuan-720p then wan-1.3b-480p
#                                      (ENV="VAR=1 ..." runs every process under those switches)
#   sh tools/gpu_session.sh ops OP     test_ops --op OP on every GPU device (ENV="VAR=1 ..." as for builds)
#   sh tools/gpu_session.sh ab 'A=1' 'B=1 C=2' ...
#                                      A/B of switches on one device's build column: the default,
#                                      then each configuration, then the default again, one process
#                                      each (DEV, default vulkan:0; PRESET, default hunyuan-720p; MODES,
#                                      default bsa,svg: MODES=svg times SVG's build alone)
# (bench and baselines are two calls only because one call is bounded in time;
# the second uses the first's /tmp/masks and $OUT/bench.json on the same machine)
# check (and verify's hostile runs) also take ENV. The machine is set up by tools/gpu_env.sh (.gpu/ and .gl/
# carried); a call that runs its own steps starts its script with tools/gpu_call.sh instead.
set -u
B=${B:-build-gpu}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
. tools/gpu_env.sh "$OUT/prepare.log"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
VK_LOADER_DEBUG=error,warn "$B/cli/voxattn" devices >"$OUT/devices.txt" 2>"$OUT/vk_loader.txt"; cat "$OUT/devices.txt"
presets="wan-1.3b-480p,hunyuan-720p"
# GPU devices only: PoCL 5.0 on that machine aborts inside its own compiler
gpus=$("$B/cli/voxattn" devices | awk '/^  [a-z]+:[0-9]+ .*NVIDIA/ {print $1}')
ocl=$(echo "$gpus" | grep '^opencl' | head -1)
# the hostile suite on device $1 (log $2), one summary line: it prints a ': ok' line per case, no PASSED
hostile() {
  env ${ENV:-} "$B/tests/robust/test_hostile" --device "$1" >"$2" 2>&1
  echo "hostile $1 rc=$?: $(grep -c ': ok' "$2") cases ok, $(grep -ciE 'fail|mismatch' "$2") failing lines"
}
case "${1:-check}" in
check)
  for dev in $gpus; do
    log="$OUT/conformance_$(echo "$dev" | tr : _).txt"
    env ${ENV:-} "$B/tests/conformance" --device "$dev" >"$log" 2>&1
    echo "conformance $dev rc=$?"; grep -E "^[a-z]+ +[0-9]+ +[0-9]+ +[0-9]+" "$log"
    grep -E "FAIL" "$log" | head -10
    hostile "$dev" /tmp/hostile.txt
  done
  compute-sanitizer --tool memcheck "$B/tests/conformance" --backend cuda >"$OUT/sanitizer.txt" 2>&1
  echo "sanitizer rc=$?"; grep -E "ERROR SUMMARY" "$OUT/sanitizer.txt"
  [ -x "$B/tests/robust/test_oom" ] && { "$B/tests/robust/test_oom" >"$OUT/oom.txt" 2>&1; echo "oom rc=$?"; grep -E "PASSED|FAILED" "$OUT/oom.txt"; }
  ;;
verify)
  # one sitting: every check on every NVIDIA device, then the before/after
  # bench of the architecture change (OLD: a build of the previous tree)
  for dev in $gpus; do
    tag=$(echo "$dev" | tr : _)
    "$B/tests/conformance" --device "$dev" >"$OUT/conformance_$tag.txt" 2>&1
    echo "conformance $dev rc=$?"; grep -E "^[a-z]+ +[0-9]+ +[0-9]+ +[0-9]+" "$OUT/conformance_$tag.txt"
    "$B/tests/test_ops" --device "$dev" >"/tmp/ops_$tag.txt" 2>&1
    echo "test_ops $dev rc=$?"; grep -E "summary|passed|FAIL|max" "/tmp/ops_$tag.txt" | head -20
    hostile "$dev" "/tmp/hostile_$tag.txt"
  done
  for sw in VOXATTN_CUDA_NO_SM90 VOXATTN_GPU_SCALAR; do
    env $sw=1 "$B/tests/conformance" --device cuda:0 >"/tmp/conf_$sw.txt" 2>&1
    echo "conformance cuda:0 $sw=1 rc=$?"; grep -E "^cuda +[0-9]" "/tmp/conf_$sw.txt"
  done
  timeout 200 compute-sanitizer --tool memcheck "$B/tests/conformance" --device cuda:0 >"/tmp/memcheck.txt" 2>&1
  echo "memcheck rc=$?"; grep -E "ERROR SUMMARY" /tmp/memcheck.txt
  timeout 200 compute-sanitizer --tool racecheck "$B/tests/conformance" --device cuda:0 --case bsa >"/tmp/racecheck.txt" 2>&1
  echo "racecheck rc=$?"; grep -E "RACECHECK SUMMARY|ERROR SUMMARY" /tmp/racecheck.txt
  if [ -n "${OLD:-}" ]; then
    for tree in "$OLD" "$B"; do
      timeout 200 "$tree/cli/voxattn" bench --device cuda:0 --device vulkan:0 --device "${ocl:-opencl:0}" \
        --preset wan-1.3b-480p --mode dense,bsa --density 0.1 --json "$OUT/arch_$(basename "$tree").json" \
        >"/tmp/arch_bench.txt" 2>&1
      echo "bench $tree rc=$?"; grep -E "wan|dense|bsa" /tmp/arch_bench.txt | head -20
    done
  fi
  ;;
bench)
  timeout "${TIMEOUT:-560}" "$B/cli/voxattn" bench --device cuda:0 --device vulkan:0 --device "${ocl:-opencl:0}" \
    --preset "$presets" --mode "${MODES:-dense,bsa,svg}" --density 0.25,0.1 \
    --json "$OUT/bench.json" --csv "$OUT/bench.csv" --export-mask /tmp/masks >"$OUT/bench.txt" 2>"$OUT/bench.err"
  echo "bench rc=$?"; cat "$OUT/bench.txt"; grep -E "ready in|result|failed|error" "$OUT/bench.err" | head
  ;;
ops)
  for dev in $gpus; do
    tag=$(echo "$dev" | tr : _)
    timeout 300 env ${ENV:-} "$B/tests/test_ops" --device "$dev" --op "${2:?ops needs an op name}" \
      >"$OUT/ops_$tag.txt" 2>&1
    echo "test_ops $2 $dev rc=$?: $(grep -E '^[a-z]+ +[0-9]+ +[0-9]+ +[0-9]+' "$OUT/ops_$tag.txt" | head -1)"
    grep -E "FAIL" "$OUT/ops_$tag.txt" | head -5
  done
  ;;
builds)
  # the logs go to one archive: the device tool brings back 8 files at most
  mkdir -p /tmp/builds
  for p in hunyuan-720p wan-1.3b-480p; do
    for dev in cuda:0 vulkan:0 "${ocl:-opencl:0}"; do
      tag="builds_${p}_$(echo "$dev" | tr : _)"
      timeout 120 env ${ENV:-} "$B/cli/voxattn" bench --device "$dev" --preset "$p" --mode bsa,svg --tau 0.9 \
        --density 0.1 --keep 1,0.5 --build-only --warmup 2 --runs 10 >"/tmp/builds/$tag.txt" 2>&1
      echo "$p $dev rc=$?: $(build_ms "/tmp/builds/$tag.txt")"
    done
  done | tee "$OUT/builds.txt"
  tar cJf "$OUT/builds.tar.xz" -C /tmp/builds .
  ;;
ab)
  shift
  dev=${DEV:-vulkan:0}
  mkdir -p /tmp/ab
  n=0
  for cfg in "" "$@" ""; do
    n=$((n + 1))
    timeout 120 env $cfg "$B/cli/voxattn" bench --device "$dev" --preset "${PRESET:-hunyuan-720p}" \
      --mode "${MODES:-bsa,svg}" --tau 0.9 --density 0.1 --keep 1,0.5 --build-only --warmup 2 --runs 10 \
      >"/tmp/ab/ab_$n.txt" 2>&1
    echo "$dev [${cfg:-default}] rc=$?: $(build_ms "/tmp/ab/ab_$n.txt")"
  done | tee "$OUT/ab.txt"
  tar cJf "$OUT/ab.tar.xz" -C /tmp/ab .
  ;;
baselines)
  J=${BENCH_JSON:-$OUT/bench.json}
  timeout 400 python3 perf/baselines.py --masks /tmp/masks --bench "$J" --json "$OUT/torch.json" \
    >"$OUT/baselines.txt" 2>&1
  echo "baselines rc=$?"; tail -14 "$OUT/baselines.txt"
  python3 perf/report.py "$J" "$OUT/torch.json" --out "$OUT/table.md"
  ;;
esac
