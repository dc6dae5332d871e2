# SPDX-License-Identifier: MIT
"""launcher.py - start and stop the Python fake servers of the tests (the
one copy of that code; Python 3 standard library only).

A fake is started as a child process given its command (usually
[sys.executable, "path/to/fake.py", args...]); the launcher appends
`--port-file <tmp>/port` (and `--port 0` when asked), so the fake listens
on 127.0.0.1 on a port chosen at run time and announces it by writing the
file atomically ("<port> [<port>...]"). The launcher waits until the file
is there, reads the port(s) and gives `url`; stop() sends SIGTERM, waits,
kills after a timeout and removes the temporary directory (unless
keep_dir). Use it as a context manager:

    with launcher.Fake([sys.executable, FAKE, "--seed-registrations", "5"],
                       port_arg=True) as fake:
        urllib.request.urlopen(fake.url + "/_test/state")

Errors: RuntimeError when the fake exits or does not announce its port in
`timeout` seconds (with the end of its stderr when captured).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

__all__ = ["Fake", "start_script"]


class Fake:
    """One fake server process; see the module comment.

    argv        the command, without --port-file (and --port)
    port_arg    also pass "--port 0" (fakes that need it, e.g. fake121.py)
                unless argv already holds a "--port" (a fixed port)
    timeout     seconds to wait for the port file
    stdout      where the fake's stdout goes (default: discarded)
    capture_stderr  keep stderr in <dir>/stderr.log (see stderr_text());
                else it is discarded
    keep_dir    leave the temporary directory (e.g. a state dump in it)
    prefix      of the temporary directory's name
    env         environment of the fake (default: ours)
    """

    def __init__(self, argv, port_arg=False, timeout=60,
                 stdout=subprocess.DEVNULL, capture_stderr=False,
                 keep_dir=False, prefix="fake-", env=None, start=True):
        self.argv = list(argv)
        self.port_arg = port_arg
        self.timeout = timeout
        self.stdout = stdout
        self.capture_stderr = capture_stderr
        self.keep_dir = keep_dir
        self.env = env
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.port_file = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "stderr.log")
        self._log = None
        self.proc = None
        self.ports = []
        self.port = None
        self.url = None
        if start:
            self.start()

    def path(self, name):
        """A file name in the fake's temporary directory."""
        return os.path.join(self.dir, name)

    def start(self):
        argv = list(self.argv)
        if self.port_arg and "--port" not in argv:
            argv += ["--port", "0"]
        argv += ["--port-file", self.port_file]
        stderr = subprocess.DEVNULL
        if self.capture_stderr:
            self._log = open(self.log_path, "wb")
            stderr = self._log
        self.proc = subprocess.Popen(argv, stdout=self.stdout, stderr=stderr,
                                     env=self.env)
        try:
            self._wait_for_port()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_port(self):
        deadline = time.monotonic() + self.timeout
        while True:
            text = None
            if os.path.exists(self.port_file):
                with open(self.port_file) as f:
                    text = f.read().split()
            if text:
                self.ports = [int(p) for p in text]
                self.port = self.ports[0]
                self.url = "http://127.0.0.1:%d" % self.port
                return
            name = os.path.basename(self.argv[1] if len(self.argv) > 1
                                    else self.argv[0])
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s before announcing its "
                                   "port%s" % (name, self.proc.returncode,
                                               self._stderr_tail()))
            if time.monotonic() > deadline:
                raise RuntimeError("%s did not announce its port in %s s%s"
                                   % (name, self.timeout, self._stderr_tail()))
            time.sleep(0.02)

    def _stderr_tail(self):
        text = self.stderr_text()
        return (": " + text[-2000:].strip()) if text.strip() else ""

    def stderr_text(self):
        """What the fake wrote on stderr so far ("" when not captured)."""
        if not self.capture_stderr or not os.path.exists(self.log_path):
            return ""
        if self._log:
            self._log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10):
        """SIGTERM, wait `timeout` s, then SIGKILL; remove the directory
        unless keep_dir. Returns the captured stderr. Safe to call twice."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        text = self.stderr_text()
        if self._log:
            self._log.close()
            self._log = None
        if not self.keep_dir and os.path.isdir(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
        return text

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def start_script(script, *args, **kw):
    """Fake(sys.executable script args..., **kw): a fake written in Python,
    run with this interpreter."""
    return Fake([sys.executable, script] + [str(a) for a in args], **kw)
