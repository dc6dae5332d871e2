"""A device back after a month offline (issue 13 item 4), shared by the test
(tests/cli/test_cli_month_offline.py, scaled down) and the benchmark
(tests/bench/bench_month_offline.py, full numbers).

At scale 1.0:
  - the program has 10,000 registrations; the device pulled them all,
    then went offline;
  - the server's clock moves 30 days on; meanwhile the office adds 20,000
    registrations (each with its creation and status events), changes the
    status of old ones in bulk and edits fields until the server has logged
    50,000 events since the device's last sync, and makes 5 payments;
  - the device made 2,000 changes offline: 1,500 edits (householdSize),
    400 new registrations, 100 status changes; the office edited the same
    field of 50 of the edited people (50 conflicts to surface);
  - then one `agent sync --now`.

121's registration-events endpoint answers a window of any length in one
call (at most 500,000 rows; the events are never deleted), so a month is
one request: 50,000 events are ~10 MB of JSON. New people come from
filter.id=$gt:<max stored id>, not from their events.
"""
import json
import os
import subprocess
import time

from clitest import encrypt_args
from fake121_fixture import FakeServer, PASSWORD, USER

DAY_MS = 86400 * 1000


def run(agent, tmp, scale=1.0, log=print):
    """Run the scenario in `tmp`; returns a dict of what happened (the
    caller asserts or prints). The fake is stopped before returning."""
    n0 = max(50, int(10000 * scale))
    n_new = max(40, int(20000 * scale))
    n_events = max(100, int(50000 * scale))
    n_edit = max(30, int(1500 * scale))
    n_create = max(8, int(400 * scale))
    n_status = max(2, int(100 * scale))
    n_conflict = max(3, int(50 * scale))
    fake = FakeServer("--seed-registrations", str(n0), "--seed-payments", "1",
                      "--async-delay", "0")
    out = {}
    try:
        conf = os.path.join(tmp, "agent.conf")
        db = os.path.join(tmp, "agent.db")
        conf_text = ("[store]\npath = %s\nsynchronous = normal\n[121]\nurl = %s\n"
                    "program_id = 3\nuser = %s\n[sync]\nmax_attempts = 4\n"
                    "backoff_base_ms = 20\nbackoff_cap_ms = 200\n"
                     % (db, fake.url, USER))
        env = dict(os.environ, AGENT_CONFIG=conf, AGENT_121_PASSWORD=PASSWORD)
        enc = encrypt_args(tmp)  # AGENT_TEST_ENCRYPT=1: a key-file store
        if enc:
            env["AGENT_STORE_KEY_FILE"] = enc[-1]

        def agent_run(*args, check=True, stdin=None):
            p = subprocess.run([agent] + list(args), env=env, input=stdin,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=3600)
            if check and p.returncode != 0:
                raise AssertionError("agent %s: exit %d: %s" % (
                    " ".join(args[:3]), p.returncode,
                    p.stderr.decode(errors="replace")[-600:]))
            return p

        agent_run("init", "--force", "--server", fake.url, "--program", "3",
                  "--user", USER, "--store", db, *enc)
        with open(conf, "w") as f:
            f.write(conf_text)
        agent_run("sync", "--now")
        regs = json.loads(agent_run("--json", "registrations", "list",
                                    "--status", "included", "--limit",
                                    str(n0)).stdout)
        refs = [r["referenceId"] for r in regs]
        if len(refs) < n_edit + n_status + 10:
            raise AssertionError("only %d included registrations" % len(refs))
        edit_refs, status_refs = refs[:n_edit], refs[n_edit:n_edit + n_status]
        untouched = refs[n_edit + n_status:]
        state0 = fake.state()["programs"]["3"]

        # --- a month passes: the office's side --------------------------
        fake.call("POST", "/_test/clock", {"advance_ms": 30 * DAY_MS})
        fake.call("POST", "/_test/seed", {"registrations": n_new})
        fake.call("POST", "/_test/payments", {"count": 5})
        # The same field, changed on both sides: conflicts to surface.
        for i, ref in enumerate(edit_refs[:n_conflict]):
            fake.edit(ref, {"householdSize": str(30 + i % 5)})
        # Bulk status changes and edits of people the device did not touch
        # until the month holds n_events events.
        k = 0
        while True:
            have = fake.state()["programs"]["3"]["events"] - state0["events"]
            if have >= n_events:
                break
            left = n_events - have
            if left > 2 and k < 2:
                # included -> paused -> included: two events per person.
                chunk = untouched[:min(len(untouched), left // 2)]
                status = "paused" if k == 0 else "included"
                fake.call("POST", "/_test/status", {
                    "referenceIds": chunk, "status": status, "force": True,
                    "reason": "month"})
                k += 1
                continue
            ref = untouched[(have + k) % len(untouched)]
            try:
                fake.edit(ref, {"phoneNumber": "3170%07d" % (have % 10**7)})
            except Exception:  # a deleted person cannot be edited
                k += 1
        state1 = fake.state()["programs"]["3"]
        out["server_events"] = state1["events"] - state0["events"]
        out["server_new"] = state1["registrations"] - state0["registrations"]
        out["server_payments"] = state1["payments"] - state0["payments"]

        # --- the device's month offline ---------------------------------
        t0 = time.monotonic()
        for i, ref in enumerate(edit_refs):
            agent_run("registrations", "edit", ref,
                      "householdSize=%d" % (11 + i % 7))
        for ref in status_refs:
            agent_run("registrations", "status", ref, "paused", "--reason",
                      "offline month")
        people = [{"fullName": "Month Person %04d" % i,
                   "phoneNumber": "3169%07d" % i,
                   "programFspConfigurationName": "Intersolve-voucher-paper",
                   "preferredLanguage": "en"} for i in range(n_create)]
        path = os.path.join(tmp, "people.json")
        with open(path, "w") as f:
            json.dump(people, f)
        agent_run("registrations", "add", "--file", path)
        out["offline_changes"] = n_edit + n_status + n_create
        out["offline_seconds"] = time.monotonic() - t0
        log("month offline: %d server events, %d new registrations, %d "
            "payments on the server; %d changes on the device" % (
                out["server_events"], out["server_new"],
                out["server_payments"], out["offline_changes"]))

        # --- back online: one sync --------------------------------------
        t0 = time.monotonic()
        p = agent_run("--json", "sync", "--now", check=False)
        out["sync_seconds"] = time.monotonic() - t0
        out["exit"] = p.returncode
        doc = json.loads(p.stdout) if p.stdout.strip() else {}
        out["summary"] = doc
        if p.returncode not in (0, 4):
            out["stderr"] = p.stderr.decode(errors="replace")[-1000:]
        conflicts = json.loads(agent_run("--json", "conflicts", "list").stdout)
        out["conflicts"] = len(conflicts)
        out["conflict_refs"] = sorted({c.get("referenceId") for c in conflicts})
        out["expected_conflict_refs"] = sorted(edit_refs[:n_conflict])
        st = json.loads(agent_run("--json", "status").stdout)
        out["status"] = st
        fake.flush()
        # What the server holds now for the people edited offline (no
        # conflict) and the new people.
        ok_edits = 0
        for i, ref in enumerate(edit_refs[n_conflict:], n_conflict):
            reg = fake.registration(ref)["registration"]
            ok_edits += str(reg.get("householdSize")) == str(11 + i % 7)
        out["edits_on_server"] = ok_edits
        out["edits_expected"] = n_edit - n_conflict
        paused = sum(fake.registration(r)["registration"]["status"] == "paused"
                     for r in status_refs)
        out["statuses_on_server"] = paused
        out["statuses_expected"] = n_status
        state2 = fake.state()["programs"]["3"]
        out["creates_on_server"] = state2["registrations"] - state1["registrations"]
        out["creates_expected"] = n_create
        # A second sync: the device and the server agree, nothing new.
        p2 = agent_run("--json", "sync", "--now", check=False)
        out["second_exit"] = p2.returncode
        out["second"] = json.loads(p2.stdout) if p2.stdout.strip() else {}
        count = json.loads(agent_run("--json", "status").stdout)
        out["status2"] = count
        out["server_live"] = state2["registrations_live"]
    finally:
        fake.stop()
    return out
