"""What the soak and fault tests share: the traffic thread that keeps
every client busy and measures stalls, the hold as nftables lists it, the
hosts (tests/migrate) and their cleanup.

Built on the end-to-end harness (tests/e2e: namespaces, servers under
the shim, reset counters, verifying clients) and on tests/migrate's
hosts.  Debian's python3 standard library only."""

import collections
import json
import os
import random
import select
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
sys.path.insert(0, os.path.join(HERE, "..", "migrate"))

import e2e  # noqa: E402
from e2e import Failure  # noqa: E402

PORT = 7000

# testsrv in every way it waits for its sockets; a soak rotates through
# them, one per generation: the image does not care which loop restores it.
MODES = [
    ["--mode", "epoll-fd"],
    ["--mode", "poll"],
    ["--mode", "epoll-ptr", "--et"],
    ["--mode", "select"],
    ["--mode", "accept"],
    ["--mode", "epoll-fd", "--oneshot"],
    ["--mode", "ppoll"],
    ["--mode", "epoll-ptr", "--wait", "epoll_pwait2"],
]


def mode_name(args):
    return " ".join(a.lstrip("-") for a in args[1:])


# --- traffic -----------------------------------------------------------------

class Traffic(threading.Thread):
    """Drives the clients from a thread of its own while the main thread
    checkpoints and restarts the server:

      streams   always have requests in flight (random payloads up, random
                answers down, rate-limited so that the machine's two cores
                are not all Python), and the time of each verified answer
                is recorded: the longest silence in a window is the stall;
      pipeline  sends a burst of requests when asked (burst());
      idle      sends one request when asked (ping()), and nothing else.

    Every answer is checked byte for byte by the clients (tests/e2e); the
    first wrong byte, EOF or socket error stops the thread, and the main
    thread raises it at its next check()."""

    def __init__(self, streams, pipeline=None, idle=None, in_flight=6,
                 resp_max=16384, rate=8e6, seed=1):
        super().__init__(daemon=True)
        self.streams = list(streams)
        self.pipeline = pipeline
        self.idle = idle
        self.clients = self.streams + [c for c in (pipeline, idle) if c]
        self.in_flight = in_flight
        self.resp_max = resp_max
        self.rate = rate  # answer bytes per second, per stream
        self.rng = random.Random(seed)
        self.todo = collections.deque()
        self.error = None
        self.trace = ""
        self._halt = threading.Event()
        self._draining = False
        self._lock = threading.Lock()
        now = time.monotonic()
        self._next = {c.name: now for c in self.streams}
        self._last = {c.name: now for c in self.streams}
        self._gap = {c.name: 0.0 for c in self.streams}

    # -- called from the main thread --

    def burst(self, n):
        self.todo.append(lambda: self._burst(n))

    def ping(self):
        self.todo.append(self._ping)

    def mark(self):
        """Starts a new stall window."""
        with self._lock:
            for k in self._gap:
                self._gap[k] = 0.0

    def stall(self):
        """The longest silence of any stream since mark(), the silence
        still going on included."""
        now = time.monotonic()
        with self._lock:
            return max([max(self._gap[k], now - self._last[k])
                        for k in self._gap] or [0.0])

    def answered(self):
        return {c.name: c.answered for c in self.clients}

    def check(self):
        if self.error is not None:
            raise Failure("%s\n(traffic thread: %s)"
                          % (self.error, self.trace.strip().splitlines()[-1]))

    def wait(self, pred, timeout, what):
        end = time.monotonic() + timeout
        while True:
            self.check()
            if pred():
                return
            if time.monotonic() > end:
                raise Failure("%s: not done after %.1f s:\n  %s" % (
                    what, timeout,
                    "\n  ".join(c.describe() for c in self.clients)))
            time.sleep(0.005)

    def progressed(self, since, n=2):
        """True once every stream answered n more requests than in since
        and the pipeline and the idle client owe nothing."""
        return all(c.answered >= since[c.name] + n for c in self.streams) \
            and all(not c.expected and not c.out
                    for c in (self.pipeline, self.idle) if c)

    def drain(self, timeout):
        """No new requests; returns once every answer has come."""
        self._draining = True
        self.wait(lambda: not any(c.expected or c.out for c in self.clients),
                  timeout, "the last answers")

    def finish(self):
        self._halt.set()
        self.join(10)
        self.check()

    # -- the thread --

    def _burst(self, n):
        c = self.pipeline
        for _ in range(n):
            c.request(resp_len=self.rng.randint(0, 4096),
                      payload_len=self.rng.randint(0, 512))

    def _ping(self):
        self.idle.request(resp_len=self.rng.randint(0, 2048))

    def _top_up(self, now):
        for c in self.streams:
            while (not self._draining and len(c.expected) < self.in_flight
                   and len(c.out) < 32768 and self._next[c.name] <= now):
                r = self.rng.randint(0, self.resp_max)
                c.request(resp_len=r)
                # no burst after a stall: the budget does not pile up
                self._next[c.name] = max(self._next[c.name], now - 0.05) + \
                    r / self.rate

    def _round(self):
        while self.todo:
            self.todo.popleft()()
        now = time.monotonic()
        self._top_up(now)
        r, w, _ = select.select(self.clients,
                                [c for c in self.clients if c.out], [], 0.01)
        for c in w:
            c.send_some()
        for c in r:
            before = c.answered
            c.recv_some()
            if c.name in self._gap and c.answered > before:
                now = time.monotonic()
                with self._lock:
                    self._gap[c.name] = max(self._gap[c.name],
                                            now - self._last[c.name])
                    self._last[c.name] = now

    def run(self):
        try:
            while not self._halt.is_set():
                self._round()
        except BaseException as e:  # raised again by check()
            self.trace = traceback.format_exc()
            self.error = e


def percentile(values, p):
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def fmt_s(seconds):
    return "%.0f ms" % (1000 * seconds) if seconds < 1 else \
        "%.1f s" % seconds


# --- the hold ----------------------------------------------------------------

def hold_elements(wrap=()):
    """The elements of tcpcp's hold sets (nft list table inet tcpcp2),
    in this namespace or under wrap (ip netns exec HOST); [] when there
    is no table."""
    out = []
    for name in ("hold4", "hold6"):
        r = subprocess.run(list(wrap) + ["nft", "-j", "list", "set", "inet",
                                         "tcpcp2", name],
                           capture_output=True, text=True, timeout=20)
        if r.returncode != 0:
            if "No such file" in r.stderr or "does not exist" in r.stderr:
                continue
            raise Failure("nft list set inet tcpcp2 %s: %s"
                          % (name, r.stderr.strip()))
        for item in json.loads(r.stdout).get("nftables", []):
            for e in item.get("set", {}).get("elem", []):
                out.append(json.dumps(e, sort_keys=True))
    return out


# --- hosts -------------------------------------------------------------------

def sweep_stale_hosts(stem):
    """Hosts left by an earlier run of ours that was killed outright
    (PREFIX = stem-PID-..., PID no longer running)."""
    try:
        names = os.listdir("/run/netns")
    except OSError:
        return
    for n in names:
        if not n.startswith(stem + "-"):
            continue
        pid = n[len(stem) + 1:].split("-")[0]
        if pid.isdigit() and not os.path.exists("/proc/" + pid):
            subprocess.run(["ip", "netns", "del", n], capture_output=True,
                           timeout=20)


def need_root_and(*programs):
    if os.geteuid() != 0:
        raise e2e.Skip("needs root (network namespaces, TCP_REPAIR)")
    for p in programs:
        if not any(os.access(os.path.join(d, p), os.X_OK)
                   for d in os.environ.get("PATH", "").split(":")):
            raise e2e.Skip("%s not found" % p)


def server_errors(srv):
    """What testsrv printed (it prints only when something is wrong)."""
    bad = [line for line in srv.proc.stderr().splitlines()
           if line.startswith("testsrv")]
    if bad:
        raise Failure("%s gen %d printed:\n  %s"
                      % (srv.name, srv.gen, "\n  ".join(bad)))


def restored_count(srv):
    """(restored, claimed) from the shim's 'bind ...: N of M connections
    restored' lines."""
    ok = total = 0
    for line in srv.shim_log().splitlines():
        w = line.split()
        if "restored" in w and "of" in w:
            i = w.index("of")
            try:
                ok += int(w[i - 1])
                total += int(w[i + 1])
            except (ValueError, IndexError):
                pass
    return ok, total


def forget(t, srv):
    """An old generation's files and records: a long soak would otherwise
    keep a thousand images and print a thousand logs on failure."""
    for p in (srv.image, srv.image + ".done", srv.shimlog,
              srv.proc.out_path, srv.proc.err_path):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
    if srv in t.servers:
        t.servers.remove(srv)
    if srv.proc in t.procs:
        t.procs.remove(srv.proc)
