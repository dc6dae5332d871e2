#!/usr/bin/env python3
"""The dashboard of `agent serve` in a real browser: Debian's chromium,
headless, loads `/` after a sync from the fake 121 and some offline
writes; the screenshot must show the charts (not blank: the colours of
the status bars are there, many colours in all), the DOM must hold the
six SVG charts, and the browser must log no console error.

The screenshot is kept in <build>/tests/serve/dashboard.png.
"""

import os
import shutil
import struct
import subprocess
import sys
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import VALID, main  # noqa: E402
from servetest import Served, build_dir  # noqa: E402
from test_serve import ServeTestCase  # noqa: E402


def chromium():
    for name in ("chromium", "chromium-browser"):
        p = shutil.which(name)
        if p:
            return p
    return None


def png_pixels(path):
    """(width, height, set of RGB colours) of an 8-bit RGB/RGBA PNG."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), (depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    colours = set()
    i = 0
    for _y in range(h):
        ft = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ft == 1:
                line[x] = (line[x] + a) & 255
            elif ft == 2:
                line[x] = (line[x] + b) & 255
            elif ft == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pr) & 255
        for x in range(0, stride, bpp):
            colours.add(bytes(line[x:x + 3]))
        prev = line
    return w, h, colours


class TestDashboard(ServeTestCase):
    seed = 80

    def test_dashboard_renders_in_chromium(self):
        browser = chromium()
        if not browser:
            self.skipTest("chromium is not installed (Debian package chromium)")
        # something waiting in the outbox too
        self.ok("registrations", "add", *VALID)
        out_dir = os.path.join(build_dir(), "tests", "serve")
        os.makedirs(out_dir, exist_ok=True)
        png = os.path.join(out_dir, "dashboard.png")
        if os.path.exists(png):
            os.unlink(png)
        url = "http://127.0.0.1:%d/" % self.port
        profile = os.path.join(self.dir, "chromium")
        common = [browser, "--headless", "--no-sandbox", "--disable-gpu",
                  "--hide-scrollbars", "--no-first-run",
                  "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0"]
        p = subprocess.run(common + ["--window-size=1280,1100",
                                     "--screenshot=" + png, url],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=180)
        self.assertEqual(p.returncode, 0, p.stderr.decode()[-2000:])
        log = p.stderr.decode("utf-8", "replace")
        self.assertNotIn("CONSOLE(", log, "console messages: " + log[-2000:])
        self.assertTrue(os.path.exists(png), log[-2000:])
        w, h, colours = png_pixels(png)
        self.assertEqual((w, h), (1280, 1100))
        # the status colours of the charts are in the picture
        for hexc in ("3fa34d", "7aa6d8", "d0504a", "e0a030"):
            self.assertIn(bytes.fromhex(hexc), colours, "colour #%s missing" % hexc)
        self.assertGreater(len(colours), 50)
        p = subprocess.run(common + ["--dump-dom", url], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=180)
        dom = p.stdout.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0)
        self.assertNotIn("CONSOLE(", p.stderr.decode("utf-8", "replace"))
        self.assertEqual(dom.count("<svg"), 6, dom[:500])
        self.assertIn("Registrations by status", dom)
        self.assertNotIn("Person 0", dom)  # counts only, no names
        # no external asset: nothing the page loads comes from elsewhere
        self.assertNotIn("src=", dom)
        self.assertNotIn("<link", dom)
        print("\ndashboard screenshot: %s" % png, file=sys.stderr)


if __name__ == "__main__":
    main()
