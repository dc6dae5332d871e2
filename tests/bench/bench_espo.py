#!/usr/bin/env python3
"""bench_espo.py - the EspoCRM connector's first link of N records (default
20,000) against the fake 121 and the fake EspoCRM (both local, no cost
model).

Prints: records linked, HTTP requests to EspoCRM, wall time of
`agent sync --now --source espocrm` beside the fake EspoCRM's serving time
(the time spent inside its handlers), the agent's peak RSS; then the same
for a second sync (nothing changed) and for a sync after 500 EspoCRM edits.

Usage: bench_espo.py AGENT_BIN [--records 20000]
Not a pass/fail test.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fakes"))
import launcher  # noqa: E402
FAKE121 = os.path.join(HERE, "..", "fake121", "fake121.py")
FAKEESPO = os.path.join(HERE, "..", "fakeespo", "fakeespo.py")
USER, PASSWORD, KEY = "sync-bot@example.org", "s3cret", "bench-key"


def call(url, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=600) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def hwm_kib(pid):
    """VmHWM (peak RSS) of a running process, in KiB, or 0."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(agent, conf, env, *args):
    """Run the agent; (seconds, its peak RSS in KiB, stdout). The peak is
    VmHWM read while it runs: a child's ru_maxrss would count the forked
    Python process before exec."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        p = subprocess.Popen([agent, "--config", conf, "--json"] +
                             list(args), stdout=out, stderr=err, env=env)
        peak = 0
        while p.poll() is None:
            peak = max(peak, hwm_kib(p.pid))
            time.sleep(0.02)
        dt = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        text, etext = out.read(), err.read()
    if p.returncode not in (0, 4):
        sys.exit("agent %s failed (%d): %s" % (args, p.returncode,
                                               etext[-2000:]))
    return dt, peak, text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("agent")
    ap.add_argument("--records", type=int, default=20000)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-espo-")
    # about 3 % of the fake's registrations are deleted: seed a few more
    seed = int(a.records / 0.965) + 10
    f121 = launcher.start_script(FAKE121, "--seed-registrations", str(seed),
                                 "--seed-payments", "0", "--throttle", "0",
                                 "--login-throttle", "0", port_arg=True,
                                 timeout=300, prefix="bench-f121-")
    espo = launcher.start_script(FAKEESPO, "--api-key", KEY, "--occ",
                                 port_arg=True, prefix="bench-espo-")
    try:
        conf, db = os.path.join(tmp, "agent.conf"), os.path.join(tmp, "a.db")
        mapping = os.path.join(tmp, "mapping.json")
        with open(mapping, "w") as f:
            json.dump({"name": "fullName", "phoneNumber": "phoneNumber",
                       "cDistrict": {"field": "district", "values": {
                           "north": "North", "south": "South"}},
                       "cHouseholdSize": {"field": "householdSize",
                                          "type": "number"}}, f)
        env = dict(os.environ, AGENT_121_PASSWORD=PASSWORD,
                   AGENT_ESPOCRM_API_KEY=KEY)
        subprocess.run([a.agent, "--config", conf, "init", "--server",
                        f121.url, "--program", "3", "--user", USER,
                        "--store", db], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        subprocess.run([a.agent, "--config", conf, "espocrm", "setup",
                        "--url", espo.url, "--entity", "Contact",
                        "--reference-field", "cReferenceId", "--mapping",
                        mapping], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        dt, rss, _ = run(a.agent, conf, env, "sync", "--now", "--source",
                         "121")
        print("121 first pull: %.2f s, peak RSS %.1f MiB" % (dt, rss / 1024.0))
        out = subprocess.run([a.agent, "--config", conf, "--json",
                              "registrations", "list", "--limit", "1000000"],
                             check=True, env=env, capture_output=True).stdout
        regs = [r for r in json.loads(out) if r.get("phoneNumber")]
        recs = [{"name": r.get("fullName"), "phoneNumber": "+" +
                 r["phoneNumber"], "cDistrict": {"north": "North",
                                                 "south": "South"}.get(
                     r.get("district")),
                 "cHouseholdSize": int(r["householdSize"])
                 if r.get("householdSize") else None,
                 "cReferenceId": r["referenceId"]} for r in regs]
        ids = []
        # created over the past (one minute per 2,000), as a real CRM's
        for i in range(0, len(recs), 2000):
            ids += call(espo.url, "POST", "/_test/records",
                        {"records": recs[i:i + 2000],
                         "modifiedAt": "2026-01-01 00:%02d:00" % (i // 2000)})
        print("EspoCRM first link of %d records (121 holds %d)"
              % (len(recs), len(regs)))
        for label in ("first link", "again, no change", "after 500 edits",
                      "push walk only"):
            if label == "after 500 edits":
                for rid in ids[:500]:
                    call(espo.url, "POST", "/_test/edit",
                         {"id": rid, "data": {"name": "Edited " + rid}})
            call(espo.url, "POST", "/_test/reset_stats", {})
            extra = ["--push-only"] if label == "push walk only" else []
            dt, rss, out = run(a.agent, conf, env, "sync", "--now", "--source",
                               "espocrm", *extra)
            doc = json.loads(out)
            st = call(espo.url, "GET", "/_test/stats")
            status = json.loads(subprocess.run(
                [a.agent, "--config", conf, "--json", "espocrm", "status"],
                check=True, env=env, capture_output=True).stdout)
            print("  %-17s linked %6d  pulled %5d  requests %5d (list %d, "
                  "writes %d)  "
                  "agent %.2f s  fake serving %.2f s  agent peak RSS %s MiB"
                  % (label, status["linked"], doc["pulled"], doc["requests"],
                     st["list"],
                     st.get("PUT", 0) + st.get("PATCH", 0), dt,
                     st["serve_s"], "%.1f" % (rss / 1024.0)))
        if os.environ.get("BENCH_ESPO_KEEP"):
            print("kept: --config %s (fakes stop now)" % conf)
            tmp = None
    finally:
        espo.stop()
        f121.stop()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
