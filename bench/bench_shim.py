#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""bench_shim: what the shim costs, end to end (DESIGN.md section 8).

Two tables, both against the tests' testsrv (tests/e2e/servers, --mode
epoll-fd):

freeze: one server under `tcpcp run`, N client connections held by this
  script, each with a partial request unread in the server's receive queue
  and an answer sent but unacknowledged in its send queue (--queued bytes
  each way; the client drops the server's data segments with a socket
  filter, much as bench_peer does).  Then, --runs times over the same
  connections: `tcpcp checkpoint PID` (the server exits), and the server
  restarted with `tcpcp run --restore IMAGE`.  Figures: freeze_us from
  IMAGE.done (the shim's own clock, from the control signal to the image
  being durable), the image's size, the restore ("bind ...: N of N
  connections restored in X us") and the hand-back ("every restored
  connection is back with the program, X us after start") from the shim's
  log, and the wall time from launching the restarted process to that log
  line.  After every restart the kernel's view of the N server sockets
  must show the queues as saved; after the last, every connection must
  answer a request with the right bytes.  A broken run prints no figure.

overhead: the same server started plainly and under `tcpcp run` at once,
  each pinned to CPU 0 (the load generator to CPU 1), loaded in turn (the
  order alternating run by run) by bench_load: accept-heavy (connect, one
  small request, the answer, close; connections/s) and data-heavy (one
  connection, 64 KiB answers, 4 in flight; MB/s), with the server's CPU
  time per connection and per MB.  Ratio: shim / plain.

Each figure: median [min-max] over the runs.  Runs as root, in a network
namespace of its own (re-executes itself under `unshare --net`).  Debian's
python3 standard library only.
"""

import argparse
import ctypes
import fcntl
import json
import os
import platform
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
PATTERN = ALPHABET * (65536 // 62 + 3)
SIOCOUTQ = 0x5411
SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
BATCH = 100
T0 = time.monotonic()
verbose = False


class BenchError(Exception):
    pass


# Between a restart and the next checkpoint (see freeze_row).
SETTLE_S = 0.25


def log(msg):
    if verbose:
        sys.stderr.write("[%7.2f] %s\n" % (time.monotonic() - T0, msg))
        sys.stderr.flush()


def note(msg):
    sys.stderr.write("bench_shim: %s\n" % msg)
    sys.stderr.flush()


# --- setup -------------------------------------------------------------------

def enter_netns():
    """Re-executes under `unshare --net` once; then lo up, a wide port
    range (the accept-heavy load opens ~100 000 connections), and every
    descriptor the hard limit allows."""
    if os.environ.get("TCPCP_BENCH_NETNS") != str(os.getpid()):
        if os.geteuid():
            raise BenchError("run as root (TCP_REPAIR, a network "
                             "namespace): bench/run tries sudo")
        unshare = shutil.which("unshare")
        if not unshare:
            raise BenchError("unshare (util-linux) not found")
        sys.stdout.flush()
        # the pid survives exec: the child knows it is the re-executed one
        env = dict(os.environ, TCPCP_BENCH_NETNS=str(os.getpid()))
        os.execve(unshare, [unshare, "--net", "--", sys.executable,
                            os.path.abspath(__file__)] + sys.argv[1:], env)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as f:
        f.write("1024 65535")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def clean_env():
    """Our environment without the shim's variables, but for the ones that
    choose how it works (backend, hold)."""
    keep = ("TCPCP_BACKEND", "TCPCP_HOLD_SECONDS")
    return {k: v for k, v in os.environ.items()
            if k != "LD_PRELOAD" and k != "TCPCP_BENCH_NETNS" and
            (not k.startswith("TCPCP_") or k in keep)}


def reproduce_args():
    """This run's options, but for where the build is and -v."""
    out, skip = [], False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
        elif arg == "--build":
            skip = True
        elif not arg.startswith("--build=") and arg not in ("-v",
                                                            "--verbose"):
            out.append(arg)
    return "".join(" " + x for x in out)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def fs_type(path):
    """The type of the filesystem path is on, from /proc/self/mounts."""
    best, kind = "", "?"
    real = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        for line in f:
            w = line.split()
            mnt = w[1].replace("\\040", " ")
            if (real == mnt or real.startswith(mnt.rstrip("/") + "/")) and \
                    len(mnt) >= len(best):
                best, kind = mnt, w[2]
    return kind


def stats(values):
    v = sorted(values)
    n = len(v)
    med = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    return med, v[0], v[-1]


def cell(values, fmt="%.1f", scale=1.0):
    med, lo, hi = stats([x * scale for x in values])
    return (fmt + " [" + fmt + "–" + fmt + "]") % (med, lo, hi)


def print_table(heads, rows, left=()):
    w = [max(len(str(r[i])) for r in [heads] + rows)
         for i in range(len(heads))]

    def line(r):
        return "| " + " | ".join(
            str(c).ljust(w[i]) if i in left else str(c).rjust(w[i])
            for i, c in enumerate(r)) + " |"
    print(line(heads))
    print("|" + "|".join((":" if i in left else "-") + "-" * w[i] +
                         ("-" if i in left else ":")
                         for i in range(len(heads))) + "|")
    for r in rows:
        print(line(r))


# --- processes ---------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


class Server:
    """testsrv, plainly or under `tcpcp run`."""

    def __init__(self, b, port, tmp, name, shim=True, restore=None,
                 cpu=None):
        self.name = name
        self.image = os.path.join(tmp, name + ".img")
        self.log = os.path.join(tmp, name + ".log")
        self.out = os.path.join(tmp, name + ".out")
        argv = [b.testsrv, "--mode", "epoll-fd", "--port", str(port)]
        if shim:
            cmd = [b.tool, "run", "--image", self.image, "--log", self.log]
            if restore:
                cmd += ["--restore", restore]
            argv = cmd + ["--"] + argv

        def pre():
            # a benchmark killed outright must not leave servers behind
            _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})
        with open(self.out, "wb") as out:
            self.t_launch = time.monotonic()
            self.p = subprocess.Popen(argv, stdout=out,
                                      stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL,
                                      env=clean_env(), preexec_fn=pre)
        self.pid = self.p.pid

    def output(self):
        with open(self.out, errors="replace") as f:
            return f.read()

    def shim_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_ready(self, timeout=10):
        end = time.monotonic() + timeout
        while "ready " not in self.output():
            if self.p.poll() is not None:
                raise BenchError("%s exited (%s): %s" % (
                    self.name, self.p.returncode, self.output()[-2000:]))
            if time.monotonic() > end:
                raise BenchError("%s not ready in %d s" % (self.name,
                                                           timeout))
            time.sleep(0.005)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(10)


class Inotify:
    """Wakes as soon as a file in a directory is written: the restarted
    server's log line is timed to within a wakeup, not a polling tick."""
    IN_MODIFY, IN_CREATE, IN_NONBLOCK, IN_CLOEXEC = 2, 0x100, 0o4000, \
        0o2000000

    def __init__(self, directory):
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(self.IN_NONBLOCK | self.IN_CLOEXEC)
        if self.fd < 0 or libc.inotify_add_watch(
                self.fd, directory.encode(),
                self.IN_MODIFY | self.IN_CREATE) < 0:
            raise BenchError("inotify: %s" % os.strerror(ctypes.get_errno()))

    def wait(self, timeout):
        r, _, _ = select.select([self.fd], [], [], max(timeout, 0))
        if r:
            try:
                os.read(self.fd, 65536)
            except BlockingIOError:
                pass
        return time.monotonic()

    def close(self):
        os.close(self.fd)


# --- the kernel's view -------------------------------------------------------

def server_socks(port):
    """(tx, rx) of every established server-side socket on port."""
    out = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fl = line.split()
            if int(fl[1][-4:], 16) != port or fl[3] != "01":
                continue
            tx, rx = fl[4].split(":")
            out.append((int(tx, 16), int(rx, 16)))
    return out


def check_queues(port, n, q, timeout):
    want = (q, q)
    end = time.monotonic() + timeout
    while True:
        s = server_socks(port)
        good = sum(1 for x in s if x == want)
        if len(s) == n and good == n:
            return
        if time.monotonic() > end:
            bad = [x for x in s if x != want][:5]
            raise BenchError("the server's sockets: %d established, %d "
                             "with %d bytes unacknowledged and %d unread "
                             "(expected %d); e.g. (tx, rx) %s"
                             % (len(s), good, q, q, n, bad))
        time.sleep(0.02)


# --- the clients -------------------------------------------------------------

# Drops every segment that carries data, lets pure ACKs (and SYN, FIN)
# through: the server's answers stay unacknowledged in its send queue,
# while what the client sends is acknowledged.  Over the TCP header:
# A = len - 4 * doff.
_DROP_DATA = [
    (0x30, 0, 0, 12),          # ldb [12]
    (0x74, 0, 0, 2),           # rsh #2
    (0x54, 0, 0, 0x3c),        # and #0x3c      A = 4 * doff
    (0x07, 0, 0, 0),           # tax
    (0x80, 0, 0, 0),           # ld len
    (0x1c, 0, 0, 0),           # sub x
    (0x15, 0, 1, 0),           # jeq #0 ? keep : drop
    (0x06, 0, 0, 0xffffffff),  # keep
    (0x06, 0, 0, 0),           # drop
]
_prog = ctypes.create_string_buffer(
    b"".join(struct.pack("HBBI", *i) for i in _DROP_DATA))
_FPROG = struct.pack("HxxxxxxQ", len(_DROP_DATA), ctypes.addressof(_prog))


def answer_bytes(seq, payload, resp):
    return (b"%d %08x %d\n" % (seq, zlib.crc32(payload), resp) +
            PATTERN[seq % 62 * 31 % 62:][:resp] + b"\n")


def request(seq, payload, resp):
    return b"%d %d %d " % (seq, len(payload), resp) + payload + b"\n"


def sized(total, make):
    """The k for which len(make(k)) == total; make(k) grows with k, by one
    byte a step but where k gains a digit."""
    for k in range(max(0, total - len(make(0)) - 8), total + 1):
        if len(make(k)) == total:
            return k
    raise BenchError("no message of exactly %d bytes: try another --queued"
                     % total)


class Client:
    """One connection of the freeze table.  Queued state (q > 0): request
    A = seq 2, whose q-byte answer the server sent and the client dropped;
    P = seq 3, a q-byte partial line (its newline not yet sent)."""
    __slots__ = ("s", "i", "buf", "want")

    def __init__(self, i):
        self.i = i
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.buf = b""
        self.want = b""

    def payload(self, n):
        return PATTERN[self.i % 62:][:n]


def exchange(clients, msgs, timeout):
    """Sends msgs[i] on clients[i] (one by one), then reads until each has
    received exactly its client.want.  A reset, an EOF, a wrong byte or a
    timeout fails."""
    for c, m in zip(clients, msgs):
        c.s.sendall(m)
    left = {c.s.fileno(): c for c in clients if c.want}
    for c in clients:
        c.buf = b""
    end = time.monotonic() + timeout
    poller = select.poll()
    for fd in left:
        poller.register(fd, select.POLLIN)
    while left:
        t = end - time.monotonic()
        if t <= 0:
            c = next(iter(left.values()))
            raise BenchError("connection %d: %d of %d answer bytes after "
                             "%.0f s" % (c.i, len(c.buf), len(c.want),
                                         timeout))
        for fd, _ in poller.poll(t * 1000):
            c = left[fd]
            try:
                data = c.s.recv(1 << 20, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError as e:
                raise BenchError("connection %d: %s" % (c.i, e))
            if not data:
                raise BenchError("connection %d: the server closed it"
                                 % c.i)
            c.buf += data
            if c.want[:len(c.buf)] != c.buf[:len(c.want)] or \
                    len(c.buf) > len(c.want):
                raise BenchError("connection %d: answer %r, expected %r"
                                 % (c.i, c.buf[:80], c.want[:80]))
            if len(c.buf) == len(c.want):
                poller.unregister(fd)
                del left[fd]


def open_clients(port, n, q):
    """n connections, each proven served (one request answered), then the
    queued state of q bytes each way."""
    clients = []
    for lo in range(0, n, BATCH):
        batch = [Client(i) for i in range(lo, min(n, lo + BATCH))]
        for c in batch:
            c.s.connect(("127.0.0.1", port))
            c.want = answer_bytes(1, b"", 0)
        exchange(batch, [request(1, b"", 0)] * len(batch), 30)
        if q:
            for c in batch:
                c.s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, _FPROG)
                resp = sized(q, lambda k: answer_bytes(2, b"", k))
                plen = sized(q + 1, lambda k: request(3, c.payload(k), 0))
                partial = request(3, c.payload(plen), 0)[:-1]
                c.s.sendall(request(2, b"", resp) + partial)
        clients += batch
    # what the client sent must be acknowledged, and in the server's hands
    for c in clients:
        end = time.monotonic() + 30
        while struct.unpack("i", fcntl.ioctl(
                c.s.fileno(), SIOCOUTQ, b"\0" * 4))[0]:
            if time.monotonic() > end:
                raise BenchError("connection %d: requests never "
                                 "acknowledged" % c.i)
            time.sleep(0.001)
    return clients


def verify_clients(clients, q):
    """Every connection answers: with q, the filter is lifted and P's
    newline sent; the server's answer to P, new data, makes the client
    SACK and the server resend A's answer at once (see bench_peer.h)."""
    for lo in range(0, len(clients), BATCH):
        batch = clients[lo:lo + BATCH]
        msgs = []
        for c in batch:
            if q:
                c.s.setsockopt(socket.SOL_SOCKET, SO_DETACH_FILTER,
                               b"\0" * 4)
                resp = sized(q, lambda k: answer_bytes(2, b"", k))
                plen = sized(q + 1, lambda k: request(3, c.payload(k), 0))
                c.want = (answer_bytes(2, b"", resp) +
                          answer_bytes(3, c.payload(plen), 0))
                msgs.append(b"\n")
            else:
                c.want = answer_bytes(2, c.payload(100), 100)
                msgs.append(request(2, c.payload(100), 100))
        exchange(batch, msgs, 60)


def close_clients(clients):
    for c in clients:
        c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                       struct.pack("ii", 1, 0))
        c.s.close()


# --- the freeze table --------------------------------------------------------

def read_kv(path):
    kv = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                kv[k] = v
    return kv


def restart_wait(srv, ino, n, timeout):
    """Waits for the restarted server's hand-back line; returns (restore
    us, hand-back us after start, wall seconds from launch)."""
    end = srv.t_launch + timeout
    while True:
        t = time.monotonic()
        text = srv.shim_log()
        if "every restored connection is back" in text:
            break
        if srv.p.poll() is not None:
            raise BenchError("the restarted server exited (%s); its log:\n%s"
                             "\n%s" % (srv.p.returncode, text[-3000:],
                                       srv.output()[-2000:]))
        if t > end:
            raise BenchError("no hand-back within %d s; the shim's log:\n%s"
                             % (timeout, text[-3000:]))
        ino.wait(min(0.2, end - t))
    restore_us = back_us = None
    for line in text.splitlines():
        if " connections restored in " in line:
            w = line.split()
            ok, of = int(w[-11]), int(w[-9])
            if ok != n or of != n:
                raise BenchError("restore: %s" % line)
            restore_us = int(w[-5])
        if "every restored connection is back" in line:
            back_us = int(line.split()[-4])
        if "failed" in line or "not restoring" in line:
            raise BenchError("the shim: %s" % line)
    if restore_us is None or back_us is None:
        raise BenchError("unexpected shim log:\n%s" % text)
    return restore_us, back_us, t - srv.t_launch


def attach(cmd, pid):
    """--profile's command, attached to pid; returns once it is tracing
    (strace and perf say nothing when they are: a pause instead)."""
    p = subprocess.Popen(cmd.replace("{pid}", str(pid)), shell=True,
                         stdin=subprocess.DEVNULL)
    time.sleep(1.0)
    if p.poll() is not None:
        raise BenchError("--profile %s: exited %s" % (cmd, p.returncode))
    return p


backend_used = None


def freeze_row(b, n, q, runs, port, profile=None):
    global backend_used
    tmp = tempfile.mkdtemp(prefix="tcpcp-bench-shim-")
    ino = Inotify(tmp)
    srv = Server(b, port, tmp, "g0")
    clients = []
    row = {"freeze": [], "bytes": [], "exit": [], "restore": [], "back": [],
           "wall": [], "gap": []}
    try:
        srv.wait_ready()
        t = time.monotonic()
        clients = open_clients(port, n, q)
        check_queues(port, n, q, 30)
        log("%d connections open, %d B queued each way, in %.1f s"
            % (n, q, time.monotonic() - t))
        for gen in range(1, runs + 1):
            prof = attach(profile, srv.pid) if profile and gen == 1 else None
            t0 = time.monotonic()
            r = subprocess.run([b.tool, "checkpoint", str(srv.pid),
                                "--timeout", "120"], capture_output=True,
                               text=True, timeout=180)
            t_tool = time.monotonic() - t0
            if r.returncode:
                raise BenchError("tcpcp checkpoint: %s%s\nshim log:\n%s" % (
                    r.stdout, r.stderr, srv.shim_log()[-3000:]))
            kv = read_kv(srv.image + ".done")
            if kv.get("outcome") != "ok" or kv.get("connections") != \
                    str(n) or kv.get("failed", "0") != "0":
                raise BenchError("IMAGE.done: %s" % kv)
            if backend_used is None:
                r = subprocess.run([b.tool, "show", srv.image, "--json"],
                                   capture_output=True, text=True,
                                   timeout=60)
                backend_used = json.loads(r.stdout).get("backend", "?")
            row["freeze"].append(int(kv["freeze_us"]))
            row["bytes"].append(int(kv["bytes"]))
            rc = srv.p.wait(30)
            t_exit = time.monotonic() - t0 - t_tool
            row["exit"].append(t_exit)
            if prof:
                prof.wait(60)  # it ends with the traced process
            if rc or "testsrv:" in srv.output():
                raise BenchError("the server exited %d after the "
                                 "checkpoint: %s" % (rc, srv.output()))
            old = srv
            srv = Server(b, port, tmp, "g%d" % gen, restore=old.image)
            restore_us, back_us, wall = restart_wait(srv, ino, n, 120)
            row["restore"].append(restore_us)
            row["back"].append(back_us)
            row["wall"].append(wall)
            row["gap"].append(srv.t_launch + wall - t0)
            log("%d conns run %d: freeze %d us, %d B, tcpcp checkpoint "
                "%.1f ms, old process gone %.1f ms later, restore %d us, "
                "hand-back %d us, launch -> back %.1f ms"
                % (n, gen, row["freeze"][-1], row["bytes"][-1], t_tool * 1e3,
                   t_exit * 1e3, restore_us, back_us, wall * 1e3))
            check_queues(port, n, q, 30)
            # A restarted server loads the BPF iterator once every
            # connection is back (some 70 ms); a checkpoint sent while it
            # does would wait for it.  Servers are not checkpointed that
            # soon after a restart; this loop would be, every time.
            time.sleep(SETTLE_S)
            for suffix in ("", ".done"):
                try:
                    os.unlink(old.image + suffix)
                except FileNotFoundError:
                    pass
        verify_clients(clients, q)
        if "testsrv:" in srv.output():
            raise BenchError("the server complained: %s" % srv.output())
        log("%d connections: every one answered after %d restarts"
            % (n, runs))
    finally:
        close_clients(clients)
        srv.kill()
        ino.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return row


def freeze_table(b, conns, runs, queued, profile=None):
    rows = []
    # The namespace's first checkpoint makes the hold's nftables table (an
    # nft child): a cost no later checkpoint pays, kept out of the figures.
    freeze_row(b, 1, 0, 1, 7099)
    for k, (n, q) in enumerate((n, q) for n in conns for q in queued):
        t = time.monotonic()
        row = freeze_row(b, n, q, runs, 7100 + k, profile)
        note("freeze: %d connections, %d B queued: %d runs in %.1f s"
             % (n, q, runs, time.monotonic() - t))
        rows.append([
            "%d" % n, "%d B" % q,
            cell(row["freeze"], "%.2f", 1e-3),
            cell(row["freeze"], "%.1f", 1.0 / n),
            "%.0f" % stats([x / n for x in row["bytes"]])[0],
            cell(row["exit"], "%.1f", 1e3),
            cell(row["restore"], "%.2f", 1e-3),
            cell(row["back"], "%.2f", 1e-3),
            cell(row["wall"], "%.2f", 1e3),
            cell(row["gap"], "%.1f", 1e3),
            "%d" % runs,
        ])
    print("Freeze and restore through the shim (testsrv --mode epoll-fd "
          "under tcpcp run; the same connections every run):\n")
    print_table(["connections", "queued each way", "freeze ms",
                 "freeze µs/conn", "image B/conn", "exit ms", "restore ms",
                 "hand-back ms", "launch → back ms", "outage ms", "runs"],
                rows)
    print("""
freeze: SIGUSR2 to the image durable, IMAGE.done's freeze_us (park, drain,
  stop, get_si, image written and fsync'ed).
exit: from `tcpcp checkpoint` returning to the old server's exit (IMAGE.done
  written, every socket closed); the restart waits for it.  Each restarted
  server is left %.2f s to settle before the next checkpoint.
restore: the restarted shim's "bind ...: N of N connections restored in X us"
  (set_si + start of every connection, in the program's bind()).
hand-back: its "every restored connection is back with the program, X us
  after start": from the shim's constructor to the program's last accept()
  of a restored connection (restore included).
launch → back: from spawning `tcpcp run --restore` to that line in the log
  (process start included).
outage: from spawning `tcpcp checkpoint` to that line; the tool polls for
  IMAGE.done every 10 ms.
Median [min–max] over the runs.""" % SETTLE_S)


# --- the overhead table ------------------------------------------------------

def cpu_ns(pid):
    """CPU time of every thread of pid so far (schedstat: nanoseconds)."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass
    return total


def load(b, srv, port, mode, seconds, cpu):
    """One bench_load run: (its rate, the server's CPU µs per op)."""
    def pre():
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
    c0 = cpu_ns(srv.pid)
    r = subprocess.run([b.load, "--port", str(port), "--mode", mode,
                        "--seconds", str(seconds)], capture_output=True,
                       text=True, timeout=seconds + 60, preexec_fn=pre)
    c1 = cpu_ns(srv.pid)
    if r.returncode:
        raise BenchError("bench_load --mode %s on port %d: %s"
                         % (mode, port, r.stderr.strip()))
    w = r.stdout.split()
    ops, nbytes, secs = int(w[3]), int(w[5]), float(w[7])
    if mode == "accept":
        return ops / secs, (c1 - c0) / 1e3 / ops
    return nbytes / secs / 1e6, (c1 - c0) / 1e3 / (nbytes / 1e6)


def overhead_table(b, runs, seconds):
    tmp = tempfile.mkdtemp(prefix="tcpcp-bench-load-")
    cpus = sorted(os.sched_getaffinity(0))
    scpu, lcpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    plain = Server(b, 7200, tmp, "plain", shim=False, cpu=scpu)
    shim = Server(b, 7201, tmp, "shim", cpu=scpu)
    res = {(m, k): [] for m in ("accept", "data", "accept-cpu", "data-cpu")
           for k in ("plain", "shim")}
    srvs = {"plain": plain, "shim": shim}
    try:
        plain.wait_ready()
        shim.wait_ready()
        for kind, port in (("plain", 7200), ("shim", 7201)):
            for m in ("accept", "data"):
                load(b, srvs[kind], port, m, 0.2, lcpu)  # warm-up
        for r in range(runs):
            order = [("plain", 7200), ("shim", 7201)]
            if r % 2:
                order.reverse()
            for m in ("accept", "data"):
                for kind, port in order:
                    rate, cpu = load(b, srvs[kind], port, m, seconds, lcpu)
                    res[(m, kind)].append(rate)
                    res[(m + "-cpu", kind)].append(cpu)
            log("overhead run %d: %s" % (r + 1, {
                "%s/%s" % k: round(v[-1], 1) for k, v in res.items()}))
        for srv in (plain, shim):
            if srv.p.poll() is not None:
                raise BenchError("%s server died: %s" % (srv.name,
                                                         srv.output()))
        if "tcpcp[" in shim.output() or shim.shim_log().strip():
            log("shim log: %s" % shim.shim_log())
    finally:
        plain.kill()
        shim.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    rows = []
    for m, what, fmt in (
            ("accept", "accept-heavy: connections/s", "%.0f"),
            ("accept-cpu", "accept-heavy: server CPU µs/connection",
             "%.1f"),
            ("data", "data-heavy: MB/s of answers", "%.0f"),
            ("data-cpu", "data-heavy: server CPU µs/MB", "%.1f")):
        p, s = res[(m, "plain")], res[(m, "shim")]
        ratios = [y / x for x, y in zip(p, s)]
        rows.append([what, cell(p, fmt), cell(s, fmt),
                     "%.3f" % (stats(s)[0] / stats(p)[0]),
                     cell(ratios, "%.3f"), "%d" % runs])
    print("Shim overhead (testsrv --mode epoll-fd, plainly and under tcpcp "
          "run, in one run, interleaved; server on CPU %s, load on CPU %s; "
          "%.1f s per run):\n" % (scpu, lcpu, seconds))
    print_table(["load", "plain", "shim", "shim / plain",
                 "shim / plain run by run", "runs"], rows, left=(0,))
    print("\naccept-heavy: 16 connections in flight, each connect, one "
          "request with a 32-byte answer, close.  data-heavy: one "
          "connection, 4 requests in flight, 64 KiB answers.  Every answer "
          "checked byte by byte.  Server CPU: every thread's run time "
          "(/proc/PID/task/*/schedstat) over the run, per connection or MB "
          "(throughput suffers from anything else the host runs; CPU per "
          "operation much less).  Median [min–max]; shim / plain: of the "
          "medians, and run by run (each run loads both servers, one right "
          "after the other).")


# --- main --------------------------------------------------------------------

def main():
    global verbose
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="1 and 100 connections, 3 runs, short loads")
    ap.add_argument("--freeze", action="store_true",
                    help="only the freeze/restore table")
    ap.add_argument("--overhead", action="store_true",
                    help="only the overhead table")
    ap.add_argument("--conns", default=None,
                    help="connection counts (default 1,1000,10000)")
    ap.add_argument("--runs", type=int, default=None,
                    help="runs per figure (default 7)")
    ap.add_argument("--queued", default="1024",
                    help="bytes queued each way per connection, one row "
                    "each (default 1024)")
    ap.add_argument("--seconds", type=float, default=None,
                    help="seconds per overhead run (default 1)")
    ap.add_argument("--build", default=os.environ.get("BUILD") or
                    os.path.join(HERE, "..", "build"))
    ap.add_argument("--profile", metavar="CMD",
                    help="a command attached to the server during each "
                    "row's first checkpoint, {pid} its pid (e.g. \"strace "
                    "-c -f -o /tmp/s -p {pid}\"); that run's figures are "
                    "then not representative")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    verbose = a.verbose
    both = not a.freeze and not a.overhead
    conns = [int(x) for x in (a.conns or
                              ("1,100" if a.quick else "1,1000,10000"))
             .split(",")]
    runs = a.runs or (3 if a.quick else 7)
    seconds = a.seconds or (0.2 if a.quick else 1.0)
    queued = [int(x) for x in a.queued.split(",")]
    if runs < 1 or min(conns) < 1 or \
            not all(0 <= q <= 60000 for q in queued):
        ap.error("bad --runs, --queued or --conns")

    a.build = os.path.abspath(a.build)

    class B:
        tool = os.path.join(a.build, "tools", "tcpcp")
        testsrv = os.path.join(a.build, "tests", "e2e", "testsrv")
        load = os.path.join(a.build, "bench", "bench_load")
    for p in (B.tool, B.testsrv, B.load):
        if not os.access(p, os.X_OK):
            raise BenchError("%s not built" % p)
    hard = enter_netns()
    load0 = loadavg()
    if max(conns) + 200 > hard:
        raise BenchError("RLIMIT_NOFILE's hard limit (%d) is too low for "
                         "%d connections" % (hard, max(conns)))
    if a.freeze or both:
        freeze_table(B, conns, runs, queued, a.profile)
    if both:
        print()
    if a.overhead or both:
        overhead_table(B, runs, seconds)
    hold = os.environ.get("TCPCP_HOLD_SECONDS") or "120"
    print("\nKernel %s, %d CPUs, backend %s, the hold %s "
          "(TCPCP_HOLD_SECONDS=%s), images in %s (%s); load average %s at "
          "the start, %s at the end.\nReproduce: bench/run --shim%s"
          % (platform.release(), os.cpu_count(),
             backend_used or os.environ.get("TCPCP_BACKEND") or "auto",
             "off" if hold == "0" else "on", hold, tempfile.gettempdir(),
             fs_type(tempfile.gettempdir()), load0, loadavg(),
             reproduce_args()))


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        note(str(e))
        sys.exit(1)
