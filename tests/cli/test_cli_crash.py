"""kill -9 in the middle of a stream of adds: the store must pass SQLite's
integrity check, every registration must have its outbox 'create' entry
and no entry may lack its registration; the agent then goes on working.

The adds come from `agent registrations add --repeat N`, which commits each
registration in its own transaction, as a person entering one after another
would; the agent is killed at a different point in each round.
"""

import os
import random
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import AGENT_BIN, AgentTestCase, main  # noqa: E402
import storesql  # noqa: E402

ROUNDS = 3


class CrashTest(AgentTestCase):
    def check_store(self):
        """Integrity and the one-to-one match of rows and create entries;
        returns the number of registrations."""
        con = storesql.connect(self.db)
        try:
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchall(),
                             [("ok",)])
            regs = [r[0] for r in con.execute(
                "SELECT reference_id FROM registrations")]
            creates = [r[0] for r in con.execute(
                "SELECT reference_id FROM outbox WHERE kind = 'create'")]
        finally:
            con.close()
        self.assertEqual(len(regs), len(creates))
        self.assertEqual(len(set(creates)), len(creates))
        self.assertEqual(set(regs), set(creates))
        return len(regs)

    def kill_while_adding(self, min_lines, extra_s):
        """Start a long --repeat run, wait until it has printed `min_lines`
        referenceIds (each printed after its commit), let it run `extra_s`
        more, then kill -9 it. Returns how many it had reported."""
        p = subprocess.Popen(
            [AGENT_BIN, "--config", self.conf, "-q", "registrations", "add",
             "--repeat", "1000000", "fullName=Crash Test",
             "phoneNumber=31600000009"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env)
        seen = [0]
        enough = threading.Event()

        def drain():
            # Keep reading so the agent never blocks on a full pipe: the
            # kill must find it writing to the store.
            for _ in p.stdout:
                seen[0] += 1
                if seen[0] >= min_lines:
                    enough.set()
            enough.set()

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        try:
            enough.wait(60)
            time.sleep(extra_s)
            if p.poll() is not None:
                self.fail("the agent stopped by itself (%d): %s" % (
                    p.returncode,
                    p.stderr.read().decode("utf-8", "replace")))
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait()
            reader.join(10)
            p.stdout.close()
            p.stderr.close()
        self.assertGreaterEqual(seen[0], min_lines)
        return seen[0]

    def test_kill_during_adds(self):
        rng = random.Random(1217)
        total = 0
        for _ in range(ROUNDS):
            # stdout is a pipe (block-buffered), so lines arrive in bursts;
            # the extra sleep moves the kill to a random point after them.
            reported = self.kill_while_adding(rng.randint(1, 200),
                                              rng.uniform(0.05, 1.0))
            count = self.check_store()
            self.assertGreaterEqual(count, total + reported)
            total = count

            # The agent still works after the crash, and sees every row.
            st = self.json("status")
            self.assertEqual(st["registrations"], total)
            self.assertEqual(st["pending"], total)
            ref = self.add("fullName=After Crash")
            self.assertEqual(self.json("registrations", "show",
                                       ref)["fullName"], "After Crash")
            total += 1
            self.assertEqual(self.check_store(), total)
        self.assertGreater(total, ROUNDS)


if __name__ == "__main__":
    main()
