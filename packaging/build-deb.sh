#!/bin/sh
# Build the Debian package agent-121 for amd64 (this machine) or arm64 (the
# cross toolchain of tests/cross/arm64.sh, which installs it when missing).
# Usage: sh packaging/build-deb.sh [amd64|arm64]   -> build-deb-<arch>/*.deb
set -eu
cd "$(dirname "$0")/.."
ARCH=${1:-$(dpkg --print-architecture)}
B=build-deb-$ARCH
case "$ARCH" in
amd64) TC="" ;;
arm64)
    command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 ||
        { echo "build-deb.sh: no cross toolchain: run sh tests/cross/arm64.sh first" >&2; exit 1; }
    TC="-DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake" ;;
*) echo "build-deb.sh: unknown architecture $ARCH" >&2; exit 2 ;;
esac
# shellcheck disable=SC2086
LAUNCHER=""
command -v ccache >/dev/null 2>&1 && LAUNCHER="-DCMAKE_C_COMPILER_LAUNCHER=ccache"
# shellcheck disable=SC2086
cmake -S . -B "$B" $TC $LAUNCHER -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_INSTALL_PREFIX=/usr -DAGENT_BUILD_TESTS=OFF >/dev/null
# cpack builds every target first: without the tests that is only the
# agent, its man page and completion (the tests made it 50 minutes on a
# loaded machine).
cmake --build "$B" -j"$(nproc 2>/dev/null || echo 2)" --target agent agent_man
(cd "$B" && cpack -G DEB >/dev/null)
ls -l "$B"/*.deb
dpkg-deb -f "$B"/*.deb Package Version Architecture Depends
dpkg-deb --contents "$B"/*.deb
