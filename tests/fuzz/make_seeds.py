#!/usr/bin/env python3
"""Write the seed inputs of the fuzzers into tests/fuzz/corpus/<target>/ from
the contract fixtures and recordings (../shared/contracts by default) and the
repository's test data. Run once when adding a target; the kept corpus is what
the fuzzers found on top of these (minimised with -merge=1).

usage: tests/fuzz/make_seeds.py [CONTRACTS_DIR]
"""
import glob
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CONTRACTS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    REPO, "..", "..", "shared", "contracts")
if not os.path.isdir(CONTRACTS):
    CONTRACTS = "/work/shared/contracts"
MAX_SEED = 64 * 1024


def read(path):
    with open(path, "rb") as f:
        return f.read()


def put(target, data):
    if len(data) > MAX_SEED:
        return
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def jsons():
    pats = ["fixtures/*/*.json", "recorded/121/*.json"]
    for p in pats:
        for f in sorted(glob.glob(os.path.join(CONTRACTS, p))):
            yield f, read(f)


def seeds_jstream():
    for _, doc in jsons():
        for mode in (0, 1, 13):
            put("jstream", bytes([mode, 3]) + doc)


def seeds_config():
    put("config", b"""[store]
path = /var/lib/agent/agent.db
synchronous = full
[121]
url = https://121.example.org
program_id = 3
user = field@example.org
password_file = /etc/agent/121-password
[file]
enabled = false
dir = /media/usb/agent
program_id = 3
[log]
level = info
file =
[sync]
ca_file =
pinned_public_key = sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
proxy =
window = 50000
batch = 1000
create_batch = 500
patch_max = 20
max_attempts = 5
backoff_base_ms = 500
backoff_cap_ms = 30000
connect_timeout_ms = 15000
deadline_s = 21600
max_store_growth_mb = 4096
low_speed_time_s = 60
[conflicts]
default = manual
householdSize = server-wins
""")
    put("config", b"[server]\nurl = http://h\nprogram_id = 1\nuser = u\n"
        b"ca_file = /x\n")
    put("config", b"[kobo]\nurl = https://kf.example.org\nassets = a:3:/m.json"
        b",b\nprogram_id = 3\nmapping = /m.json\npage_size = 10\n"
        b"[espocrm]\nurl = https://crm\nentity = Contact\n"
        b"reference_field = cRef\nmapping = /m.json\nauth = hmac\n"
        b"[daemon]\ninterval_s = 60\nsocket =\n")


if __name__ == "__main__":
    which = sys.argv[2:] or [n[6:] for n in globals() if n.startswith("seeds_")]
    for n in which:
        globals()["seeds_" + n]()
