#!/usr/bin/env python3
"""Bundles (issue 12 item 4): size of a bundle and the time of `agent bundle
export` / `import` for N outbox entries (creates of 4 fields each, plus one
edit per ten people). Prints numbers; asserts nothing about time.

    AGENT_BIN=build/agent/agent python3 tests/bench/bench_bundle.py [N ...]
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

AGENT = os.environ.get("AGENT_BIN", "agent")


def run(*args):
    p = subprocess.run([AGENT, *args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit("agent %s failed: %s" % (" ".join(args), p.stderr.decode()))
    return p.stdout.decode()


def one(n, d):
    site, office = os.path.join(d, "site.conf"), os.path.join(d, "office.conf")
    for conf, db in ((site, "site.db"), (office, "office.db")):
        run("--config", conf, "-q", "init", "--server", "http://127.0.0.1:9",
            "--program", "3", "--user", "u", "--store", os.path.join(d, db))
    key, sign = os.path.join(d, "b.key"), os.path.join(d, "s.pem")
    run("-q", "bundle", "keygen", sign, "--key-file", key)
    people = [{"fullName": "Bench Person %d" % i,
               "phoneNumber": "3164%07d" % i,
               "district": "District %d" % (i % 40),
               "householdSize": str(1 + i % 9)} for i in range(n)]
    batch = os.path.join(d, "people.json")
    with open(batch, "w") as f:
        json.dump(people, f)
    run("--config", site, "-q", "registrations", "add", "--file", batch)
    refs = json.loads(run("--config", site, "--json", "registrations",
                          "list", "--limit", str(n)))
    for r in refs[: max(1, n // 10) if n >= 10 else 0][:200]:
        run("--config", site, "-q", "registrations", "edit",
            r["referenceId"], "householdSize=12")
    path = os.path.join(d, "b1.bundle")
    t0 = time.monotonic()
    info = json.loads(run("--config", site, "--json", "bundle", "export",
                          path, "--key-file", key, "--signing-key", sign))
    t1 = time.monotonic()
    doc = json.loads(run("--config", office, "--json", "bundle", "import",
                         path, "--key-file", key, "--trusted-keys",
                         sign + ".pub"))
    t2 = time.monotonic()
    run("--config", office, "--json", "bundle", "import", path, "--key-file",
        key, "--trusted-keys", sign + ".pub")
    t3 = time.monotonic()
    print("entries %6d  bundle %9d bytes (%5.1f bytes/entry)  export %6.2f s"
          "  import %6.2f s  re-import %5.2f s  applied %d"
          % (info["entries"], info["bytes"], info["bytes"] / info["entries"],
             t1 - t0, t2 - t1, t3 - t2, doc["applied"]))


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 10000]
    for n in sizes:
        d = tempfile.mkdtemp(prefix="bench-bundle-")
        try:
            one(n, d)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
