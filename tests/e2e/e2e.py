"""The end-to-end harness: a network namespace per test, servers started
under the shim (through `tcpcp run` when the tool is built), checkpoints
through `tcpcp checkpoint`, the kernel's view of each connection's queues,
and a count of every TCP reset on the namespace's loopback.

Debian's python3 standard library only.  Every wait is bounded; every
process a test starts is killed when it ends, whatever happened."""

import atexit
import ctypes
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77


class Failure(Exception):
    """A check failed: the message says which and what was seen."""


class Skip(Exception):
    """The test cannot run here (a missing program): exit 77."""


_t0 = time.monotonic()


# In a TAP stream (a script that runs several cases) everything but the
# result lines is a comment.
tap = False


def say(text):
    for line in str(text).splitlines() or [""]:
        print(("# " if tap else "") + line)
    sys.stdout.flush()


def log(msg):
    say("[%7.3f] %s" % (time.monotonic() - _t0, msg))


# --- paths -------------------------------------------------------------------

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("TCPCP_E2E_BUILD") or os.path.join(
    HERE, "..", "..", "build")
SHIM = os.path.join(BUILD, "preload", "libtcpcp_shim.so")
TOOL = os.path.join(BUILD, "tools", "tcpcp")
TESTSRV = os.environ.get("TCPCP_E2E_TESTSRV") or os.path.join(
    BUILD, "tests", "e2e", "testsrv")


def need_program(path, why):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise Skip("%s not found (%s)" % (path, why))
    return path


def have_tool():
    return os.path.isfile(TOOL) and os.access(TOOL, os.X_OK)


# --- the namespace -----------------------------------------------------------

def _netns_inode():
    return os.stat("/proc/self/ns/net").st_ino


def enter_netns():
    """Re-executes this script under `unshare --net` unless it already runs
    in a namespace of its own, then brings lo up there.  The parent's
    namespace inode is passed on, so a stale variable cannot fool us."""
    parent = os.environ.get("TCPCP_E2E_PARENT_NETNS")
    if parent is None:
        unshare = shutil.which("unshare")
        if unshare is None:
            print("SKIP: unshare (util-linux) not found")
            sys.exit(SKIP)
        env = dict(os.environ, TCPCP_E2E_PARENT_NETNS=str(_netns_inode()))
        argv = [unshare, "--net", "--", sys.executable,
                os.path.abspath(sys.argv[0])] + sys.argv[1:]
        sys.stdout.flush()
        os.execve(unshare, argv, env)
    if int(parent) == _netns_inode():
        print("FAIL: still in the parent's network namespace")
        sys.exit(1)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)


# --- the kernel's view of TCP sockets ----------------------------------------

TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1",
              5: "FIN_WAIT2", 6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT",
              9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING"}


class TcpSock:
    __slots__ = ("lport", "rport", "state", "tx", "rx", "inode", "v6")

    def __repr__(self):
        return "%d->%d %s tx=%d rx=%d" % (
            self.lport, self.rport, TCP_STATES.get(self.state, self.state),
            self.tx, self.rx)


def tcp_sockets():
    """Every TCP socket of this namespace, from /proc/net/tcp{,6}:
    tx = write_seq - snd_una (unacked + unsent), rx = unread bytes."""
    out = []
    for path, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            with open(path) as f:
                lines = f.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            f = line.split()
            s = TcpSock()
            s.lport = int(f[1].rsplit(":", 1)[1], 16)
            s.rport = int(f[2].rsplit(":", 1)[1], 16)
            s.state = int(f[3], 16)
            tx, rx = f[4].split(":")
            s.tx, s.rx = int(tx, 16), int(rx, 16)
            s.inode = int(f[9])
            s.v6 = v6
            out.append(s)
    return out


def sock_of(lport, rport, socks=None):
    for s in socks if socks is not None else tcp_sockets():
        if s.lport == lport and s.rport == rport and s.state != 10:
            return s
    return None


def listening(port):
    return any(s.lport == port and s.state == 10 for s in tcp_sockets())


def wait_until(pred, timeout, what):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise Failure("timed out after %.1f s waiting for %s"
                          % (timeout, what))
        time.sleep(0.01)


def ss_dump():
    try:
        return subprocess.run(["ss", "-tnie"], capture_output=True,
                              text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return "(ss failed: %s)" % e


# --- counting resets on the wire ---------------------------------------------

ETH_P_ALL = 3
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26

# Classic BPF over the network header (AF_PACKET/SOCK_DGRAM): keep only TCP
# segments with RST set, IPv4 (first fragments) or IPv6 (TCP as the first
# next header, as on loopback), so heavy traffic cannot overflow the queue
# and hide a reset.
_RST_FILTER = [
    (0x30, 0, 0, 0x00000000),   # ldb [0]
    (0x74, 0, 0, 0x00000004),   # rsh #4
    (0x15, 0, 7, 0x00000004),   # jeq #4 ? v4 : v6
    (0x30, 0, 0, 0x00000009),   # ldb [9]            protocol
    (0x15, 0, 11, 0x00000006),  # jeq #6 ? : drop
    (0x28, 0, 0, 0x00000006),   # ldh [6]            fragment offset
    (0x45, 9, 0, 0x00001fff),   # jset #0x1fff ? drop :
    (0xb1, 0, 0, 0x00000000),   # ldxb 4*([0]&0xf)
    (0x50, 0, 0, 0x0000000d),   # ldb [x+13]         TCP flags
    (0x45, 5, 6, 0x00000004),   # jset #RST ? keep : drop
    (0x15, 0, 5, 0x00000006),   # v6: jeq #6 ? : drop
    (0x30, 0, 0, 0x00000006),   # ldb [6]            next header
    (0x15, 0, 3, 0x00000006),   # jeq #6 ? : drop
    (0x30, 0, 0, 0x00000035),   # ldb [40+13]        TCP flags
    (0x45, 0, 1, 0x00000004),   # jset #RST ? keep : drop
    (0x06, 0, 0, 0x00000100),   # keep: ret #256
    (0x06, 0, 0, 0x00000000),   # drop: ret #0
]


def _rst_ports(pkt):
    """(src port, dst port, text) of a TCP segment with RST, else None."""
    if len(pkt) < 20:
        return None
    ver = pkt[0] >> 4
    if ver == 4:
        off = (pkt[0] & 15) * 4
        src = socket.inet_ntop(socket.AF_INET, pkt[12:16])
        dst = socket.inet_ntop(socket.AF_INET, pkt[16:20])
    elif ver == 6 and len(pkt) >= 60:
        off = 40
        src = socket.inet_ntop(socket.AF_INET6, pkt[8:24])
        dst = socket.inet_ntop(socket.AF_INET6, pkt[24:40])
    else:
        return None
    if len(pkt) < off + 14 or not pkt[off + 13] & 4:
        return None
    sport, dport, seq = struct.unpack("!HHI", pkt[off:off + 8])
    return sport, dport, "%s:%d > %s:%d RST seq %d flags 0x%02x" % (
        src, sport, dst, dport, seq, pkt[off + 13])


class RstCounter:
    """Counts TCP segments with RST seen on lo (or ifname; "" for every
    interface), in a thread, from the moment it is made.  Only segments the namespace received are counted (each
    loopback packet is also seen once as outgoing)."""

    def __init__(self, ifname="lo"):
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM,
                                  socket.htons(ETH_P_ALL))
        insns = b"".join(struct.pack("HBBI", *i) for i in _RST_FILTER)
        self._prog = ctypes.create_string_buffer(insns)
        fprog = struct.pack("HxxxxxxQ", len(_RST_FILTER),
                            ctypes.addressof(self._prog))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        if ifname:  # else every interface (the ports of a switch)
            self.sock.bind((ifname, ETH_P_ALL))
        # Whatever arrived before the filter was attached is sifted again
        # in _run(), so nothing unfiltered is miscounted.
        self.sock.settimeout(0.1)
        self.resets = []
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                pkt, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if addr[2] == PACKET_OUTGOING:
                continue
            r = _rst_ports(pkt)
            if r:
                with self._lock:
                    self.resets.append((time.monotonic() - _t0,) + r)

    def drops(self):
        st = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        return struct.unpack("II", st)[1]

    def count(self, settle=0.05):
        """Resets seen so far (after letting the thread catch up)."""
        time.sleep(settle)
        with self._lock:
            return list(self.resets)

    def close(self):
        self._stop = True
        self._thread.join(1)
        self.sock.close()


# --- processes ---------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    # A test killed outright (meson's SIGKILL) must not leave a server
    # holding its namespace alive.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Proc:
    """A child process whose stdout/stderr go to files in the test's
    directory; stdout can be watched for a line."""

    def __init__(self, test, name, cmd, env=None, stdin=subprocess.DEVNULL):
        self.test = test
        self.name = name
        self.cmd = cmd
        self.out_path = os.path.join(test.tmp, name + ".stdout")
        self.err_path = os.path.join(test.tmp, name + ".stderr")
        with open(self.out_path, "wb") as out, \
                open(self.err_path, "wb") as err:
            self.p = subprocess.Popen(cmd, stdout=out, stderr=err,
                                      stdin=stdin, env=env,
                                      preexec_fn=_die_with_parent)
        self.pid = self.p.pid
        test.procs.append(self)

    def stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode(errors="replace")

    def alive(self):
        return self.p.poll() is None

    def wait_line(self, prefix, timeout):
        def seen():
            for line in self.stdout().splitlines():
                if line.startswith(prefix):
                    return line
            if not self.alive():
                raise Failure("%s exited (status %s) before printing '%s'; "
                              "stderr: %s" % (self.name, self.p.returncode,
                                              prefix, self.stderr()[-2000:]))
            return None
        return wait_until(seen, timeout, "%s to print '%s'" % (
            self.name, prefix))

    def wait(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Failure("%s (pid %d) still running after %.1f s"
                          % (self.name, self.pid, timeout))

    def kill(self):
        if self.p.poll() is None:
            try:
                self.p.kill()
            except ProcessLookupError:
                pass
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                pass


def _clean_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TCPCP_") and k != "LD_PRELOAD"}
    return env


def read_kv(path):
    kv = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                kv[k] = v
    return kv


class ShimServer:
    """A server run under the shim.  Through `tcpcp run` and `tcpcp
    checkpoint` when the tool is built; until then through the environment
    and a signal (the same contract underneath)."""

    def __init__(self, test, name, argv, gen=1, restore=None, shim=True,
                 extra_env=None, wrap=None):
        """wrap: a command the whole line runs under, such as
        ["ip", "netns", "exec", "host-b"] to start it on another host."""
        self.test = test
        self.wrap = list(wrap or [])
        self.extra_env = extra_env or {}
        self.shim = shim
        self.shown = None  # (local port, peer port) -> connection, by show
        self.name = name
        self.argv = argv
        self.gen = gen
        self.restore = restore
        self.image = os.path.join(test.tmp, "%s.%d.img" % (name, gen))
        self.shimlog = os.path.join(test.tmp, "%s.%d.shim.log" % (name, gen))
        env = _clean_env()
        if not shim:
            cmd = list(argv)
        elif have_tool():
            cmd = [TOOL, "run", "--image", self.image, "--log", self.shimlog,
                   "--backend", "repair"]
            if restore:
                cmd += ["--restore", restore]
            cmd += ["--"] + argv
        else:
            cmd = list(argv)
            env.update(LD_PRELOAD=SHIM, TCPCP_IMAGE=self.image,
                       TCPCP_LOG=self.shimlog, TCPCP_BACKEND="repair")
            if restore:
                env["TCPCP_RESTORE"] = restore
        env.update(self.extra_env)
        cmd = self.wrap + cmd
        log("start %s gen %d%s: %s" % (name, gen,
                                       " (restore)" if restore else "",
                                       " ".join(cmd)))
        self.proc = Proc(test, "%s.%d" % (name, gen), cmd, env=env)
        test.servers.append(self)

    @property
    def pid(self):
        return self.proc.pid

    def shim_log(self):
        try:
            with open(self.shimlog, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return "(no shim log)"

    def checkpoint(self, expect_conns, timeout=15):
        """Checkpoints, checks the server exited 0 and IMAGE.done says ok
        with expect_conns connections; returns the image path.  With
        TCPCP_E2E_CHECKPOINT=signal, by hand (the signal, then waiting for
        IMAGE.done) even when the tool is there: to tell the tool's faults
        from the shim's."""
        done = self.image + ".done"
        t = time.monotonic()
        if have_tool() and os.environ.get("TCPCP_E2E_CHECKPOINT") != "signal":
            r = subprocess.run([TOOL, "checkpoint", str(self.pid),
                                "--timeout", str(timeout)],
                               capture_output=True, text=True,
                               timeout=timeout + 5)
            if r.returncode != 0:
                raise Failure("tcpcp checkpoint %d: exit %d\nstdout: %s\n"
                              "stderr: %s" % (self.pid, r.returncode,
                                              r.stdout, r.stderr))
        else:
            os.kill(self.pid, signal.SIGUSR2)
            wait_until(lambda: os.path.exists(done) and
                       "outcome=" in open(done).read(), timeout,
                       "%s to appear" % done)
        kv = read_kv(done)
        log("checkpoint of %s: %.0f ms, %s" % (
            self.name, 1000 * (time.monotonic() - t),
            " ".join("%s=%s" % i for i in kv.items())))
        rc = self.proc.wait(10)
        if kv.get("outcome") != "ok":
            raise Failure("checkpoint failed: %s" % kv)
        if rc != 0:
            raise Failure("%s exited with status %d after the checkpoint "
                          "(expected 0: TCPCP_ON_CHECKPOINT=exit)"
                          % (self.name, rc))
        if kv.get("connections") != str(expect_conns) or \
                kv.get("failed", "0") != "0":
            raise Failure("IMAGE.done says connections=%s failed=%s, "
                          "expected %d and 0" % (kv.get("connections"),
                                                 kv.get("failed"),
                                                 expect_conns))
        self.shown = self.show(expect_conns)
        return self.image

    def show(self, expect_conns):
        """`tcpcp show IMAGE --json` must parse and agree on the count."""
        if not have_tool():
            return None
        r = subprocess.run([TOOL, "show", self.image, "--json"],
                           capture_output=True, text=True, timeout=20)
        if r.returncode != 0:
            raise Failure("tcpcp show %s --json: exit %d: %s"
                          % (self.image, r.returncode, r.stderr))
        try:
            doc = json.loads(r.stdout)
        except ValueError as e:
            raise Failure("tcpcp show --json printed no JSON (%s): %.500s"
                          % (e, r.stdout))
        conns = doc.get("connections") if isinstance(doc, dict) else None
        n = len(conns) if isinstance(conns, list) else conns
        if n != expect_conns:
            raise Failure("tcpcp show --json: %r connections, expected %d"
                          % (n, expect_conns))
        return {(c.get("local_port"), c.get("peer_port")): c for c in conns}

    def restart(self):
        """The same command, restored from this generation's image."""
        return ShimServer(self.test, self.name, self.argv, self.gen + 1,
                          restore=self.image, shim=self.shim,
                          extra_env=self.extra_env, wrap=self.wrap)


def threads_of(pid):
    """Where each thread of a live process is: with gdb, a backtrace of
    every thread; without, each one's state and kernel wait channel."""
    gdb = shutil.which("gdb")
    if gdb:
        try:
            r = subprocess.run([gdb, "-p", str(pid), "-batch", "-nx", "-ex",
                                "thread apply all bt 30"],
                               capture_output=True, text=True, timeout=30)
            return "\n".join(l for l in r.stdout.splitlines()
                             if l.startswith(("#", "Thread")))
        except (OSError, subprocess.SubprocessError) as e:
            return "(gdb failed: %s)" % e
    out = []
    try:
        for tid in sorted(os.listdir("/proc/%d/task" % pid), key=int):
            base = "/proc/%d/task/%s/" % (pid, tid)
            try:
                stat = open(base + "stat").read()
                wchan = open(base + "wchan").read()
                syscall = open(base + "syscall").read().split()[0]
            except OSError:
                continue
            out.append("%s %s state %s wchan %s syscall %s" % (
                tid, stat[stat.index("(") + 1:stat.rindex(")")],
                stat[stat.rindex(")") + 2], wchan, syscall))
    except OSError as e:
        out.append("(%s)" % e)
    return "\n".join(out)


# --- a test ------------------------------------------------------------------

class Test:
    """One end-to-end test: a private directory (0700), a reset counter,
    a watchdog, and cleanup of everything it started."""

    def __init__(self, name, deadline=100):
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix="tcpcp-e2e-%s-" % name)
        os.chmod(self.tmp, 0o700)
        self.procs = []
        self.servers = []
        self.clients = []
        self.closers = []
        self.rst = None
        self.skip_reason = None
        self.deadline = deadline
        atexit.register(self.cleanup)

    def start_rst_counter(self):
        self.rst = RstCounter()
        self.closers.append(self.rst.close)
        return self.rst

    def assert_no_resets(self):
        resets = self.rst.count()
        drops = self.rst.drops()
        if drops:
            raise Failure("the capture dropped %d packets" % drops)
        if resets:
            raise Failure("%d TCP resets on the wire:\n  %s" % (
                len(resets), "\n  ".join("%.3f %s" % (r[0], r[3])
                                         for r in resets)))
        log("no TCP reset on the wire")

    def cleanup(self):
        for c in self.clients:
            c.close()
        for p in self.procs:
            p.kill()
        for f in self.closers:
            try:
                f()
            except OSError:
                pass
        self.closers = []
        self.procs = []
        self.clients = []

    def diagnostics(self):
        for s in self.servers:
            if s.proc.alive():
                say("--- %s gen %d threads:\n%s" % (s.name, s.gen,
                                                    threads_of(s.pid)))
            say("--- %s gen %d (pid %d, %s) stderr:\n%s" % (
                s.name, s.gen, s.pid,
                "running" if s.proc.alive() else
                "exit %s" % s.proc.p.returncode, s.proc.stderr()[-3000:]))
            say("--- %s gen %d shim log:\n%s" % (s.name, s.gen,
                                                   s.shim_log()[-6000:]))
            done = s.image + ".done"
            if os.path.exists(done):
                say("--- %s:\n%s" % (done, open(done).read()))
        for c in self.clients:
            say("--- client %s" % c.describe())
        say("--- ss -tnie:\n%s" % ss_dump())

    def run(self, body, exit=True):
        """Runs body(self); exits (or returns) 0 passed, 1 failed, 77
        skipped."""
        def on_alarm(signum, frame):
            raise Failure("the test's own deadline (%d s) passed"
                          % self.deadline)

        def on_term(signum, frame):
            raise Failure("killed by signal %d" % signum)
        signal.signal(signal.SIGALRM, on_alarm)
        signal.signal(signal.SIGTERM, on_term)
        signal.alarm(self.deadline)
        t = time.monotonic()
        rc = 1
        try:
            body(self)
            rc = 0
            log("PASS %s (%.2f s)" % (self.name, time.monotonic() - t))
        except Skip as e:
            rc = SKIP
            self.skip_reason = str(e)
            say("SKIP %s: %s" % (self.name, e))
        except Failure as e:
            say("FAIL %s: %s" % (self.name, e))
            self.diagnostics()
        except Exception as e:  # a harness bug still fails, with its trace
            import traceback
            say(traceback.format_exc())
            say("FAIL %s: %s: %s" % (self.name, type(e).__name__, e))
            self.diagnostics()
        finally:
            signal.alarm(0)
            self.cleanup()
        if rc == 0 and not os.environ.get("TCPCP_E2E_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)
        elif rc != SKIP:
            say("(kept %s)" % self.tmp)
        sys.stdout.flush()
        if not exit:
            return rc
        os._exit(rc)
