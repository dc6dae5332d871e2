#!/usr/bin/env python3
"""linkemu.py - a slow, lossy link between the agent and a local fake server,
as a TCP proxy on 127.0.0.1 (Python standard library only).

    client --> 127.0.0.1:<listen> --[profile]--> 127.0.0.1:<upstream>

Each direction is one link with a bandwidth (bytes leave one after the
other, so a response takes len * 8 / bandwidth), a one-way delay of half the
round-trip time, and loss. TCP hides loss from the application; what a lost
segment costs it is a retransmission: that segment, and all after it (TCP
delivers in order), arrive one round trip later (fast retransmit). Each new
connection costs one round trip before its first byte leaves (the
handshake: SYN out, SYN-ACK back; the client's connect() to this proxy
returns at once, so its request waits here until then).
The "drops" profiles cut every open connection (RST) every `drop_every`
seconds, the way a link that goes away does.

Profiles (down/up bandwidth in kbit/s, RTT in ms, loss, drop period in s):
    2g         250 / 100 kbit/s, 600 ms, 3 %
    3g        1500 / 500 kbit/s, 300 ms, 1 %
    satellite 1000 / 256 kbit/s, 700 ms, 0.5 %
    drops     2g with every connection cut every 30 s
    none      no shaping (a reference)

Use from Python (tests, benchmarks):
    link = LinkEmu(upstream_port, PROFILES["2g"]).start()
    ... http://127.0.0.1:%d % link.port ...
    link.stats()  -> bytes each way, connections, segments lost, cuts, and
                     lost_s: how much later than without loss the bursts
                     (requests, answers) ended, summed
    link.stop()
or alone: linkemu.py --upstream PORT --profile 2g [--port 0] [--port-file F]
"""
import argparse
import heapq
import os
import random
import socket
import struct
import sys
import threading
import time

SEGMENT = 1448  # TCP payload of one segment on a 1500-byte MTU

PROFILES = {
    "none": dict(down_kbit=0, up_kbit=0, rtt_ms=0, loss=0.0, drop_every=0),
    "2g": dict(down_kbit=250, up_kbit=100, rtt_ms=600, loss=0.03,
               drop_every=0),
    "3g": dict(down_kbit=1500, up_kbit=500, rtt_ms=300, loss=0.01,
               drop_every=0),
    "satellite": dict(down_kbit=1000, up_kbit=256, rtt_ms=700, loss=0.005,
                      drop_every=0),
    "drops": dict(down_kbit=250, up_kbit=100, rtt_ms=600, loss=0.03,
                  drop_every=30),
}


class Link:
    """One direction: serialisation at `kbit` (shared by all connections),
    then a fixed delay; a lost segment comes one RTT later."""

    def __init__(self, kbit, rtt_ms, loss, rng):
        self.bps = kbit * 1000.0 / 8.0 if kbit else 0.0
        self.owd = rtt_ms / 2000.0
        self.rtt = rtt_ms / 1000.0
        self.loss = loss
        self.rng = rng
        self.free_at = 0.0
        self.lock = threading.Lock()
        self.lost = 0

    def schedule(self, n, ready_at=0.0):
        """A segment of n bytes queued now: it leaves once the link is free
        and not before `ready_at`. Returns (the time it would arrive
        without loss, 1 if it is lost: it then arrives one RTT later)."""
        with self.lock:
            now = time.monotonic()
            start = max(now, self.free_at, ready_at)
            done = start + (n / self.bps if self.bps else 0.0)
            self.free_at = done
            lost = bool(self.loss and self.rng.random() < self.loss)
            self.lost += lost
            return done + self.owd, lost


class Pipe(threading.Thread):
    """Copies src -> dst through a Link, keeping order."""

    def __init__(self, emu, src, dst, link, ready_at, counter, conn=None):
        super().__init__(daemon=True)
        self.emu, self.src, self.dst, self.link = emu, src, dst, link
        self.conn = conn  # the (client, upstream) pair it belongs to
        self.cut = False  # reset by cut_all: schedule nothing more
        self.ready_at = ready_at  # no byte leaves before (the handshake)
        self.counter = counter
        self.cond = threading.Condition()
        self.queue = []   # (arrival, seq, bytes) - arrival is monotonic
        self.seq = 0
        self.eof = False
        self.last = 0.0     # arrival of the last segment queued
        # What loss cost: the same stream without loss (`last_clean`), and
        # the lag of finished bursts. A burst ends when everything queued
        # has arrived; its lag is how much later its last byte arrived.
        self.last_clean = 0.0
        self.loss_delay = 0.0
        self.writer = threading.Thread(target=self.write_loop, daemon=True)

    def run(self):
        self.writer.start()
        try:
            while True:
                data = self.src.recv(65536)
                if not data:
                    break
                if time.monotonic() >= self.last:
                    self.loss_delay += self.last - self.last_clean
                    self.last_clean = self.last
                for i in range(0, len(data), SEGMENT):
                    if self.cut:
                        break
                    seg = data[i:i + SEGMENT]
                    arrive, lost = self.link.schedule(len(seg), self.ready_at)
                    # In order: never before the segment ahead of it.
                    at = max(arrive, self.last) + (self.link.rtt if lost
                                                   else 0.0)
                    self.last_clean = max(arrive, self.last_clean)
                    self.last = at
                    with self.cond:
                        heapq.heappush(self.queue, (at, self.seq, seg))
                        self.seq += 1
                        self.cond.notify()
        except OSError:
            pass
        with self.cond:
            self.eof = True
            self.cond.notify()

    def lost_time(self):
        """Seconds the losses delayed this stream's bursts."""
        return self.loss_delay + (self.last - self.last_clean)

    def write_loop(self):
        try:
            while True:
                with self.cond:
                    while not self.queue and not self.eof:
                        self.cond.wait()
                    if not self.queue:
                        break
                    at, _, seg = self.queue[0]
                    wait = at - time.monotonic()
                    if wait > 0:
                        self.cond.wait(min(wait, 0.05))
                        continue
                    heapq.heappop(self.queue)
                self.dst.sendall(seg)
                self.counter(len(seg))
            self.dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class LinkEmu:
    def __init__(self, upstream_port, profile, port=0, seed=1):
        self.upstream = ("127.0.0.1", upstream_port)
        self.p = dict(profile)
        rng = random.Random(seed)
        self.down = Link(self.p["down_kbit"], self.p["rtt_ms"], self.p["loss"],
                         rng)
        self.up = Link(self.p["up_kbit"], self.p["rtt_ms"], self.p["loss"],
                       rng)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = []
        self.bytes_down = self.bytes_up = 0
        self.connections = self.cuts = 0
        self.pipes = []
        self.stopping = threading.Event()

    def _count_down(self, n):
        with self.lock:
            self.bytes_down += n

    def _count_up(self, n):
        with self.lock:
            self.bytes_up += n

    def start(self):
        threading.Thread(target=self._accept, daemon=True).start()
        if self.p.get("drop_every"):
            threading.Thread(target=self._dropper, daemon=True).start()
        return self

    def _accept(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(self.upstream, timeout=10)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            for s in (c, u):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.connections += 1
                self.conns.append((c, u))
            # The handshake: the request's first byte leaves one RTT after
            # the connect, then takes its own one-way delay (a whole RTT
            # before the first byte, not half: measured with curl's timings,
            # the first request on a new connection took 1.5 RTT, not 2).
            ready = time.monotonic() + self.p["rtt_ms"] / 1000.0
            pipes = [Pipe(self, c, u, self.up, ready, self._count_up,
                          (c, u)),
                     Pipe(self, u, c, self.down, 0.0, self._count_down,
                          (c, u))]
            with self.lock:
                self.pipes += pipes
            for p in pipes:
                p.start()

    def _dropper(self):
        while not self.stopping.wait(self.p["drop_every"]):
            self.cut_all()

    def cut_all(self):
        """Reset every open connection, as a link going away does. What
        they had queued on the link is gone with them: the proxy reads an
        answer as fast as the server writes it and schedules all of it at
        once, but on a real link a reset connection's unsent bytes never
        cross it, so a new connection must not wait behind them (it did:
        after each cut the next answer's first byte came up to a minute
        late, the rest of a 1.7 MB answer still "on the 2G link")."""
        with self.lock:
            conns, self.conns = self.conns, []
            if conns:
                self.cuts += 1
            dead = [p for p in self.pipes if p.conn in conns]
        for p in dead:
            p.cut = True
        for pair in conns:
            for s in pair:
                # shutdown() first: close() alone does not wake the pipe
                # threads blocked in recv() on it, and no RST would leave
                # (the agent would only notice after low_speed_time_s).
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    s.close()
                except OSError:
                    pass
        now = time.monotonic()
        for link in (self.down, self.up):
            with link.lock:
                link.free_at = min(link.free_at, now)

    def stats(self):
        with self.lock:
            return {"bytes_down": self.bytes_down, "bytes_up": self.bytes_up,
                    "connections": self.connections, "cuts": self.cuts,
                    "lost_segments": self.down.lost + self.up.lost,
                    "lost_s": sum(p.lost_time() for p in self.pipes)}

    def stop(self):
        self.stopping.set()
        try:
            self.lsock.close()
        except OSError:
            pass
        self.cut_all()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", type=int, required=True)
    ap.add_argument("--profile", choices=sorted(PROFILES), default="2g")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    a = ap.parse_args()
    emu = LinkEmu(a.upstream, PROFILES[a.profile], a.port).start()
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % emu.port)
        os.replace(tmp, a.port_file)
    sys.stderr.write("linkemu: 127.0.0.1:%d -> %d (%s)\n"
                     % (emu.port, a.upstream, a.profile))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        emu.stop()


if __name__ == "__main__":
    main()
