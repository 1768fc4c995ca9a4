#!/usr/bin/env python3
"""tcpcp2 soak: many checkpoint -> restart cycles of one server, and many
moves of it between hosts, while its clients keep streaming.

  soak.py --cycles N    N consecutive checkpoint -> restart cycles on one
                        host (a network namespace of its own, on lo)
  soak.py --moves N     N host-to-host moves (tests/migrate's hosts:
                        network namespaces on a bridge), alternately to
                        host b and back to a

Four connections, IPv4 and IPv6 on one dual-stack listener: two streams
(requests with random payloads up, answers of random size down, always a
few in flight), one pipelining client (a burst of requests right before
each checkpoint) and one mostly idle client (a request every tenth
cycle).  Each cycle: `tcpcp checkpoint` (TCPCP_ON_CHECKPOINT=exit), the
server exits 0, IMAGE.done says ok with 4 connections, `tcpcp show`
reads the image; the next generation starts from it (in the next of
testsrv's ways of waiting: epoll, poll, select, threads...) and writes
the next image.  Checked every cycle: the shim restored 4 of 4, every
client got every answer byte for byte (nothing lost, nothing doubled),
no TCP reset on the wire (lo, or every port of the switch), the streams
flowed again within the stall limit.  Ends with one summary line:

  soak: 1000 cycles, 4 connections, B bytes up, B down, 0 lost,
  0 duplicated, 0 resets, stall p50 .. p99 .. max ..
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import soaklib  # noqa: E402
from soaklib import MODES, PORT, Traffic, fmt_s, mode_name  # noqa: E402
import e2e  # noqa: E402
import hosts  # noqa: E402 (tests/migrate)
from e2e import Failure, RstCounter, ShimServer, Test, log  # noqa: E402
from clients import ProtoClient  # noqa: E402

STALL_LIMIT = 10.0  # a stream silent this long fails the soak
HOSTS_STEM = "tcpcp-soak"


def start(t, gen, argv_mode, bind, restore=None, wrap=None):
    argv = [e2e.TESTSRV] + argv_mode + ["--bind", bind, "--port", str(PORT)]
    srv = ShimServer(t, "testsrv", argv, gen=gen, restore=restore,
                     wrap=wrap)
    srv.proc.wait_line("ready", 15)
    return srv


def connect(t, addrs, seed):
    """stream4, stream6, pipeline (IPv6), idle (IPv4)."""
    v4, v6 = (addrs[4], PORT), (addrs[6], PORT)
    return [ProtoClient.connect(t, name, a, seed + i) for i, (name, a) in
            enumerate((("stream4", v4), ("stream6", v6),
                       ("pipeline", v6), ("idle", v4)))]


class Soak:
    """The loop both kinds of soak share; a subclass says where the next
    generation runs."""

    what = "cycles"

    def __init__(self, t, args):
        self.t = t
        self.args = args
        self.rng = random.Random(args.seed)
        self.stalls = []
        self.times = []
        self.drops = 0
        self.mode = 0 if args.mode == "rotate" else \
            [mode_name(m) for m in MODES].index(args.mode)

    def modes(self):
        m = MODES[self.mode % len(MODES)]
        if self.args.mode == "rotate":
            self.mode += 1
        return m

    def resets(self):
        self.drops += self.t.rst.drops()  # reading them clears them
        if self.drops:
            raise Failure("the capture dropped %d packets" % self.drops)
        return self.t.rst.count(settle=0)

    def run(self, n):
        t = self.t
        srv = self.first()
        self.clients = connect(t, self.addrs, 1000)
        self.n = len(self.clients)
        traffic = Traffic(self.clients[:2], self.clients[2], self.clients[3],
                          resp_max=self.args.resp_max,
                          rate=self.args.rate * 1e6, seed=self.args.seed)
        self.traffic = traffic
        traffic.start()
        traffic.wait(lambda: traffic.progressed(
            {c.name: 0 for c in self.clients}, 5), 10, "warm-up")
        old = None
        t0 = time.monotonic()
        for i in range(n):
            new = self.cycle(i, srv)
            if old is not None:
                soaklib.forget(t, old)
            old, srv = srv, new
        traffic.drain(30)
        traffic.finish()
        wall = time.monotonic() - t0
        self.finish(srv, n, wall)

    def cycle(self, i, srv):
        traffic = self.traffic
        traffic.mark()
        traffic.burst(self.rng.randint(4, 24))
        if i % 10 == 0:
            traffic.ping()
        # the checkpoint lands anywhere in the streams
        time.sleep(self.rng.uniform(0, 0.03))
        c0 = time.monotonic()
        srv.checkpoint(self.n)
        c1 = time.monotonic()
        new = self.restart(i, srv)
        c2 = time.monotonic()
        since = traffic.answered()
        traffic.wait(lambda: traffic.progressed(since), STALL_LIMIT,
                     "%s %d: the clients after the restart" % (self.what,
                                                              i + 1))
        stall = traffic.stall()
        self.stalls.append(stall)
        self.times.append(time.monotonic() - c0)
        ok, total = soaklib.restored_count(new)
        if (ok, total) != (self.n, self.n):
            raise Failure("%s %d: the shim restored %d of %d connections, "
                          "expected %d of %d:\n%s" % (
                              self.what, i + 1, ok, total, self.n, self.n,
                              new.shim_log()[-3000:]))
        soaklib.server_errors(srv)
        resets = self.resets()
        if resets:
            raise Failure("%s %d: %d TCP resets on the wire:\n  %s" % (
                self.what, i + 1, len(resets),
                "\n  ".join("%.3f %s" % (r[0], r[3]) for r in resets)))
        if (i + 1) % self.args.report == 0 or stall > 1.0 or i == 0:
            log("%s %d/%d: %s; checkpoint %.0f ms, restart %.0f ms, stall "
                "%s, %d bytes up, %d down so far" % (
                    self.what, i + 1, self.args.count, self.where(new),
                    1000 * (c1 - c0), 1000 * (c2 - c1), fmt_s(stall),
                    sum(c.sent for c in self.clients),
                    sum(c.received for c in self.clients)))
        return new

    def finish(self, srv, n, wall):
        soaklib.server_errors(srv)
        if not srv.proc.alive():
            raise Failure("the last server exited: status %s"
                          % srv.proc.p.returncode)
        resets = self.resets()
        lost = sum(len(c.out) + (c.outstanding() or 0) for c in self.clients)
        if resets or lost:
            raise Failure("%d resets, %d bytes lost" % (len(resets), lost))
        st = self.stalls
        log("one %s took %s on average (checkpoint, restart and the "
            "clients caught up); %.1f s in all"
            % (self.what[:-1], fmt_s(sum(self.times) / max(1, n)), wall))
        # every answer was compared byte for byte as it came and the
        # clients fail on a byte nobody asked for: lost and duplicated
        # are counted, not assumed (a non-zero count fails above)
        print("soak: %d %s, %d connections (IPv4 and IPv6), %d bytes up, "
              "%d down, %d lost, 0 duplicated, %d resets, stall p50 %s "
              "p99 %s max %s; %.0f s" % (
                  n, self.what if n != 1 else self.what[:-1], self.n, sum(c.sent for c in self.clients),
                  sum(c.received for c in self.clients), lost, len(resets),
                  fmt_s(soaklib.percentile(st, 50)),
                  fmt_s(soaklib.percentile(st, 99)), fmt_s(max(st or [0])),
                  wall), flush=True)


class OneHost(Soak):
    what = "cycles"
    addrs = {4: "127.0.0.1", 6: "::1"}

    def first(self):
        self.t.start_rst_counter()
        return start(self.t, 1, self.modes(), "::")

    def where(self, srv):
        return mode_name(srv.argv[1:srv.argv.index("--bind")])

    def restart(self, i, srv):
        return start(self.t, srv.gen + 1, self.modes(), "::",
                     restore=srv.image)


class Moves(Soak):
    """The server alternately on host a and host b; the clients on the
    client host; the image copied to the host it moves to."""
    what = "moves"

    def __init__(self, t, args):
        super().__init__(t, args)
        self.hosts = hosts
        self.addrs = hosts.SVC
        soaklib.sweep_stale_hosts(HOSTS_STEM)
        self.prefix = "%s-%d" % (HOSTS_STEM, os.getpid())
        t.closers.append(lambda: hosts.topology("down", self.prefix))
        hosts.topology("up", self.prefix)
        self.on = "a"
        self.can_hold = subprocess.run(
            [e2e.TOOL, "hold", "--help"], capture_output=True).returncode == 0

    def first(self):
        with self.hosts.netns(self.prefix, "switch"):
            self.t.rst = RstCounter(ifname="")  # every port of the switch
        self.t.closers.append(self.t.rst.close)
        return start(self.t, 1, self.modes(), "::",
                     wrap=self.hosts.on(self.prefix, "a"))

    def run(self, n):
        # the clients' sockets are made on the client host
        with self.hosts.netns(self.prefix, "client"):
            return super().run(n)

    def where(self, srv):
        return "on host %s, %s" % (self.on, mode_name(
            srv.argv[1:srv.argv.index("--bind")]))

    def restart(self, i, srv):
        to = "b" if self.on == "a" else "a"
        d = os.path.join(self.t.tmp, "host-" + to)
        os.makedirs(d, mode=0o700, exist_ok=True)
        image = os.path.join(d, os.path.basename(srv.image))
        shutil.copy2(srv.image, image)
        wrap = self.hosts.on(self.prefix, to)
        if self.can_hold:
            # held on the new host before the address gets there
            subprocess.run(wrap + [e2e.TOOL, "hold", image], check=True,
                           timeout=20, stdout=subprocess.DEVNULL)
        self.hosts.topology("move", self.prefix, to)
        self.on = to
        new = start(self.t, srv.gen + 1, self.modes(), "::", restore=image,
                    wrap=wrap)
        if i > 0:
            prev = os.path.join(self.t.tmp, "host-" + to,
                                "testsrv.%d.img" % (srv.gen - 1))
            if os.path.exists(prev):
                os.unlink(prev)
        return new


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cycles", type=int, default=0,
                    help="checkpoint -> restart cycles on one host")
    ap.add_argument("--moves", type=int, default=0,
                    help="host-to-host moves")
    ap.add_argument("--mode", default="rotate",
                    choices=["rotate"] + [mode_name(m) for m in MODES],
                    help="testsrv's way of waiting (default: a different "
                    "one each generation)")
    ap.add_argument("--rate", type=float, default=8.0,
                    help="answer megabytes per second per stream")
    ap.add_argument("--resp-max", type=int, default=16384)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--report", type=int, default=50,
                    help="a progress line every N cycles")
    args = ap.parse_args()
    if (args.cycles > 0) == (args.moves > 0):
        ap.error("one of --cycles N or --moves N")
    e2e.enter_netns()  # the driver too: nothing on the host's network
    args.count = args.cycles or args.moves
    deadline = int(60 + args.count * (1.5 if args.cycles else 4))
    if args.cycles:
        t = Test("soak-cycles", deadline=deadline)
        t.run(lambda t: OneHost(t, args).run(args.cycles))
    else:
        t = Test("soak-moves", deadline=deadline)

        def body(t):
            soaklib.need_root_and("ip", "nft")
            Moves(t, args).run(args.moves)
        t.run(body)


if __name__ == "__main__":
    main()
