#!/usr/bin/env python3
"""bench_links.py - the agent over slow and lossy links (tests/fakes/linkemu.py
between the agent and the fake 121, all on 127.0.0.1).

For each link profile: a first pull of 5,000 and of 40,000 registrations,
and a push of 1,000 offline edits. Prints, per run: the wall time, the
model time = bytes
down / down bandwidth + bytes up / up bandwidth (or the same run on an
unshaped link, the fake's own time, where that is longer: the answer is
streamed while the server writes it) + round trips (one per HTTP request,
one per new connection) x RTT + what the lost segments of this run
delayed (the emulator measures it), the ratio (target <= 1.2), the bytes each
way, and for "drops" the cuts and how many rows were downloaded again
(target: at most one batch per cut). A push streams nothing: the agent
sends each request whole and the fake reads a request whole before it
answers, so its model adds the fake's own serving time (its request log on
the unshaped run) to bytes / bandwidth instead of taking the longer of the
two.

Usage: bench_links.py AGENT_BIN [--profiles 2g,3g,satellite,drops]
                      [--sizes 5000,40000] [--push 1000] [--window N]
                      [--batch N]
  --short: one profile (3g), 5,000 rows, no push (well under a minute).
Nothing here is a pass/fail test; it prints numbers (README "Slow links").
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
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "..", "fake121", "fake121.py")
sys.path.insert(0, os.path.join(HERE, "..", "fakes"))
import launcher  # noqa: E402
import linkemu  # noqa: E402

USER, PASSWORD = "sync-bot@example.org", "s3cret"
SEGMENT = linkemu.SEGMENT


def start_fake(size):
    return launcher.start_script(
        FAKE, "--seed-registrations", str(size), "--seed-payments", "0",
        "--gzip", "--throttle", "0", port_arg=True, timeout=180,
        prefix="bench-links-fake-")


def init_store(agent, tmp, url, window=None, batch=None):
    env = dict(os.environ, AGENT_CONFIG=os.path.join(tmp, "agent.conf"),
               AGENT_121_PASSWORD=PASSWORD)
    subprocess.run([agent, "init", "--force", "--server", url, "--program",
                    "3", "--user", USER, "--store",
                    os.path.join(tmp, "agent.db")], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    set_conf(tmp, window=window, batch=batch)
    return env


def set_conf(tmp, **keys):
    path = os.path.join(tmp, "agent.conf")
    with open(path) as f:
        lines = f.read().split("\n")
    for k, v in keys.items():
        if v is None:
            continue
        for i, line in enumerate(lines):
            if line.split("=")[0].strip() == k:
                lines[i] = "%s = %s" % (k, v)
    with open(path, "w") as f:
        f.write("\n".join(lines))


def run_sync(agent, env, *extra):
    """One `sync --now`. BENCH_LINKS_LOG=FILE: run it with -v and append
    its log (a line per request with curl's timings) to FILE."""
    log = os.environ.get("BENCH_LINKS_LOG")
    t0 = time.monotonic()
    p = subprocess.run([agent, "--json"] + (["-v"] if log else []) +
                       ["sync", "--now"] + list(extra),
                       env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=3600)
    t = time.monotonic() - t0
    if log:
        with open(log, "ab") as f:
            f.write(p.stderr)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        doc = {}
    if p.returncode not in (0, 4):
        sys.stderr.write(p.stderr.decode(errors="replace")[-2000:])
    return p.returncode, doc, t


def model_time(prof, ref_t, st, requests, serial_t=0.0):
    """bytes / bandwidth + round trips x RTT (+ expected retransmissions),
    or the unshaped run's time (the fake's own) where that is longer: a
    streamed answer crosses the link while the server still writes it.
    serial_t: server time that overlaps no transfer (a push: each request
    is read whole before the server works on it), added."""
    t = 0.0
    if prof["down_kbit"]:
        t += st["bytes_down"] * 8.0 / (prof["down_kbit"] * 1000.0)
    if prof["up_kbit"]:
        t += st["bytes_up"] * 8.0 / (prof["up_kbit"] * 1000.0)
    t = max(t, ref_t) + serial_t
    rtt = prof["rtt_ms"] / 1000.0
    t += (requests + st["connections"]) * rtt
    # What this run's lost segments cost (the emulator's own count: how
    # much later each request and answer ended than without loss), not
    # the expected segments x loss x RTT: a push is ~11 segments, so one
    # loss more or less than expected is an RTT either way.
    t += st["lost_s"]
    return t


def fake_call(url, method, path):
    req = urllib.request.Request(url + path, method=method,
                                 data=b"{}" if method == "POST" else None)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=60) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def fake_serving_s(url):
    """The fake's own time for the requests since its stats were reset
    (its request log: from reading a request to its answer)."""
    reqs = fake_call(url, "GET", "/_test/requests?limit=100000")["requests"]
    return sum(r.get("ms", 0) for r in reqs) / 1000.0, len(reqs)


def json_size(url, select=None):
    """Uncompressed bytes of all registrations in one answer (and with a
    select= of the fields the agent shows, for comparison)."""
    body = json.dumps({"username": USER, "password": PASSWORD}).encode()
    req = urllib.request.Request(url + "/api/users/login", data=body,
                                 method="POST")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req) as r:
        token = json.loads(r.read())["access_token_general"]
    path = "/api/programs/3/registrations?limit=-1"
    if select:
        path += "&select=" + select
    req = urllib.request.Request(url + path)
    req.add_header("Cookie", "access_token_general=" + token)
    with urllib.request.urlopen(req, timeout=600) as r:
        return len(r.read())


def lost_note(st):
    if not st["lost_segments"]:
        return ""
    return ", %d segments lost (+%.1f s)" % (st["lost_segments"],
                                             st["lost_s"])


class Row:
    def __init__(self, what, profile, t, model, st, doc, extra=""):
        self.what, self.profile, self.t, self.model = what, profile, t, model
        self.st, self.doc, self.extra = st, doc, extra

    def line(self):
        return ("| %s | %s | %.1f s | %.1f s | %.2fx | %.0f KB / %.0f KB | %s | "
                "%s |" % (self.what, self.profile, self.t, self.model,
                          self.t / self.model if self.model else 0,
                          self.st["bytes_down"] / 1e3,
                          self.st["bytes_up"] / 1e3,
                          self.doc.get("requests", "?"), self.extra))


def bench_pull(agent, size, profiles, window, batch, rows, ref_times):
    fake = start_fake(size)
    try:
        json_bytes = json_size(fake.url)
        per_row = json_bytes / float(size)
        for name in ["none"] + profiles:
            prof = linkemu.PROFILES[name]
            tmp = tempfile.mkdtemp(prefix="bench-links.")
            link = linkemu.LinkEmu(fake.port, prof).start()
            try:
                env = init_store(agent, tmp, "http://127.0.0.1:%d" % link.port,
                                 window=window, batch=batch)
                # A link that cuts connections may need a few syncs (the
                # agent stops after max_attempts cuts without progress).
                t_all, syncs, rc, doc = 0.0, 0, None, {}
                body = 0
                while syncs < 10:
                    rc, doc, t = run_sync(agent, env, "--pull-only")
                    t_all += t
                    syncs += 1
                    body += doc.get("bytes_body", 0)
                    src = (doc.get("sources") or [{}])[0]
                    if rc in (0, 4) and src.get("result") == "ok":
                        break
                st = link.stats()
                reqs = doc.get("requests", 0)
                if name == "none":
                    ref_times[size] = t_all
                    continue
                model = model_time(prof, ref_times[size], st, reqs)
                again = max(0.0, (body - json_bytes) / per_row)
                extra = "%d sync(s), exit %s" % (syncs, rc)
                if st["cuts"]:
                    extra += ", %d cuts, ~%d rows again (%.0f per cut)" % (
                        st["cuts"], again, again / st["cuts"])
                extra += lost_note(st)
                r = Row("first pull %d" % size, name, t_all, model, st, doc,
                        extra)
                rows.append(r)
                print(r.line(), flush=True)
            finally:
                link.stop()
                shutil.rmtree(tmp, ignore_errors=True)
        if size == 5000:
            sel = json_size(fake.url, "referenceId,status,fullName,"
                            "phoneNumber,programId,id")
            print("select= of 6 fields: %.0f KB of JSON instead of %.0f KB "
                  "(%.0f %%)" % (sel / 1e3, json_bytes / 1e3,
                                 100.0 * sel / json_bytes), flush=True)
    finally:
        fake.stop()


def edit_store(agent, tmp, env, n):
    """n offline edits (householdSize) on pulled registrations."""
    out = subprocess.run([agent, "--json", "registrations", "list", "--limit",
                          str(n)], env=env, stdout=subprocess.PIPE,
                         check=True).stdout
    regs = json.loads(out)
    if isinstance(regs, dict):
        regs = regs.get("registrations") or regs.get("data") or []
    refs = [r["referenceId"] for r in regs][:n]

    def one(i_ref):
        i, ref = i_ref
        subprocess.run([agent, "registrations", "edit", ref,
                        "householdSize=%d" % (i % 7 + 11)], env=env,
                       check=True, stdout=subprocess.DEVNULL)
    with ThreadPoolExecutor(2) as ex:
        list(ex.map(one, enumerate(refs)))
    return len(refs)


def bench_push(agent, n, profiles, rows):
    size = 5000
    fake = start_fake(size)
    base = tempfile.mkdtemp(prefix="bench-links-base.")
    try:
        env = init_store(agent, base, fake.url)
        rc, doc, _ = run_sync(agent, env, "--pull-only")
        made = edit_store(agent, base, env, n)
        print("push: %d offline edits made" % made, flush=True)
        serve_t = 0.0
        for name in ["none"] + profiles:
            prof = linkemu.PROFILES[name]
            tmp = tempfile.mkdtemp(prefix="bench-links.")
            for f in os.listdir(base):
                if f.startswith("agent.db") or f == "agent.conf":
                    shutil.copy(os.path.join(base, f), tmp)
            link = linkemu.LinkEmu(fake.port, prof).start()
            try:
                env2 = dict(env, AGENT_CONFIG=os.path.join(tmp, "agent.conf"))
                set_conf(tmp, path=os.path.join(tmp, "agent.db"),
                         url="http://127.0.0.1:%d" % link.port)
                fake_call(fake.url, "POST", "/_test/reset-stats")
                t_all, syncs = 0.0, 0
                while syncs < 10:
                    rc, doc, t = run_sync(agent, env2, "--push-only")
                    t_all += t
                    syncs += 1
                    if rc in (0, 4):
                        break
                st = link.stats()
                if name == "none":
                    serve_t, n_req = fake_serving_s(fake.url)
                    print("push unshaped: %.2f s, the fake's own %.3f s over "
                          "%d requests" % (t_all, serve_t, n_req), flush=True)
                    continue
                model = model_time(prof, 0.0, st, doc.get("requests", 0),
                                   serial_t=serve_t)
                extra = "%d sync(s), sent %s, exit %s" % (
                    syncs, doc.get("sent", doc.get("pushed")), rc)
                if st["cuts"]:
                    extra += ", %d cuts" % st["cuts"]
                extra += lost_note(st)
                r = Row("push %d edits" % n, name, t_all, model, st, doc,
                        extra)
                rows.append(r)
                print(r.line(), flush=True)
            finally:
                link.stop()
                shutil.rmtree(tmp, ignore_errors=True)
    finally:
        fake.stop()
        shutil.rmtree(base, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("agent")
    ap.add_argument("--profiles", default="2g,3g,satellite,drops")
    ap.add_argument("--sizes", default="5000,40000")
    ap.add_argument("--push", type=int, default=1000)
    ap.add_argument("--window", type=int)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--short", action="store_true")
    a = ap.parse_args()
    if a.short:
        a.profiles, a.sizes, a.push = "3g", "5000", 0
    profiles = [p for p in a.profiles.split(",") if p]
    rows, ref_times = [], {}
    print("| what | link | time | model | ratio | down / up | requests | "
          "notes |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    for size in [int(x) for x in a.sizes.split(",") if x]:
        bench_pull(a.agent, size, profiles, a.window, a.batch, rows,
                   ref_times)
    if a.push:
        bench_push(a.agent, a.push, profiles, rows)
    worst = max((r.t / r.model for r in rows if r.model), default=0)
    print("worst ratio: %.2fx (target <= 1.2x)" % worst)


if __name__ == "__main__":
    main()
