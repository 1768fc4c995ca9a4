#!/usr/bin/env python3
"""tcpcp2 end-to-end: Debian's `python3 -m http.server -p HTTP/1.1`
(a thread per connection blocked in recv, the listener polled with a
timeout), unmodified, under `tcpcp run`.  With --bind :: one AF_INET6
listener serves IPv4 clients (v4-mapped) and IPv6 clients alike.

  real_http_server.py [--bind 127.0.0.1|::] [--no-shim]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import e2e  # noqa: E402
import httpcase  # noqa: E402
from e2e import Test  # noqa: E402

PORT = 8000
# Debian's interpreter, not whichever python3 runs the harness.
PYTHON = "/usr/bin/python3"


def scenario(t, bind, no_shim):
    e2e.need_program(PYTHON, "apt-get install python3")
    if not no_shim:
        e2e.need_program(e2e.SHIM, "the shim is not built")
    www, files = httpcase.make_www(t)
    argv = [PYTHON, "-m", "http.server", "-p", "HTTP/1.1", "--bind", bind,
            "--directory", www, str(PORT)]
    hosts = ["127.0.0.1", "::1"] if bind == "::" else [bind]
    httpcase.scenario(t, "http.server", argv, PORT, hosts, files, no_shim)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--no-shim", action="store_true")
    a = ap.parse_args()
    e2e.enter_netns()
    name = "http-server" + ("-dualstack" if a.bind == "::" else "")
    Test(name).run(lambda t: scenario(t, a.bind, a.no_shim))


if __name__ == "__main__":
    main()
