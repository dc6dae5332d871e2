#!/usr/bin/env python3
"""bench_serve.py - `agent serve` answering the Default Dashboard's calls
from the store, beside the same calls to the fake 121.

The Default Dashboard (and Calculate Indicators) read a whole program at
once: GET .../registrations?limit=40000, GET .../payments, and the
transactions of each payment (GET .../payments/{id}/transactions?limit=-1),
and the transactions export GET .../transactions. The agent first syncs
N registrations (default 40,000, 2 payments) from the fake, then each call
is timed against `agent serve` and against the fake (plain, without its
cost model: the Python fake's own serving time; the real 121 took 8.2 s
for the 40,960-registration limit=-1 call, recorded/121/README.md).

Usage: bench_serve.py AGENT_BIN [N] [--runs R]
Prints numbers; not a pass/fail test. Target: each call < 2 s for 40,000.
"""
import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "..", "fake121", "fake121.py")
sys.path.insert(0, os.path.join(HERE, "..", "fakes"))
import launcher  # noqa: E402
USER, PASSWORD, LOCAL = "sync-bot@example.org", "s3cret", "bench-local-pass"


def call(port, method, path, body=None, cookie=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    h = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    if cookie:
        h["Cookie"] = "access_token_general=" + cookie
    t = time.monotonic()
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    raw = r.read()
    dt = time.monotonic() - t
    sc = r.getheader("Set-Cookie") or ""
    c.close()
    return r.status, raw, dt, sc


def cpu_s(pid):
    """User + system CPU seconds of process `pid` so far (Linux /proc):
    on a loaded machine wall time says little, CPU time stays honest."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def slowdown():
    """Wall time / CPU time of a short CPU-bound loop in this process: how
    much longer than its CPU time anything waits for a core right now (on
    an idle machine about 1.0)."""
    w0, c0 = time.monotonic(), time.process_time()
    n = 0
    while time.process_time() - c0 < 0.3:
        n += 1
    return (time.monotonic() - w0) / max(time.process_time() - c0, 1e-9)


def login(port, pw):
    st, raw, _dt, sc = call(port, "POST", "/api/users/login",
                            {"username": USER, "password": pw})
    assert st == 201, (st, raw[:200])
    return re.search(r"access_token_general=([^;]+)", sc).group(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("agent")
    ap.add_argument("n", nargs="?", type=int, default=40000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-serve-")
    fake = launcher.start_script(FAKE, "--seed-registrations", str(a.n),
                                 "--seed-payments", "2", "--throttle", "0",
                                 "--login-throttle", "0", port_arg=True,
                                 timeout=300, prefix="bench-fake-")
    conf = os.path.join(tmp, "agent.conf")
    db = os.path.join(tmp, "agent.db")
    env = dict(os.environ, AGENT_121_PASSWORD=PASSWORD)
    srv = None
    try:
        subprocess.run([a.agent, "--config", conf, "init", "--server", fake.url,
                        "--program", "3", "--user", USER, "--store", db],
                       env=env, check=True, capture_output=True)
        with open(conf, "w") as f:
            f.write("[store]\npath = %s\n[121]\nurl = %s\nprogram_id = 3\n"
                    "user = %s\n" % (db, fake.url, USER))
        t = time.monotonic()
        subprocess.run([a.agent, "--config", conf, "sync", "--now"], env=env,
                       check=True, capture_output=True)
        print("first sync of %d registrations + 2 payments: %.1f s"
              % (a.n, time.monotonic() - t))
        subprocess.run([a.agent, "--config", conf, "serve", "passwd"], env=env,
                       input=(LOCAL + "\n").encode(), check=True,
                       capture_output=True)
        srv = subprocess.Popen([a.agent, "--config", conf, "serve",
                                "--listen", "127.0.0.1:0"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        m = re.search(r"\(port (\d+)\)", srv.stdout.readline().decode())
        port = int(m.group(1)) if m else None
        assert port, "agent serve did not start"
        atok = login(port, LOCAL)
        ftok = login(fake.port, PASSWORD)
        calls = ["/api/programs/3/registrations?limit=40000",
                 "/api/programs/3/payments",
                 "/api/programs/3/payments/1/transactions?limit=-1",
                 "/api/programs/3/payments/2/transactions?limit=-1",
                 "/api/programs/3/transactions"]
        print("load average before: %.1f (2 cores shared: wall times vary); "
              "a CPU-bound loop here takes %.1fx its CPU time in wall time"
              % (os.getloadavg()[0], slowdown()))
        print("%-52s %18s %18s %9s" % ("call (median of %d)" % a.runs,
                                       "agent: wall / CPU", "fake: wall / CPU",
                                       "MB"))
        tot = [0.0, 0.0, 0.0, 0.0]
        for path in calls:
            ta, ca, tf, cf = [], [], [], []
            size = 0
            for _ in range(a.runs):
                c0 = cpu_s(srv.pid)
                st, raw, dt, _ = call(port, "GET", path, cookie=atok)
                ca.append(cpu_s(srv.pid) - c0)
                assert st == 200, (path, st, raw[:200])
                ta.append(dt)
                size = len(raw)
                c0 = cpu_s(fake.proc.pid)
                st, raw, dt, _ = call(fake.port, "GET", path, cookie=ftok)
                cf.append(cpu_s(fake.proc.pid) - c0)
                assert st == 200, (path, st)
                tf.append(dt)
            m = [statistics.median(x) for x in (ta, ca, tf, cf)]
            tot = [x + y for x, y in zip(tot, m)]
            print("%-52s %7.3f / %6.3f s %7.3f / %6.3f s %9.1f"
                  % (path[len("/api/programs/3"):], m[0], m[1], m[2], m[3],
                     size / 1e6))
        print("%-52s %7.3f / %6.3f s %7.3f / %6.3f s"
              % ("all of them", tot[0], tot[1], tot[2], tot[3]))
        print("load average after: %.1f; CPU-bound loop: %.1fx"
              % (os.getloadavg()[0], slowdown()))
        print("target: < 2 s per call for 40,000 registrations")
    finally:
        if srv:
            srv.terminate()
            srv.wait(20)
        fake.stop()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
