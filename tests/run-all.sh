#!/bin/sh
# The whole test suite: build and test twice, once normally and once with
# AddressSanitizer + UndefinedBehaviorSanitizer (which include LeakSanitizer).
# Usage: tests/run-all.sh            (from the repository root)
set -eu
cd "$(dirname "$0")/.."
JOBS=$(nproc 2>/dev/null || echo 2)

echo "== build (RelWithDebInfo, -Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"
echo "== tests"
ctest --test-dir build --output-on-failure -j"$JOBS"
# The store's tests again on encrypted stores (every store a test makes is
# encrypted: a test key in the unit tests, a key file in the CLI tests).
# Only label `encrypted` (tests/CMakeLists.txt); the whole suite passes with
# AGENT_TEST_ENCRYPT=1 ctest --test-dir build.
echo "== tests on encrypted stores"
AGENT_TEST_ENCRYPT=1 ctest --test-dir build --output-on-failure -j"$JOBS" \
    -L encrypted

echo "== build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DAGENT_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$JOBS"
echo "== tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j"$JOBS"
