#!/usr/bin/env python3
"""tcpcp2 end-to-end: checks of the harness itself, without the shim.  A
check that cannot fail proves nothing, so: the reset counter must see the
resets we provoke, the clients must catch a corrupted byte, an EOF and a
reset, and every scenario's traffic must pass against the plain servers
(no shim, no checkpoint).  TAP output, one line per check."""

import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import e2e  # noqa: E402
import own_servers  # noqa: E402
import real_http_server  # noqa: E402
import real_lighttpd  # noqa: E402
import real_redis  # noqa: E402
from e2e import Failure, Test, log, wait_until  # noqa: E402
from clients import PATTERN, ProtoClient, run_clients  # noqa: E402


def provoke_refused(t, host, port):
    rst = t.start_rst_counter()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((host, port))
        raise Failure("connect to a closed port succeeded")
    except ConnectionRefusedError:
        pass
    finally:
        s.close()
    got = wait_until(lambda: [r for r in rst.count(0) if r[1] == port],
                     2, "the counter to see the reset from port %d" % port)
    log("seen: %s" % got[0][3])


def provoke_abort(t):
    """An established connection aborted with SO_LINGER {1, 0}."""
    rst = t.start_rst_counter()
    ls = socket.socket()
    ls.bind(("127.0.0.1", 7301))
    ls.listen(1)
    c = socket.create_connection(("127.0.0.1", 7301), 2)
    s, _ = ls.accept()
    if rst.count():
        raise Failure("a reset counted before any was sent")
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    wait_until(lambda: rst.count(0), 2, "the counter to see the abort")
    s.close()
    ls.close()


def fake_server(port, behaviour):
    """Answers one request of testsrv's protocol, badly."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(1)

    def run():
        s, _ = ls.accept()
        buf = b""
        while b"\n" not in buf:
            buf += s.recv(65536)
        seq, _n, r, payload = buf.split(b"\n")[0].split(b" ", 3)
        import zlib
        off = int(seq) * 31 % 62
        ans = bytearray(b"%s %08x %s\n" % (seq, zlib.crc32(payload), r) +
                        PATTERN[off:off + int(r)] + b"\n")
        if behaviour == "corrupt":
            ans[len(ans) // 2] ^= 1
            s.sendall(ans)
            time.sleep(1)
        elif behaviour == "eof":
            s.sendall(ans[:len(ans) // 2])
        elif behaviour == "reset":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
        s.close()
        ls.close()
    threading.Thread(target=run, daemon=True).start()


def client_must_fail(t, port, behaviour, words):
    fake_server(port, behaviour)
    c = ProtoClient.connect(t, "victim", ("127.0.0.1", port), 1)
    c.request(resp_len=1000)
    try:
        run_clients([c], 5, "the bad answer")
    except Failure as e:
        if words not in str(e):
            raise Failure("the client failed, but not as expected: %s" % e)
        log("the client caught it: %s" % str(e).splitlines()[0])
        return
    raise Failure("the client accepted a %s answer" % behaviour)


def checks():
    out = [
        ("reset counter sees a refused IPv4 connect",
         lambda t: provoke_refused(t, "127.0.0.1", 7201)),
        ("reset counter sees a refused IPv6 connect",
         lambda t: provoke_refused(t, "::1", 7202)),
        ("reset counter sees an aborted connection", provoke_abort),
        ("client catches a corrupted byte",
         lambda t: client_must_fail(t, 7401, "corrupt", "differs at byte")),
        ("client catches an early EOF",
         lambda t: client_must_fail(t, 7402, "eof", "EOF")),
        ("client catches a reset",
         lambda t: client_must_fail(t, 7403, "reset", "reset")),
    ]
    for i, name in enumerate(own_servers.CASES):
        def run(t, name=name, i=i):
            own_servers.scenario(t, own_servers.CASES[name], True,
                                 port=7500 + i, peer_port=7600 + i)
        out.append(("testsrv %s without the shim" % name, run))
    out += [
        ("redis traffic without the shim",
         lambda t: real_redis.scenario(t, True)),
        ("lighttpd traffic without the shim",
         lambda t: real_lighttpd.scenario(t, True)),
        ("http.server traffic without the shim",
         lambda t: real_http_server.scenario(t, "127.0.0.1", True)),
        ("http.server on :: without the shim",
         lambda t: real_http_server.scenario(t, "::", True)),
    ]
    return out


def main():
    e2e.enter_netns()
    e2e.tap = True
    todo = checks()
    print("1..%d" % len(todo), flush=True)
    failed = 0
    for n, (name, fn) in enumerate(todo, 1):
        t = Test("selfcheck-%d" % n, deadline=60)
        rc = t.run(fn, exit=False)
        if rc == e2e.SKIP:
            print("ok %d - %s # SKIP %s" % (n, name, t.skip_reason))
        elif rc == 0:
            print("ok %d - %s" % (n, name))
        else:
            failed += 1
            print("not ok %d - %s" % (n, name))
        sys.stdout.flush()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
