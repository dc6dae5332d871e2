"""Every command's --json output against its documented schema
(docs/json/<command>.schema.json, listed in docs/json/README.md), issue 14.

The commands come from the command table (`agent --help`): a command this
test does not know fails it, so a new command gets its schema and a run
here (or a place in NO_JSON with the reason). Outputs are checked with the
small validator in jsonschema_mini.py.

`python3 test_cli_json.py --write-schemas` writes schemas inferred from the
outputs (every key seen becomes required, with the types seen) for a
maintainer to review; the test itself never writes them.
"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import VALID, AgentTestCase, PROGRAM_JSON, main  # noqa: E402
from fake121_fixture import FakeServer, PASSWORD, USER  # noqa: E402
import jsonschema_mini  # noqa: E402

DOCS = os.path.join(os.path.dirname(os.environ.get(
    "AGENT_TESTS_DIR", os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))), "docs", "json")
if not os.path.isdir(DOCS):
    DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "docs", "json")

# Commands without JSON output, and why.
NO_JSON = {
    "help": "prints usage text",
    "completion": "prints a shell script",
    "daemon": "runs until stopped; its status is in `status --json`",
    "kobo validation-csv": "writes a CSV file",
    "kobo attachment": "not run here: needs an attachment stored from the "
                       "fake Kobo server (tests/cli/test_cli_kobo_attach.py "
                       "checks its --json {file, name, size})",
    "kobo retry": "not run here: needs a rejected submission from the fake "
                  "Kobo server (its output is not yet documented)",
    "kobo program": "prints the 121 program JSON it builds (the program "
                    "schema of the 121 API), needs a stored Kobo form",
    "serve": "runs the local API server until stopped (its answers are the "
             "121 API's)",
    "vouchers export": "writes PNG files and prints one line (it has no "
                       "--json output)",
    "reconcile import": "prints one line, or the rows it refuses (it has "
                        "no --json output)",
    "templates set": "prints one line (it has no --json output)",
    "program label": "prints one line (it has no --json output)",
    # The store's file commands say what they did in one line (on stderr
    # with --json) and print no JSON: their result is the exit code.
    "encrypt": "changes the store file; one line, no JSON output",
    "decrypt": "changes the store file; one line, no JSON output",
    "key add": "changes the store's key ring; one line, no JSON output",
    "key remove": "changes the store's key ring; one line, no JSON output",
    "key rotate": "changes the store file; one line, no JSON output",
    "backup": "writes a backup file; one line, no JSON output",
    "restore": "replaces the store file; one line, no JSON output",
    "serve passwd": "reads a password from the terminal or stdin and "
                    "prints one line",
}

# Outputs whose objects carry a system's own fields (a 121 registration or
# program): only these keys are promised.
LOOSE = {
    "registrations show": ["referenceId", "status"],
    "registrations list": ["referenceId", "status"],
    "registrations search": ["referenceId", "status"],
    "program show": ["id"],
}


def schema_path(name):
    return os.path.join(DOCS, name.replace(" ", "-") + ".schema.json")


def infer(values, keep=None):
    """A schema that every value in `values` fits."""
    types = set()
    for v in values:
        for n in ("null", "boolean", "integer", "number", "string", "array",
                  "object"):
            if jsonschema_mini.TYPES[n](v):
                types.add(n)
                break
    if "integer" in types and "number" in types:
        types.discard("integer")
    if types == {"null"}:
        types = {"string", "null"}
    s = {"type": sorted(types)[0] if len(types) == 1 else sorted(types)}
    objs = [v for v in values if isinstance(v, dict)]
    if objs:
        keys = []
        for o in objs:
            keys += [k for k in o if k not in keys]
        req = [k for k in keys if all(k in o for o in objs)]
        if keep is not None:
            req = [k for k in keep if k in req]
            keys = req
        s["properties"] = {k: infer([o[k] for o in objs if k in o])
                           for k in keys}
        s["required"] = req
    arrs = [x for v in values if isinstance(v, list) for x in v]
    if arrs:
        s["items"] = infer(arrs, keep)
    return s


class JsonOutputs(AgentTestCase):
    def setUp(self):
        super().setUp()
        self.fake = FakeServer("--seed-registrations", "20",
                               "--seed-payments", "1")
        self.addCleanup(self.fake.stop)
        with open(self.conf, "w") as f:
            f.write("[store]\npath = %s\n[121]\nurl = %s\nprogram_id = 3\n"
                    "user = %s\n" % (self.db, self.fake.url, USER))
        os.chmod(self.conf, 0o600)
        self.env["AGENT_121_PASSWORD"] = PASSWORD
        self.env["AGENT_ESPOCRM_API_KEY"] = "k"
        self.env["AGENT_KOBO_TOKEN"] = "t"
        self.outputs = {}

    def run_json(self, name, *args, codes=(0,), config=True):
        rc, out, err = self.run_agent("--json", *(name.split() + list(args)),
                                      config=config)
        self.assertIn(rc, codes, "%s: exit %d: %s" % (name, rc, err))
        try:
            v = json.loads(out)
        except ValueError as e:
            self.fail("%s --json printed no JSON (%s): %r" % (name, e, out))
        self.outputs.setdefault(name, []).append(v)
        return v

    def scenario(self):
        other = os.path.join(self.dir, "other.conf")
        rc, out, err = self.run_agent(
            "--json", "--config", other, "init", "--server", self.fake.url,
            "--program", "3", "--user", USER, "--store",
            os.path.join(self.dir, "other.db"), config=False)
        self.assertEqual(rc, 0, err)
        self.outputs["init"] = [json.loads(out)]
        self.run_json("config check")
        self.run_json("config show")
        self.run_json("config path")
        self.run_json("program import", PROGRAM_JSON)
        self.run_json("program show")
        self.run_json("sync", "--now")
        ref = self.run_json("registrations add", *VALID)["referenceId"]
        batch = self.write("batch.json", json.dumps([
            dict(kv.split("=", 1) for kv in VALID),
            dict(kv.split("=", 1) for kv in VALID)]))
        self.run_json("registrations add", "--file", batch)
        self.run_json("registrations edit", ref, "householdSize=3")
        self.run_json("registrations status", ref, "validated")
        self.run_json("registrations show", ref)
        self.run_json("registrations list", "--limit", "5")
        self.run_json("registrations search", "Person", "--limit", "3")
        self.run_json("outbox", "--all")
        # A conflict: the same field changed here and on the server.
        self.run_json("registrations edit", "ref-00001", "fullName=Here")
        self.fake.edit("ref-00001", {"fullName": "There"})
        self.run_json("sync", "--now", codes=(0, 4))
        conflicts = self.run_json("conflicts list")
        self.assertTrue(conflicts, "no conflict made")
        cid = str(conflicts[0]["id"])
        self.run_json("conflicts show", cid)
        self.run_json("conflicts resolve", cid, "--take", "server")
        self.run_json("status")
        self.run_json("doctor")
        mapping = self.write("espo-map.json", '{"fullName": "name"}')
        self.run_json("espocrm setup", "--url", "http://127.0.0.1:9",
                      "--entity", "Contact", "--reference-field", "cRef",
                      "--mapping", mapping)
        self.run_json("espocrm status")
        kmap = self.write("kobo-map.json", '{"name": "fullName"}')
        self.run_json("kobo setup", "--url", "http://127.0.0.1:9", "--asset",
                      "aB1", "--mapping", kmap)
        self.run_json("kobo status")
        self.run_json("kobo rejected")
        # Bundles: this store's unsent entries and server copies, into
        # the other store.
        key = os.path.join(self.dir, "bundle.key")
        sign = os.path.join(self.dir, "sign.pem")
        self.run_json("bundle keygen", sign, "--key-file", key)
        bundle = os.path.join(self.dir, "one.bundle")
        self.run_json("bundle export", bundle, "--server", "--key-file", key,
                      "--signing-key", sign)
        self.run_json("bundle import", "--config", other, bundle,
                      "--key-file", key, "--trusted-keys", sign + ".pub",
                      config=False)

    def dist_scenario(self):
        """Distribution day: a payment of paper vouchers from the fake,
        pulled with its images, then the offline commands."""
        out = self.fake.call("POST", "/_test/dist/paper-payment",
                             {"count": 3})
        pay, refs = str(out["paymentId"]), out["referenceIds"]
        # Exit 3: the Kobo and EspoCRM set up above are not reachable.
        rc, out, err = self.run_agent("--json", "sync", "--now", "--vouchers")
        self.assertIn(rc, (0, 3), err)
        self.assertIn("3 of 3 missing voucher images stored", err)
        self.run_json("vouchers print", "--payment", pay, "-o",
                      os.path.join(self.dir, "vouchers.pdf"))
        self.ok("vouchers", "export", "--payment", pay,
                os.path.join(self.dir, "png"))
        self.run_json("lookup", refs[0])
        self.run_json("vouchers hand-out", refs[0], "--payment", pay)
        self.run_json("registrations history", refs[0])
        self.run_json("export unused-vouchers", "--payment", pay)
        phone = self.run_json("registrations show", refs[1])["phoneNumber"]
        csv = self.write("recon.csv", "phoneNumber,status,errorMessage\n"
                         "%s,success,\n" % phone)
        self.ok("reconcile", "import", csv, "--payment", pay)
        self.run_json("messages send", "--text", "Pickup at 10", "--ref",
                      ",".join(refs))
        self.run_json("messages list")
        self.run_json("templates list")
        self.ok("templates", "set", "included", "nl", "Nieuw: {{fullName}}")
        self.run_json("templates show", "included", "nl")
        self.ok("program", "label", "district", "--lang", "nl", "Wijk")

    def commands(self):
        out = self.ok("--help", config=False)
        block = out.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
        import re
        return [m.group(1) for line in block.splitlines()
                for m in [re.match(r"^  (\S+(?: \S+)?)\s{2,}", line)] if m]

    def test_every_json_output_fits_its_schema(self):
        self.scenario()
        self.dist_scenario()
        if os.environ.get("AGENT_WRITE_SCHEMAS"):
            os.makedirs(DOCS, exist_ok=True)
            for name, vals in self.outputs.items():
                s = infer(vals, LOOSE.get(name))
                s = dict([("$schema", "https://json-schema.org/draft/2020-12/"
                           "schema"), ("title", "agent --json " + name)]
                         + list(s.items()))
                with open(schema_path(name), "w") as f:
                    json.dump(s, f, indent=2)
                    f.write("\n")
        for name in self.commands():
            if name in NO_JSON:
                continue
            self.assertIn(name, self.outputs, "command '%s' has no --json run "
                          "in this test (add one, its schema in docs/json/, "
                          "or a NO_JSON reason)" % name)
        for name, vals in self.outputs.items():
            path = schema_path(name)
            self.assertTrue(os.path.exists(path), "no schema %s" % path)
            with open(path) as f:
                schema = json.load(f)
            for v in vals:
                problems = jsonschema_mini.errors(v, schema)
                self.assertEqual(problems, [], "%s --json does not fit %s"
                                 % (name, path))

    def test_validator_can_fail(self):
        s = {"type": "object", "required": ["a"],
             "properties": {"a": {"type": "integer"}},
             "additionalProperties": False}
        self.assertEqual(jsonschema_mini.errors({"a": 1}, s), [])
        self.assertTrue(jsonschema_mini.errors({"a": "1"}, s))
        self.assertTrue(jsonschema_mini.errors({}, s))
        self.assertTrue(jsonschema_mini.errors({"a": 1, "b": 2}, s))


if __name__ == "__main__":
    if "--write-schemas" in sys.argv:
        sys.argv.remove("--write-schemas")
        os.environ["AGENT_WRITE_SCHEMAS"] = "1"
    main()
