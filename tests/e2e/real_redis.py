#!/usr/bin/env python3
"""tcpcp2 end-to-end: Debian's redis-server (epoll with data.fd, accept4,
background threads, jemalloc), unmodified, under `tcpcp run`.

Clients: a control connection, idle ones, one with pipelined ECHOs in
flight, one that does not read while ~320 KiB of ECHO replies pile up in
the kernel.  Before the checkpoint, CLIENT LIST must show that redis holds
nothing of any client in its own memory (qbuf, obl, oll, omem all 0): the
restarted redis has none of the old one's memory.  It has no data either,
so only stateless commands are used (PING, ECHO of random bytes).

  real_redis.py [--no-shim]
"""

import argparse
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import e2e  # noqa: E402
from e2e import Failure, ShimServer, Test, listening, log, wait_until  # noqa
from clients import RedisClient, pump, run_clients, wait_settled  # noqa

PORT = 6379


def redis_argv(t):
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    e2e.need_program(exe, "apt-get install redis-server")
    return [exe, "--port", str(PORT), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--supervised", "no", "--dir", t.tmp,
            "--logfile", os.path.join(t.tmp, "redis.log"),
            "--loglevel", "notice", "--timeout", "0"]


def client_list(ctl):
    """CLIENT LIST through ctl, as {client port: {field: value}}."""
    ctl.command("CLIENT", "LIST")
    run_clients([ctl], 5, "CLIENT LIST")
    out = {}
    for line in ctl.captured.pop().decode().splitlines():
        f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        out[int(f["addr"].rsplit(":", 1)[1])] = f
    return out


def check_nothing_held(ctl, everyone):
    clients = client_list(ctl)
    ports = {c.lport for c in everyone}
    if set(clients) != ports:
        raise Failure("CLIENT LIST has clients on ports %s, we have %s"
                      % (sorted(clients), sorted(ports)))
    for port, f in clients.items():
        if port == ctl.lport:
            continue  # it is running CLIENT LIST right now
        held = {k: f.get(k) for k in ("qbuf", "obl", "oll", "omem")}
        if any(v != "0" for v in held.values()):
            raise Failure("redis holds bytes of client port %d in its own "
                          "memory: %s" % (port, held))
    log("CLIENT LIST: %d clients, redis holds nothing in memory"
        % len(clients))


def start(t, argv, no_shim, srv=None):
    new = srv.restart() if srv else ShimServer(t, "redis", argv,
                                               shim=not no_shim)
    wait_until(lambda: listening(PORT) or not new.proc.alive(), 10,
               "redis to listen")
    if not new.proc.alive():
        raise Failure("redis exited: %s" % new.proc.p.returncode)
    return new


def scenario(t, no_shim):
    if not no_shim:
        e2e.need_program(e2e.SHIM, "the shim is not built")
    argv = redis_argv(t)
    t.start_rst_counter()
    srv = start(t, argv, no_shim)
    addr = ("127.0.0.1", PORT)
    ctl = RedisClient.connect(t, "control", addr, 1)
    idle = [RedisClient.connect(t, "idle%d" % i, addr, 10 + i)
            for i in range(3)]
    piped = RedisClient.connect(t, "pipelined", addr, 20)
    bulk = RedisClient.connect(t, "bulk", addr, 30)
    everyone = [ctl] + idle + [piped, bulk]
    for c in everyone:
        c.ping()
        c.echo(c.rng.randint(1, 2000))
    run_clients(everyone, 10, "warm-up")

    bulk.reading = False
    bulk.echo(160 * 1024)
    bulk.echo(160 * 1024)
    piped.reading = False
    for n in (1000, 20000, 5):  # pipelined, complete
        piped.echo(n)
    pump([bulk, piped])
    # Redis must have read and answered every request before the
    # checkpoint: one it had read but not answered would live only in its
    # memory, which no one migrates.  So "in flight" here is an answer the
    # client has not read.
    st = wait_settled(everyone)
    log("bulk: server Send-Q %d, client Recv-Q %d; pipelined: server "
        "Send-Q %d, client Recv-Q %d" % (st["bulk"][1], st["bulk"][2],
                                         st["pipelined"][1],
                                         st["pipelined"][2]))
    if st["bulk"][1] == 0:
        raise Failure("nothing queued in redis's send queue for bulk")
    check_nothing_held(ctl, everyone)
    if not no_shim:
        srv.checkpoint(len(everyone))
        for c in idle:
            c.ping()
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            pump(everyone)
            time.sleep(0.02)
        srv = start(t, argv, no_shim, srv)
    for c in everyone:
        c.reading = True
    run_clients(everyone, 20, "catching up after the restart")
    check_nothing_held(ctl, everyone)
    for c in everyone:
        c.ping()
        for _ in range(3):
            c.echo(c.rng.randint(0, 50000))
    run_clients(everyone, 10, "rounds after the restart")
    t.assert_no_resets()
    if not srv.proc.alive():
        raise Failure("redis exited: %s" % srv.proc.p.returncode)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-shim", action="store_true")
    a = ap.parse_args()
    e2e.enter_netns()
    Test("redis").run(lambda t: scenario(t, a.no_shim))


if __name__ == "__main__":
    main()
