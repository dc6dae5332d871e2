#!/usr/bin/env python3
"""Randomized fault harness: many short runs of offline work, office changes
and faults against the real agent binary and the fake 121, each checked for
"nothing lost, nothing duplicated, nothing stuck" (scenario.py, checks.py).

    python3 tests/faults/faults.py --agent build/agent/agent --seed 1 --runs 10000 --jobs 2

Run k uses seed SEED+k; its whole plan (work, office changes, faults, kill
points, clock jumps) comes from that seed, so a failing run is replayed with
--seed <its seed> --runs 1 (the exact interleaving with a wall-clock kill or a
server restart may differ by a few milliseconds). Each worker (--jobs) has its
own fake server (reset through /_test/reset between runs) and its own store
directory. The last line is the summary:

    N runs, L lost, D duplicated, S stuck, I integrity failures

followed by one line for the other invariants. Exit 0 when every run passed.
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
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import checks  # noqa: E402
import scenario  # noqa: E402
from fakeproc import FakeProc  # noqa: E402

KEYS = ("lost", "duplicated", "stuck", "integrity", "overwritten", "view", "other")


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agent", default=os.environ.get("AGENT_BIN", "build/agent/agent"),
                    help="the agent binary (default: $AGENT_BIN or build/agent/agent)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the first run")
    ap.add_argument("--runs", type=int, default=100, help="number of runs")
    ap.add_argument("--jobs", type=int, default=1, help="parallel workers")
    ap.add_argument("--min-steps", type=int, default=4)
    ap.add_argument("--max-steps", type=int, default=12)
    ap.add_argument("--cmd-timeout", type=float, default=120,
                    help="seconds an agent command may take before it counts as hung")
    ap.add_argument("--no-faketime", dest="faketime", action="store_false",
                    help="no device clock jumps (libfaketime missing)")
    ap.add_argument("--no-restarts", dest="restarts", action="store_false",
                    help="no server restarts")
    ap.add_argument("--workdir", help="where workers keep stores (default: /dev/shm or $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the store of failing runs")
    ap.add_argument("--trace", action="store_true",
                    help="run the agent with -v and keep its logs in trace.log (with --keep)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print every run's steps (failing runs always print theirs)")
    ap.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--workroot", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def repro(opts, seed):
    return ("python3 tests/faults/faults.py --agent %s --seed %d --runs 1 -v"
            % (opts.agent, seed))


def sweep_faketime_leftovers():
    """libfaketime makes a named semaphore and a shared memory object per
    process (/dev/shm/sem.faketime_sem_PID, faketime_shm_PID) and removes
    them when the process exits; a kill -9 leaves them behind. Remove those
    of processes that no longer exist: they pile up by the thousand, and one
    whose pid comes round again fails the `faketime` wrapper of another
    test ("sem_open: File exists")."""
    try:
        names = os.listdir("/dev/shm")
    except OSError:
        return
    for name in names:
        for prefix in ("sem.faketime_sem_", "faketime_shm_"):
            pid = name[len(prefix):]
            if name.startswith(prefix) and pid.isdigit() and \
                    not os.path.exists("/proc/" + pid):
                try:
                    os.unlink(os.path.join("/dev/shm", name))
                except OSError:
                    pass


def worker(opts):
    """Runs seeds seed+worker, seed+worker+jobs, ...; one JSON line each."""
    wdir = os.path.join(opts.workroot, "w%d" % opts.worker)
    os.makedirs(wdir, exist_ok=True)
    rundir = os.path.join(wdir, "run")
    os.makedirs(rundir, exist_ok=True)
    opts.template = os.path.join(wdir, "template.db")
    if not os.path.exists(scenario.LIBFAKETIME):
        opts.faketime = False
    # Stopped by SIGTERM/SIGINT (the parent interrupted): stop the fake too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    fake = FakeProc(wdir)
    try:
        for k in range(opts.worker, opts.runs, opts.jobs):
            seed = opts.seed + k
            t0 = time.monotonic()
            run = scenario.Run(opts.agent, fake, rundir, seed, opts)
            out = {"seed": seed}
            try:
                run.setup()
                run.play()
                run.heal()
                res, problems = checks.check(run)
            except Exception:
                res = {k2: 0 for k2 in KEYS}
                res["other"] = 1
                tb = traceback.format_exc().strip().splitlines()
                problems = ["harness: " + " | ".join(tb[-5:])]
                if fake.proc.poll() is not None:
                    fake.start()
            out.update(res)
            out["problems"] = problems
            out["seconds"] = round(time.monotonic() - t0, 3)
            out["kills"] = run.kills
            out["restarts"] = run.restarts
            out["ops"] = sum(1 for op in run.ops if op["rc"] == 0)
            if problems or opts.verbose:
                out["log"] = run.log
            if problems and opts.keep:
                keep = os.path.join(opts.workroot, "failed-%d" % seed)
                shutil.copytree(rundir, keep, dirs_exist_ok=True)
                with open(os.path.join(keep, "server.json"), "w") as f:
                    json.dump(fake.dump(), f, indent=1)
                out["kept"] = keep
            sys.stdout.write(json.dumps(out) + "\n")
            sys.stdout.flush()
            if opts.faketime:
                sweep_faketime_leftovers()
    finally:
        fake.close()
    return 0


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    opts.agent = os.path.abspath(opts.agent)
    if opts.worker is not None:
        return worker(opts)
    if not os.access(opts.agent, os.X_OK):
        sys.stderr.write("faults: no agent binary at %s (--agent)\n" % opts.agent)
        return 2
    base = opts.workdir or ("/dev/shm" if os.path.isdir("/dev/shm") and
                            os.access("/dev/shm", os.W_OK) else None)
    root = tempfile.mkdtemp(prefix="agent-faults-", dir=base)
    jobs = max(1, min(opts.jobs, opts.runs))
    t0 = time.monotonic()
    procs = []
    for w in range(jobs):
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", str(w),
               "--workroot", root, "--agent", opts.agent, "--seed", str(opts.seed),
               "--runs", str(opts.runs), "--jobs", str(jobs),
               "--min-steps", str(opts.min_steps), "--max-steps", str(opts.max_steps),
               "--cmd-timeout", str(opts.cmd_timeout)]
        for flag, on in (("--no-faketime", not opts.faketime),
                         ("--no-restarts", not opts.restarts),
                         ("--keep", opts.keep), ("-v", opts.verbose),
                         ("--trace", opts.trace)):
            if on:
                cmd.append(flag)
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))

    interrupted = []

    def stop(*_):
        # The workers stop their fakes; the summary below covers the runs
        # that finished.
        interrupted.append(1)
        for p in procs:
            if p.poll() is None:
                p.terminate()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    totals = {k: 0 for k in KEYS}
    runs = failed = kills = restarts = ops = 0
    seconds = []
    failures = []
    seen_seeds = set()
    import selectors
    sel = selectors.DefaultSelector()
    for p in procs:
        sel.register(p.stdout, selectors.EVENT_READ, p)
    open_ = len(procs)
    while open_:
        for key, _ in sel.select():
            line = key.fileobj.readline()
            if not line:
                sel.unregister(key.fileobj)
                open_ -= 1
                continue
            try:
                r = json.loads(line)
            except ValueError:
                continue  # a worker cut off mid-line
            runs += 1
            seen_seeds.add(r["seed"])
            kills += r["kills"]
            restarts += r["restarts"]
            ops += r["ops"]
            seconds.append(r["seconds"])
            for k in KEYS:
                totals[k] += r[k]
            if r["problems"] or opts.verbose:
                print("-- seed %d (%.2f s)%s" % (r["seed"], r["seconds"],
                                                 " FAILED" if r["problems"] else ""))
                for line2 in r.get("log", []):
                    print("   " + line2)
                for pr in r["problems"]:
                    print("   ! " + pr)
            if r["problems"]:
                failed += 1
                failures.append(r["seed"])
                print("   reproduce: " + repro(opts, r["seed"]))
                if r.get("kept"):
                    print("   store kept in " + r["kept"])
            elif runs % 100 == 0:
                print("... %d runs, %d failed, %.0f s" % (runs, failed, time.monotonic() - t0))
            sys.stdout.flush()
    rcs = [p.wait() for p in procs]
    wall = time.monotonic() - t0
    if not opts.keep:
        shutil.rmtree(root, ignore_errors=True)
    if interrupted:
        print("faults: interrupted after %d of %d runs" % (runs, opts.runs))
        failed += 1
    elif runs != opts.runs or any(rcs):
        print("faults: %d of %d runs reported; worker exit codes %s" % (runs, opts.runs, rcs))
        failed += 1
    mean = sum(seconds) / len(seconds) if seconds else 0.0
    done_seeds = sorted(seen_seeds)
    print("seeds %d..%d (%d done), %d jobs, %.1f s wall, %.3f s per run (mean of a worker), "
          "%d confirmed offline writes, %d kill -9, %d server restarts, %d failing runs%s"
          % (opts.seed, opts.seed + opts.runs - 1, len(done_seeds), jobs, wall, mean, ops, kills,
             restarts,
             failed, (": seeds " + " ".join(map(str, failures[:20]))) if failures else ""))
    print("other invariants: %d overwritten without a conflict, %d local view != server, "
          "%d other" % (totals["overwritten"], totals["view"], totals["other"]))
    print("%d runs, %d lost, %d duplicated, %d stuck, %d integrity failures"
          % (runs, totals["lost"], totals["duplicated"], totals["stuck"], totals["integrity"]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
