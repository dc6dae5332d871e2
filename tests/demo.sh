#!/bin/sh
# The main job, end to end, on this machine only: create a store, load the
# demo program definition, register people offline, edit one, change a
# status, and list what is pending for the server.
# Usage: tests/demo.sh [BUILD_DIR]     (default: build)
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
AGENT="$PWD/$BUILD/agent/agent"
[ -x "$AGENT" ] || { echo "demo: $AGENT not built; run cmake first" >&2; exit 1; }
DIR=$(mktemp -d /tmp/agent-demo.XXXXXX)
export AGENT_CONFIG="$DIR/agent.conf"
trap 'rm -rf "$DIR"' EXIT

echo "== agent init (store in $DIR)"
"$AGENT" init --server http://127.0.0.1:9 --program 3 --user demo@example.org \
    --store "$DIR/agent.db"
"$AGENT" program import tests/data/program.json

echo "== register three people offline"
REF1=$("$AGENT" registrations add fullName="Demo Person A" phoneNumber=31600000101 \
       programFspConfigurationName=Intersolve-voucher-paper preferredLanguage=en district=north)
REF2=$("$AGENT" registrations add fullName="Demo Person B" phoneNumber=31600000102 \
       programFspConfigurationName=Intersolve-voucher-paper preferredLanguage=nl)
"$AGENT" registrations add fullName="Demo Person C" phoneNumber=31600000103 \
       programFspConfigurationName=Intersolve-voucher-paper >/dev/null
echo "created $REF1 and $REF2 (and one more)"

echo "== edit, change status, look up"
"$AGENT" registrations edit "$REF1" householdSize=4 --reason "household visit"
"$AGENT" registrations status "$REF2" validated
"$AGENT" registrations list
"$AGENT" registrations search "Person B"

echo "== outbox and status"
"$AGENT" outbox
"$AGENT" status
