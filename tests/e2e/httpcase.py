"""The scenario shared by the real HTTP servers (lighttpd, python3 -m
http.server): keep-alive clients, idle, pipelined, and one that does not
read a 200 KiB body; checkpoint, exit, restart from the image; every
client carries on with byte-exact bodies."""

import os
import random
import time

from e2e import Failure, ShimServer, listening, log, wait_until
from clients import HttpClient, pump, run_clients, wait_settled


def make_www(t):
    """A document root of files with known content: path -> bytes."""
    rng = random.Random(7)
    www = os.path.join(t.tmp, "www")
    os.mkdir(www)
    files = {
        "/index.html": b"<html><body>tcpcp2 e2e</body></html>\n",
        "/a.txt": bytes(rng.choices(b"abcdefghij\n", k=1024)),
        "/mid.bin": rng.randbytes(30 * 1024),
        "/big.bin": rng.randbytes(200 * 1024),
    }
    for path, data in files.items():
        with open(os.path.join(www, path[1:]), "wb") as f:
            f.write(data)
    return www, files


def start(t, name, argv, port, no_shim, srv=None):
    new = srv.restart() if srv else ShimServer(t, name, argv,
                                               shim=not no_shim)
    wait_until(lambda: listening(port) or not new.proc.alive(), 10,
               "%s to listen on %d" % (name, port))
    if not new.proc.alive():
        raise Failure("%s exited: status %s" % (name, new.proc.p.returncode))
    return new


def scenario(t, name, argv, port, hosts, files, no_shim):
    t.start_rst_counter()
    srv = start(t, name, argv, port, no_shim)
    head_len = {}

    def connect(cname, i):
        return HttpClient.connect(t, cname, (hosts[i % len(hosts)], port),
                                  files, head_len)
    ctl = connect("control", 0)
    idle = [connect("idle%d" % i, i) for i in range(3)]
    piped = connect("pipelined", 1)
    big = connect("big", 0)
    everyone = [ctl] + idle + [piped, big]
    for path in files:  # learns each response head's length
        ctl.get(path)
    for c in everyone[1:]:
        c.get("/a.txt")
    run_clients(everyone, 10, "warm-up")

    big.reading = False
    big.get("/big.bin")
    piped.reading = False
    for path in ("/a.txt", "/index.html", "/mid.bin"):
        piped.get(path)  # one write: pipelined, complete
    pump([big, piped])
    # The server must have read every request and put every response in
    # the kernel whole: it keeps nothing of them in its own memory.
    st = wait_settled(everyone)
    log("big: server Send-Q %d, client Recv-Q %d; pipelined: server "
        "Send-Q %d, client Recv-Q %d" % (st["big"][1], st["big"][2],
                                         st["pipelined"][1],
                                         st["pipelined"][2]))
    if st["big"][1] == 0:
        raise Failure("nothing queued in the server's send queue for big")
    if not no_shim:
        srv.checkpoint(len(everyone))
        for c in idle:
            c.get("/a.txt")
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            pump(everyone)
            time.sleep(0.02)
        srv = start(t, name, argv, port, no_shim, srv)
    for c in everyone:
        c.reading = True
    run_clients(everyone, 20, "catching up after the restart")
    for c in everyone:
        for path in files:
            c.get(path)
    run_clients(everyone, 10, "rounds after the restart")
    t.assert_no_resets()
    if not srv.proc.alive():
        raise Failure("%s exited: status %s" % (name, srv.proc.p.returncode))
    return srv
