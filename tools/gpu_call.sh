# Sourced (sh) at the top of one GPU call's own script, from the checkout's root: `. tools/gpu_call.sh`.
# The library and tests were built on the CPU machine (meson build dir $B, default build-gpu) and packed with
#   tar cf - build-gpu/libvoxattn.so* build-gpu/cli/voxattn build-gpu/tests/conformance build-gpu/tests/test_ops \
#     build-gpu/tests/robust/test_hostile | xz -T2 > .gpu/pack.tar.xz; git rev-parse --short HEAD > .gpu/pack.txt
# (pack.txt: the commit, with "+..." for uncommitted variants). This unpacks it, sets the machine up
# (tools/gpu_env.sh) and starts $S, the call's one-line-per-step summary, with the script's name ($CALL
# overrides it), the pack and the GPU. Then:
#   el                          seconds since the call began (end each summary line with it)
#   bench TAG DEV PRESET 'ARGS' 'VAR=1 ...'
#                               one `voxattn bench --build-only` process (2 warm-up, 10 timed builds) under those
#                               switches, its log $L/b_TAG.txt, one summary line: each mask's build ms
#   check TAG PROG DEV 'VAR=1 ...' [ARGS]
#                               tests/PROG (conformance, test_ops, robust/test_hostile) on DEV, its log
#                               $L/TAG.txt, one summary line: rc and its count line (hostile: cases ok)
# At the end: `gpu_call_end` (archives $L as $OUT/logs.tar.xz: the device tool brings back few files).
set -u
T0=$(date +%s)
OUT=${OUT:-/tmp/out}; L=$OUT/logs; S=$OUT/summary.txt; B=${B:-build-gpu}
mkdir -p "$L"
xz -dc .gpu/pack.tar.xz | tar xf - || echo "unpack failed" >>"$S"
. tools/gpu_env.sh "$L/prepare.txt"
echo "${CALL:-$(basename "$0" .sh)} $(date +%T) $(cat .gpu/pack.txt) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)" >>"$S"
el() { echo "$(( $(date +%s) - T0 ))s"; }
bench() {
  timeout "${BENCH_TIMEOUT:-100}" env $5 "$B/cli/voxattn" bench --device "$2" --preset "$3" $4 --build-only \
    --warmup 2 --runs 10 >"$L/b_$1.txt" 2>&1
  echo "bench $1 $2 $3 [$5] rc=$?: $(build_ms "$L/b_$1.txt") $(el)" >>"$S"
}
check() {
  _t=$1 _p=$2 _d=$3 _e=$4
  shift 4
  timeout "${CHECK_TIMEOUT:-120}" env $_e "$B/tests/$_p" --device "$_d" "$@" >"$L/$_t.txt" 2>&1
  _rc=$?
  case $_p in
  *hostile) echo "$_t $_d [$_e] rc=$_rc: $(grep -c ': ok' "$L/$_t.txt") cases ok, $(grep -ciE 'fail|mismatch' "$L/$_t.txt") failing lines $(el)" ;;
  *) echo "$_t $_d [$_e] rc=$_rc: $(grep -E '^[a-z]+ +[0-9]+ +[0-9]+ +[0-9]+' "$L/$_t.txt" | head -1) $(el)"
     grep -E 'FAIL' "$L/$_t.txt" | head -3 ;;
  esac >>"$S"
}
gpu_call_end() {
  echo "end $(date +%T) $(el)" >>"$S"
  tar cJf "$OUT/logs.tar.xz" -C "$OUT" logs && rm -rf "$L"
}
