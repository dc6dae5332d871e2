#!/bin/sh
# Install the .deb into a clean Debian 12 chroot (debootstrap, as root) and
# check what the package promises: dpkg -i works, the systemd unit is there
# and valid, the system user exists, /etc/agent and /var/lib/agent are 0700
# agent:agent, and `agent --version` runs as that user.
# Usage: sh packaging/test-deb-chroot.sh build-deb-amd64/agent-121_*.deb [CHROOT]
# Needs: debootstrap and the Debian mirror (apt's own); amd64 packages only
# (an arm64 chroot would run every tool under qemu-user).
set -eu
DEB=$(readlink -f "$1")
ROOT=${2:-/tmp/agent-deb-chroot}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
[ "$(id -u)" -eq 0 ] || { echo "test-deb-chroot.sh: run as root" >&2; exit 1; }
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
    echo "== debootstrap bookworm (minbase + systemd) into $ROOT"
    debootstrap --variant=minbase --include=systemd bookworm "$ROOT" "$MIRROR" >/dev/null
fi
cleanup() { umount "$ROOT/proc" 2>/dev/null || true; }
trap cleanup EXIT
mount -t proc proc "$ROOT/proc"
cp "$DEB" "$ROOT/tmp/agent.deb"
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
echo "== the libraries it depends on (apt-get), then dpkg -i"
in_root apt-get install -y -qq --no-install-recommends libcurl4 libsqlite3-0 \
    libmbedcrypto7 libcjson1 zlib1g procps >/dev/null 2>&1
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
check in_root runuser -u agent -- sh -c 'cd /tmp && agent --config /etc/agent/agent.conf init --force --server http://127.0.0.1:9 --program 3 --user u --store /var/lib/agent/agent.db'
check in_root runuser -u agent -- agent --config /etc/agent/agent.conf status
check test -f "$ROOT/usr/share/man/man1/agent.1.gz"
in_root dpkg -r agent-121 >/dev/null
check test -d "$ROOT/var/lib/agent"
[ "$fail" -eq 0 ] && echo "deb install check: all passed" || { echo "deb install check: FAILED"; exit 1; }
