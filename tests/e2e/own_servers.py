#!/usr/bin/env python3
"""tcpcp2 end-to-end: our own server (servers/testsrv) in one of its ways of
waiting, under the shim.  Clients hold live connections (idle; a request
in flight; bytes queued both ways, the server's receive and send queues
both non-empty), the server is checkpointed and exits, is started again
from the image, and every client carries on over the same connection: no
reset, no reconnect, every answer verified byte for byte.

  own_servers.py --list            the cases
  own_servers.py --case NAME       one case, in a network namespace of its own
  own_servers.py --case NAME --no-shim
                                   the same traffic without the shim and
                                   without a checkpoint (checks the harness)
  own_servers.py --case NAME --expect-resets
                                   without the hold: passes only if the
                                   test sees the resets (checks the harness)
"""

import argparse
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import e2e  # noqa: E402
from e2e import Failure, ShimServer, Test, log, tcp_sockets  # noqa: E402
from clients import ProtoClient, pump, run_clients  # noqa: E402

PORT = 7000
PEER_PORT = 7100


def load_cases():
    """own_cases.txt: NAME BIND OUTGOING CHECKPOINTS testsrv-options..."""
    cases = {}
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "own_cases.txt")) as f:
        for line in f:
            w = line.split()
            if not w or w[0].startswith("#"):
                continue
            cases[w[0]] = {"bind": w[1], "outgoing": int(w[2]),
                           "cycles": int(w[3]), "args": w[4:]}
    return cases


CASES = load_cases()


def client_hosts(bind):
    if bind == "::":
        return ["127.0.0.1", "::1"]  # v4-mapped and native on one socket
    return [bind]


def fill_both_ways(q, timeout=10):
    """Sends requests for large answers without reading, until the server
    has stopped reading (its send queue is full): requests then wait in the
    server's receive queue and answers in its send queue."""
    q.reading = False
    end = time.monotonic() + timeout
    while True:
        if len(q.out) < 8192:
            q.request(resp_len=32768, payload_len=q.rng.randint(64, 512))
        n = q.send_some()
        s = q.server_side()
        if s is not None and s.rx >= 4096 and s.tx > 0:
            return s
        if time.monotonic() > end:
            q.fail("the server's queues did not fill: %r" % (s,))
        if not n:
            time.sleep(0.005)


def check_queued(queued):
    socks = tcp_sockets()
    for q in queued:
        s = q.server_side(socks)
        if s is None or not (s.rx > 0 and s.tx > 0):
            q.fail("server-side queues not both non-empty before the "
                   "checkpoint: %r" % (s,))
        log("%s: server Recv-Q %d, Send-Q %d; client Recv-Q %d"
            % (q.name, s.rx, s.tx, q.client_side(socks).rx))


def check_image(shown, everyone, queued):
    """What `tcpcp show --json` says: exactly our connections, and the
    queued ones with bytes both ways."""
    if shown is None:
        return
    ours = {(c.rport, c.lport) for c in everyone}
    if set(shown) != ours:
        raise Failure("the image holds %s, the clients are %s"
                      % (sorted(shown), sorted(ours)))
    for q in queued:
        c = shown[(q.rport, q.lport)]
        if not (c.get("recv_q", 0) > 0 and c.get("send_q", 0) > 0):
            q.fail("the image has Recv-Q %r, Send-Q %r"
                   % (c.get("recv_q"), c.get("send_q")))
        log("image: %s Recv-Q %d Send-Q %d (unsent %d)"
            % (q.name, c["recv_q"], c["send_q"], c.get("unsent", -1)))


def check_same_connections(everyone, port):
    socks = tcp_sockets()
    for c in everyone:
        s = c.server_side(socks)
        if s is None or s.state != 1:
            c.fail("the server's side of the connection is %r" % (s,))
    ours = {(c.rport, c.lport) for c in everyone}
    extra = [s for s in socks if s.state != 10 and s.lport == port and
             (s.lport, s.rport) not in ours]
    if extra:
        raise Failure("connections nobody made: %r" % extra)


def check_no_reconnect(peer):
    if peer is None:
        return
    peer.setblocking(False)
    try:
        s, addr = peer.accept()
    except BlockingIOError:
        return
    s.close()
    raise Failure("the restarted server opened a new connection from %s "
                  "instead of getting its old one back" % (addr,))


def server_errors(srv):
    bad = [l for l in srv.proc.stderr().splitlines()
           if l.startswith("testsrv")]
    if bad:
        raise Failure("%s gen %d printed:\n  %s" % (srv.name, srv.gen,
                                                    "\n  ".join(bad)))


def cycle(t, srv, clients, peer, no_shim):
    """One checkpoint and restart, with every kind of connection live."""
    idle, inflight, queued, everyone = clients
    for q in queued:
        fill_both_ways(q)
    check_queued(queued)
    for c in inflight:  # complete requests, sent right before
        c.request()
        c.request(resp_len=0)
    pump(inflight)
    if no_shim:
        new = srv
    else:
        srv.checkpoint(len(everyone))
        check_image(srv.shown, everyone, queued)
        left = [c.name for c in everyone if c.server_side() is not None]
        if left:
            raise Failure("after the exit the kernel still has the server "
                          "side of %s" % left)
    # Clients keep talking across the gap: their segments must be held
    # (dropped), never answered with a reset.
    for c in idle:
        c.request()
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        pump(everyone)
        time.sleep(0.02)
    if not no_shim:
        t0 = time.monotonic()
        new = srv.restart()
        new.proc.wait_line("ready", 10)
        check_no_reconnect(peer)
        log("restarted in %.0f ms" % (1000 * (time.monotonic() - t0)))
    for q in queued:
        q.reading = True
    t0 = time.monotonic()
    run_clients(everyone, 20, "catching up after the restart")
    log("caught up in %.0f ms" % (1000 * (time.monotonic() - t0)))
    for c in everyone:
        for _ in range(3):
            c.request()
    run_clients(everyone, 10, "rounds after the restart")
    return new


def scenario(t, c, no_shim, port=PORT, peer_port=PEER_PORT, extra_env=None):
    if not no_shim:
        e2e.need_program(e2e.SHIM, "the shim is not built")
    e2e.need_program(e2e.TESTSRV, "testsrv is not built")
    t.start_rst_counter()
    peer_host = "::1" if c["bind"] == "::1" else "127.0.0.1"
    peer = None
    argv = [e2e.TESTSRV] + c["args"] + ["--port", str(port),
                                        "--bind", c["bind"]]
    if c["outgoing"]:
        peer = socket.socket(socket.AF_INET6 if ":" in peer_host
                             else socket.AF_INET)
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        peer.bind((peer_host, peer_port))
        peer.listen(8)
        t.closers.append(peer.close)
        spec = ("[%s]:%d" if ":" in peer_host else "%s:%d") % (peer_host,
                                                              peer_port)
        argv += ["--connect", spec] * c["outgoing"]
    srv = ShimServer(t, "testsrv", argv, shim=not no_shim,
                     extra_env=extra_env)
    srv.proc.wait_line("ready", 10)
    gens = [srv]

    outgoing = []
    for i in range(c["outgoing"]):
        peer.settimeout(5)
        s, _ = peer.accept()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        outgoing.append(ProtoClient(t, "out%d" % i, s, seed=100 + i))
    hosts = client_hosts(c["bind"])

    def connect(name, i, seed):
        return ProtoClient.connect(t, name, (hosts[i % len(hosts)], port),
                                   seed)
    idle = [connect("idle%d" % i, i, 200 + i) for i in range(3)]
    inflight = [connect("inflight%d" % i, i, 300 + i) for i in range(2)]
    queued = [connect("queued%d" % i, i, 400 + i) for i in range(1)]
    everyone = outgoing + idle + inflight + queued
    for cl in everyone:
        for _ in range(3):
            cl.request()
    run_clients(everyone, 10, "warm-up")
    log("%d connections up" % len(everyone))

    for _ in range(c["cycles"]):
        srv = cycle(t, srv, (idle, inflight, queued, everyone), peer,
                    no_shim)
        if srv is not gens[-1]:
            gens.append(srv)
        check_same_connections(everyone, port)
    t.assert_no_resets()
    for g in gens:
        server_errors(g)
    if not srv.proc.alive():
        raise Failure("the server exited: status %s" % srv.proc.p.returncode)
    log("bytes sent/received: %s" % ", ".join(
        "%s %d/%d" % (cl.name, cl.sent, cl.received) for cl in everyone))


def expect_resets(t, c):
    """A control: without the hold (TCPCP_HOLD_SECONDS=0) the kernel must
    answer the clients' segments in the restart gap with resets, and this
    test must see them; a test that cannot fail proves nothing."""
    try:
        scenario(t, c, False, extra_env={"TCPCP_HOLD_SECONDS": "0"})
    except Failure as e:
        resets = t.rst.count() if t.rst else []
        if not resets:
            raise Failure("failed, but no reset was counted: %s" % e)
        log("caught, as it must be: %s; %d resets on the wire"
            % (str(e).splitlines()[0], len(resets)))
        return
    raise Failure("without the hold nothing failed: resets go unseen")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=sorted(CASES))
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--no-shim", action="store_true")
    ap.add_argument("--expect-resets", action="store_true",
                    help="without the hold: the test must fail on resets")
    a = ap.parse_args()
    if a.list:
        print("\n".join(CASES))
        return
    if not a.case:
        ap.error("--case or --list")
    e2e.enter_netns()
    t = Test("own-" + a.case)
    if a.expect_resets:
        t.run(lambda t: expect_resets(t, CASES[a.case]))
    t.run(lambda t: scenario(t, CASES[a.case], a.no_shim))


if __name__ == "__main__":
    main()
