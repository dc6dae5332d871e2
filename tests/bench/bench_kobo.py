#!/usr/bin/env python3
"""bench_kobo.py - what importing Kobo submissions costs the agent.

Usage: bench_kobo.py AGENT_BIN [N]   (N submissions, default 20000)

Starts the fake KoboToolbox (tests/fakekobo) with N submissions and the
fake 121 server (for the program), runs `agent sync --now --source kobo`
on a fresh store, and prints: Kobo requests, the agent's wall time beside
the fake's own serving time (the time its handlers spent answering: the
floor any client pays), their ratio (target <= 1.2), and the agent's peak
RSS (target < 32 MB). Then a second sync with nothing new (the edit scan),
and one after 100 edits. Python 3 standard library only.
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "fakes"))
import launcher  # noqa: E402

TOKEN = "kobo-test-token-0123456789abcdef"
ASSET = "aSynthAsset0000000000001"


def call(url, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=120) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def plain_fetch(url, fields):
    """The floor any client pays: the same key-set walk as the agent
    (limit 1000, query _id > last, sort _id), with a minimal keep-alive
    client that reads each body and parses its JSON. Seconds."""
    import http.client
    from urllib.parse import quote, urlsplit
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    t0 = time.monotonic()
    last = 0
    while True:
        path = ("/api/v2/assets/%s/data/?format=json&limit=1000&sort=%s"
                "&query=%s" % (ASSET, quote('{"_id":1}'),
                               quote('{"_id":{"$gt":%d}}' % last)))
        if fields:
            path += "&fields=" + quote('["_id","_uuid","meta/rootUuid",'
                                       '"_validation_status"]')
        conn.request("GET", path, headers={"Authorization": "Token " + TOKEN,
                                           "Accept": "application/json"})
        doc = json.loads(conn.getresponse().read())
        if not doc["results"]:
            break
        last = doc["results"][-1]["_id"]
        if len(doc["results"]) >= doc["count"]:
            break
    conn.close()
    return time.monotonic() - t0


def child_rss(agent, conf, env, *args):
    """Run the agent under its own wait4 to read its own peak RSS."""
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execve(agent, [agent, "--config", conf, "-q"] + list(args), env)
    _pid, status, ru = os.wait4(pid, 0)
    secs = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 4):
        sys.exit("agent %s failed (%d)" % (" ".join(args), code))
    return secs, ru.ru_maxrss / 1024.0, ru.ru_utime + ru.ru_stime


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    agent = os.path.abspath(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    tmp = tempfile.mkdtemp(prefix="bench-kobo-")
    kobo = launcher.start_script(os.path.join(TESTS, "fakekobo", "fakekobo.py"),
                                 "--seed", str(n), port_arg=True)
    f121 = launcher.start_script(os.path.join(TESTS, "fake121", "fake121.py"),
                                 "--throttle", "0", "--login-throttle", "0",
                                 "--seed-registrations", "0", port_arg=True)
    try:
        conf = os.path.join(tmp, "agent.conf")
        mapping = os.path.join(tmp, "map.json")
        with open(mapping, "w") as f:
            json.dump({"full_name": "fullName", "phone": "phoneNumber",
                       "household_size": "householdSize",
                       "district": "district"}, f)
        env = dict(os.environ, AGENT_121_PASSWORD="s3cret",
                   AGENT_KOBO_TOKEN=TOKEN)
        env.pop("AGENT_CONFIG", None)
        subprocess.run([agent, "--config", conf, "-q", "init", "--server",
                        f121.url, "--program", "3", "--user",
                        "sync-bot@example.org", "--store",
                        os.path.join(tmp, "agent.db")], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        subprocess.run([agent, "--config", conf, "-q", "kobo", "setup",
                        "--url", kobo.url, "--asset", ASSET, "--mapping",
                        mapping, "--fsp", "Intersolve-voucher-paper"],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        child_rss(agent, conf, env, "sync", "--now", "--source", "121")

        rows = []
        for label, prep in (("first import", None),
                            ("nothing new (edit scan)", "scan"),
                            ("100 edits", "edits")):
            if prep == "edits":
                ids = call(kobo.url + "/_test/ids")
                for sid in ids[::max(1, len(ids) // 100)][:100]:
                    call(kobo.url + "/_test/edit", "POST",
                         {"id": sid, "data": {"hh/household_size": "8"}})
            floor = plain_fetch(kobo.url, prep is not None)
            call(kobo.url + "/_test/reset-stats", "POST", {})
            secs, rss, cpu = child_rss(agent, conf, env, "sync", "--now",
                                       "--source", "kobo")
            st = call(kobo.url + "/_test/stats")
            rows.append((label, st["requests"], st["submissions_served"],
                         secs, cpu, st["serving_s"], floor, rss))
        status = json.loads(subprocess.run(
            [agent, "--config", conf, "--json", "kobo", "status"],
            check=True, env=env, stdout=subprocess.PIPE).stdout)["forms"][0]
        print("bench_kobo: %d submissions (fake KoboToolbox, page 1000); "
              "load average %.1f on %d CPUs" % (n, os.getloadavg()[0],
                                                os.cpu_count() or 1))
        print("  serving = the fake's handler time; fetch = a minimal client "
              "walking the same pages\n  (the floor any client pays); ratio "
              "= agent wall / fetch")
        print("  %-24s %5s %6s %7s %7s %8s %7s %6s %7s" % (
            "sync --source kobo", "reqs", "rows", "agent s", "CPU s",
            "serving", "fetch", "ratio", "RSS MB"))
        for label, req, served, secs, cpu, serving, floor, rss in rows:
            print("  %-24s %5d %6d %7.2f %7.2f %8.2f %7.2f %6.2f %7.1f" % (
                label, req, served, secs, cpu, serving, floor,
                secs / floor if floor else 0.0, rss))
        print("  imported %d, edits %d, rejected %d" % (
            status["imported"], status["edits"], status["rejected"]))
    finally:
        kobo.stop()
        f121.stop()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
