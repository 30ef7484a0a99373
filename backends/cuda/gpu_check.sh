#!/bin/sh
# GPU-machine check of the CUDA backend (one call of the device tool):
# conformance (attention paths: sm_90a on H100/H200, else mma.sync; mma.sync
# with VOXATTN_CUDA_NO_SM90=1; scalar), compute-sanitizer
# memcheck, the op table (test_ops, where built: every op, then kv_select
# under the opt-in kernels' switches, which no default run reaches), then
# timings. Binaries built elsewhere are taken from $1 (voxattn,
# libvoxattn.so.0, conformance, test_ops); logs go to $OUT.
# usage: sh backends/cuda/gpu_check.sh BIN_DIR [bench presets] [sanitize 0/1]
B=${1:-build-cudabin}
PRESETS=${2:-wan-1.3b-480p}
SAN=${3:-1}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$B${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
sh .gpu/prepare.sh >/dev/null 2>&1
nvidia-smi -L
"$B/voxattn" devices 2>&1 | head -4
echo "== conformance (cuda)"
"$B/conformance" --backend cuda -v >"$OUT/conformance.log" 2>&1
echo "conformance rc=$?"
grep -E "FAIL|fail|^cuda|^cpu|skip" "$OUT/conformance.log" | head -30
echo "== conformance (cuda, mma.sync attention: sm_90a path off)"
VOXATTN_CUDA_NO_SM90=1 "$B/conformance" --backend cuda >"$OUT/conformance_no_sm90.log" 2>&1
echo "no-sm90 conformance rc=$?"
grep -E "FAIL|fail|^cuda" "$OUT/conformance_no_sm90.log" | head -10
echo "== conformance (cuda, scalar attention)"
VOXATTN_GPU_SCALAR=1 "$B/conformance" --backend cuda >"$OUT/conformance_scalar.log" 2>&1
echo "scalar conformance rc=$?"
grep -E "FAIL|fail|^cuda" "$OUT/conformance_scalar.log" | head -10
if [ "$SAN" = 1 ]; then
  echo "== compute-sanitizer memcheck"
  compute-sanitizer --tool memcheck "$B/conformance" --backend cuda >"$OUT/sanitizer.log" 2>&1
  echo "sanitizer rc=$?"
  grep -E "ERROR SUMMARY|^cuda" "$OUT/sanitizer.log" | head -5
fi
if [ -x "$B/test_ops" ]; then
  echo "== test_ops (cuda)"
  "$B/test_ops" --backend cuda >"$OUT/test_ops.log" 2>&1
  echo "test_ops rc=$?"
  grep -E "FAIL|^cuda" "$OUT/test_ops.log" | head -10
  for v in VOXATTN_KV_SELECT_CUM_BINS; do
    env $v=1 "$B/test_ops" --backend cuda --op kv_select >"$OUT/test_ops_$v.log" 2>&1
    echo "test_ops kv_select $v=1 rc=$?"
    grep -E "FAIL|^cuda" "$OUT/test_ops_$v.log" | head -5
  done
fi
echo "== bench $PRESETS"
timeout 420 "$B/voxattn" bench --device cuda:0 --preset "$PRESETS" --json "$OUT/bench.json" >"$OUT/bench.log" 2>"$OUT/bench.err"
echo "bench rc=$?"
cat "$OUT/bench.log" | tail -30
tail -5 "$OUT/bench.err"
