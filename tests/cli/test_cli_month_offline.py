#!/usr/bin/env python3
"""A device back after a month offline, scaled down (tests/cli/
month_offline.py at scale 0.03: 300 people pulled, then 600 new ones,
1,500 events and 5 payments on the server, 60 changes on the device, 3
of them also changed in the office): one `agent sync --now` catches up,
pushes everything that does not conflict, surfaces exactly the conflicts,
and a second sync finds nothing left to do. The full numbers:
tests/bench/bench_month_offline.py."""
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import month_offline  # noqa: E402

AGENT = os.environ.get("AGENT_BIN", "agent")


class MonthOffline(unittest.TestCase):
    def test_one_sync_catches_up(self):
        tmp = tempfile.mkdtemp(prefix="agent-month.")
        self.addCleanup(shutil.rmtree, tmp, True)
        r = month_offline.run(AGENT, tmp, scale=0.03, log=lambda *a: None)
        self.assertGreaterEqual(r["server_events"], 1500)
        self.assertEqual(r["server_new"], 600)
        self.assertEqual(r["server_payments"], 5)
        # Exit 4: done, conflicts need a person.
        self.assertEqual(r["exit"], 4, r.get("stderr"))
        s = r["summary"]
        self.assertIsNone(s.get("error"))
        self.assertEqual(r["conflict_refs"], r["expected_conflict_refs"])
        self.assertEqual(r["edits_on_server"], r["edits_expected"])
        self.assertEqual(r["statuses_on_server"], r["statuses_expected"])
        self.assertEqual(r["creates_on_server"], r["creates_expected"])
        self.assertGreater(s.get("bytes_wire", 0), 0)
        # (a few of the new people were deleted again: 121 leaves them out)
        self.assertGreater(s.get("pulled", 0), 540)
        # Every new person is on the device: the old ones, the server's
        # new ones and the device's own.
        st = r["status2"]
        regs = st.get("registrations", st.get("counts", {}).get(
            "registrations"))
        self.assertEqual(regs, r["server_live"], st)
        # Every change went out in the first sync; the second only
        # confirms the bulk edits from their events and sends nothing.
        self.assertEqual(s.get("sent", 0) + s.get("pushed", 0),
                         r["offline_changes"] - len(r["expected_conflict_refs"]))
        self.assertEqual(r["second_exit"], 4)
        self.assertEqual(r["second"].get("sent", 0), 0)
        self.assertEqual(r["second"].get("rejected", 0), 0)
        self.assertEqual(r["status2"].get("pending"), 0)


if __name__ == "__main__":
    unittest.main()
