#!/usr/bin/env python3
"""tcpcp2 migration between hosts: a server under the shim on host a,
clients on the client host streaming checksummed requests and answers
both ways; `tcpcp checkpoint`; the service address moves to host b; the
same server starts there from the image (a file, copied across); the
streams carry on.  Verified: every byte exactly once both ways, no reset
anywhere (client socket errors, and a capture on every port of the
switch), the same connections (no reconnect); printed: the stall each
client saw.

  migrate.py [--family 4|6] [--moves N]

Hosts are network namespaces (topology.sh); nothing touches the host's
own network."""

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import hosts  # noqa: E402
import e2e  # noqa: E402
from e2e import Failure, RstCounter, ShimServer, Test, log  # noqa: E402
from clients import ProtoClient, run_clients  # noqa: E402

PORT = 7000
CLIENTS = 3
IN_FLIGHT = 4  # requests each streaming client keeps outstanding


class Streamer(threading.Thread):
    """Keeps every client busy: requests with random payloads up, answers
    of random size down, a few always in flight; records when each answer
    arrived, to measure the longest silence (the stall)."""

    def __init__(self, clients):
        super().__init__(daemon=True)
        self.clients = clients
        self.stop = threading.Event()
        self.error = None
        self.last = {c.name: time.monotonic() for c in clients}
        self.stall = {c.name: 0.0 for c in clients}

    def round(self):
        import select
        for c in self.clients:
            while len(c.expected) < IN_FLIGHT:
                c.request()
        r, w, _ = select.select(self.clients,
                                [c for c in self.clients if c.out], [], 0.05)
        for c in w:
            c.send_some()
        now = time.monotonic()
        for c in r:
            before = c.answered
            c.recv_some()
            if c.answered > before:
                self.stall[c.name] = max(self.stall[c.name],
                                         now - self.last[c.name])
                self.last[c.name] = now

    def run(self):
        try:
            while not self.stop.is_set():
                self.round()
        except Exception as e:  # reported by the main thread
            self.error = e

    def finish(self):
        self.stop.set()
        self.join(10)
        if self.error:
            raise self.error


def rst_on_switch(prefix):
    """A reset counter on every port of the switch."""
    with hosts.netns(prefix, "switch"):
        return RstCounter(ifname="")


def start(t, prefix, host, gen, restore=None):
    argv = [e2e.TESTSRV, "--mode", "epoll-fd", "--bind",
            hosts.SVC[t.family], "--port", str(PORT)]
    srv = ShimServer(t, "testsrv-%s" % host, argv, gen=gen, restore=restore,
                     wrap=hosts.on(prefix, host))
    srv.proc.wait_line("ready", 15)
    return srv


def move(t, prefix, srv, to, gen, n_conns):
    """Checkpoint where it runs, hold its peers on `to`, move the address
    there, restart there."""
    t0 = time.monotonic()
    image = srv.checkpoint(n_conns)
    t1 = time.monotonic()
    moved = os.path.join(t.tmp, "on-" + to)
    os.makedirs(moved, mode=0o700, exist_ok=True)
    path = os.path.join(moved, os.path.basename(image))
    shutil.copy2(image, path)
    # held on the new host before the address gets there: a client's
    # retransmission in between must meet the hold, not a RST
    subprocess.run(hosts.on(prefix, to) + [e2e.TOOL, "hold", path],
                   check=True, timeout=20, stdout=subprocess.DEVNULL)
    hosts.topology("move", prefix, to)
    t2 = time.monotonic()
    new = start(t, prefix, to, gen, restore=path)
    t3 = time.monotonic()
    log("move %d to host %s: checkpoint %.0f ms, hold and address %.0f "
        "ms, restart %.0f ms" % (gen - 1, to, 1000 * (t1 - t0),
                             1000 * (t2 - t1), 1000 * (t3 - t2)))
    return new


def body(t, prefix, moves):
    t.rst = rst_on_switch(prefix)
    t.closers.append(t.rst.close)
    srv = start(t, prefix, "a", 1)
    addr = (hosts.SVC[t.family], PORT)
    clients = [ProtoClient.connect(t, "c%d" % i, addr, 1000 + i)
               for i in range(CLIENTS)]
    ports = [c.lport for c in clients]
    st = Streamer(clients)
    st.start()
    time.sleep(0.5)
    where = "a"
    for i in range(moves):
        where = "b" if where == "a" else "a"
        srv = move(t, prefix, srv, where, i + 2, CLIENTS)
        time.sleep(0.5)
    time.sleep(1.0)
    st.finish()
    run_clients(clients, 20, "the last answers")
    if [c.lport for c in clients] != ports:
        raise Failure("a client's connection changed: %s -> %s"
                      % (ports, [c.lport for c in clients]))
    t.assert_no_resets()
    for c in clients:
        log("client %s: %d bytes up, %d down, %d answers verified, "
            "longest stall %.0f ms" % (c.name, c.sent, c.received,
                                       c.answered, 1000 * st.stall[c.name]))
    print("migrate: IPv%d, %d move(s), %d connections, %d bytes up, %d "
          "down, 0 lost, 0 duplicated, 0 resets, stall max %.0f ms"
          % (t.family, moves, CLIENTS, sum(c.sent for c in clients),
             sum(c.received for c in clients),
             1000 * max(st.stall.values())), flush=True)


def inner(args):
    t = Test("migrate-ipv%d" % args.family, deadline=100)
    t.family = args.family
    sys.exit(t.run(lambda t: body(t, args.prefix, args.moves), exit=False))


def outer(args):
    """Makes the hosts, runs the test on the client host, removes them."""
    if os.geteuid() != 0:
        print("SKIP: needs root (network namespaces, TCP_REPAIR)")
        sys.exit(e2e.SKIP)
    for prog in ("ip", e2e.TESTSRV):
        if not shutil.which(prog):
            print("SKIP: %s not found" % prog)
            sys.exit(e2e.SKIP)
    prefix = "tcpcp-mig%d-%d" % (args.family, os.getpid())
    try:
        hosts.topology("up", prefix)
        cmd = hosts.on(prefix, "client") + [
            sys.executable, os.path.abspath(__file__), "--inner", prefix,
            "--family", str(args.family), "--moves", str(args.moves)]
        rc = subprocess.run(cmd, timeout=150).returncode
    finally:
        hosts.topology("down", prefix)
    sys.exit(rc)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--family", type=int, choices=(4, 6), default=4)
    ap.add_argument("--moves", type=int, default=1)
    ap.add_argument("--inner", metavar="PREFIX", dest="prefix")
    args = ap.parse_args()
    if args.prefix:
        inner(args)
    else:
        outer(args)


if __name__ == "__main__":
    main()
