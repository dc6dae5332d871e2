#!/usr/bin/env python3
"""bench_daemon.py - what an idle `agent daemon` costs.

1. Idle: the fake 121 is reachable, the first sync is done, nothing to do,
   the interval is long. Measures over --seconds (default 60) the CPU time
   of the daemon (utime + stime of /proc/PID/stat, all threads, plus the
   reaped children that ran its syncs and probes), its wake-ups (voluntary
   context switches) and its memory (VmRSS, VmHWM; then smaps_rollup and
   the resident kB of each mapped library).
   Targets: CPU < 0.1 s per idle minute, RSS < 16 MB.
2. Offline: the server is gone, the daemon probes every 5 s; the same
   numbers over --offline-seconds (default 30), to show what probing costs.

Usage: bench_daemon.py AGENT_BIN [--seconds 60] [--offline-seconds 30]
                                 [--seed 1000]
Nothing here is a pass/fail test; it prints numbers to compare with the
targets.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "..", "fake121", "fake121.py")
sys.path.insert(0, os.path.join(HERE, "..", "fakes"))
import launcher  # noqa: E402
USER, PASSWORD = "sync-bot@example.org", "s3cret"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    """CPU of the daemon and of its reaped children (the sync and probe
    processes): utime + stime + cutime + cstime."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3): utime is field 14, stime 15,
    # cutime 16, cstime 17.
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK


def smaps(pid):
    """smaps_rollup (kB) and the resident kB of each mapped file."""
    roll = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if value.strip().endswith("kB"):
                roll[key] = int(value.split()[0])
    per, name = {}, None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" not in parts[0]:
                name = os.path.basename(parts[5]) if len(parts) > 5 else \
                    "[anon]"
            elif parts[0] == "Rss:":
                per[name] = per.get(name, 0) + int(parts[1])
    return roll, per


def print_smaps(pid):
    roll, per = smaps(pid)
    print("  smaps_rollup: Rss %d kB, Pss %d kB, shared clean %d kB, "
          "private clean %d kB, private dirty %d kB; %d files mapped" % (
              roll.get("Rss", 0), roll.get("Pss", 0),
              roll.get("Shared_Clean", 0), roll.get("Private_Clean", 0),
              roll.get("Private_Dirty", 0),
              sum(1 for k in per if not k.startswith("["))))
    top = sorted(per.items(), key=lambda kv: -kv[1])
    print("  Rss by mapping: " + ", ".join(
        "%s %d" % (k, v) for k, v in top if v > 0))


def status_kb(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "voluntary_ctxt_switches",
                       "nonvoluntary_ctxt_switches", "Threads"):
                out[key] = int(value.split()[0])
    return out


def agent(bin_, conf, *args, env=None):
    p = subprocess.run([bin_, "--config", conf] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env, timeout=120)
    if p.returncode != 0:
        raise RuntimeError("agent %s: %s" % (args, p.stderr.decode()))
    return p.stdout.decode()


def measure(pid, seconds):
    c0, s0, t0 = cpu_s(pid), status_kb(pid), time.time()
    time.sleep(seconds)
    c1, s1, t1 = cpu_s(pid), status_kb(pid), time.time()
    minutes = (t1 - t0) / 60
    return {
        "seconds": t1 - t0,
        "cpu_s": c1 - c0,
        "cpu_s_per_min": (c1 - c0) / minutes,
        "wakeups": (s1["voluntary_ctxt_switches"] -
                    s0["voluntary_ctxt_switches"]),
        "rss_kb": s1["VmRSS"],
        "hwm_kb": s1["VmHWM"],
        "threads": s1["Threads"],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("agent")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--offline-seconds", type=float, default=30)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--encrypt", action="store_true",
                    help="an encrypted store (key file)")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench-daemon-")
    fake = daemon = None
    try:
        fake = launcher.start_script(FAKE, "--seed-registrations", a.seed,
                                     "--throttle", "0", port_arg=True,
                                     prefix="bench-fake-")
        url = fake.url
        conf, db = os.path.join(tmp, "agent.conf"), os.path.join(tmp, "a.db")
        env = dict(os.environ, AGENT_121_PASSWORD=PASSWORD)
        env.pop("AGENT_CONFIG", None)
        enc = ["--encrypt", "--key-file", os.path.join(tmp, "store.key")] \
            if a.encrypt else []
        agent(a.agent, conf, "init", "--server", url, "--program", "3",
              "--user", USER, "--store", db, *enc, env=env)
        with open(conf, "a") as f:
            f.write("# bench\n")
        text = open(conf).read()
        text = text.replace("interval_s = 900", "interval_s = 86400")
        text = text.replace("probe_interval_s = 30", "probe_interval_s = 5")
        text = text.replace("max_attempts = 5", "max_attempts = 1")
        with open(conf, "w") as f:
            f.write(text)
        os.chmod(conf, 0o600)

        daemon = subprocess.Popen([a.agent, "--config", conf, "-q", "daemon"],
                                  stdout=subprocess.DEVNULL, env=env)
        deadline = time.time() + 120
        while True:
            try:
                st = json.loads(agent(a.agent, conf, "--json", "status",
                                      env=env))
                d = st["daemon"]
                if d and d["syncs"] >= 1 and d["state"] == "idle":
                    break
            except (RuntimeError, ValueError):
                pass
            if time.time() > deadline or daemon.poll() is not None:
                raise RuntimeError("the daemon did not finish its first sync")
            time.sleep(0.2)
        print("daemon idle benchmark: %d registrations pulled by the first "
              "sync (%.1f s)" % (st["registrations"],
                                 d["last_sync"]["seconds"]))
        time.sleep(1)  # let the first sync's wake-ups settle
        idle = measure(daemon.pid, a.seconds)
        print("  idle (server reachable, interval 24 h), %.0f s: CPU %.3f s "
              "(%.4f s per minute; target < 0.1), wake-ups %d, RSS %.1f MB "
              "(target < 16), peak RSS %.1f MB, threads %d" % (
                  idle["seconds"], idle["cpu_s"], idle["cpu_s_per_min"],
                  idle["wakeups"], idle["rss_kb"] / 1024.0,
                  idle["hwm_kb"] / 1024.0, idle["threads"]))
        print_smaps(daemon.pid)

        if a.offline_seconds > 0:
            fake.stop()
            fake = None
            # Make the daemon notice: a requested sync fails, it is
            # offline from then on and probes every 5 s.
            subprocess.run([a.agent, "--config", conf, "-q", "sync",
                            "--now"], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=120)
            off = measure(daemon.pid, a.offline_seconds)
            st = json.loads(agent(a.agent, conf, "--json", "status",
                                  env=env))
            print("  offline (probe every 5 s), %.0f s: CPU %.3f s (%.4f s "
                  "per minute), wake-ups %d, probes so far %d, RSS %.1f MB"
                  % (off["seconds"], off["cpu_s"], off["cpu_s_per_min"],
                     off["wakeups"], st["daemon"]["probes"],
                     off["rss_kb"] / 1024.0))
    finally:
        if daemon and daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(30)
        if fake:
            fake.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
