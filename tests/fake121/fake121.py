#!/usr/bin/env python3
"""Stateful fake of the 121 platform API, for end-to-end tests and benchmarks.

Python 3.11 standard library only. Binds 127.0.0.1 only. See README.md in this
folder for the routes, the /_test/ control API, the fault knobs and the cost
model (costs.py). Contract: shared/contracts/121-api.md and the recordings in
shared/contracts/recorded/121/ (the recordings win where they differ).

    python3 fake121.py --port 0 --port-file /tmp/fake121.port --demo
"""

import argparse
import faulthandler
import json
import os
import signal
import sys
import threading
import time
from http.server import ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from app import App, Config  # noqa: E402
from common import TOKEN_TTL_S  # noqa: E402
from handlers import Handler  # noqa: E402
from state import State  # noqa: E402


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def atomic_write(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Fake 121 server (tests/benchmarks)")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = pick one)")
    ap.add_argument("--port-file", help="write the actual port here (atomically) once listening")
    ap.add_argument("--program-id", type=int, default=3)
    ap.add_argument("--seed-registrations", type=int, default=None, metavar="N",
                    help="create N synthetic registrations at start")
    ap.add_argument("--seed-payments", type=int, default=None, metavar="K",
                    help="payments created with the seeded registrations (default 2 when seeding)")
    ap.add_argument("--seed", type=int, default=121, help="random seed of the synthetic data")
    ap.add_argument("--demo", action="store_true",
                    help="demo data: 1000 registrations (unless --seed-registrations) + 2 payments")
    ap.add_argument("--cost-model", action="store_true", help="sleep like the real server (costs.py)")
    ap.add_argument("--cost-scale", type=float, default=1.0, help="multiply every modelled cost")
    ap.add_argument("--gzip", action="store_true",
                    help="gzip JSON responses when the client sends Accept-Encoding: gzip")
    ap.add_argument("--gzip-level", type=int, default=1)
    ap.add_argument("--async-delay", type=float, default=0.2,
                    help="seconds before an accepted (202) status change/delete is applied")
    ap.add_argument("--bulk-rate", type=float, default=None,
                    help="CSV bulk-update rows applied per second (default 100, 1 with --cost-model)")
    ap.add_argument("--user", default="sync-bot@example.org")
    ap.add_argument("--password", default="s3cret")
    ap.add_argument("--token-ttl", type=int, default=TOKEN_TTL_S, help="token lifetime (s)")
    ap.add_argument("--login-throttle", type=int, default=30, help="logins per 60 s per IP (0 = off)")
    ap.add_argument("--throttle", type=int, default=3000, help="requests per 60 s per IP (0 = off)")
    ap.add_argument("--keepalive-timeout", type=float, default=5.0,
                    help="idle keep-alive connections are closed after this many seconds")
    ap.add_argument("--state-dump", help="write the final state as JSON here on shutdown")
    ap.add_argument("--state-file",
                    help="start from this state file when it exists (written by POST "
                         "/_test/save-state or at SIGTERM/SIGINT): a restart with its state")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    ap.add_argument("--org-admin", action="store_true",
                    help="the user is an organization admin (may POST /api/programs)")
    ap.add_argument("--date-offset", type=float, default=0.0, metavar="S",
                    help="shift the Date header of every answer by S seconds (a server clock that is off)")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    faulthandler.enable()   # SIGABRT, SIGSEGV: every thread's stack to stderr
    config = Config(args)
    state = State(program_id=args.program_id, seed=args.seed, username=config.user)
    n = args.seed_registrations
    if n is None and args.demo:
        n = 1000
    t0 = time.monotonic()
    if n:
        pays = args.seed_payments if args.seed_payments is not None else 2
        state.seed_registrations(n, payments=pays)
    seed_s = time.monotonic() - t0
    app = App(state, config)
    if args.state_file and os.path.exists(args.state_file):
        app.load_state(args.state_file)
    handler_cls = type("BoundHandler", (Handler,), {"app": app})
    httpd = Server(("127.0.0.1", args.port), handler_cls)
    app.scheduler.start()
    port = httpd.server_address[1]

    # A plain flag, polled: a handler that called Event.set() could run
    # while this thread held the Event's own lock inside Event.wait() and
    # wait for it forever (a fake that never saved nor exited on SIGTERM,
    # about once in a thousand restarts: harness seeds 490 and 1190).
    stopping = []

    def on_signal(signum, _frame):
        stopping.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    th = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                          name="fake121-http", daemon=True)
    th.start()
    if args.port_file:
        atomic_write(args.port_file, "%d\n" % port)
    sys.stderr.write("fake121: listening on 127.0.0.1:%d (program %d, %d registrations seeded in %.2f s)\n"
                     % (port, args.program_id, n or 0, seed_s))
    sys.stderr.flush()
    try:
        while not stopping:
            time.sleep(0.05 if args.state_file else 0.5)
    finally:
        if args.state_file:
            app.save_state(args.state_file, then_exit=True)
        httpd.shutdown()
        httpd.server_close()
        app.scheduler.stop()
        if args.state_dump:
            import testapi
            atomic_write(args.state_dump, json.dumps(testapi.dump_state(app), ensure_ascii=False))
        sys.stderr.write("fake121: stopped\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
