#!/usr/bin/env bash
# Bounded libFuzzer run of tests/robust/fuzz_plan.c (issue 9).
#
# Configures its own build dir (build-fuzz) with clang, libFuzzer, ASan and
# UBSan (every UBSan report fatal), builds fuzz_plan, and runs it for
# FUZZ_SECONDS (default 60) over a temporary copy of the committed corpus
# (tests/robust/corpus; new inputs go to the copy, never into the repo).
# Prints the number of executions. Exits non-zero on a crash, leak, hang
# (-timeout), OOM (-rss_limit_mb) or UB report; the crashing input is kept
# under build-fuzz/artifacts/.
#
# env: FUZZ_SECONDS (60), FUZZ_JOBS (1), CC (clang), BUILD_DIR (build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
CC=${CC:-clang}
if ! command -v "$CC" >/dev/null 2>&1 || ! "$CC" --version | grep -qi clang; then
    if command -v clang >/dev/null 2>&1; then
        CC=clang
    else
        echo "fuzz.sh: clang not found (apt-get install clang)" >&2
        exit 1
    fi
fi
export CC

# The library is instrumented for coverage (fuzzer-no-link); the target
# itself links libFuzzer (tests/robust/meson.build adds -fsanitize=fuzzer).
# GPU backends are off: the target runs on the cpu device only.
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    meson setup "$BUILD_DIR" --werror -Dfuzz=enabled -Dtests=enabled \
        -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized \
        -Dc_args='-fsanitize=fuzzer-no-link -fno-sanitize-recover=all -fno-omit-frame-pointer' \
        -Dopencl=disabled -Dvulkan=disabled -Dcuda=disabled -Dhip=disabled
fi
ninja -C "$BUILD_DIR" tests/robust/fuzz_plan

corpus=$(mktemp -d "${TMPDIR:-/tmp}/voxattn-fuzz-corpus.XXXXXX")
trap 'rm -rf "$corpus"' EXIT
cp tests/robust/corpus/* "$corpus"/
mkdir -p "$BUILD_DIR/artifacts"

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:print_stacktrace=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

log="$BUILD_DIR/fuzz.log"
t0=$(date +%s)
set +e
"$BUILD_DIR/tests/robust/fuzz_plan" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$BUILD_DIR/artifacts/" "$corpus" >"$log" 2>&1
rc=$?
set -e
elapsed=$(( $(date +%s) - t0 ))
grep -E '^#[0-9]+.*(INITED|DONE|pulse)|ERROR|SUMMARY|stat::' "$log" || true
execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1)
echo "fuzz.sh: fuzz_plan ran ${execs:-?} executions in ${elapsed}s of ${FUZZ_SECONDS}s asked ($(ls "$corpus" | wc -l) corpus inputs), exit $rc"
if [ "$rc" -ne 0 ]; then
    echo "fuzz.sh: FAILED; reproducer(s) in $BUILD_DIR/artifacts/:" >&2
    ls -l "$BUILD_DIR/artifacts/" >&2 || true
    tail -60 "$log" >&2
    exit 1
fi
