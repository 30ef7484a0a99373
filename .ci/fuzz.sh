#!/usr/bin/env bash
# Bounded libFuzzer runs of the two fuzz targets (issues 9 and 15):
#   fuzz_plan      tests/robust/fuzz_plan.c      the API surface (plans, masks, tensors)
#                  corpus tests/robust/corpus
#   fuzz_numerics  tests/robust/fuzz_numerics.c  forward/build numerics against the
#                  numerics contract (docs/numerics.md), corpus tests/robust/corpus_numerics
#
# Configures its own build dir (build-fuzz) with clang, libFuzzer, ASan and
# UBSan (every UBSan report fatal), builds both targets, and runs each for
# FUZZ_SECONDS (default 300: two targets, ~10 minutes, well inside CI's 90)
# over a temporary copy of its committed corpus (new inputs go to the copy,
# never into the repo). Prints, per target, the executions and the time it
# really ran (a run stops early at a finding). Exits non-zero if either
# target found a crash, leak, hang (-timeout), OOM (-rss_limit_mb) or UB
# report; the crashing input is kept under build-fuzz/artifacts/<target>/.
#
# env: FUZZ_SECONDS (300 per target), FUZZ_TARGETS ("fuzz_plan fuzz_numerics"),
#      CC (clang), BUILD_DIR (build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-300}
FUZZ_TARGETS=${FUZZ_TARGETS:-fuzz_plan fuzz_numerics}
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
targets=()
for t in $FUZZ_TARGETS; do targets+=("tests/robust/$t"); done
ninja -C "$BUILD_DIR" "${targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:print_stacktrace=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/voxattn-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failed=()
summary=()
for t in $FUZZ_TARGETS; do
    case $t in
    fuzz_plan) src=tests/robust/corpus extra=() ;;
    # 27 header bytes + 32 poison records of 4 bytes
    fuzz_numerics) src=tests/robust/corpus_numerics extra=(-max_len=155 -len_control=0) ;;
    *) echo "fuzz.sh: unknown target $t" >&2; exit 2 ;;
    esac
    corpus=$tmp/$t
    mkdir -p "$corpus" "$BUILD_DIR/artifacts/$t"
    cp "$src"/* "$corpus"/
    log="$BUILD_DIR/$t.log"
    t0=$(date +%s)
    set +e
    "$BUILD_DIR/tests/robust/$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "${extra[@]}" -artifact_prefix="$BUILD_DIR/artifacts/$t/" "$corpus" >"$log" 2>&1
    rc=$?
    set -e
    elapsed=$(( $(date +%s) - t0 ))
    grep -E '^#[0-9]+.*(INITED|DONE)|ERROR|SUMMARY|fuzz_numerics:|stat::' "$log" || true
    # the last status line counts the executions also when a finding stopped the run
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1)
    [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    line="$t: ${execs:-?} executions in ${elapsed}s (asked ${FUZZ_SECONDS}s), $(ls "$corpus" | wc -l) corpus inputs, exit $rc"
    echo "fuzz.sh: $line"
    summary+=("$line")
    if [ "$rc" -ne 0 ]; then
        failed+=("$t")
        echo "fuzz.sh: $t FAILED; reproducer(s) in $BUILD_DIR/artifacts/$t/:" >&2
        ls -l "$BUILD_DIR/artifacts/$t/" >&2 || true
        tail -60 "$log" >&2
    fi
done
printf 'fuzz.sh summary:\n'
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
