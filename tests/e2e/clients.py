"""Clients for the end-to-end tests: testsrv's line protocol, redis's RESP
and HTTP/1.1 keep-alive.  Each holds one TCP connection, knows every byte
it must receive next, and fails at the first byte that differs, at EOF, at
a reset or any other socket error.  Nothing is retried: a client never
reconnects."""

import collections
import random
import select
import socket
import time
import zlib

from e2e import Failure, log, sock_of, tcp_sockets, wait_until

ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
MAX_RESP = 65536
PATTERN = ALPHABET * (MAX_RESP // len(ALPHABET) + 2)


class Expect:
    """One awaited answer: its exact bytes (data), or a body after a head
    that is parsed (kind 'http'), or any one RESP reply (kind 'capture')."""
    __slots__ = ("label", "kind", "data")

    def __init__(self, label, kind, data):
        self.label, self.kind, self.data = label, kind, data


def _diff_at(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return min(len(a), len(b))


class StreamClient:
    def __init__(self, test, name, sock):
        self.test = test
        self.name = name
        self.sock = sock
        sock.setblocking(False)
        self.local = sock.getsockname()
        self.peer = sock.getpeername()
        self.lport, self.rport = self.local[1], self.peer[1]
        self.out = bytearray()
        self.inbuf = bytearray()
        self.expected = collections.deque()
        self.sent = self.received = self.answered = 0
        self.reading = True
        test.clients.append(self)

    @classmethod
    def connect(cls, test, name, addr, *args, **kw):
        family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(5)
        try:
            s.connect(addr)
        except OSError as e:
            s.close()
            raise Failure("client %s: connect to %s: %s" % (name, addr, e))
        return cls(test, name, s, *args, **kw)

    def describe(self):
        return ("%s %s:%d -> %s:%d: sent %d, received %d, %d answers "
                "verified, %d awaited, %d bytes not yet sent, %d buffered"
                % (self.name, self.local[0], self.lport, self.peer[0],
                   self.rport, self.sent, self.received, self.answered,
                   len(self.expected), len(self.out), len(self.inbuf)))

    def fail(self, what):
        raise Failure("client %s: %s\n  (%s)" % (self.name, what,
                                                self.describe()))

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def server_side(self, socks=None):
        """The peer's socket of this connection, as the kernel sees it."""
        return sock_of(self.rport, self.lport, socks)

    def client_side(self, socks=None):
        return sock_of(self.lport, self.rport, socks)

    def busy(self):
        return bool(self.out) or (self.reading and bool(self.expected))

    def send_some(self):
        if not self.out:
            return 0
        try:
            n = self.sock.send(self.out)
        except BlockingIOError:
            return 0
        except OSError as e:
            self.fail("send: %s" % e)
        del self.out[:n]
        self.sent += n
        return n

    def recv_some(self):
        try:
            data = self.sock.recv(1 << 18)
        except BlockingIOError:
            return 0
        except OSError as e:
            self.fail("recv: %s" % e)
        if not data:
            self.fail("the server closed the connection (EOF)")
        self.inbuf += data
        self.received += len(data)
        self._parse()
        return len(data)

    def _parse(self):
        while self.expected:
            n = self._match(self.expected[0])
            if not n:
                break
            del self.inbuf[:n]
            self.expected.popleft()
            self.answered += 1
        if not self.expected and self.inbuf:
            self.fail("%d bytes nobody asked for: %r"
                      % (len(self.inbuf), bytes(self.inbuf[:80])))

    def _match(self, e):
        """Bytes of inbuf that answer e, 0 while incomplete."""
        d = e.data
        m = min(len(self.inbuf), len(d))
        if self.inbuf[:m] != d[:m]:
            i = _diff_at(self.inbuf, d)
            self.fail("answer to %s differs at byte %d of %d: expected %r, "
                      "got %r" % (e.label, i, len(d), d[max(0, i - 20):i + 40],
                                  bytes(self.inbuf[max(0, i - 20):i + 40])))
        return len(d) if len(self.inbuf) >= len(d) else 0

    def outstanding(self):
        """Bytes of awaited answers not yet in user space; None if a head
        length is not known."""
        return sum(len(e.data) for e in self.expected) - len(self.inbuf)


class ProtoClient(StreamClient):
    """testsrv's protocol (see servers/testsrv.h), seeded payloads."""

    def __init__(self, test, name, sock, seed):
        super().__init__(test, name, sock)
        self.rng = random.Random(seed)
        self.seq = 0

    def request(self, resp_len=None, payload_len=None):
        rng = self.rng
        self.seq += 1
        n = rng.randint(0, 2048) if payload_len is None else payload_len
        r = rng.randint(0, 8192) if resp_len is None else resp_len
        payload = bytes(rng.choices(ALPHABET, k=n))
        self.out += b"%d %d %d %s\n" % (self.seq, n, r, payload)
        off = self.seq * 31 % len(ALPHABET)
        self.expected.append(Expect(
            "request %d" % self.seq, "bytes",
            b"%d %08x %d\n" % (self.seq, zlib.crc32(payload), r) +
            PATTERN[off:off + r] + b"\n"))


class RedisClient(StreamClient):
    """RESP: PING, ECHO of random bytes (checked byte for byte), and other
    commands whose reply is captured."""

    def __init__(self, test, name, sock, seed):
        super().__init__(test, name, sock)
        self.rng = random.Random(seed)
        self.captured = []

    def command(self, *args, expect=None):
        args = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.out += b"*%d\r\n" % len(args) + b"".join(
            b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
        label = b" ".join(a[:16] for a in args).decode(errors="replace")
        if expect is None:
            self.expected.append(Expect(label, "capture", None))
        else:
            self.expected.append(Expect(label, "bytes", expect))

    def ping(self):
        self.command("PING", expect=b"+PONG\r\n")

    def echo(self, n):
        p = self.rng.randbytes(n)
        self.command("ECHO", p, expect=b"$%d\r\n%s\r\n" % (n, p))

    def _match(self, e):
        if e.kind != "capture":
            return super()._match(e)
        nl = self.inbuf.find(b"\r\n")
        if nl < 0:
            return 0
        head = bytes(self.inbuf[:nl])
        if head[:1] == b"$":
            n = int(head[1:])
            if len(self.inbuf) < nl + 2 + n + 2:
                return 0
            self.captured.append(bytes(self.inbuf[nl + 2:nl + 2 + n]))
            return nl + 2 + n + 2
        if head[:1] in (b"+", b":"):
            self.captured.append(head[1:])
            return nl + 2
        self.fail("%s: unexpected reply %r" % (e.label, head[:200]))

    def outstanding(self):
        if any(e.kind == "capture" for e in self.expected):
            return None
        return super().outstanding()


class HttpClient(StreamClient):
    """HTTP/1.1 keep-alive GETs of files whose content is known; a response
    that asks to close the connection is a failure.  head_len is shared by
    the clients of one server: path -> length of its response head, so
    that the bytes still owed can be counted."""

    def __init__(self, test, name, sock, files, head_len):
        super().__init__(test, name, sock)
        self.files = files
        self.head_len = head_len

    def get(self, path):
        self.out += b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % \
            path.encode()
        self.expected.append(Expect(path, "http", self.files[path]))

    def _match(self, e):
        end = self.inbuf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.inbuf) > 16384:
                self.fail("GET %s: no end of head in %r"
                          % (e.label, bytes(self.inbuf[:200])))
            return 0
        head = bytes(self.inbuf[:end + 4])
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/1.1 200 "):
            self.fail("GET %s: status %r" % (e.label, lines[0]))
        hdrs = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        if hdrs.get("connection", "").lower() == "close":
            self.fail("GET %s: the server closes the connection" % e.label)
        if hdrs.get("content-length") != str(len(e.data)):
            self.fail("GET %s: Content-Length %r, expected %d"
                      % (e.label, hdrs.get("content-length"), len(e.data)))
        total = len(head) + len(e.data)
        if len(self.inbuf) < total:
            return 0
        body = self.inbuf[len(head):total]
        if body != e.data:
            i = _diff_at(body, e.data)
            self.fail("GET %s: body differs at byte %d of %d"
                      % (e.label, i, len(e.data)))
        known = self.head_len.setdefault(e.label, len(head))
        if known != len(head):
            log("note: %s head was %d bytes, now %d" % (e.label, known,
                                                       len(head)))
        return total

    def outstanding(self):
        n = 0
        for e in self.expected:
            if e.label not in self.head_len:
                return None
            n += self.head_len[e.label] + len(e.data)
        return n - len(self.inbuf)


# --- driving many clients at once --------------------------------------------

def run_clients(clients, timeout, what):
    """Sends what every client has queued and reads (for clients that
    read) until every awaited answer has arrived and been verified."""
    end = time.monotonic() + timeout
    while any(c.busy() for c in clients):
        if time.monotonic() > end:
            late = [c.describe() for c in clients if c.busy()]
            raise Failure("%s: not done after %.1f s:\n  %s"
                          % (what, timeout, "\n  ".join(late)))
        rl = [c for c in clients if c.reading]
        wl = [c for c in clients if c.out]
        r, w, _ = select.select(rl, wl, [], 0.1)
        for c in w:
            c.send_some()
        for c in r:
            c.recv_some()


def pump(clients):
    """Sends what fits right now, without waiting; reads nothing."""
    for c in clients:
        c.send_some()


def wait_settled(clients, timeout=5):
    """Waits until the server has read every request and every answer
    owed is in the kernel (the client's receive queue plus the server's
    send queue): a server then holds nothing of these connections in its
    own memory.  Only for servers that read eagerly (not testsrv's
    back-pressured connections)."""
    state = {}

    def settled():
        socks = tcp_sockets()
        ok = True
        for c in clients:
            c.send_some()
            srv, cli = c.server_side(socks), c.client_side(socks)
            if srv is None or cli is None:
                c.fail("the kernel has no such connection any more")
            owed = c.outstanding()
            state[c.name] = (srv.rx, srv.tx, cli.rx, cli.tx, owed)
            if c.out or srv.rx or cli.tx or \
                    (owed is not None and cli.rx + srv.tx != owed):
                ok = False
        return ok
    try:
        wait_until(settled, timeout, "the server to settle")
    except Failure:
        raise Failure("the server did not settle: per client (server rx, "
                      "server tx, client rx, client tx, bytes owed): %s"
                      % state)
    return state
