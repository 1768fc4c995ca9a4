#!/usr/bin/env python3
"""tcpcp2 end-to-end: Debian's lighttpd (epoll with data.ptr, sendfile),
unmodified, under `tcpcp run`, with its own configuration in the test's
directory (keep-alive idle time raised; no user switch: the repair backend
needs CAP_NET_ADMIN, which a server that drops root loses).

  real_lighttpd.py [--no-shim]
"""

import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import e2e  # noqa: E402
import httpcase  # noqa: E402
from e2e import Test  # noqa: E402

PORT = 8080

CONF = """\
server.document-root = "{www}"
server.bind = "127.0.0.1"
server.port = {port}
server.event-handler = "linux-sysepoll"
server.errorlog = "{tmp}/lighttpd-error.log"
server.max-keep-alive-idle = 300
server.max-keep-alive-requests = 1000
server.max-read-idle = 300
server.max-write-idle = 300
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html", ".txt" => "text/plain",
                    ".bin" => "application/octet-stream" )
"""


def scenario(t, no_shim):
    exe = shutil.which("lighttpd") or "/usr/sbin/lighttpd"
    e2e.need_program(exe, "apt-get install lighttpd")
    if not no_shim:
        e2e.need_program(e2e.SHIM, "the shim is not built")
    www, files = httpcase.make_www(t)
    conf = os.path.join(t.tmp, "lighttpd.conf")
    with open(conf, "w") as f:
        f.write(CONF.format(www=www, port=PORT, tmp=t.tmp))
    argv = [exe, "-D", "-f", conf]
    httpcase.scenario(t, "lighttpd", argv, PORT, ["127.0.0.1"], files,
                      no_shim)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-shim", action="store_true")
    a = ap.parse_args()
    e2e.enter_netns()
    Test("lighttpd").run(lambda t: scenario(t, a.no_shim))


if __name__ == "__main__":
    main()
