#!/bin/sh
# Install the .deb into a clean Debian 12 chroot (debootstrap, as root) and
# check what the package promises: dpkg -i works, the systemd unit is there
# and valid, the system user exists, /etc/agent and /var/lib/agent are 0700
# agent:agent, and `agent --version` runs as that user (which also loads
# libcurl: the Depends line must be complete).
# Usage: sh packaging/test-deb-chroot.sh build-deb-<arch>/agent-121_*.deb [CHROOT]
# Needs: debootstrap and the Debian mirror (apt's own). An arm64 package on
# an amd64 machine gets an arm64 chroot (debootstrap --foreign, then the
# second stage and every command in it under qemu-user through binfmt_misc:
# qemu-user-static and its /usr/lib/binfmt.d/qemu-aarch64.conf, registered
# here when it is not yet).
set -eu
DEB=$(readlink -f "$1")
ARCH=$(dpkg-deb -f "$DEB" Architecture)
ROOT=${2:-/tmp/agent-deb-chroot-$ARCH}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
[ "$(id -u)" -eq 0 ] || { echo "test-deb-chroot.sh: run as root" >&2; exit 1; }
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
FOREIGN=""
if [ "$ARCH" != "$(dpkg --print-architecture)" ]; then
    [ "$ARCH" = arm64 ] || { echo "test-deb-chroot.sh: no emulator for $ARCH" >&2; exit 1; }
    BF=/proc/sys/fs/binfmt_misc
    [ -e "$BF/register" ] || mount -t binfmt_misc binfmt_misc "$BF"
    if [ ! -e "$BF/qemu-aarch64" ]; then
        echo "== registering qemu-aarch64 with binfmt_misc (flag F: works in a chroot)"
        grep -v '^#' /usr/lib/binfmt.d/qemu-aarch64.conf > "$BF/register"
    fi
    FOREIGN="--foreign --arch=$ARCH"
fi
if [ ! -x "$ROOT/usr/bin/apt-get" ] || [ -d "$ROOT/debootstrap" ]; then
    echo "== debootstrap bookworm $ARCH (minbase + systemd) into $ROOT"
    # shellcheck disable=SC2086
    debootstrap $FOREIGN --variant=minbase --include=systemd bookworm "$ROOT" "$MIRROR" >/dev/null
    if [ -n "$FOREIGN" ]; then
        echo "== debootstrap second stage, under qemu"
        chroot "$ROOT" /debootstrap/debootstrap --second-stage >/dev/null
    fi
fi
cleanup() { umount "$ROOT/proc" 2>/dev/null || true; }
trap cleanup EXIT
mount -t proc proc "$ROOT/proc"
cp "$DEB" "$ROOT/tmp/agent.deb"
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
echo "== the libraries it depends on (apt-get), then dpkg -i"
# What the package's Depends line names, without the versions: a library
# missing there makes `agent --version` fail below.
DEPS=$(dpkg-deb -f "$DEB" Depends | tr ',' '\n' | sed 's/(.*)//; s/ //g' | tr '\n' ' ')
echo "     $DEPS"
# shellcheck disable=SC2086
in_root apt-get install -y -qq --no-install-recommends $DEPS >/dev/null 2>&1
in_root dpkg -i /tmp/agent.deb
echo "== checks"
fail=0
check() { if "$@"; then echo "ok   $*"; else echo "FAIL $*"; fail=1; fi; }
check test -f "$ROOT/usr/lib/systemd/system/agent.service"
# No systemd runs in a chroot: ask about the unit files offline (--root).
check in_root systemctl --root=/ list-unit-files agent.service
grep -E "^(ExecStart|User)=" "$ROOT/usr/lib/systemd/system/agent.service"
check in_root systemd-analyze verify --man=no /usr/lib/systemd/system/agent.service
check in_root getent passwd agent
for d in /etc/agent /var/lib/agent; do
    m=$(in_root stat -c '%a %U:%G' "$d")
    echo "     $d: $m"
    check test "$m" = "700 agent:agent"
done
check in_root runuser -u agent -- agent --version
# libcurl is loaded at run time (dlopen): --version names it when it loads.
check in_root runuser -u agent -- sh -c 'agent --version | grep -q "(libcurl/"'
check in_root runuser -u agent -- sh -c 'cd /tmp && agent --config /etc/agent/agent.conf init --force --server http://127.0.0.1:9 --program 3 --user u --store /var/lib/agent/agent.db'
check in_root runuser -u agent -- agent --config /etc/agent/agent.conf status
check test -f "$ROOT/usr/share/man/man1/agent.1.gz"
in_root dpkg -r agent-121 >/dev/null
check test -d "$ROOT/var/lib/agent"
[ "$fail" -eq 0 ] && echo "deb install check: all passed" || { echo "deb install check: FAILED"; exit 1; }
