#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Self-test of linkemu.py (the link emulator of tests/bench/bench_links.py):
bandwidth, round trip, and that a cut connection's unsent bytes do not delay
the next connection (they did: the proxy schedules a whole answer at once,
and after a cut the next answer waited behind the dead one's bytes)."""
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import linkemu  # noqa: E402

BIG = 300_000  # 3 s at 800 kbit/s


class Server:
    """On "big\\n" writes BIG bytes at once, on "small\\n" 10 bytes."""

    def __init__(self):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        f = c.makefile("rb")
        try:
            for line in f:
                c.sendall(b"x" * BIG if line == b"big\n" else b"0123456789")
        except OSError:
            pass
        finally:
            c.close()


def ask(port, what, n):
    """Send `what`, read n bytes; return (seconds, socket)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    t0 = time.monotonic()
    s.sendall(what)
    got = 0
    while got < n:
        b = s.recv(65536)
        if not b:
            break
        got += len(b)
    return time.monotonic() - t0, s, got


class LinkEmuTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server()
        prof = dict(down_kbit=800, up_kbit=800, rtt_ms=100, loss=0.0,
                    drop_every=0)
        self.link = linkemu.LinkEmu(self.srv.port, prof).start()
        self.addCleanup(self.link.stop)
        self.addCleanup(self.srv.lsock.close)

    def test_bandwidth_and_round_trip(self):
        t, s, got = ask(self.link.port, b"big\n", BIG)
        s.close()
        self.assertEqual(got, BIG)
        # 3 s of bytes + the handshake's RTT + one RTT: not much more.
        self.assertGreater(t, 2.9)
        self.assertLess(t, 4.5)

    def test_cut_drops_what_the_dead_connection_queued(self):
        t, s, got = ask(self.link.port, b"big\n", 20_000)
        self.assertLess(got, BIG)
        self.link.cut_all()
        s.close()
        t, s, got = ask(self.link.port, b"small\n", 10)
        s.close()
        self.assertEqual(got, 10)
        # Two RTTs (handshake and request), not the ~2.8 s of the dead
        # answer's unsent bytes.
        self.assertLess(t, 1.0)
        self.assertEqual(self.link.stats()["cuts"], 1)


if __name__ == "__main__":
    unittest.main()
