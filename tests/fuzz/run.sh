#!/bin/sh
# Run each fuzzer for SECONDS (default 600 = 10 min), one after the other,
# from a libFuzzer build (clang, -DAGENT_FUZZ=ON) in build-fuzz/.
# New inputs go to build-fuzz/fuzz-corpus/<name>/ (the kept corpus in
# tests/fuzz/corpus/<name>/ is only read); crashes to
# build-fuzz/fuzz-crashes/<name>/. A crash input, once fixed, belongs in
# tests/fuzz/regressions/<name>/ (the suite replays it).
#
# usage: tests/fuzz/run.sh [SECONDS] [NAME...]      (from the repository root)
#   JOBS=2 runs that many fuzzers at once; FUZZ_ARGS adds libFuzzer options.
set -eu
cd "$(dirname "$0")/../.."
SECS=${1:-600}
[ $# -gt 0 ] && shift
NAMES=${*:-"jstream config cli import answers sync"}
JOBS=${JOBS:-1}
B=build-fuzz

CC=${CC:-clang} cmake -S . -B $B -DAGENT_FUZZ=ON -DAGENT_WERROR=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
for n in $NAMES; do
    cmake --build $B -j2 --target fuzz_$n >/dev/null
done

run_one() {
    n=$1
    mkdir -p $B/fuzz-corpus/$n $B/fuzz-crashes/$n
    echo "== fuzz_$n for ${SECS}s (log: $B/fuzz-$n.log)"
    # -close_fd_mask=3: the CLI targets print; crash reports still show.
    if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
       UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
       $B/tests/fuzz/fuzz_$n -max_total_time="$SECS" -timeout=30 \
           -rss_limit_mb=2048 -max_len=65536 -close_fd_mask=3 \
           -artifact_prefix=$B/fuzz-crashes/$n/ -print_final_stats=1 \
           ${FUZZ_ARGS:-} $B/fuzz-corpus/$n tests/fuzz/corpus/$n \
           >$B/fuzz-$n.log 2>&1; then
        echo "   fuzz_$n: no crash"
    else
        echo "   fuzz_$n: FAILED, see $B/fuzz-$n.log and $B/fuzz-crashes/$n/"
        return 1
    fi
    grep -E '^stat::(number_of_executed_units|new_units_added)' \
        $B/fuzz-$n.log | sed 's/^/   /'
}

rc=0
if [ "$JOBS" -gt 1 ]; then
    pids=""
    for n in $NAMES; do
        run_one "$n" & pids="$pids $!"
        while [ "$(jobs -p | wc -l)" -ge "$JOBS" ]; do sleep 5; done
    done
    for p in $pids; do wait "$p" || rc=1; done
else
    for n in $NAMES; do run_one "$n" || rc=1; done
fi
exit $rc
