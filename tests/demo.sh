#!/bin/sh
# The main job, end to end, on this machine only: start the bundled fake
# 121 server with demo data on 127.0.0.1, sync a new device with it, work
# offline (register, edit, change a status), and sync again.
# Usage: tests/demo.sh [BUILD_DIR]     (default: build)
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
AGENT="$BUILD/agent/agent"
[ -x "$AGENT" ] || { echo "demo: $AGENT not built; run cmake first" >&2; exit 1; }
DIR=$(mktemp -d /tmp/agent-demo.XXXXXX)
export AGENT_CONFIG="$DIR/agent.conf"
FAKE_PID=""
cleanup() {
    [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null && wait "$FAKE_PID" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

echo "== start the demo 121 server (tests/fake121, 1,000 registrations)"
python3 tests/fake121/fake121.py --port 0 --port-file "$DIR/port" --demo \
    >"$DIR/fake121.log" 2>&1 &
FAKE_PID=$!
i=0
while [ ! -s "$DIR/port" ]; do
    i=$((i + 1)); [ $i -lt 200 ] || { echo "demo: fake121 did not start" >&2; exit 1; }
    sleep 0.05
done
URL="http://127.0.0.1:$(cat "$DIR/port")"

echo "== agent init --server $URL"
"$AGENT" init --server "$URL" --program 3 --user sync-bot@example.org \
    --store "$DIR/agent.db"
export AGENT_121_PASSWORD=s3cret   # the demo server's password

echo "== first sync"
"$AGENT" sync --now

echo "== offline: register two people, edit one, change a status"
REF1=$("$AGENT" registrations add fullName="Demo Person A" phoneNumber=31600000101 \
       programFspConfigurationName=Intersolve-voucher-paper preferredLanguage=en district=north)
REF2=$("$AGENT" registrations add fullName="Demo Person B" phoneNumber=31600000102 \
       programFspConfigurationName=Intersolve-voucher-paper preferredLanguage=nl)
"$AGENT" registrations edit "$REF1" householdSize=4 --reason "household visit"
"$AGENT" registrations status "$REF2" validated
"$AGENT" registrations search "Demo Person"
"$AGENT" outbox

echo "== sync again (sends the offline work)"
"$AGENT" sync --now
sleep 1   # 121 applies status changes asynchronously
echo "== sync once more (confirms the status change)"
"$AGENT" sync --now
"$AGENT" status
