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
#   prof TAG BUILD 'VAR=1 ...' 'ARGS'
#                               one `voxattn bench --build-only -v` process under VOXATTN_GPU_PROFILE=1 on the
#                               preset $H with the library in BUILD: one summary line, each kernel's launch count
#                               and median ms (host-timed per launch), its log $L/p_TAG.txt.xz
#   ncu_src TAG BUILD 'VAR=1 ...' SKIP
#                               ncu (source counters, stall sampling, memory, occupancy) of one launch of the
#                               kernels matching $NCU_K (default fast_kb_ss) after SKIP, in a build on $H of the
#                               masks $NCU_ARGS (default top-k 10%; $NCU_SECTIONS: more `--section X`):
#                               $L/ncu_TAG_details.txt and the SASS source page $L/ncu_TAG_sass.csv
#                               (tools/ncu_stalls.py reads it), one summary line
#   sanitize TAG SECS TOOL PROG [ARGS]
#                               compute-sanitizer --tool TOOL (memcheck, racecheck, ...) on $B/tests/PROG ARGS
#                               under a SECS-second timeout, its log $L/san_TAG.txt, one summary line: rc, the
#                               tool's summary and the test's count line
#   check_misc                  test_cuda_graph and test_async's CUDA cases, one summary line each
#   bench_ab N 'ARGS'           N rounds of two `bench` processes on cuda:0 and $H, build-old's library (tags
#                               old1, old2, ...) then $B's (new1, ...): a change against its base in one call
#   bench_env N TAG 'ARGS' 'VAR=1 ...'
#                               N rounds of two `bench` processes on cuda:0 and $H: the defaults (ss1, ss2, ...),
#                               then under the switches (TAG1, ...): an opt-in kernel against the default
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
H=${H:-hunyuan-720p}
prof() {
  timeout 100 env VOXATTN_GPU_PROFILE=1 $3 "$2/cli/voxattn" bench --device cuda:0 --preset $H $4 --build-only \
    --warmup 2 --runs 10 -v >"$L/p_$1.txt" 2>&1
  echo "prof $1 [$3] rc=$?: $(grep -oE 'vox_[a-z0-9_]+ grid [0-9]+ x [0-9]+: [0-9.]+' "$L/p_$1.txt" |
    awk '{print $1, $NF}' | sort -k1,1 -k2,2n | awk '{k[NR]=$1; v[NR]=$2} END {i=1; while (i<=NR) {j=i;
      while (j<NR && k[j+1]==k[i]) j++; printf "%s x%d med %s; ", k[i], j-i+1, v[int((i+j)/2)]; i=j+1}}') $(el)" >>"$S"
  xz -9 "$L/p_$1.txt"
}
ncu_src() {
  timeout 150 env $3 ncu --clock-control none -k regex:${NCU_K:-fast_kb_ss} --launch-skip $4 --launch-count 1 \
    --section SpeedOfLight --section SourceCounters --section WarpStateStats --section SchedulerStats \
    --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats ${NCU_SECTIONS:-} -o "$L/ncu_$1" \
    "$2/cli/voxattn" bench --device cuda:0 --preset $H ${NCU_ARGS:---mode bsa --density 0.1 --keep 1} --build-only \
    --warmup 1 --runs 2 >"$L/ncu_$1.log" 2>&1
  _rc=$?
  ncu -i "$L/ncu_$1.ncu-rep" --page details >"$L/ncu_$1_details.txt" 2>&1
  ncu -i "$L/ncu_$1.ncu-rep" --page source --csv --print-source sass >"$L/ncu_$1_sass.csv" 2>&1
  rm -f "$L/ncu_$1.ncu-rep"
  echo "ncu $1 rc=$_rc: $(grep -E 'Duration|Warp Cycles Per Issued|Issue Slots Busy|L2 Cache Throughput' "$L/ncu_$1_details.txt" |
    tr -s ' ' | tr '\n' ';') sass $(wc -l <"$L/ncu_$1_sass.csv") $(el)" >>"$S"
}
sanitize() {
  _t=$1 _to=$2 _tool=$3 _p=$4
  shift 4
  timeout "$_to" compute-sanitizer --tool "$_tool" "$B/tests/$_p" "$@" >"$L/san_$_t.txt" 2>&1
  echo "sanitize $_t $_tool $_p rc=$?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$L/san_$_t.txt" | tail -1) |" \
    "$(grep -E '^[a-z]+ +[0-9]+ +[0-9]+ +[0-9]+' "$L/san_$_t.txt" | head -1) $(el)" >>"$S"
}
check_misc() {
  for _t in test_cuda_graph "test_async --backend cuda"; do
    _n=$(echo $_t | cut -d' ' -f1)
    timeout 60 $B/tests/$_t >"$L/$_n.txt" 2>&1
    echo "$_t rc=$?: $(tail -2 "$L/$_n.txt" | tr '\n' ' ') $(el)" >>"$S"
  done
}
bench_ab() {
  _i=1
  while [ $_i -le $1 ]; do
    B=build-old bench old$_i cuda:0 $H "$2" ""
    bench new$_i cuda:0 $H "$2" ""
    _i=$((_i + 1))
  done
}
bench_env() {
  _i=1
  while [ $_i -le $1 ]; do
    bench ss$_i cuda:0 $H "$3" ""
    bench $2$_i cuda:0 $H "$3" "$4"
    _i=$((_i + 1))
  done
}
gpu_call_end() {
  echo "end $(date +%T) $(el)" >>"$S"
  tar cJf "$OUT/logs.tar.xz" -C "$OUT" logs && rm -rf "$L"
}
