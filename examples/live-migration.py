#!/usr/bin/env python3
"""The live migration demo (./demo): a redis client keeps its TCP
connection while redis-server is checkpointed on one host and started
again on another, which has taken over the service address.

Hosts are network namespaces on a bridge (tests/migrate/topology.sh);
redis-server is Debian's, unmodified, started with `tcpcp run`; the client
is a few lines of RESP below, so that nothing could reconnect behind our
back.  Nothing touches the machine's own network.

  examples/live-migration.py [--build DIR]
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "migrate"))
import hosts  # noqa: E402

PREFIX = "tcpcp-demo"
PORT = 6379
STEPS = 6


def step(n, text):
    print("[%d/%d] %s" % (n, STEPS, text), flush=True)


def fail(text):
    print("demo: FAILED: %s" % text, flush=True)
    sys.exit(1)


class Redis:
    """One RESP connection: ECHO every 10 ms, each answer checked, the
    longest silence recorded.  It never reconnects: any error ends it."""

    def __init__(self, addr):
        self.sock = socket.create_connection(addr, timeout=10)
        self.local = self.sock.getsockname()
        self.buf = b""
        self.sent = self.answered = 0
        self.stall = 0.0
        self.error = None
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def _reply(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            self.buf += data
        head, rest = self.buf.split(b"\r\n", 1)
        if head[:1] != b"$":
            raise ConnectionError("unexpected reply %r" % head[:80])
        n = int(head[1:])
        while len(rest) < n + 2:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            rest += data
        self.buf = rest[n + 2:]
        return rest[:n]

    def command(self, *words):
        msg = b"*%d\r\n" % len(words) + b"".join(
            b"$%d\r\n%s\r\n" % (len(w), w) for w in words)
        with self.lock:
            self.sock.sendall(msg)
            return self._reply()

    def server_pid(self):
        for line in self.command(b"INFO", b"server").split(b"\r\n"):
            if line.startswith(b"process_id:"):
                return int(line.split(b":")[1])
        return None

    def run(self):
        last = time.monotonic()
        try:
            while not self.stop.is_set():
                word = b"request-%d" % self.sent
                self.sent += 1
                if self.command(b"ECHO", word) != word:
                    raise ConnectionError("wrong answer to %r" % word)
                self.answered += 1
                now = time.monotonic()
                self.stall = max(self.stall, now - last)
                last = now
                time.sleep(0.01)
        except (OSError, ValueError) as e:
            self.error = e


def redis_version():
    out = subprocess.run(["redis-server", "--version"], capture_output=True,
                         text=True).stdout
    for w in out.split():
        if w.startswith("v="):
            return w[2:]
    return "?"


def start_redis(tool, host, tmp, gen, restore=None):
    image = os.path.join(tmp, "redis.%d.img" % gen)
    cmd = hosts.on(PREFIX, host) + [
        tool, "run", "--image", image, "--log",
        os.path.join(tmp, "shim-%s.log" % host)]
    if restore:
        cmd += ["--restore", restore]
    cmd += ["--", "redis-server", "--bind", hosts.SVC[4], "--port",
            str(PORT), "--protected-mode", "no", "--save", "",
            "--appendonly", "no", "--dir", tmp,
            "--daemonize", "no", "--logfile", os.path.join(tmp, "redis.log")]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    return p, image


def wait_listening(host, deadline=10):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        r = subprocess.run(hosts.on(PREFIX, host) + ["ss", "-Htln",
                           "sport = :%d" % PORT], capture_output=True,
                           text=True)
        if r.stdout.strip():
            return
        time.sleep(0.05)
    fail("redis-server did not start listening on host %s" % host)


def checkpoint(tool, pid, image):
    r = subprocess.run([tool, "checkpoint", str(pid), "--image", image],
                       capture_output=True, text=True, timeout=40)
    if r.returncode:
        fail("tcpcp checkpoint: %s" % (r.stderr.strip() or r.stdout))
    return r.stdout.strip()


def client_side(args, tmp):
    """Runs on the client host: the whole demo from its point of view."""
    tool = os.path.join(args.build, "tools", "tcpcp")
    addr = (hosts.SVC[4], PORT)
    step(1, "hosts: client 10.77.0.1, host-a 10.77.0.2, host-b 10.77.0.3 "
         "(network namespaces on a bridge); redis's address %s is on "
         "host-a" % hosts.SVC[4])
    pa, image = start_redis(tool, "a", tmp, 1)
    wait_listening("a")
    step(2, "redis-server %s started on host-a under `tcpcp run` (pid %d)"
         % (redis_version(), pa.pid))
    c = Redis(addr)
    pid_a = c.server_pid()
    t = threading.Thread(target=c.run, daemon=True)
    t.start()
    time.sleep(1)
    before = c.answered
    step(3, "client %s:%d connected to %s:%d, ECHO every 10 ms: %d "
         "answered by redis pid %s" % (c.local[0], c.local[1], addr[0],
                                       addr[1], before, pid_a))
    said = checkpoint(tool, pa.pid, image)
    t0 = time.monotonic()
    if pa.wait(10) != 0:
        fail("redis on host-a exited with status %d" % pa.returncode)
    step(4, "tcpcp %s" % said)
    moved = os.path.join(tmp, "host-b")
    os.makedirs(moved, mode=0o700)
    copy = shutil.copy2(image, moved)
    # the client's retransmissions must meet a hold on host-b, not a RST
    subprocess.run(hosts.on(PREFIX, "b") + [tool, "hold", copy], check=True,
                   stdout=subprocess.DEVNULL, timeout=20)
    hosts.topology("move", PREFIX, "b")
    pb, _ = start_redis(tool, "b", tmp, 2, restore=copy)
    wait_listening("b")
    step(5, "image copied to host-b and its client held there (tcpcp "
         "hold); address %s moved to host-b (gratuitous ARP sent); "
         "redis-server started on host-b from the image (pid %d), %.2f s "
         "after the checkpoint" % (hosts.SVC[4], pb.pid,
                                  time.monotonic() - t0))
    time.sleep(2)
    c.stop.set()
    t.join(10)
    if c.error:
        fail("the client's connection broke: %s" % c.error)
    pid_b = c.server_pid()
    now_local = c.sock.getsockname()
    if now_local != c.local:
        fail("the client is on another connection: %s" % (now_local,))
    step(6, "client still %s:%d -> %s:%d, the same TCP connection: %d more "
         "answered, now by redis pid %s on host-b" % (
             now_local[0], now_local[1], addr[0], addr[1],
             c.answered - before, pid_b))
    pb.terminate()
    pb.wait(10)
    print()
    print("what moved:    redis-server with its client's live TCP "
          "connection, from host-a to host-b")
    print("client stall:  %.2f s (longest wait for one answer)" % c.stall)
    print("lost:          0 of %d requests, 0 resets, 0 reconnects"
          % c.sent)
    print("live-migration: OK", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--client-side", metavar="TMP")
    args = ap.parse_args()
    if args.client_side:
        client_side(args, args.client_side)
        return
    if os.geteuid() != 0:
        sys.exit("demo: run as root (network namespaces, TCP_REPAIR)")
    for prog in ("redis-server", "ip", "ss"):
        if not shutil.which(prog):
            sys.exit("demo: %s not found (./demo installs it)" % prog)
    print("tcpcp2 live migration: a redis client keeps its TCP connection "
          "while redis moves to another host\n", flush=True)
    tmp = tempfile.mkdtemp(prefix="tcpcp-demo-")
    rc = 1
    try:
        hosts.topology("up", PREFIX)
        rc = subprocess.run(hosts.on(PREFIX, "client") + [
            sys.executable, os.path.abspath(__file__), "--build",
            args.build, "--client-side", tmp], timeout=120).returncode
    finally:
        # a redis left by a failed run dies with its hosts' namespaces
        # only once nothing holds them: end it first
        if shutil.which("pkill"):
            subprocess.run(["pkill", "-f", "redis-server %s:%d"
                            % (hosts.SVC[4], PORT)],
                           stderr=subprocess.DEVNULL)
        hosts.topology("down", PREFIX)
        if rc == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("demo: logs kept in %s" % tmp)
    sys.exit(rc)


if __name__ == "__main__":
    main()
