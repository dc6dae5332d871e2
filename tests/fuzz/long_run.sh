#!/bin/sh
# One fuzzer for SECONDS in the background-friendly form used for the
# reported runs: nice'd, log in build-fuzz/fuzz-NAME.log.
# usage: tests/fuzz/long_run.sh NAME SECONDS
set -u
cd "$(dirname "$0")/../.."
n=$1
B=build-fuzz
mkdir -p $B/fuzz-corpus/$n $B/fuzz-crashes/$n
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
nice -n 15 $B/tests/fuzz/fuzz_$n -max_total_time="$2" -timeout=30 \
    -rss_limit_mb=2048 -max_len=65536 -close_fd_mask=3 \
    -artifact_prefix=$B/fuzz-crashes/$n/ -print_final_stats=1 \
    $B/fuzz-corpus/$n tests/fuzz/corpus/$n > $B/fuzz-$n.log 2>&1
echo "exit $?" >> $B/fuzz-$n.log
