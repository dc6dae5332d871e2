# SPDX-License-Identifier: MIT
"""faultlib.py - run the real `agent` binary under the test-only VFS shim
(tests/vfsfault/vfsfault.h: LD_PRELOAD=libagent_vfsfault.so with
AGENT_VFSFAULT) and check a store after a fault. Python 3 stdlib only;
shared by tests/cli/test_cli_io_faults.py and tests/vfsfault/powercut.py.

The shim library comes from $AGENT_VFSFAULT_LIB (ctest sets it), else next
to the agent binary's build tree (build/tests/libagent_vfsfault.so).
"""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "cli"))
import storesql  # noqa: E402


def shim_lib(agent_bin):
    lib = os.environ.get("AGENT_VFSFAULT_LIB")
    if lib:
        return lib
    build = os.path.dirname(os.path.dirname(os.path.abspath(agent_bin)))
    return os.path.join(build, "tests", "libagent_vfsfault.so")


def parse_report(path):
    """The shim's report line as a dict of ints ({} when there is none)."""
    try:
        with open(path) as f:
            line = f.read().strip()
    except FileNotFoundError:
        return {}
    out = {}
    for kv in line.split():
        k, _, v = kv.partition("=")
        out[k] = int(v)
    return out


def fault_env(env, lib, spec, report):
    """`env` plus the shim: LD_PRELOAD, AGENT_VFSFAULT and its report. An
    ASan build needs verify_asan_link_order=0 (the shim is loaded before
    the sanitizer runtime)."""
    e = dict(env)
    e["LD_PRELOAD"] = lib
    e["AGENT_VFSFAULT"] = spec
    e["AGENT_VFSFAULT_REPORT"] = report
    asan = e.get("ASAN_OPTIONS", "")
    e["ASAN_OPTIONS"] = (asan + ":" if asan else "") + \
        "verify_asan_link_order=0"
    return e


class Runner:
    """Runs `agent --config CONF ARGS...` with or without a fault."""

    def __init__(self, agent_bin, conf, env):
        self.bin = agent_bin
        self.conf = conf
        self.env = env
        self.lib = shim_lib(agent_bin)
        fd, self.report = tempfile.mkstemp(prefix="vfsfault-", suffix=".txt")
        os.close(fd)

    def close(self):
        try:
            os.unlink(self.report)
        except FileNotFoundError:
            pass

    def run(self, args, spec=None, timeout=300):
        """(returncode, stdout, stderr, report dict)."""
        env = self.env
        if spec:
            try:
                os.unlink(self.report)
            except FileNotFoundError:
                pass
            env = fault_env(env, self.lib, spec, self.report)
        p = subprocess.run([self.bin, "--config", self.conf] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, timeout=timeout)
        rep = parse_report(self.report) if spec else {}
        return (p.returncode, p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace"), rep)


def integrity(db):
    con = storesql.connect(db)
    try:
        return [r[0] for r in con.execute("PRAGMA integrity_check")]
    finally:
        con.close()


def snapshot(db):
    """What a command may change, without timestamps: the outbox (op_id ->
    kind, referenceId, payload, state), the registrations (referenceId ->
    local view) and the conflicts. Also checks that every create has its
    registration."""
    con = storesql.connect(db)
    try:
        outbox = {r[0]: tuple(r[1:]) for r in con.execute(
            "SELECT op_id, kind, reference_id, payload, state FROM outbox")}
        regs = {r[0]: r[1] for r in con.execute(
            "SELECT reference_id, local_json FROM registrations")}
        conflicts = {r[0]: tuple(r[1:]) for r in con.execute(
            "SELECT id, state, resolution FROM conflicts")}
    finally:
        con.close()
    return {"outbox": outbox, "regs": regs, "conflicts": conflicts}


def lost_entries(before, after):
    """op_ids of outbox entries in `before` that `after` no longer has."""
    return sorted(set(before["outbox"]) - set(after["outbox"]))
