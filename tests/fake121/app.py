"""Server-wide objects: runtime configuration, the async job queue, tokens."""

import base64
import hashlib
import heapq
import hmac
import json
import os
import sys
import threading
import time

import costs
from common import HttpError, dumps
from faults import Faults, Stats, Throttle


class Config:
    def __init__(self, args):
        self.cost_model = bool(args.cost_model)
        self.cost_scale = float(args.cost_scale)
        self.gzip = bool(args.gzip)
        self.gzip_level = int(getattr(args, "gzip_level", 1))
        self.async_delay = float(args.async_delay)
        self.bulk_rate = args.bulk_rate  # rows/s or None (= model default)
        self.login_throttle = int(args.login_throttle)
        self.throttle = int(args.throttle)
        self.token_ttl = int(args.token_ttl)
        self.keepalive_timeout = float(args.keepalive_timeout)
        self.user = args.user.lower()
        self.password = args.password
        self.verbose = bool(args.verbose)
        self.date_offset = float(getattr(args, "date_offset", 0.0) or 0.0)
        # an organization admin may POST /api/programs (routes_programs.py)
        self.org_admin = bool(getattr(args, "org_admin", False))

    def as_dict(self):
        return {k: v for k, v in self.__dict__.items() if k != "password"}

    def update(self, d):
        for k, v in d.items():
            if k in ("cost_model", "gzip", "verbose", "org_admin"):
                setattr(self, k, bool(v))
            elif k in ("cost_scale", "async_delay", "keepalive_timeout", "date_offset"):
                setattr(self, k, float(v))
            elif k in ("login_throttle", "throttle", "token_ttl", "gzip_level"):
                setattr(self, k, int(v))
            elif k == "bulk_rate":
                self.bulk_rate = None if v is None else float(v)
            else:
                raise HttpError(400, {"errors": "unknown config key %s" % k})

    def bulk_row_seconds(self):
        if self.bulk_rate:
            return 1.0 / float(self.bulk_rate)
        if self.cost_model:
            return costs.BULK_ROW_APPLY_S * self.cost_scale
        return 0.01  # 100 rows/s by default


class Scheduler(threading.Thread):
    """Runs the asynchronous work (status changes, deletes, bulk CSV rows) in
    submission order, each not before its due time (one serial queue)."""

    def __init__(self):
        threading.Thread.__init__(self, name="fake121-jobs", daemon=True)
        self.cond = threading.Condition()
        self.heap = []
        self.seq = 0
        self.stopped = False
        self.running = 0
        self.bulk_next = 0.0
        self.frozen = False

    def _hold_if_frozen(self):
        """Called holding self.cond. The server is saving its state to
        stop: a job accepted now would be lost with the process, so the
        request that asked for it never gets its answer (as if the server
        had stopped just before it)."""
        if self.frozen:
            self.cond.release()
            threading.Event().wait()

    def at(self, due, fn):
        with self.cond:
            self._hold_if_frozen()
            self.seq += 1
            heapq.heappush(self.heap, (due, self.seq, fn))
            self.cond.notify()

    def bulk(self, per_row, fns):
        """The rows of one bulk upload: one every per_row seconds after
        the rows of the uploads before it (121 applies them one by one).
        Held like `at` while the server saves to stop: rows accepted then
        would be lost with the process."""
        with self.cond:
            self._hold_if_frozen()
            t = max(time.monotonic(), self.bulk_next)
            for fn in fns:
                t += per_row
                self.seq += 1
                heapq.heappush(self.heap, (t, self.seq, fn))
            self.bulk_next = t
            self.cond.notify()

    def pending(self):
        with self.cond:
            return len(self.heap) + self.running

    def flush(self):
        """Make every pending job due now (for deterministic tests)."""
        with self.cond:
            self.heap = [(0.0, s, f) for (_d, s, f) in self.heap]
            heapq.heapify(self.heap)
            self.bulk_next = 0.0
            self.cond.notify()

    def stop(self):
        with self.cond:
            self.stopped = True
            self.cond.notify()

    def run(self):
        while True:
            with self.cond:
                while not self.stopped:
                    if self.heap:
                        wait = self.heap[0][0] - time.monotonic()
                        if wait <= 0:
                            break
                        self.cond.wait(min(wait, 1.0))
                    else:
                        self.cond.wait(1.0)
                if self.stopped:
                    return
                _due, _seq, fn = heapq.heappop(self.heap)
                self.running += 1
            try:
                fn()
            except Exception as e:  # logged, like the real service
                sys.stderr.write("fake121: async job failed: %r\n" % (e,))
            finally:
                with self.cond:
                    self.running -= 1


class App:
    """Shared server-wide objects."""

    def __init__(self, state, config):
        self.state = state
        self.config = config
        self.faults = Faults()
        self.stats = Stats()
        self.throttle = Throttle()
        self.scheduler = Scheduler()
        self.secret = os.urandom(32)
        self.token_seq = 0
        self.token_cutoff = 0  # tokens with jti <= cutoff are invalid (expire_tokens)
        self.token_lock = threading.Lock()
        self.reg_columns_cache = {}
        import routes121
        self.routes = routes121.build_routes()

    # ------------------------------------------------------------- restart

    def save_state(self, path, then_exit=False):
        """Write the state and the token secret (fake121.py --state-file):
        a server started from it has the same data, and the tokens it had
        issued stay valid, as a restarted 121 behind the same JWT secret.
        Pending jobs are run first (they are closures, not data)."""
        import pickle
        if then_exit:
            # No new job from here on: the state saved below is final.
            with self.scheduler.cond:
                self.scheduler.frozen = True
        # Every accepted job is applied before the save (a job left out
        # would be a change 121 accepted and then forgot). No deadline
        # that saves anyway: under heavy load this can take long, and a
        # state saved without its jobs is a lost write (harness seed 1190).
        while True:
            self.scheduler.flush()
            while self.scheduler.pending():
                time.sleep(0.002)
            lock = self.state.lock
            lock.acquire()
            if not self.scheduler.pending():
                break
            lock.release()   # a job came in meanwhile (not frozen): run it
        try:
            with self.token_lock:
                blob = pickle.dumps({"state": self.state, "secret": self.secret,
                                     "token_seq": self.token_seq,
                                     "token_cutoff": self.token_cutoff})
            # Atomic and durable: a new file, synced, renamed over the old
            # one, and the directory synced.
            tmp = "%s.tmp.%d" % (path, os.getpid())
            with open(tmp, "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            dfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
            if then_exit:
                # Still holding the lock: no request still being handled can
                # change the state after it was saved (as a database would).
                sys.stderr.write("fake121: state saved, stopped\n")
                sys.stderr.flush()
                os._exit(0)
        finally:
            lock.release()

    def load_state(self, path):
        import pickle
        with open(path, "rb") as f:
            d = pickle.load(f)
        self.state = d["state"]
        self.secret = d["secret"]
        self.token_seq = d["token_seq"]
        self.token_cutoff = d["token_cutoff"]

    # ------------------------------------------------------------- tokens

    def make_token(self, username):
        with self.token_lock:
            self.token_seq += 1
            jti = self.token_seq
        now = self.state.clock.now_ms()
        exp_ms = now + self.config.token_ttl * 1000
        header = {"alg": "HS256", "typ": "JWT"}
        payload = {"id": 42, "username": username, "exp": exp_ms // 1000, "admin": False,
                   "isOrganizationAdmin": False, "iat": now // 1000, "jti": jti}
        h = _b64url(dumps(header))
        pl = _b64url(dumps(payload))
        sig = _b64url(hmac.new(self.secret, (h + "." + pl).encode(), hashlib.sha256).digest())
        return h + "." + pl + "." + sig, exp_ms

    def check_token(self, token):
        try:
            h, pl, sig = token.split(".")
            want = _b64url(hmac.new(self.secret, (h + "." + pl).encode(), hashlib.sha256).digest())
            if not hmac.compare_digest(want, sig):
                return None
            payload = json.loads(base64.urlsafe_b64decode(pl + "=" * (-len(pl) % 4)))
        except Exception:
            return None
        if payload.get("jti", 0) <= self.token_cutoff:
            return None
        if payload.get("exp", 0) * 1000 <= self.state.clock.now_ms():
            return None
        return payload

    def expire_tokens(self):
        with self.token_lock:
            self.token_cutoff = self.token_seq

    # ------------------------------------------------------------- costs

    def cost(self, seconds):
        if self.config.cost_model:
            return seconds * self.config.cost_scale
        return 0.0

    def reg_columns(self, p):
        cols = self.reg_columns_cache.get(p.id)
        if cols is None:
            import routes121
            cols = routes121.registration_columns(p)
            self.reg_columns_cache[p.id] = cols
        return cols


def _b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


