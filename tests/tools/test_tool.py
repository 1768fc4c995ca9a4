#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Tests of the tcpcp tool (tools/): show, run, and checkpoint's side of
the IMAGE.done protocol.

    test_tool.py TCPCP MAKE_IMAGE_SEEDS

Images come from fuzz/make_image_seeds.c, whose contents are fixed.  The
checkpoint tests stand in for the shim with a Python process: its
LD_PRELOAD names a libtcpcp_shim.so that does not exist (the loader warns
and goes on), and its signal handler writes the done file the way the shim
does, atomically.  The real shim's side is for the end-to-end tests.

Python's standard library only.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import unittest

TCPCP = None
MAKE_SEEDS = None


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def tcpcp(*args, env=None, cwd=None, timeout=30):
    return subprocess.run([TCPCP, *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


class ToolCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tcpcp-test-tool.")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def assert_one_line(self, r, status, pattern):
        """Failed with status and one line on stderr matching pattern."""
        self.assertEqual(r.returncode, status, r.stderr)
        lines = [l for l in r.stderr.splitlines() if not l.startswith(
            "ERROR: ld.so:")]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("tcpcp: "), lines[0])
        self.assertRegex(lines[0], pattern)


class Show(ToolCase):
    def setUp(self):
        super().setUp()
        subprocess.run([MAKE_SEEDS, self.dir], check=True,
                       capture_output=True)

    def test_table(self):
        r = tcpcp("show", self.path("three.img"))
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertIn("created:     2026-01-02T03:04:05.678Z\n", out)
        self.assertIn("host:        seedhost\n", out)
        self.assertIn("pid:         4242\n", out)
        self.assertIn("backend:     repair\n", out)
        self.assertIn("connections: 3\n", out)
        size = os.path.getsize(self.path("three.img"))
        self.assertIn("size:        %d bytes" % size, out)
        rows = out.split("\n\n", 1)[1].splitlines()
        self.assertEqual(len(rows), 4)
        self.assertEqual(rows[0].split()[:5],
                         ["Kind", "State", "Recv-Q", "Send-Q", "Unsent"])
        self.assertEqual(rows[1].split(), [
            "accepted", "ESTAB", "1500", "3000", "1200", "192.0.2.1:8080",
            "198.51.100.2:40005", "5", "268435456", "536870912", "ts",
            "sack", "wscale:7,9", "mss:1448", "0.0.0.0:8080"])
        self.assertEqual(rows[2].split()[:8], [
            "accepted", "ESTAB", "0", "0", "0", "[2001:db8::1]:8080",
            "[2001:db8::2]:40009", "9"])
        self.assertEqual(rows[2].split()[-1], "[::]:8080")
        self.assertEqual(rows[3].split(), [
            "connected", "CLOSE-WAIT", "0", "10", "10", "[2001:db8::1]:8080",
            "[2001:db8::2]:40012", "12", "1879048192", "2147483648",
            "mss:1428", "-"])
        # columns line up: every row starts its fields where the header does
        col = rows[0].index("Local Address:Port")
        for row in rows[1:]:
            self.assertEqual(row[col - 2:col], "  ")
            self.assertNotEqual(row[col], " ")

    def test_states(self):
        r = tcpcp("show", self.path("v6-accepted.img"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"\naccepted +FIN-WAIT-1 +50 +300 +0 ")

    def test_no_connections(self):
        r = tcpcp("show", self.path("empty.img"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("connections: 0\n", r.stdout)
        self.assertIn("backend:     kmod\n", r.stdout)
        self.assertNotIn("Kind", r.stdout)

    def test_json(self):
        r = tcpcp("show", self.path("three.img"), "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        d = json.loads(r.stdout)
        self.assertEqual(d["created"], "2026-01-02T03:04:05.678Z")
        self.assertEqual(d["host"], "seedhost")
        self.assertEqual(d["pid"], 4242)
        self.assertEqual(d["backend"], "repair")
        self.assertEqual(d["size"], os.path.getsize(self.path("three.img")))
        c = d["connections"]
        self.assertEqual(len(c), 3)
        self.assertEqual(c[0]["kind"], "accepted")
        self.assertEqual(c[0]["state"], "ESTAB")
        self.assertEqual(c[0]["local"], "192.0.2.1:8080")
        self.assertEqual(c[0]["peer_addr"], "198.51.100.2")
        self.assertEqual(c[0]["peer_port"], 40005)
        self.assertEqual(c[0]["recv_q"], 1500)
        self.assertEqual(c[0]["send_q"], 3000)
        self.assertEqual(c[0]["unsent"], 1200)
        self.assertEqual(c[0]["fd"], 5)
        self.assertEqual(c[0]["snd_wscale"], 7)
        self.assertIs(c[0]["ts"], True)
        self.assertEqual(c[0]["listener"], "0.0.0.0:8080")
        self.assertEqual(c[1]["snd_nxt"], 0xfffffff0)
        self.assertEqual(c[1]["local"], "[2001:db8::1]:8080")
        self.assertEqual(c[2]["kind"], "connected")
        self.assertIsNone(c[2]["listener"])
        self.assertIs(c[2]["wscale"], False)
        d = json.loads(tcpcp("show", "--json",
                             self.path("empty.img")).stdout)
        self.assertEqual(d["connections"], [])

    def test_json_escapes_names(self):
        """A host name of any bytes still gives valid JSON."""
        with open(self.path("empty.img"), "rb") as f:
            img = bytearray(f.read())
        host = b'a"b\\c\nd\x01\xff\xc3\xa9'
        img[40:40 + 64] = host.ljust(64, b"\0")
        img[-4:] = crc32c(img[:-4]).to_bytes(4, "little")
        with open(self.path("odd.img"), "wb") as f:
            f.write(img)
        r = subprocess.run([TCPCP, "show", "--json", self.path("odd.img")],
                           capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        d = json.loads(r.stdout.decode("utf-8"))
        self.assertEqual(d["host"], 'a"b\\c\nd\x01\ufffd\u00e9')
        # the text: control characters hidden, the rest as it is
        r = subprocess.run([TCPCP, "show", self.path("odd.img")],
                           capture_output=True)
        self.assertIn(b'host:        a"b\\c?d?\xff\xc3\xa9\n', r.stdout)

    def test_corrupt(self):
        r = tcpcp("show", self.path("bad-crc.img"))
        self.assert_one_line(r, 1, r"^tcpcp: .*/bad-crc\.img: bad CRC")
        self.assertEqual(r.stdout, "")
        r = tcpcp("show", self.path("wrong-version.img"), "--json")
        self.assert_one_line(r, 1, r"version 2, this build reads 1$")
        r = tcpcp("show", self.path("truncated.img"))
        self.assert_one_line(r, 1, r": truncated: ")
        r = tcpcp("show", self.path("nothing.img"))
        self.assert_one_line(r, 1, r"nothing\.img: No such file")

    def test_refused_files(self):
        os.chmod(self.path("three.img"), 0o620)
        r = tcpcp("show", self.path("three.img"))
        self.assert_one_line(r, 1, r"writable by group or others")
        os.symlink(self.path("empty.img"), self.path("link.img"))
        r = tcpcp("show", self.path("link.img"))
        self.assert_one_line(r, 1, r"link\.img: a symbolic link")

    def test_usage(self):
        self.assert_one_line(tcpcp("show"), 2, r"one IMAGE")
        self.assert_one_line(tcpcp("show", "a", "b"), 2, r"one IMAGE")
        self.assert_one_line(tcpcp("show", "--yaml", "a"), 2,
                             r"unknown option --yaml")


class Run(ToolCase):
    def setUp(self):
        super().setUp()
        # The loader warns that an empty file cannot be preloaded and goes
        # on: enough to see what tcpcp run puts in the environment.
        self.shim = self.path("libtcpcp_shim.so")
        open(self.shim, "w").close()
        self.env = dict(os.environ, TCPCP_SHIM=self.shim)
        for k in list(self.env):
            if k.startswith("TCPCP_") and k != "TCPCP_SHIM":
                del self.env[k]
        self.env.pop("LD_PRELOAD", None)

    def run_env(self, *opts, env=None):
        r = tcpcp("run", *opts, "--", "env", env=env or self.env,
                  cwd=self.dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        return dict(l.split("=", 1) for l in r.stdout.splitlines()
                    if "=" in l)

    def test_sets_everything(self):
        e = self.run_env("--restore", "old.img", "--image", "/x/img-%p.%%",
                         "--signal", "usr1", "--on-checkpoint", "continue",
                         "--claim-seconds", "86400", "--hold-seconds", "0",
                         "--restore-fd", "--log", "shim.log",
                         "--backend", "repair")
        d = os.path.realpath(self.dir)
        self.assertEqual(e["LD_PRELOAD"], os.path.realpath(self.shim))
        self.assertEqual(e["TCPCP_RESTORE"], d + "/old.img")
        self.assertEqual(e["TCPCP_IMAGE"], "/x/img-%p.%%")
        self.assertEqual(e["TCPCP_SIGNAL"], "SIGUSR1")
        self.assertEqual(e["TCPCP_ON_CHECKPOINT"], "continue")
        self.assertEqual(e["TCPCP_CLAIM_SECONDS"], "86400")
        self.assertEqual(e["TCPCP_HOLD_SECONDS"], "0")
        self.assertEqual(e["TCPCP_RESTORE_FD"], "1")
        self.assertEqual(e["TCPCP_LOG"], d + "/shim.log")
        self.assertEqual(e["TCPCP_BACKEND"], "repair")

    def test_sets_only_what_is_asked(self):
        e = self.run_env("--log", "stderr", "--signal", "RTMIN+2")
        self.assertEqual(e["TCPCP_LOG"], "stderr")
        self.assertEqual(e["TCPCP_SIGNAL"], "SIGRTMIN+2")
        for k in ("TCPCP_RESTORE", "TCPCP_IMAGE", "TCPCP_RESTORE_FD",
                  "TCPCP_ON_CHECKPOINT"):
            self.assertNotIn(k, e)

    def test_prepends_to_ld_preload(self):
        env = dict(self.env, LD_PRELOAD="/nonexistent/libother.so")
        e = self.run_env(env=env)
        self.assertEqual(e["LD_PRELOAD"], os.path.realpath(self.shim) +
                         ":/nonexistent/libother.so")

    def test_passes_arguments(self):
        r = tcpcp("run", "--", "sh", "-c", 'echo "$1|$TCPCP_BACKEND"', "sh",
                  "a b", env=dict(self.env, TCPCP_BACKEND="kmod"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "a b|kmod\n")
        r = tcpcp("run", "sh", "-c", "exit 7", env=self.env)
        self.assertEqual(r.returncode, 7)

    def test_bad_options(self):
        bad = [
            ["--signal", "KILL"], ["--signal", "USR9"], ["--signal", ""],
            ["--on-checkpoint", "pause"], ["--claim-seconds", "86401"],
            ["--claim-seconds", "-1"], ["--claim-seconds", "1.5"],
            ["--claim-seconds", ""], ["--hold-seconds", "x"],
            ["--backend", "ebpf"], ["--image", "/x/%d.img"],
            ["--image", "/x/img%"], ["--image", ""], ["--restore", ""],
            ["--log", ""], ["--restore-fd"], ["--frobnicate"],
        ]
        for opts in bad:
            r = tcpcp("run", *opts, "--", "env", env=self.env)
            self.assert_one_line(r, 2, r".")
            self.assertEqual(r.stdout, "", opts)
        self.assert_one_line(tcpcp("run", env=self.env), 2, r"a command")
        self.assert_one_line(tcpcp("run", "--signal", env=self.env), 2,
                             r"--signal needs a value")

    def test_missing_command(self):
        r = tcpcp("run", "--", "/nonexistent/cmd", env=self.env)
        self.assert_one_line(r, 127,
                             r"^tcpcp: /nonexistent/cmd: No such file")

    def test_missing_shim(self):
        env = dict(self.env, TCPCP_SHIM=self.path("none.so"))
        r = tcpcp("run", "--", "env", env=env)
        self.assert_one_line(r, 1, r"TCPCP_SHIM=.*none\.so: No such file")

    def test_help(self):
        for args in (["run", "--help"], ["help", "run"]):
            r = tcpcp(*args)
            self.assertEqual(r.returncode, 0)
            for word in ("--restore", "--image", "--signal",
                         "--on-checkpoint", "--claim-seconds",
                         "--restore-fd", "--log", "--backend",
                         "TCPCP_RESTORE", "TCPCP_IMAGE", "TCPCP_SIGNAL",
                         "TCPCP_ON_CHECKPOINT", "TCPCP_CLAIM_SECONDS",
                         "TCPCP_RESTORE_FD", "TCPCP_LOG", "TCPCP_BACKEND"):
                self.assertIn(word, r.stdout)


# Stands in for the shim: on the control signal, writes IMAGE.done like
# image_done_write() (temporary file, rename) and does what it is told.
RESPONDER = textwrap.dedent("""
    import os, signal, sys, time
    sig, behaviour, image = sys.argv[1], sys.argv[2], sys.argv[3]
    image = "%".join(part.replace("%p", str(os.getpid()))
                     for part in image.split("%%"))

    def done(text):
        tmp = image + ".done.tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, image + ".done")

    def handler(signum, frame):
        pid = os.getpid()
        if behaviour == "ok":
            done("outcome=ok\\npid=%d\\nconnections=5\\nfailed=0\\n"
                 "image=%s\\nbytes=41984\\nfreeze_us=900\\naction=exit\\n"
                 "future_key=1\\n" % (pid, image))
            os._exit(0)
        if behaviour == "continue":
            done("outcome=ok\\npid=%d\\nconnections=1\\nfailed=2\\n"
                 "bytes=500\\nfreeze_us=1500000\\naction=continue\\n" % pid)
            return
        if behaviour == "failed":
            done("outcome=failed\\npid=%d\\nconnections=0\\nfailed=3\\n"
                 "action=exit\\nerror=stop: Operation not permitted\\n"
                 % pid)
            return
        if behaviour == "die":
            os._exit(3)
        if behaviour == "garbage":
            done("this is not a done file\\n")

    signal.signal(getattr(signal, sig),
                  signal.SIG_IGN if behaviour == "ignore" else handler)
    print("ready", flush=True)
    while True:
        time.sleep(1)
""")


class Checkpoint(ToolCase):
    def start(self, behaviour, image="img-%p.img", sig="SIGUSR2",
              env=None, preload="/nonexistent/libtcpcp_shim.so"):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("TCPCP_")}
        e.update(env or {})
        e["LD_PRELOAD"] = preload
        if image is not None:
            e["TCPCP_IMAGE"] = image
        if sig != "SIGUSR2":
            e["TCPCP_SIGNAL"] = sig
        p = subprocess.Popen(
            [sys.executable, "-c", RESPONDER,
             "SIGUSR2" if sig == "SIGUSR2" else "SIG" + sig.upper(),
             behaviour, image or "/tmp/tcpcp-%p.img"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=e,
            cwd=self.dir, text=True)
        self.addCleanup(self.stop, p)
        self.assertEqual(p.stdout.readline(), "ready\n")
        return p

    def stop(self, p):
        if p.poll() is None:
            p.kill()
        p.wait()
        p.stdout.close()

    def test_ok(self):
        p = self.start("ok")
        image = os.path.realpath(self.dir) + "/img-%d.img" % p.pid
        r = tcpcp("checkpoint", str(p.pid))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "checkpoint of %d: 5 connections saved "
                         "to %s (41 KiB) in 0.9 ms; the process exits\n"
                         % (p.pid, image))
        self.assertEqual(p.wait(), 0)

    def test_other_signal_and_action(self):
        p = self.start("continue", image=self.path("x-%p-%%.img"),
                       sig="usr1")
        r = tcpcp("checkpoint", str(p.pid), "--timeout", "10")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "checkpoint of %d: 1 connection saved "
                         "(2 could not be) to %s (500 bytes) in 1.50 s; "
                         "the process runs on\n"
                         % (p.pid, self.path("x-%d-%%.img" % p.pid)))
        self.assertIsNone(p.poll())

    def test_default_image(self):
        p = self.start("continue", image=None)
        path = "/tmp/tcpcp-%d.img" % p.pid
        self.addCleanup(lambda: os.path.exists(path + ".done") and
                        os.unlink(path + ".done"))
        r = tcpcp("checkpoint", str(p.pid))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(" to %s " % path, r.stdout)

    def test_image_option(self):
        p = self.start("continue", image=self.path("real.img"))
        r = tcpcp("checkpoint", "--image", "real.img", str(p.pid),
                  cwd=self.dir)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_failed(self):
        p = self.start("failed")
        r = tcpcp("checkpoint", str(p.pid))
        self.assert_one_line(r, 1, r"^tcpcp: checkpoint of %d failed: "
                             r"stop: Operation not permitted$" % p.pid)

    def test_stale_done_file_is_not_the_answer(self):
        p = self.start("ignore")
        stale = self.path("img-%d.img.done" % p.pid)
        with open(stale, "w") as f:
            f.write("outcome=ok\npid=%d\n" % p.pid)
        r = tcpcp("checkpoint", str(p.pid), "--timeout", "0.3")
        self.assert_one_line(r, 1, r"^tcpcp: no answer from %d within "
                             r"0\.3 s \(is the shim's log saying why\?\)$"
                             % p.pid)
        self.assertFalse(os.path.exists(stale))

    def test_stale_done_file_of_another_user_is_kept(self):
        if os.geteuid() != 0:
            self.skipTest("only root can give a file away")
        p = self.start("ignore")
        stale = self.path("img-%d.img.done" % p.pid)
        with open(stale, "w") as f:
            f.write("x")
        os.chown(stale, 12345, 12345)
        r = tcpcp("checkpoint", str(p.pid), "--timeout", "0.3")
        self.assert_one_line(r, 1, r"is not a file of process %d's user; "
                             r"not removing it$" % p.pid)
        self.assertTrue(os.path.exists(stale))
        os.unlink(stale)
        os.mkdir(stale)
        r = tcpcp("checkpoint", str(p.pid), "--timeout", "0.3")
        self.assert_one_line(r, 1, r"not removing it$")

    def test_answer_of_another_pid_is_ignored(self):
        p = self.start("ignore", image=self.path("shared.img"))
        with open(self.path("shared.img.done.tmp"), "w") as f:
            f.write("outcome=ok\npid=1\n")
        # appears after tcpcp removed the stale one, as if written late
        subprocess.Popen(["sh", "-c", "sleep 0.1; mv %s %s" % (
            self.path("shared.img.done.tmp"), self.path("shared.img.done"))])
        r = tcpcp("checkpoint", str(p.pid), "--timeout", "0.5")
        self.assert_one_line(r, 1, r"no answer from")

    def test_process_dies(self):
        p = self.start("die")
        r = tcpcp("checkpoint", str(p.pid))
        self.assert_one_line(r, 1, r"^tcpcp: process %d exited without "
                             r"answering" % p.pid)

    def test_malformed_answer(self):
        p = self.start("garbage")
        r = tcpcp("checkpoint", str(p.pid))
        self.assert_one_line(r, 1, r"img-%d\.img\.done: malformed$" % p.pid)

    def test_no_shim(self):
        p = self.start("ignore", preload="")
        r = tcpcp("checkpoint", str(p.pid))
        self.assert_one_line(r, 1, r"^tcpcp: process %d does not run under "
                             r"libtcpcp_shim\.so$" % p.pid)

    def test_shim_refused_its_configuration(self):
        p = self.start("ignore", image=self.path("x-%d.img"))
        r = tcpcp("checkpoint", str(p.pid))
        self.assert_one_line(r, 1, r"TCPCP_IMAGE=.*which the shim refuses")
        p = self.start("ignore", env={"TCPCP_SIGNAL": "KILL"})
        r = tcpcp("checkpoint", str(p.pid))
        self.assert_one_line(r, 1, r"TCPCP_SIGNAL=\"KILL\", which the shim")

    def test_no_such_process(self):
        with open("/proc/sys/kernel/pid_max") as f:
            pid = int(f.read()) + 1
        self.assert_one_line(tcpcp("checkpoint", str(pid)), 1,
                             r"^tcpcp: no process %d$" % pid)

    def test_usage(self):
        for args in (["x"], ["0"], ["-5"], ["1", "2"], [],
                     ["1", "--timeout", "0"], ["1", "--timeout", "3601"],
                     ["1", "--timeout", "nan"], ["1", "--timeout", "1s"],
                     ["1", "--image", ""]):
            r = tcpcp("checkpoint", *args)
            self.assert_one_line(r, 2, r".")


class Main(ToolCase):
    def test_help_and_version(self):
        r = tcpcp("--help")
        self.assertEqual(r.returncode, 0)
        for cmd in ("run", "checkpoint", "show"):
            self.assertIn(cmd, r.stdout)
            r2 = tcpcp("help", cmd)
            self.assertEqual(r2.returncode, 0)
            self.assertTrue(r2.stdout.startswith("usage: tcpcp " + cmd))
            self.assertEqual(tcpcp(cmd, "--help").stdout, r2.stdout)
        r = tcpcp("--version")
        self.assertRegex(r.stdout, r"^tcpcp \(tcpcp2\) \d+\.\d+\.\d+\n$")

    def test_usage(self):
        self.assert_one_line(tcpcp(), 2, r"command")
        self.assert_one_line(tcpcp("frobnicate"), 2, r"no command frobnicate")
        self.assert_one_line(tcpcp("help", "frobnicate"), 2, r"frobnicate")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: test_tool.py TCPCP MAKE_IMAGE_SEEDS [unittest args]")
    TCPCP = os.path.abspath(sys.argv[1])
    MAKE_SEEDS = os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
