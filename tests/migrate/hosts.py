"""Hosts as network namespaces (topology.sh), seen from Python: make and
remove them, run a command on one, move the service address, and open a
socket inside another host's namespace (a capture on the switch).

Debian's python3 standard library only (3.11 has no os.setns: ctypes)."""

import contextlib
import ctypes
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
TOPOLOGY = os.path.join(HERE, "topology.sh")
SVC = {4: "10.77.0.100", 6: "fd77::100"}
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


def topology(*args):
    subprocess.run(["sh", TOPOLOGY] + list(args), check=True, timeout=30)


def on(prefix, host):
    """The command prefix that runs something on host."""
    return ["ip", "netns", "exec", "%s-%s" % (prefix, host)]


@contextlib.contextmanager
def netns(prefix, host):
    """This thread inside host's namespace for the with block: sockets
    made there stay there."""
    back = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    there = os.open("/run/netns/%s-%s" % (prefix, host),
                    os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(there, CLONE_NEWNET):
            raise OSError(ctypes.get_errno(), "setns %s-%s" % (prefix, host))
        try:
            yield
        finally:
            if _libc.setns(back, CLONE_NEWNET):
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(there)
        os.close(back)
