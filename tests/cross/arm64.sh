#!/bin/sh
# The agent for Debian 12 arm64 (Raspberry Pi OS 64-bit), built on an amd64
# Debian 12 machine and tested under qemu-user: the C unit tests, and with
# --all the CLI tests too (the Python fakes run natively, the agent binary
# through qemu-aarch64-static -L /, i.e. with the multiarch libc6:arm64).
#
# Usage: sh tests/cross/arm64.sh [--all] [--deb] [--if-available]
#   --all           also the CLI tests (ctest label cli), not only unit tests
#   --deb           also build the arm64 .deb (packaging/build-deb.sh arm64)
#   --if-available  exit 0 with a "skipped" line when the cross toolchain is
#                   missing and cannot be installed (not root)
# ARM64_JOBS (default 2): emulated tests at once; most CLI tests wait on
# timers and fakes much of the time, so 3-4 finish sooner on 2 cores.
# AGENT_TEST_SLOWDOWN (default 10): how much slower the emulated agent is
# than a native one; the CLI tests scale their waits and time bounds by it
# (tests/cli/clitest.py: slow()), never what they check.
# As root it installs what it needs: dpkg --add-architecture arm64,
# crossbuild-essential-arm64, qemu-user-static and the :arm64 dev packages
# (and libfaketime:arm64: tests/cross/agent_emu.c hands the agent the arm64
# twin of the amd64 libfaketime that `faketime` preloads).
set -eu
cd "$(dirname "$0")/../.."
ALL=0 DEB=0 SOFT=0
for a in "$@"; do
    case "$a" in
    --all) ALL=1 ;;
    --deb) DEB=1 ;;
    --if-available) SOFT=1 ;;
    *) echo "arm64.sh: unknown option $a" >&2; exit 2 ;;
    esac
done
B=${ARM64_BUILD_DIR:-build-arm64}
PKGS="crossbuild-essential-arm64 qemu-user-static libc6:arm64
libsqlite3-dev:arm64 libcurl4-openssl-dev:arm64 libmbedtls-dev:arm64
libcjson-dev:arm64 zlib1g-dev:arm64 libhpdf-dev:arm64
libmicrohttpd-dev:arm64 libfaketime:arm64 libgcrypt20:arm64"

have_all() {
    command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 &&
        command -v qemu-aarch64-static >/dev/null 2>&1 &&
        for p in $PKGS; do
            case "$p" in *:arm64) dpkg -s "$p" >/dev/null 2>&1 || return 1 ;; esac
        done
}

if ! have_all; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing the arm64 cross toolchain (multiarch)"
        export DEBIAN_FRONTEND=noninteractive
        dpkg --add-architecture arm64
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
    elif [ "$SOFT" -eq 1 ]; then
        echo "arm64: skipped (no cross toolchain; as root: sh tests/cross/arm64.sh)"
        exit 0
    else
        echo "arm64.sh: missing packages; as root run: dpkg --add-architecture" \
             "arm64 && apt-get update && apt-get install" $PKGS >&2
        exit 1
    fi
fi

echo "== cross build for aarch64 ($B)"
LAUNCHER=""
command -v ccache >/dev/null 2>&1 && LAUNCHER="-DCMAKE_C_COMPILER_LAUNCHER=ccache"
# shellcheck disable=SC2086
cmake -S . -B "$B" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DAGENT_TEST_SLOWDOWN="${AGENT_TEST_SLOWDOWN:-10}" $LAUNCHER >/dev/null
cmake --build "$B" -j"$(nproc 2>/dev/null || echo 2)"
file "$B/agent/agent" 2>/dev/null || true
qemu-aarch64-static -L / "$B/agent/agent" --version

echo "== tests under qemu-aarch64"
LABEL="unit"
[ "$ALL" -eq 1 ] && LABEL="unit|cli"
# The emulator must load ld.so and libc.so.6 of the same glibc build (see
# cmake/aarch64-linux-gnu.cmake: -L /usr/aarch64-linux-gnu mixes the cross
# package's ld.so with libc6:arm64 and every fork() child then spins). A
# five-line fork program checks that first, so a mismatch is one clear
# error instead of every forking test hanging until its timeout.
PROBE=$(mktemp -d)
cat > "$PROBE/fork.c" <<'C'
#include <sys/wait.h>
#include <unistd.h>
int main(void) { pid_t p = fork(); int st = 1;
  if (p == 0) _exit(0);
  return p > 0 && waitpid(p, &st, 0) == p && st == 0 ? 0 : 1; }
C
aarch64-linux-gnu-gcc -o "$PROBE/fork" "$PROBE/fork.c"
# In its own session, so that a spinning child can be killed with it.
setsid qemu-aarch64-static -L / "$PROBE/fork" &
QPID=$!
i=0
while kill -0 "$QPID" 2>/dev/null && [ "$i" -lt 30 ]; do sleep 1; i=$((i + 1)); done
FORK_OK=1
if kill -0 "$QPID" 2>/dev/null; then
    kill -9 "-$QPID" 2>/dev/null || true
    FORK_OK=0
fi
wait "$QPID" || FORK_OK=0
rm -rf "$PROBE"
if [ "$FORK_OK" -eq 0 ]; then
    echo "arm64.sh: an arm64 fork() under qemu-aarch64-static -L / did not" \
         "finish: are ld-linux-aarch64.so.1 and libc.so.6 in" \
         "/lib/aarch64-linux-gnu from the same libc6:arm64?" >&2
    exit 1
fi
# Emulation is 5-20x slower: more time per test, fewer at once.
ctest --test-dir "$B" --output-on-failure -j"${ARM64_JOBS:-2}" -L "$LABEL" \
      --timeout 900

if [ "$DEB" -eq 1 ]; then
    echo "== arm64 package"
    sh packaging/build-deb.sh arm64
fi
