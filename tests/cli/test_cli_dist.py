#!/usr/bin/env python3
"""Distribution day (issue 10), end to end: the real `agent` binary against
the fake 121 with a payment of paper vouchers.

- 1,000 vouchers pulled with `sync --vouchers`, then offline `vouchers
  print`: the PDF's page count matches the layout (cover + 8 per page),
  pdfinfo reads it, pdftoppm renders a voucher page that is not blank;
- 300 hand-outs marked offline, synced through failures after the upload
  was applied: 121's reconciliation state shows each once; a second
  hand-out is refused offline with the first one's time and user;
- 500 messages queued offline reach the fake exactly once, also when the
  answer of a real send is lost; a template edit and a label edit reach it
  once;
- look-up by referenceId and voucher code, history, unused vouchers,
  reconcile import checks.
"""

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import AgentTestCase, main  # noqa: E402
from fake121_fixture import FakeServer, PASSWORD, USER  # noqa: E402


class DistCase(AgentTestCase):
    seed = 0
    paper = 0

    def setUp(self):
        super().setUp()
        self.fake = FakeServer("--seed-registrations", str(self.seed),
                               "--seed-payments", "0")
        self.addCleanup(self.fake.stop)
        self.payment = None
        if self.paper:
            out = self.fake.call("POST", "/_test/dist/paper-payment",
                                 {"count": self.paper})
            self.payment = out["paymentId"]
            self.paper_refs = out["referenceIds"]
        self.online()
        self.env["AGENT_121_PASSWORD"] = PASSWORD
        self.env["AGENT_USER"] = "field-worker-1"

    def online(self, url=None):
        text = ("[store]\npath = %s\n[121]\nurl = %s\nprogram_id = 3\n"
                "user = %s\n[sync]\nmax_attempts = 4\nbackoff_base_ms = 20\n"
                "backoff_cap_ms = 200\n" % (self.db, url or self.fake.url,
                                            USER))
        with open(self.conf, "w") as f:
            f.write(text)
        os.chmod(self.conf, 0o600)

    def offline(self):
        self.online("http://127.0.0.1:9")

    def sync(self, *args, code=0):
        rc, out, err = self.run_agent("--json", "sync", "--now", *args)
        self.assertEqual(rc, code, "sync exit %d (want %d): %s %s" %
                         (rc, code, out, err))
        return json.loads(out) if out.strip() else None

    def sync_until_clean(self, tries=8):
        """Sync until one ends with exit 0 (faults make some fail)."""
        for _ in range(tries):
            rc, out, err = self.run_agent("--json", "sync", "--now")
            if rc == 0:
                return
            self.assertIn(rc, (1, 3), "sync exit %d: %s" % (rc, err))
        self.fail("sync never completed: %s" % err)

    def dist(self):
        return self.fake.call("GET", "/_test/dist")


@unittest.skipUnless(shutil.which("pdfinfo") and shutil.which("pdftoppm"),
                     "poppler-utils (pdfinfo, pdftoppm) not installed")
class VoucherPrintTest(DistCase):
    seed = 1100
    paper = 1000

    def test_print_thousand_vouchers_offline(self):
        self.sync("--vouchers")
        self.offline()  # everything below works without the server
        pdf = os.path.join(self.dir, "vouchers.pdf")
        res = self.json("vouchers", "print", "--payment", self.payment,
                        "-o", pdf)
        self.assertEqual(res["printed"], 1000)
        self.assertEqual(res["missing"], [])
        want_pages = 1 + (1000 + 7) // 8
        self.assertEqual(res["pages"], want_pages)
        info = subprocess.run(["pdfinfo", pdf], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, check=True)
        pages = [ln.split()[1] for ln in info.stdout.decode().splitlines()
                 if ln.startswith("Pages:")]
        self.assertEqual(pages, [str(want_pages)])
        # Render the first voucher page: not blank.
        prefix = os.path.join(self.dir, "page")
        subprocess.run(["pdftoppm", "-f", "2", "-l", "2", "-r", "40", "-gray",
                        pdf, prefix], check=True)
        pgm = [f for f in os.listdir(self.dir) if f.startswith("page")]
        self.assertEqual(len(pgm), 1)
        with open(os.path.join(self.dir, pgm[0]), "rb") as f:
            data = f.read()
        # P5 header: magic, width height, maxval, then the pixels.
        parts = data.split(b"\n", 3)
        pixels = parts[3]
        dark = sum(1 for b in pixels if b < 128)
        self.assertGreater(dark, len(pixels) // 50,
                           "the voucher page renders (almost) blank")

        # A selection: status filter that matches nobody prints no voucher.
        res = self.json("vouchers", "print", "--payment", self.payment,
                        "--status", "declined", "-o", pdf)
        self.assertEqual((res["printed"], res["pages"]), (0, 1))

        # Export the PNGs.
        out = self.ok("vouchers", "export", "--payment", self.payment,
                      os.path.join(self.dir, "png"))
        self.assertIn("1000 voucher images written", out)
        files = os.listdir(os.path.join(self.dir, "png"))
        self.assertEqual(len(files), 1000)
        with open(os.path.join(self.dir, "png", files[0]), "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

        # Look-up by referenceId and by the voucher code printed.
        ref = self.paper_refs[0]
        people = self.json("lookup", ref)
        self.assertEqual(len(people), 1)
        pay = people[0]["payments"][0]
        self.assertEqual((pay["paymentId"], pay["transactionStatus"],
                          pay["handedOut"], pay["voucherImage"]),
                         (self.payment, "success", False, True))
        by_code = self.json("lookup", pay["voucherCode"])
        self.assertEqual(by_code[0]["referenceId"], ref)


class HandOutTest(DistCase):
    seed = 400
    paper = 320

    def test_handouts_offline_reach_121_once(self):
        self.sync()
        self.offline()
        refs = self.paper_refs[:300]
        self.ok("-q", "vouchers", "hand-out", refs[0], "--payment",
                self.payment)
        for i in range(1, 300, 100):  # a scanner's batch per command
            self.ok("-q", "vouchers", "hand-out", *refs[i:i + 100],
                    "--payment", self.payment)
        # A second hand-out of the same voucher is refused, with the first.
        line = self.fails("vouchers", "hand-out", refs[0], "--payment",
                          self.payment, "--by", "someone-else")
        self.assertIn("handed out already", line)
        self.assertIn("field-worker-1", line)
        self.assertIn("device time", line)
        # In a batch: the others are marked, the refused one is listed.
        rc, out, err = self.run_agent("vouchers", "hand-out", refs[5],
                                      self.paper_refs[300], "--payment",
                                      self.payment)
        self.assertEqual(rc, 1, err)
        self.assertIn("%s: refused:" % refs[5], out)
        self.assertIn("1 of 2 hand-outs refused", err)
        refs = refs + [self.paper_refs[300]]
        people = self.json("lookup", refs[0])
        pay = people[0]["payments"][0]
        self.assertTrue(pay["handedOut"])
        self.assertEqual(pay["handedOutBy"], "field-worker-1")
        # Unused vouchers: the 19 not handed out.
        unused = self.json("export", "unused-vouchers", "--payment",
                           self.payment)
        self.assertEqual(unused["fileName"], "unused-vouchers")
        self.assertEqual(sorted(r["referenceId"] for r in unused["data"]),
                         sorted(self.paper_refs[301:]))
        self.assertEqual(list(unused["data"][0].keys()),
                         ["referenceId", "paymentId", "issueDate",
                          "whatsappPhoneNumber", "lastExternalUpdate"])
        outbox = self.json("outbox", "--state", "pending")
        self.assertEqual(sum(1 for e in outbox if e["kind"] == "voucher"), 301)

        # Back online through lost answers: the upload is applied, then the
        # agent gets a 502 (and retries), twice; and cut connections.
        self.online()
        upload = "/payments/%d/excel-reconciliation" % self.payment
        self.fake.fault(path_contains=upload, fail_status=502,
                        fail_after_apply=True, fail_count=2)
        self.fake.fault(path_contains=upload, drop_after_bytes=10, count=1)
        self.sync_until_clean()
        state = self.dist()
        recon = state["reconciliation"][str(self.payment)]
        self.assertEqual(sorted(recon), sorted(refs))
        self.assertEqual({r["applied"] for r in recon.values()}, {1})
        self.assertEqual({r["status"] for r in recon.values()}, {"success"})
        # The faults made the agent send the rows more than once.
        self.assertGreater(state["recon_uploads"], 1)
        self.assertGreater(max(r["rows_received"] for r in recon.values()), 1)
        # Sent; the next sync confirms them from the pulled transactions
        # and sends nothing again.
        outbox = self.json("outbox", "--all")
        vouchers = [e for e in outbox if e["kind"] == "voucher"]
        self.assertEqual(len(vouchers), 301)
        self.assertEqual({e["state"] for e in vouchers}, {"inflight"})
        before = state["recon_uploads"]
        self.sync()
        self.assertEqual(self.dist()["recon_uploads"], before)
        outbox = self.json("outbox", "--all")
        vouchers = [e for e in outbox if e["kind"] == "voucher"]
        self.assertEqual({e["state"] for e in vouchers}, {"done"})

    def test_reconcile_import_checked_first(self):
        self.sync()
        self.offline()
        phones = {}
        for ref in self.paper_refs[:3]:
            phones[ref] = self.json("registrations", "show",
                                    ref)["phoneNumber"]
        bad = self.write("bad.csv", "phoneNumber,status,errorMessage\n"
                         "%s,success,\n31699999999,success,\n%s,paid,\n"
                         % (phones[self.paper_refs[0]],
                            phones[self.paper_refs[1]]))
        rc, out, err = self.run_agent("reconcile", "import", bad,
                                      "--payment", self.payment)
        self.assertEqual(rc, 1, err)
        self.assertIn("line 3: no registration has that phoneNumber", out)
        self.assertIn("line 4: status must be success or error", out)
        self.assertIn("2 of 3 rows cannot be reconciled", err)
        outbox = self.json("outbox")
        self.assertEqual([e for e in outbox if e["kind"] == "voucher"], [])
        good = self.write("good.csv", "phoneNumber;status;errorMessage\n"
                          "%s;success;\n%s;error;voucher lost\n"
                          % (phones[self.paper_refs[0]],
                             phones[self.paper_refs[1]]))
        self.ok("reconcile", "import", good, "--payment", self.payment)
        self.online()
        self.sync()
        recon = self.dist()["reconciliation"][str(self.payment)]
        self.assertEqual(recon[self.paper_refs[0]]["status"], "success")
        self.assertEqual(recon[self.paper_refs[1]]["status"], "error")
        self.assertEqual(recon[self.paper_refs[1]]["errorMessage"],
                         "voucher lost")
        # Confirmed by the transactions pulled after the upload.
        self.sync()
        vouchers = [e for e in self.json("outbox", "--all")
                    if e["kind"] == "voucher"]
        self.assertEqual([e["state"] for e in vouchers], ["done", "done"])
        people = self.json("lookup", self.paper_refs[1])
        self.assertEqual(people[0]["payments"][0]["transactionStatus"],
                         "error")


class MessageTest(DistCase):
    seed = 700

    def test_500_messages_once_template_and_label_once(self):
        self.sync()
        regs = self.json("registrations", "list", "--limit", "1000")
        refs = [r["referenceId"] for r in regs
                if r.get("status") not in ("deleted", None)][:500]
        self.assertEqual(len(refs), 500)
        self.offline()
        out = self.json("messages", "send", "--text", "Voucher pickup at 10",
                        "--ref", ",".join(refs))
        self.assertEqual(out["queued"], 500)
        self.ok("templates", "set", "included", "nl", "Nieuw: {{fullName}}")
        shown = self.json("templates", "show", "included", "nl")
        self.assertEqual(shown["message"], "Nieuw: {{fullName}}")
        self.ok("program", "label", "district", "--lang", "nl", "Wijk")
        prog = self.json("program", "show")
        attr = [a for a in prog["programRegistrationAttributes"]
                if a["name"] == "district"][0]
        self.assertEqual(attr["label"]["nl"], "Wijk")
        batches = self.json("messages", "list")
        self.assertEqual([b["pending"] for b in batches], [500])

        # Online: the first real send is applied but its answer is lost.
        self.online()
        self.fake.fault(path_contains="registrations/message?dryRun=false",
                        fail_status=502, fail_after_apply=True, fail_count=1)
        self.fake.fault(path_contains="message-templates/included/nl",
                        fail_status=502, fail_after_apply=True, fail_count=1)
        self.sync_until_clean()
        state = self.dist()
        self.assertEqual(state["message_count"], 500)
        self.assertEqual(sorted(state["messages"]), sorted(refs))
        self.assertEqual(set(state["messages"].values()), {1})
        self.assertEqual(state["template_writes"], {"included/nl": 1})
        self.assertEqual(state["label_writes"], {"district/nl": 1})
        batches = self.json("messages", "list")
        self.assertEqual([(b["done"], b["pending"], b["inflight"])
                          for b in batches], [(500, 0, 0)])
        self.sync()
        state = self.dist()
        self.assertEqual(state["message_count"], 500)
        self.assertEqual(state["template_writes"], {"included/nl": 1})
        # History: the local change, and the activities pulled for the
        # people this device touched (here: messaged).
        hist = self.json("registrations", "history", refs[0])
        kinds = [c["kind"] for c in hist["localChanges"]]
        self.assertIn("message", kinds)
        hist = self.json("registrations", "history", refs[0])
        types = [a["type"] for a in hist["activities"]]
        self.assertIn("status-change", types)
        self.assertIn("message", types)
        msg = [a for a in hist["activities"] if a["type"] == "message"][0]
        self.assertEqual(msg["attributes"]["body"], "Voucher pickup at 10")
        self.assertTrue(hist["activitiesPulledAt"])
        # Somebody this device never touched: no request, no activities.
        untouched = [r["referenceId"] for r in regs
                     if r["referenceId"] not in refs][0]
        self.assertEqual(self.json("registrations", "history",
                                   untouched)["activities"], [])

    def test_kill9_queues_all_or_nothing(self):
        """A send killed with SIGKILL leaves its whole batch or nothing."""
        import random
        import signal
        import time
        self.sync()
        self.offline()
        n = len([r for r in self.json("registrations", "list", "--limit",
                                      "1000")
                 if r.get("status") not in ("deleted", None)])
        rnd = random.Random(7)
        for _ in range(6):
            p = subprocess.Popen(
                [os.environ.get("AGENT_BIN", "agent"), "--config", self.conf,
                 "messages", "send", "--text", "x", "--all"],
                env=self.env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            time.sleep(rnd.uniform(0, 0.15))
            p.send_signal(signal.SIGKILL)
            p.wait()
        batches = self.json("messages", "list")
        for b in batches:
            self.assertEqual(b["pending"], n)
        self.ok("messages", "send", "--text", "after", "--all")
        self.assertEqual(len(self.json("messages", "list")), len(batches) + 1)

    def test_rejections_surface(self):
        self.sync()
        self.offline()
        # A template the fake's program does not have in that language is
        # created (POST); an unknown template type for a message is refused
        # offline.
        self.fails("messages", "send", "--template", "no-such-type", "--all")
        self.fails("program", "label", "noSuchAttribute", "--lang", "nl", "X")
        self.fails("messages", "send", "--text", "x", code=2)
        # A template 121 refuses (not an ISO 639-1 language) comes back
        # rejected with 121's reason, like a registration edit: exit 4.
        self.ok("templates", "set", "voucher-ready", "ENGL", "Hello")
        self.online()
        self.sync(code=4)
        rejected = self.json("outbox", "--state", "rejected")
        self.assertEqual([(e["kind"], e["referenceId"]) for e in rejected],
                         [("template", "$template/voucher-ready/ENGL")])
        self.assertIn("ISO 639-1", rejected[0]["server_message"])
        self.assertEqual(self.dist()["template_writes"], {})


if __name__ == "__main__":
    main()
