#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Self-test of launcher.py with the scripted server of test_http
(tests/unit/http_test_server.py, which announces two ports)."""
import json
import os
import sys
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import launcher  # noqa: E402

SERVER = os.path.join(os.path.dirname(HERE), "unit", "http_test_server.py")


class LauncherTest(unittest.TestCase):
    def test_start_announce_stop(self):
        with launcher.start_script(SERVER) as fake:
            self.assertEqual(len(fake.ports), 2)  # http, tls (0: none)
            self.assertEqual(fake.url, "http://127.0.0.1:%d" % fake.port)
            with urllib.request.urlopen(fake.url + "/_control/log",
                                        timeout=10) as r:
                self.assertEqual(json.loads(r.read())["logins"], 0)
            self.assertTrue(fake.running())
            d = fake.dir
        self.assertFalse(fake.running())
        self.assertFalse(os.path.exists(d))
        fake.stop()  # twice is fine

    def test_exit_before_announcing(self):
        with self.assertRaises(RuntimeError) as cm:
            launcher.Fake([sys.executable, "-c",
                           "import sys; sys.stderr.write('boom'); sys.exit(3)"],
                          capture_stderr=True)
        self.assertIn("exited with 3", str(cm.exception))
        self.assertIn("boom", str(cm.exception))

    def test_timeout(self):
        with self.assertRaises(RuntimeError) as cm:
            launcher.Fake([sys.executable, "-c", "import time; time.sleep(30)"],
                          timeout=0.3)
        self.assertIn("did not announce", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
