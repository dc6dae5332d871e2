#!/usr/bin/env python3
"""Regression tests for what the fault harness (tests/faults/faults.py)
found, one test per fix, each against the real agent binary and the fake
121 (the harness seed that found it is named in the docstring)."""

import json
import os
import re
import subprocess
import sys
import tempfile
import shutil
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fakeproc import FakeProc, PASSWORD, USER  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "cli"))
from clitest import encrypt_args  # noqa: E402
import storesql  # noqa: E402

AGENT_BIN = os.environ.get("AGENT_BIN", "agent")


class Regressions(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="agent-faultreg-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.fake = FakeProc(self.dir)
        self.addCleanup(self.fake.close)
        self.fake.reset(7, 3)
        self.conf = os.path.join(self.dir, "agent.conf")
        self.db = os.path.join(self.dir, "agent.db")
        enc = encrypt_args(self.dir)  # AGENT_TEST_ENCRYPT=1: key-file store
        self.keyenv = {"AGENT_STORE_KEY_FILE": enc[-1]} if enc else {}
        self.agent("init", "--server", self.fake.url, "--program", "3",
                   "--user", USER, "--store", self.db, *enc)

    def agent(self, *args, code=0, env=None):
        e = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_")}
        e["AGENT_121_PASSWORD"] = PASSWORD
        e.update(self.keyenv)
        e.update(env or {})
        p = subprocess.run([AGENT_BIN, "--config", self.conf, "-q"] + list(args),
                           env=e, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, code, "agent %s: %s" % (" ".join(args), p.stderr))
        return p.stdout

    def local(self, ref):
        con = storesql.connect(self.db)
        try:
            row = con.execute("SELECT server_json, local_json FROM registrations "
                              "WHERE reference_id = ?", (ref,)).fetchone()
        finally:
            con.close()
        return json.loads(row[0]), json.loads(row[1])

    def live_ref(self):
        regs = self.fake.dump()["programs"]["3"]["registrations"]
        return next(r["referenceId"] for r in regs if r["status"] != "deleted")

    def office_edit(self, ref, data):
        r = self.fake.call("POST", "/_test/edit", {"referenceId": ref, "data": data,
                                                   "username": "office-user"})
        self.assertIn("changed", r)

    def test_old_event_not_reapplied_after_a_settled_query(self):
        """Seed 1001: an event read before a query from the cursor itself
        (no overlap) fell out of the seen set; the next query, which reads
        the 5 s overlap again, applied it once more over newer values, so
        the store showed an office value that had been replaced (local
        view != server). Three office edits of one field, syncs between."""
        self.agent("sync", "--now")
        ref = self.live_ref()
        self.office_edit(ref, {"householdSize": "37"})
        self.agent("sync", "--now")
        self.office_edit(ref, {"householdSize": "28"})
        self.agent("sync", "--now")
        self.agent("sync", "--now")      # nothing new: the next query is settled
        self.office_edit(ref, {"householdSize": "34"})
        self.agent("sync", "--now")      # from the cursor, no overlap
        self.agent("sync", "--now")      # the overlap again: 37 must stay applied once
        server, local = self.local(ref)
        self.assertEqual(str(server.get("householdSize")), "34")
        self.assertEqual(str(local.get("householdSize")), "34")

    def outbox_states(self):
        con = storesql.connect(self.db)
        try:
            return con.execute("SELECT kind, state FROM outbox ORDER BY seq").fetchall()
        finally:
            con.close()

    def test_status_change_applied_then_changed_by_office_is_done(self):
        """Seeds 5060, 5089: a status change 121 applied (its event is
        ours) and the office then changed again stayed in flight: the
        confirmation compared the server's current status only, so it
        waited, and after the grace period would have called it a
        conflict. The event confirms it."""
        self.agent("sync", "--now")
        regs = self.fake.dump()["programs"]["3"]["registrations"]
        ref = next(r["referenceId"] for r in regs if r["status"] == "new")
        self.agent("registrations", "status", ref, "included")
        self.agent("sync", "--now")           # sent; 121 applies it (202)
        self.fake.flush()
        r = self.fake.call("POST", "/_test/status", {"referenceId": ref, "status": "paused",
                                                     "reason": "office",
                                                     "username": "office-user"})
        self.assertEqual(r["applied"], [ref])
        self.agent("sync", "--now")           # the events: ours, then the office's
        self.assertEqual(self.outbox_states(), [("status", "done")])
        server, local = self.local(ref)
        self.assertEqual(server["status"], "paused")
        self.assertEqual(local["status"], "paused")

    def set_patch_max(self, n):
        with open(self.conf) as f:
            text = f.read()
        with open(self.conf, "w") as f:
            f.write(re.sub(r"(?m)^patch_max = .*$", "patch_max = %d" % n, text))

    def conflicts(self):
        con = storesql.connect(self.db)
        try:
            return con.execute("SELECT reference_id, field FROM conflicts").fetchall()
        finally:
            con.close()

    def test_bulk_edit_changed_again_by_office_is_done(self):
        """Seed 252: an edit 121 applied (CSV bulk, confirmed by a later
        pull) that the office then changed again stayed in flight: the
        confirmation compared the current server value only, so it waited
        24 h and then sent the old value again over the office's newer
        one. The edit's own event confirms it."""
        self.set_patch_max(1)
        self.agent("sync", "--now")
        regs = [r["referenceId"] for r in self.fake.dump()["programs"]["3"]["registrations"]
                if r["status"] != "deleted"][:2]
        for ref in regs:
            self.agent("registrations", "edit", ref, "householdSize=41")
        self.agent("sync", "--now")           # 2 people > patch_max: one CSV upload
        self.fake.flush()                     # 121 applies the rows
        self.office_edit(regs[0], {"householdSize": "42"})
        self.agent("sync", "--now")           # our events, then the office's
        self.assertEqual(self.outbox_states(), [("edit", "done"), ("edit", "done")])
        server, local = self.local(regs[0])
        self.assertEqual(str(local["householdSize"]), "42")

    def test_bulk_overwrite_of_a_value_a_later_edit_repeats_is_a_conflict(self):
        """Seed 5576: the office set a field; a `--push-only` CSV upload
        wrote the device's value over it (no look-back for bulk rows:
        their events confirm them). Before the next pull the person edited
        the field again, to the office's value by chance. The event's
        oldValue (the office's value) matched that later edit's value, so
        it counted as one the device knew and the overwrite went
        unrecorded. Only edits up to the one that wrote count now."""
        self.set_patch_max(1)
        self.agent("sync", "--now")
        regs = [r["referenceId"] for r in self.fake.dump()["programs"]["3"]["registrations"]
                if r["status"] != "deleted"][:2]
        self.office_edit(regs[0], {"householdSize": "44"})
        for ref in regs:
            self.agent("registrations", "edit", ref, "householdSize=43")
        self.agent("sync", "--now", "--push-only")   # one CSV upload, over "44"
        self.fake.flush()                            # 121 applies the rows
        self.agent("registrations", "edit", regs[0], "householdSize=44")
        self.agent("sync", "--now", code=4)          # the events show the overwrite
        self.assertEqual(self.conflicts(), [(regs[0], "householdSize")])

    def test_view_after_a_superseded_edit_and_a_conflict_is_the_server_copy(self):
        """Seed 4722: two edits of `district` (north, then south with a
        phone number the office had also changed). The events made the
        second a conflict (its fields left the view; the first, still
        pending, showed "north"); then the push settled the first as done
        (the second sets the field again, and the server has "south") but
        the stored view kept "north" while the server and the person's
        last edit said "south". A done entry now recomputes the view."""
        ref = self.live_ref()
        self.office_edit(ref, {"district": "south"})
        self.agent("sync", "--now")
        self.office_edit(ref, {"phoneNumber": "31620458035"})
        self.agent("registrations", "edit", ref, "district=north")
        self.agent("registrations", "edit", ref, "phoneNumber=31620458043",
                   "district=south")
        self.agent("sync", "--now", code=4)          # the phone number
        self.assertEqual(self.conflicts(), [(ref, "phoneNumber")])
        server, local = self.local(ref)
        self.assertEqual(local.get("district"), server.get("district"))
        self.assertEqual(local.get("phoneNumber"), "31620458035")

    def test_label_edit_survives_a_program_pull_before_the_next_one(self):
        """Seed 6767: a label edit waited (its PATCH failed) while a sync
        pulled the program, which replaced the stored copy and dropped the
        edit from it; the next label edit, of another language, built its
        whole label from that copy and sent the old text over the first.
        Both were done, the server kept the old text. The stored program
        now keeps pending label edits on top of what is pulled."""
        self.agent("sync", "--now")
        self.agent("program", "label", "district", "--lang", "en", "First")
        self.agent("sync", "--now")                  # on 121; its etag moves
        self.agent("program", "label", "district", "--lang", "en", "Second")
        self.fake.fault(path_contains="registration-attributes", method="PATCH",
                        fail_status=503, fail_count=50)
        p = subprocess.run([AGENT_BIN, "--config", self.conf, "-q", "sync", "--now"],
                           env=dict(os.environ, AGENT_121_PASSWORD=PASSWORD, **self.keyenv),
                           capture_output=True, text=True, timeout=120)
        self.assertNotEqual(p.returncode, 0, p.stderr)   # the program pulled, no PATCH
        self.fake.reset_faults()
        self.agent("program", "label", "district", "--lang", "nl", "Derde")
        self.agent("sync", "--now")
        labels = self.fake.call("GET", "/_test/dist")["labels"]["district"]
        self.assertEqual(labels.get("en"), "Second")
        self.assertEqual(labels.get("nl"), "Derde")

    def test_overwrite_found_when_the_look_back_failed(self):
        """Seed 511: the look-back for another writer after a PATCH (the
        registration's events) failed or the agent was killed before it;
        the entry was already done, so an office value written between our
        check and our write was overwritten with no conflict. The entry now
        stays in flight until the look-back is done, and the next pull's
        events find the other writer."""
        self.agent("sync", "--now")
        ref = self.live_ref()
        self.agent("registrations", "edit", ref, "householdSize=43")
        self.fake.fault(path_contains="/registrations/" + ref,
                        office_edit={"data": {"householdSize": "44"},
                                     "username": "office-user", "reason": "office"})
        self.fake.fault(path_contains="registration-events", fail_status=503, fail_count=50)
        # --push-only: the only events request is the look-back.
        p = subprocess.run([AGENT_BIN, "--config", self.conf, "-q", "sync", "--now",
                            "--push-only"],
                           env=dict(os.environ, AGENT_121_PASSWORD=PASSWORD,
                                    **self.keyenv),
                           capture_output=True, text=True, timeout=120)
        self.assertIn(p.returncode, (0, 3), p.stderr)
        self.fake.reset_faults()
        self.assertEqual(str(self.fake.registration(ref)["registration"]["householdSize"]), "43")
        self.agent("sync", "--now", code=4)   # the events: ours replaced 44
        self.assertEqual(self.conflicts(), [(ref, "householdSize")])
        self.assertEqual(self.outbox_states(), [("edit", "done")])

    def test_overwrite_found_when_the_patch_answer_was_cut(self):
        """Seeds 5955, 6320: the office wrote the field between our check
        and our PATCH; 121 applied the PATCH but its answer was cut off,
        and the retry got 121's empty "nothing changed" answer. The agent
        took the empty answer for "121 already had the values" and called
        the entry done without the look-back, so the office value was
        overwritten with no conflict. An empty answer gets the look-back
        too. (--push-only: the device's copy is not refreshed first.)"""
        self.agent("sync", "--now")
        ref = self.live_ref()
        self.agent("registrations", "edit", ref, "householdSize=43")
        path = "/registrations/" + ref
        self.fake.fault(path_contains=path,
                        office_edit={"data": {"householdSize": "44"},
                                     "username": "office-user", "reason": "office race"})
        self.fake.fault(path_contains=path, method="PATCH", drop_after_bytes=3, count=1)
        self.agent("sync", "--now", "--push-only", code=4)   # the conflict
        self.fake.reset_faults()
        self.assertEqual(str(self.fake.registration(ref)["registration"]["householdSize"]), "43")
        self.assertEqual(len(self.agent_writes(ref, "householdSize", "43")), 1)
        self.assertEqual(self.conflicts(), [(ref, "householdSize")])
        self.assertEqual(self.outbox_states(), [("edit", "done")])

    def test_inflight_edit_superseded_by_a_done_one_is_done(self):
        """Seed 31 (with the fixes above): an edit left in flight by a
        cut-off push, whose field a later edit of this device then sent
        (done), stayed in flight: the check for a later entry of the same
        field looked at pending and in-flight entries only. The state the
        harness reached is made here directly in the outbox."""
        self.agent("sync", "--now")
        ref = self.live_ref()
        self.agent("registrations", "edit", ref, "fullName=First Value", "householdSize=45")
        self.agent("registrations", "edit", ref, "fullName=Second Value")
        self.agent("sync", "--now")
        self.assertEqual(self.outbox_states(), [("edit", "done"), ("edit", "done")])
        con = storesql.connect(self.db)
        with con:
            con.execute("UPDATE outbox SET state = 'inflight' WHERE seq = 1")
        con.close()
        self.agent("sync", "--now")
        self.assertEqual(self.outbox_states(), [("edit", "done"), ("edit", "done")])
        server, local = self.local(ref)
        self.assertEqual(local["fullName"], "Second Value")

    def agent_writes(self, ref, field, value):
        regs = self.fake.dump()["programs"]["3"]
        rid = next(r["id"] for r in regs["registrations"] if r["referenceId"] == ref)
        return [ev for ev in regs["events"] if ev["registrationId"] == rid and
                ev["fieldChanged"] == field and ev["newValue"] == value and
                (ev["username"] or "").lower() == USER]

    def test_take_local_of_a_value_already_on_the_server_is_not_sent_again(self):
        """Seed 1384: our PATCH won a race with an office edit (conflict
        found by the look-back: the server holds our value); the person
        then edited the field again and resolved the conflict with --take
        local. The resolve queued our value again after the newer edit, so
        the server got the newer value and then ours a second time. The
        server holds the chosen value already: the newer, unsent edit of
        the field is superseded by the resolution and nothing is sent."""
        self.agent("sync", "--now")
        ref = self.live_ref()
        self.agent("registrations", "edit", ref, "phoneNumber=31611111111")
        self.fake.fault(path_contains="/registrations/" + ref,
                        office_edit={"data": {"phoneNumber": "31622222222"},
                                     "username": "office-user", "reason": "office race"})
        self.agent("sync", "--now", "--push-only", code=4)
        self.fake.reset_faults()
        self.assertEqual(self.conflicts(), [(ref, "phoneNumber")])
        self.agent("registrations", "edit", ref, "phoneNumber=31633333333", "district=south")
        self.agent("conflicts", "resolve", "1", "--take", "local")
        self.agent("sync", "--now")
        self.fake.flush()
        self.agent("sync", "--now")
        srv = self.fake.registration(ref)["registration"]
        self.assertEqual(srv["phoneNumber"], "31611111111")
        self.assertEqual(srv.get("district"), "south")    # the rest of the edit went
        self.assertEqual(len(self.agent_writes(ref, "phoneNumber", "31611111111")), 1)
        self.assertEqual(self.agent_writes(ref, "phoneNumber", "31633333333"), [])
        server, local = self.local(ref)
        self.assertEqual(local["phoneNumber"], "31611111111")
        self.assertEqual(local.get("district"), "south")

    def test_push_only_over_an_old_office_edit_is_a_conflict(self):
        """README "Known gap": `sync --push-only` checks an edit against
        the stored copy without pulling; the office had changed the field
        long before (more than the 5 minutes the look-back reads), so the
        look-back did not see it and the office value was overwritten with
        no conflict. Our own event's oldValue now tells: it is a value
        this device never saw."""
        self.agent("sync", "--now")
        ref = self.live_ref()
        self.office_edit(ref, {"householdSize": "44"})
        self.fake.call("POST", "/_test/clock", {"advance_ms": 3600 * 1000})
        self.fake.call("POST", "/_test/expire-tokens", {})
        self.agent("registrations", "edit", ref, "householdSize=43")
        self.agent("sync", "--now", "--push-only", code=4)   # the conflict
        self.assertEqual(str(self.fake.registration(ref)["registration"]["householdSize"]), "43")
        self.assertEqual(self.conflicts(), [(ref, "householdSize")])
        self.assertEqual(self.outbox_states(), [("edit", "done")])
        self.agent("sync", "--now", code=4)   # the events again: no second record
        self.assertEqual(self.conflicts(), [(ref, "householdSize")])

    def test_handout_killed_before_its_upload_is_sent(self):
        """Seed 20393: the push marks reconciliation rows in flight before
        the upload; killed before it (or the upload failed with no
        answer), the next push took the stored transaction's status for
        the confirmation. A paper voucher's transaction already shows
        "success", so the hand-out was done without ever reaching 121.
        Rows whose upload got no answer are sent again (a row sets a
        status: twice changes nothing twice)."""
        r = self.fake.call("POST", "/_test/dist/paper-payment", {"count": 2})
        pay, refs = r["paymentId"], r["referenceIds"]
        self.agent("sync", "--now")
        self.agent("vouchers", "hand-out", refs[0], "--payment", str(pay))
        self.fake.fault(path_contains="excel-reconciliation", method="POST",
                        fail_status=503, fail_count=50)
        p = subprocess.run([AGENT_BIN, "--config", self.conf, "-q", "sync", "--now",
                            "--push-only"],
                           env=dict(os.environ, AGENT_121_PASSWORD=PASSWORD),
                           capture_output=True, text=True, timeout=120)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        self.fake.reset_faults()
        self.assertEqual(self.outbox_states(), [("voucher", "inflight")])
        self.assertEqual(self.fake.call("GET", "/_test/dist")["reconciliation"], {})
        self.agent("sync", "--now", "--push-only")
        recon = self.fake.call("GET", "/_test/dist")["reconciliation"]
        self.assertEqual(list(recon.get(str(pay), {})), [refs[0]])
        self.agent("sync", "--now")
        self.assertEqual(self.outbox_states(), [("voucher", "done")])
        self.assertEqual(self.fake.call("GET", "/_test/dist")["reconciliation"][str(pay)]
                         [refs[0]]["applied"], 1)

    def test_event_of_an_unknown_lower_id_pulls_that_registration(self):
        """Power-cut run (seed 1): a registration committed on the server
        with an id below one the device had already pulled (concurrent
        inserts) was never pulled: its events were skipped (unknown id)
        and the new-people read asks for ids above the largest stored one
        only. The events' unknown ids are now read by id. The state is
        made here by taking the registration out of the store (as if the
        device had pulled its neighbours before it was committed)."""
        self.agent("sync", "--now")
        regs = self.fake.dump()["programs"]["3"]["registrations"]
        live = [r for r in regs if r["status"] != "deleted"]
        self.assertGreaterEqual(len(live), 2)
        low = min(live, key=lambda r: r["id"])
        self.assertLess(low["id"], max(r["id"] for r in regs))
        con = storesql.connect(self.db)
        with con:
            con.execute("DELETE FROM registrations WHERE reference_id = ?",
                        (low["referenceId"],))
        con.close()
        self.agent("sync", "--now")          # no event yet: nothing brings it back
        self.office_edit(low["referenceId"], {"householdSize": "47"})
        self.agent("sync", "--now")          # its event names an unknown, lower id
        server, local = self.local(low["referenceId"])
        self.assertEqual(str(server["householdSize"]), "47")
        self.assertEqual(str(local["householdSize"]), "47")
        con = storesql.connect(self.db)
        try:
            left = con.execute("SELECT count(*) FROM sync_checkpoints WHERE "
                               "name = 'events.unknown'").fetchone()[0]
        finally:
            con.close()
        self.assertEqual(left, 0)


class FakeRestart(unittest.TestCase):
    """Seed 1190: the fake lost its whole state across a restart under
    load (its seeded people vanished): the harness killed it when its save
    took over 30 s, and the next start loaded an older state file (or
    none). The fake now applies every accepted job and saves atomically
    before it exits, and a fake that exits without a new state file is an
    error of the harness, never a restart with an old state."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="agent-fakerestart-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.fake = FakeProc(self.dir)
        self.addCleanup(self.fake.close)

    def test_restart_keeps_the_state(self):
        self.fake.reset(3, 4)
        self.fake.call("POST", "/_test/edit", {"referenceId": "ref-00002",
                                               "data": {"fullName": "Kept Name"},
                                               "username": "office-user"})
        self.fake.restart()
        regs = self.fake.dump()["programs"]["3"]["registrations"]
        self.assertEqual(len(regs), 4)
        self.assertEqual(self.fake.registration("ref-00002")["registration"]["fullName"],
                         "Kept Name")

    def test_a_fake_that_exits_without_saving_is_an_error(self):
        self.fake.reset(3, 4)
        self.fake.restart()                    # a state file exists now
        real = self.fake.proc
        # Stands in for a fake that stops without saving (killed mid-save).
        self.fake.proc = subprocess.Popen([sys.executable, "-c",
                                           "import signal, sys, time\n"
                                           "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
                                           "time.sleep(60)"])
        try:
            with self.assertRaises(RuntimeError):
                self.fake.restart()
        finally:
            if self.fake.proc.poll() is None:
                self.fake.proc.kill()
                self.fake.proc.wait()
            self.fake.proc = real

    def test_no_job_is_accepted_while_saving_to_stop(self):
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fake121"))
        import threading
        from app import Scheduler
        sch = Scheduler()
        sch.start()
        self.addCleanup(sch.stop)
        with sch.cond:
            sch.frozen = True
        t = threading.Thread(target=sch.at, args=(0.0, lambda: None), daemon=True)
        t.start()
        t.join(0.5)
        # The request that asked for the job never gets its answer (its
        # thread waits until the process exits); nothing is queued.
        self.assertTrue(t.is_alive())
        self.assertEqual(sch.pending(), 0)

    def test_no_bulk_row_is_accepted_while_saving_to_stop(self):
        """The bulk CSV PATCH queued its rows on the scheduler's heap
        directly, past the check above: rows accepted while the fake saved
        its state to stop were lost with the process after a 200."""
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fake121"))
        import threading
        from app import Scheduler
        sch = Scheduler()
        sch.start()
        self.addCleanup(sch.stop)
        with sch.cond:
            sch.frozen = True
        t = threading.Thread(target=sch.bulk, args=(0.0, [lambda: None] * 3), daemon=True)
        t.start()
        t.join(0.5)
        self.assertTrue(t.is_alive())
        self.assertEqual(sch.pending(), 0)

    def test_bulk_rows_are_applied_in_order_after_earlier_uploads(self):
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fake121"))
        from app import Scheduler
        sch = Scheduler()
        sch.start()
        self.addCleanup(sch.stop)
        seen = []
        sch.bulk(0.0, [lambda i=i: seen.append(i) for i in range(3)])
        sch.bulk(0.0, [lambda i=i: seen.append(i) for i in range(3, 5)])
        sch.flush()
        for _ in range(2000):
            if sch.pending() == 0:
                break
            import time
            time.sleep(0.005)
        self.assertEqual(seen, [0, 1, 2, 3, 4])


class DistChecks(unittest.TestCase):
    """The harness's invariants for hand-outs and messages hold on a clean
    run and fail when the server lost or doubled one (checks.py)."""

    def test_dist_invariants_can_fail(self):
        import types
        import checks
        import scenario
        d = tempfile.mkdtemp(prefix="agent-faultdist-")
        self.addCleanup(shutil.rmtree, d, True)
        fake = FakeProc(d)
        self.addCleanup(fake.close)
        rundir = os.path.join(d, "run")
        os.makedirs(rundir)
        opts = types.SimpleNamespace(cmd_timeout=120, faketime=False, min_steps=1,
                                     max_steps=1, restarts=False, trace=False,
                                     template=os.path.join(d, "template.db"))
        run = None
        for seed in range(1, 50):    # a seed whose run has a paper payment
            run = scenario.Run(AGENT_BIN, fake, rundir, seed, opts)
            run.setup()
            if run.paper_refs:
                break
        run.local_hook = lambda: None     # no kill -9 here
        run.step_handout()
        run.step_message()
        run.step_template()
        run.step_label()
        self.assertEqual([op["rc"] for op in run.ops], [0] * len(run.ops))
        run.heal()
        res, problems = checks.check(run)
        self.assertEqual(problems, [])
        real = fake.call

        def tampered(method, path, body=None, timeout=60):
            out = real(method, path, body, timeout)
            if path == "/_test/dist":
                out["reconciliation"] = {}
                out["message_list"] = out["message_list"] * 2
                out["templates"] = {}
            return out

        fake.call = tampered
        res, problems = checks.check(run)
        self.assertGreaterEqual(res["lost"], 2, problems)       # hand-out, template
        self.assertGreaterEqual(res["duplicated"], 1, problems)  # the message


class SeedReplays(unittest.TestCase):
    """Harness runs that found a defect, replayed from their seed."""

    def test_seed_4255_coalesced_edit_is_not_stuck(self):
        # Two edits of one field went as one write of the last value after
        # a cut-off push; the office then changed the other field of the
        # first edit. The first stayed in flight (no event carried its
        # value of the coalesced field): "1 stuck" before the fix.
        harness = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               "faults.py")
        p = subprocess.run([sys.executable, harness, "--agent", AGENT_BIN,
                            "--seed", "4255", "--runs", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=600)
        out = p.stdout.decode("utf-8", "replace")
        self.assertIn("1 runs, 0 lost, 0 duplicated, 0 stuck", out)
        self.assertEqual(p.returncode, 0, out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
