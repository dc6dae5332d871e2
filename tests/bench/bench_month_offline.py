#!/usr/bin/env python3
"""bench_month_offline.py - a device back after a month offline, full size
(tests/cli/month_offline.py): 10,000 people pulled, then 20,000 new ones,
50,000 events and 5 payments on the server, 2,000 changes on the device
(50 of them conflicting); one `agent sync --now`. Prints its time, bytes
and requests. Usage: bench_month_offline.py AGENT_BIN [--scale 1.0]"""
import argparse
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
import month_offline  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("agent")
    ap.add_argument("--scale", type=float, default=1.0)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-month.")
    try:
        r = month_offline.run(os.path.abspath(a.agent), tmp, a.scale)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    s = r["summary"]
    src = (s.get("sources") or [{}])[0]
    print("one sync --now after a month: %.1f s, exit %d, %d requests, "
          "%.2f MB on the wire (%.2f MB of JSON), pulled %s, events %s, "
          "pushed %s, sent %s, conflicts %d (expected %d), rejected %s" % (
              r["sync_seconds"], r["exit"], s.get("requests", 0),
              s.get("bytes_wire", 0) / 1e6, s.get("bytes_body", 0) / 1e6,
              s.get("pulled"), s.get("events"), s.get("pushed"),
              s.get("sent"), r["conflicts"],
              len(r["expected_conflict_refs"]), s.get("rejected")))
    print("server: %d events, %d new registrations, %d payments; device: %d "
          "offline changes (made in %.1f s)" % (
              r["server_events"], r["server_new"], r["server_payments"],
              r["offline_changes"], r["offline_seconds"]))
    print("on the server afterwards: edits %d/%d, statuses %d/%d, creates "
          "%d/%d; second sync: exit %d, %.2f s" % (
              r["edits_on_server"], r["edits_expected"],
              r["statuses_on_server"], r["statuses_expected"],
              r["creates_on_server"], r["creates_expected"],
              r["second_exit"], r["second"].get("seconds", 0)))
    if r.get("stderr"):
        print(r["stderr"])
    print(json.dumps({k: src.get(k) for k in ("pulled", "events", "pushed",
                                             "sent", "conflicts", "requests",
                                             "bytes_wire", "seconds")}))


if __name__ == "__main__":
    main()
