#!/usr/bin/env python3
"""Write the seed inputs of the fuzzers into tests/fuzz/corpus/<target>/ from
the contract fixtures and recordings (../shared/contracts by default) and the
repository's test data. Run once when adding a target; the kept corpus is what
the fuzzers found on top of these (minimised with -merge=1).

usage: tests/fuzz/make_seeds.py [CONTRACTS_DIR]
"""
import glob
import gzip
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



def fixture(kind, name):
    p = os.path.join(CONTRACTS, "fixtures", kind, name + ".json")
    return json.loads(read(p))


def entry(method, part, status, body, flags=""):
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body, indent=None)
    if isinstance(body, str):
        body = body.encode()
    if "gz" in flags.split():
        body = gzip.compress(body)
    head = "@@ %s %s %d%s\n" % (method, part, status,
                                (" " + flags) if flags else "")
    return head.encode() + body + b"\n"


def script_121(variant):
    prog = json.loads(read(os.path.join(REPO, "tests", "data",
                                        "program.json")))
    login = fixture("121", "login")["body"]
    regs = fixture("121", "registrations-page")["body"]
    events = fixture("121", "registration-events")["body"]
    pays = fixture("121", "payments")["body"]
    tx = fixture("121", "payment-transactions-page")["body"]
    post = fixture("121", "registrations-post")["body"]
    patch = fixture("121", "registration-patch")
    st = fixture("121", "registrations-status-patch")["body"]
    errs = fixture("121", "errors")
    fsp = fixture("121", "fsp-configurations")["body"]
    tmpl = fixture("121", "message-templates")["body"]
    out = entry("POST", "users/login", 201, login)
    out += entry("GET", "users/current", 200, {"user": {
        "username": "fuzz@example.org", "lastLogin":
        "2026-11-28T03:00:00.000Z", "expires": "2026-11-29T12:00:00.000Z"}})
    out += entry("GET", "/programs/3$", 200, prog, "etag=W/\"p1\"")
    out += entry("GET", "fsp-configurations", 200, fsp)
    out += entry("GET", "message-templates", 200, tmpl)
    one = {"data": regs["data"][:1], "meta": {}}
    out += entry("GET", "referenceId=$in:ref-00001", 200, one)
    if variant == 1:
        out += entry("GET", "registrations", 200, regs, "gz")
    else:
        out += entry("GET", "registrations", 200, regs)
    out += entry("GET", "registrations", 200, {"data": [], "meta": {}})
    out += entry("GET", "registration-events", 200, events)
    out += entry("GET", "registration-events", 404,
                 errs.get("no_data_404", {}))
    out += entry("POST", "registrations", 201, post)
    if variant == 2:
        out += entry("POST", "registrations", 400,
                     fixture("121", "registrations-post").get(
                         "error_duplicate_400", []))
    out += entry("PATCH", "registrations/", 200, patch.get("body", {}))
    out += entry("PATCH", "status", 200, st)
    out += entry("PATCH", "status", 202, st)
    out += entry("GET", "registrations", 200, regs)
    out += entry("GET", "payments", 200, pays)
    out += entry("GET", "transactions", 200, tx)
    out += entry("GET", "transactions", 200, tx)
    return out


def seeds_sync():
    # byte 0: 1 = --source 121; 0x11 = pull only; 0x21 push only; 8 vouchers
    for sel, variant in ((1, 0), (1, 1), (1, 2), (0x11, 0), (0x21, 0),
                         (0x0d, 0)):
        put("sync", bytes([sel]) + script_121(variant))



def script_kobo(variant):
    asset = fixture("kobo", "asset")
    if isinstance(asset, dict) and "body" in asset and "_http" in asset:
        asset = asset["body"]
    asset["uid"] = "aFuzzAsset0000000000001"
    page = fixture("kobo", "data_page")
    if isinstance(page, dict) and "body" in page and "_http" in page:
        page = page["body"]
    out = entry("GET", "/assets/", 200, asset)
    out += entry("GET", "/data", 200, page, "gz" if variant else "")
    out += entry("GET", "/data", 200, {"count": 0, "next": None,
                                       "previous": None, "results": []})
    out += entry("GET", "/data", 200, page)
    return out


def script_espo(variant):
    lst = fixture("espocrm", "contact_list")
    if isinstance(lst, dict) and "body" in lst and "_http" in lst:
        lst = lst["body"]
    conflict = fixture("espocrm", "conflict_modified_409")
    out = entry("GET", "/Contact", 200, lst)
    out += entry("GET", "/Contact", 200, {"total": 0, "list": []})
    if variant:
        out += entry("PUT", "/Contact/", 409, conflict.get("body", conflict)
                     if isinstance(conflict, dict) else conflict)
    out += entry("PUT", "/Contact/", 200, lst["list"][0] if lst.get("list")
                 else {})
    out += entry("GET", "/Contact", 200, lst)
    return out


def seeds_sync_others():
    for v in (0, 1):
        put("sync", bytes([2]) + script_kobo(v))
        put("sync", bytes([3]) + script_espo(v))
    put("sync", bytes([0]) + script_121(0) + script_kobo(0) + script_espo(1))



def seeds_cli():
    lines = [
        ["status"], ["--json", "status"], ["config", "check"],
        ["config", "show"], ["--json", "config", "show"], ["config", "path"],
        ["program", "show"], ["--json", "program", "show", "3"],
        ["registrations", "list", "--status", "new", "--limit", "5"],
        ["registrations", "list", "--where", "district=north",
         "--offset", "1"],
        ["registrations", "search", "fuzz", "--limit", "2"],
        ["registrations", "show", "fuzz-ref-0001"],
        ["--json", "registrations", "show", "fuzz-ref-0002"],
        ["registrations", "add", "fullName=A B", "phoneNumber=3161",
         "programFspConfigurationName=Intersolve-voucher-paper",
         "householdSize=2"],
        ["registrations", "add", "--program", "3", "fullName=X"],
        ["registrations", "edit", "fuzz-ref-0001", "fullName=Z",
         "householdSize=", "--reason", "typo"],
        ["registrations", "status", "fuzz-ref-0001", "paused", "--reason",
         "away"],
        ["registrations", "status", "fuzz-ref-0001", "included"],
        ["outbox"], ["outbox", "--state", "pending", "--all"],
        ["--json", "outbox"], ["conflicts", "list"],
        ["conflicts", "show", "1"],
        ["conflicts", "resolve", "1", "--take", "local"],
        ["conflicts", "resolve", "1", "--value", "7"],
        ["kobo", "status"], ["kobo", "rejected"], ["kobo", "retry", "--all"],
        ["kobo", "program", "aFuzzAsset0000000000001"],
        ["kobo", "validation-csv", "aFuzzAsset0000000000001", "--out",
         "v.csv"],
        ["espocrm", "status"], ["help", "registrations", "add"],
        ["--help"], ["--version"], ["-v", "-q", "status"],
        ["sync", "--now", "--source", "121"],
        ["--json", "sync", "--now", "--push-only"],
        ["init", "--server", "https://x.example.org", "--program", "4",
         "--user", "u", "--store", "s.db", "--force"],
    ]
    for args in lines:
        put("cli", ("\n".join(args)).encode())
    put("cli", b"sync\n--now\n--source\n121\n\n" + script_121(0))
    put("cli", b"kobo\nsetup\n--url\nhttp://k.example.org\n--asset\n"
        b"aFuzzAsset0000000000001\n--mapping\nmap.json\n\n" +
        script_kobo(0))


def seeds_import():
    prog = read(os.path.join(REPO, "tests", "data", "program.json"))
    one = {"fullName": "A B", "phoneNumber": "31600000009",
           "programFspConfigurationName": "Intersolve-voucher-paper",
           "householdSize": 3, "district": "north",
           "preferredLanguage": "en"}
    put("import", b"\x00" + json.dumps(one).encode())
    put("import", b"\x00" + json.dumps([one, dict(one, referenceId="r-9"),
                                        {"fullName": 1e308}]).encode())
    put("import", b"\x01" + prog)
    put("import", b"\x01" + read(os.path.join(CONTRACTS, "fixtures", "121",
                                              "program.json")))
    lines = [dict(one, referenceId="f-%d" % i, programId=3, status="new",
                  id=100 + i) for i in range(3)]
    lines.append({"referenceId": "f-1", "status": "deleted"})
    text = "\n".join(json.dumps(x) for x in lines).encode() + b"\n\r\n"
    put("import", b"\x02" + text)
    put("import", b"\x05" + text)
    put("import", b"\x05" + b"120 3 cbf29ce484222325")
    put("import", b"\x03" + json.dumps({
        "full_name": "fullName", "phone": "phoneNumber",
        "household_size": "householdSize", "district": "district",
        "ref": "referenceId", "fsp": "programFspConfigurationName"}).encode())
    put("import", b"\x04" + json.dumps({
        "name": "fullName", "phoneNumber": "phoneNumber",
        "cDistrict": {"field": "district", "direction": "both",
                      "values": {"north": "North", "south": "South"}},
        "cHouseholdSize": {"field": "householdSize", "type": "number"},
        "cLang": {"field": "preferredLanguage",
                  "direction": "espo-to-121"}}).encode())


def seeds_answers():
    errs = fixture("121", "errors")
    for k, v in errs.items():
        put("answers", b"\x00\x00" + json.dumps(v).encode())
    for f in sorted(glob.glob(os.path.join(CONTRACTS, "recorded", "121",
                                           "err-*.json"))):
        put("answers", b"\x00\x01" + read(f))
    put("answers", b"\x00\x02<html><body>Bad gateway</body></html>")
    put("answers", b"\x01\x00" + gzip.compress(b'{"data": [1, 2, 3]}' * 20))
    asset = fixture("kobo", "asset")
    put("answers", b"\x02\x00" + json.dumps(asset.get("body", asset))
        .encode())
    page = fixture("kobo", "data_page")
    for sub in page.get("results", page.get("body", {}).get("results", [])):
        put("answers", b"\x03\x00" + json.dumps(sub).encode())
    put("answers", b"\x04\x00" + read(os.path.join(REPO, "tests", "data",
                                                   "program.json")))
    regs = fixture("121", "registrations-page")["body"]["data"]
    for i, r in enumerate(regs):
        put("answers", bytes([5, i * 9]) + json.dumps(r).encode())
    put("answers", b"\x06\x00" + json.dumps({"m": "2026-01-02 03:04:05",
                                            "v": 3, "d": 1, "e": {"a": 1},
                                            "p": {"b": "x"}}).encode())
    put("answers", b"\x06\x002026-01-02 03:04:05")
    put("answers", b"\x07\x00" + b'{"id": 1e308, "a": [9007199254740993, '
        b'-0.5, 3], "s": "x\\u0000y"}')


if __name__ == "__main__":
    which = sys.argv[2:] or [n[6:] for n in globals() if n.startswith("seeds_")]
    for n in which:
        globals()["seeds_" + n]()
