#!/usr/bin/env python3
"""bench_sync.py - sync benchmarks against the local fake 121 with the real
server's cost model (tests/fake121, --cost-model).

Prints, for 40,000 and 200,000 registrations:
  - the server time of one unlimited request (the reference: limit=-1),
  - the agent's first pull: time, peak RSS, bytes on the wire vs JSON bytes,
  - an incremental sync after 100 server-side edits: time, bytes;
and a push of 1,000 offline registrations: time, HTTP requests.

Usage: bench_sync.py AGENT_BIN [--sizes 40000,200000] [--no-gzip]
                    [--encrypt | --compare [--repeat N]] [--first-only]
                    [--pull-only]
--encrypt: the store is encrypted (a key file), to compare with a plain one;
--compare: the first pull and the incremental sync of each size on a plain
  store and on an encrypted one, N times each (default 3, alternating), and
  a table of the medians side by side: agent CPU (user + system), wall
  time, peak RSS;
--first-only: only the first sync and the incremental one of each size;
--pull-only: the first pull and the incremental sync, no push benchmark.
AGENT_BENCH_PREFIX="perf record -g -o F" (say) runs the measured agent
commands under that prefix, for profiling (the RSS is then the prefix's).
Nothing here is a pass/fail test; it prints numbers to compare with the
targets in the README.
"""
import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "..", "fake121", "fake121.py")
sys.path.insert(0, os.path.join(HERE, "..", "fakes"))
import launcher  # noqa: E402
USER, PASSWORD = "sync-bot@example.org", "s3cret"


class Fake:
    def __init__(self, tmp, seed, gzip_on, payments):
        args = ["--seed-registrations", str(seed),
                "--seed-payments", str(payments),
                "--cost-model", "--throttle", "0"]
        if gzip_on:
            args.append("--gzip")
        # Seeding 200,000 registrations takes a while.
        self.fake = launcher.start_script(FAKE, *args, port_arg=True,
                                          timeout=120, prefix="bench-fake-")
        self.proc = self.fake.proc
        self.port = self.fake.port
        self.url = self.fake.url

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data,
                                     method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=600) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def stop(self):
        self.fake.stop()


def unlimited_request_time(fake, program):
    """Time of one GET ?limit=-1 (the server's cost for everything), and
    the size of its uncompressed JSON."""
    body = json.dumps({"username": USER, "password": PASSWORD}).encode()
    req = urllib.request.Request(fake.url + "/api/users/login", data=body,
                                 method="POST")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req) as r:
        token = json.loads(r.read())["access_token_general"]
    req = urllib.request.Request(
        fake.url + "/api/programs/%d/registrations?limit=-1" % program)
    req.add_header("Cookie", "access_token_general=" + token)
    req.add_header("Accept-Encoding", "gzip")
    t0 = time.monotonic()
    with urllib.request.urlopen(req, timeout=600) as r:
        raw = r.read()
        enc = r.headers.get("Content-Encoding", "")
    elapsed = time.monotonic() - t0
    if enc == "gzip":
        raw = gzip.decompress(raw)
    return elapsed, len(raw)


def _hwm_kib(pid):
    """VmHWM (peak RSS) of a running process, in KiB, or 0."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_agent(agent, env, *args):
    """Run the agent; return (exit code, parsed JSON stdout, seconds,
    peak RSS in KiB).

    The peak is read from /proc/PID/status (VmHWM) while the agent runs:
    getrusage()'s ru_maxrss of a child counts the memory of the forked
    Python process before exec (Linux keeps the larger high-water mark),
    which here holds a 100 MB response and would hide the agent's own."""
    global LAST_CPU
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    prefix = os.environ.get("AGENT_BENCH_PREFIX", "").split()
    proc = subprocess.Popen(prefix + [agent, "--json"] + list(args), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = []
    err = []
    readers = [threading.Thread(target=lambda: out.append(proc.stdout.read())),
               threading.Thread(target=lambda: err.append(proc.stderr.read()))]
    for r in readers:
        r.start()
    peak = 0
    cpu = 0.0
    while True:
        peak = max(peak, _hwm_kib(proc.pid))
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            cpu = ru.ru_utime + ru.ru_stime
            break
        time.sleep(0.02)
    run_agent.cpu = cpu
    for r in readers:
        r.join()
    elapsed = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU of the agent alone (the fake is a child too, but not yet
    # reaped): steadier than wall time on a loaded machine.
    LAST_CPU = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    out, err = out[0], err[0]
    try:
        doc = json.loads(out) if out.strip() else None
    except ValueError:
        doc = None
    if proc.returncode not in (0, 4):
        sys.stderr.write(err.decode(errors="replace"))
    return proc.returncode, doc, elapsed, peak


def mb(n):
    return "%.2f MB" % (n / 1e6)


ENCRYPT = False
LAST_CPU = 0.0
# (size, encrypted, "first" | "incremental", wall s, agent CPU s, RSS KiB)
RESULTS = []


def bench_size(agent, size, gzip_on, payments=0, label=""):
    tmp = tempfile.mkdtemp(prefix="agent-bench.")
    fake = Fake(tmp, size, gzip_on, payments)
    try:
        env = dict(os.environ, AGENT_CONFIG=os.path.join(tmp, "agent.conf"),
                   AGENT_121_PASSWORD=PASSWORD)
        crypt = (["--encrypt", "--key-file", os.path.join(tmp, "store.key")]
                 if ENCRYPT else [])
        subprocess.run([agent, "init", "--server", fake.url, "--program",
                        "3", "--user", USER, "--store",
                        os.path.join(tmp, "agent.db")] + crypt, env=env,
                       check=True, stdout=subprocess.DEVNULL)
        if ENCRYPT:
            label += " encrypted"
        ref_t, json_bytes = unlimited_request_time(fake, 3)
        print("[%d registrations] one unlimited request (server time): "
              "%.2f s, %s of JSON" % (size, ref_t, mb(json_bytes)))

        rc, doc, t, rss = run_agent(agent, env, "sync", "--now")
        RESULTS.append((size, ENCRYPT, "first", t, run_agent.cpu, rss))
        wire = doc.get("bytes_wire", 0) if doc else 0
        print("[%d registrations%s] first sync: %.2f s (%.2fx the unlimited "
              "request), agent CPU %.2f s (%.2f s per 40,000), peak RSS "
              "%.1f MB, %s on the wire (%.1f%% of the "
              "JSON), %s requests, exit %d" % (
                  size, label, t, t / ref_t, run_agent.cpu,
                  run_agent.cpu * 40000.0 / size, rss / 1024.0, mb(wire),
                  100.0 * wire / json_bytes if json_bytes else 0,
                  doc.get("requests") if doc else "?", rc))

        # 100 edits made in the office, then the field syncs again.
        # Deleted people cannot be edited (404): skip them.
        edits, i = 0, 0
        while edits < 100:
            i += 1
            try:
                fake.call("POST", "/_test/edit", {
                    "referenceId": "ref-%05d" % (i * 7),
                    "data": {"householdSize": str(i % 9 + 10)},
                    "reason": "bench"})
                edits += 1
            except urllib.error.HTTPError:
                pass
        rc, doc, t, rss = run_agent(agent, env, "sync", "--now")
        RESULTS.append((size, ENCRYPT, "incremental", t, run_agent.cpu, rss))
        print("[%d registrations%s] incremental sync after 100 server "
              "edits: %.3f s, %s bytes on the wire, %s events, %s requests, "
              "exit %d" % (size, label, t, doc.get("bytes_wire") if doc else "?",
                           doc.get("events") if doc else "?",
                           doc.get("requests") if doc else "?", rc))
        return env, fake, tmp
    except Exception:
        fake.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def bench_push(agent, env, fake, tmp):
    regs = [{"fullName": "Bench Person %04d" % i,
             "phoneNumber": "3169%07d" % i,
             "programFspConfigurationName": "Intersolve-voucher-paper",
             "preferredLanguage": "en"} for i in range(1000)]
    path = os.path.join(tmp, "regs.json")
    with open(path, "w") as f:
        json.dump(regs, f)
    subprocess.run([agent, "registrations", "add", "--file", path], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    before = fake.call("GET", "/_test/state")["requests"]
    rc, doc, t, rss = run_agent(agent, env, "sync", "--now", "--push-only")
    after = fake.call("GET", "/_test/state")["requests"]
    print("[push] 1,000 offline registrations: %.2f s, %d HTTP requests "
          "(agent counted %s), pushed %s, exit %d" % (
              t, after - before, doc.get("requests") if doc else "?",
              doc.get("pushed") if doc else "?", rc))


def bench_with_payments(agent, size, gzip_on):
    """The same first sync when the program also has 2 payments (their
    transactions are pulled too): the whole first sync a device does."""
    env, fake, tmp = bench_size(agent, size, gzip_on, payments=2,
                                label=" + 2 payments")
    fake.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2.0


def compare(agent, sizes, gzip_on, repeat):
    """Plain and encrypted stores, alternating, then the medians."""
    global ENCRYPT
    for size in sizes:
        for _ in range(repeat):
            for enc in (False, True):
                ENCRYPT = enc
                env, fake, tmp = bench_size(agent, size, gzip_on)
                fake.stop()
                shutil.rmtree(tmp, ignore_errors=True)
    print("\nplain / encrypted, median of %d runs each (agent CPU = user + "
          "system):" % repeat)
    print("%-24s %-26s %-26s %s" % ("", "agent CPU s", "wall s",
                                    "peak RSS MB"))
    for size in sizes:
        for what in ("first", "incremental"):
            row = {}
            for enc in (False, True):
                got = [r for r in RESULTS
                       if r[0] == size and r[1] == enc and r[2] == what]
                row[enc] = (median([r[3] for r in got]),
                            median([r[4] for r in got]),
                            median([r[5] for r in got]) / 1024.0)
            p, e = row[False], row[True]

            def pct(a, b):
                return 100.0 * (b - a) / a if a else 0.0
            print("%-24s %6.2f / %6.2f  %+5.1f%%    %6.2f / %6.2f  %+5.1f%%"
                  "    %5.1f / %5.1f  %+.1f" % (
                      "%d %s" % (size, "first pull" if what == "first"
                                 else "incremental"),
                      p[1], e[1], pct(p[1], e[1]), p[0], e[0],
                      pct(p[0], e[0]), p[2], e[2], e[2] - p[2]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("agent")
    ap.add_argument("--sizes", default="40000,200000")
    ap.add_argument("--no-gzip", action="store_true")
    ap.add_argument("--encrypt", action="store_true")
    ap.add_argument("--compare", action="store_true",
                    help="plain and encrypted side by side")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--first-only", action="store_true")
    ap.add_argument("--pull-only", action="store_true",
                    help="only the first pull and the incremental sync")
    a = ap.parse_args()
    global ENCRYPT
    ENCRYPT = a.encrypt
    if a.compare:
        compare(a.agent, [int(x) for x in a.sizes.split(",")],
                not a.no_gzip, a.repeat)
        return
    first = not a.first_only
    for size in [int(x) for x in a.sizes.split(",")]:
        env, fake, tmp = bench_size(a.agent, size, not a.no_gzip)
        if a.first_only:
            fake.stop()
            shutil.rmtree(tmp, ignore_errors=True)
            continue
        try:
            if first and not a.pull_only:
                bench_push(a.agent, env, fake, tmp)
        finally:
            fake.stop()
            shutil.rmtree(tmp, ignore_errors=True)
        if first and not a.pull_only:
            bench_with_payments(a.agent, size, not a.no_gzip)
            first = False


if __name__ == "__main__":
    main()
