"""Shell completion and --help examples (issue 14), both from the command
table: whatever commands the table holds (other parts of the code add
rows), `agent --help` lists them, each `agent help CMD` shows an example,
and the bash completion script completes each of them.
"""

import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import AgentTestCase, main  # noqa: E402


def bash_complete(script, words):
    """COMPREPLY of the script's function for the command line `words`
    (the last word is the one being completed)."""
    prog = (script + "\nCOMP_WORDS=(%s)\nCOMP_CWORD=%d\n_agent\n"
            "printf '%%s\\n' \"${COMPREPLY[@]}\"\n"
            % (" ".join("'%s'" % w for w in words), len(words) - 1))
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", prog],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode().split()


class Completion(AgentTestCase):
    def commands(self):
        out = self.ok("--help", config=False)
        block = out.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
        names = []
        for line in block.splitlines():
            # "  registrations add      add registrations ..." (names are
            # one or two words, then at least two spaces)
            m = re.match(r"^  (\S+(?: \S+)?)\s{2,}", line)
            if m:
                names.append(m.group(1))
        self.assertGreater(len(names), 20, out)
        return names

    def test_every_command_has_an_example(self):
        for name in self.commands():
            out = self.ok("help", *name.split(), config=False)
            self.assertRegex(out, r"\nExamples?:\n  \S*agent ",
                             "no example in `agent help %s`" % name)

    @unittest.skipUnless(shutil.which("bash"), "no bash")
    def test_bash_completes_every_command(self):
        script = self.ok("completion", "bash", config=False)
        p = subprocess.run(["bash", "-n"], input=script.encode(),
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        firsts = set(bash_complete(script, ["agent", ""]))
        for name in self.commands():
            words = name.split()
            self.assertIn(words[0], firsts)
            if len(words) == 2:
                subs = bash_complete(script, ["agent", words[0], ""])
                self.assertIn(words[1], subs, name)
        self.assertEqual(bash_complete(script, ["agent", "regis"]),
                         ["registrations"])
        self.assertIn("--interactive", bash_complete(
            script, ["agent", "registrations", "add", "--in"]))
        self.assertIn("--now", bash_complete(
            script, ["agent", "--json", "sync", "--n"]))
        self.assertIn("--json", bash_complete(script, ["agent", "doctor",
                                                       "--j"]))

    def test_zsh_script_and_bad_shell(self):
        out = self.ok("completion", "zsh", config=False)
        self.assertTrue(out.startswith("#compdef agent\n"))
        self.fails("completion", "fish", code=2, config=False)


if __name__ == "__main__":
    main()
