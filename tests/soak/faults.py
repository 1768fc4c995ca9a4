#!/usr/bin/env python3
"""tcpcp2 faults: the server killed (SIGKILL) at each step of a
checkpoint, and a restore on a host that does not have the address.

The kill lands exactly at the system call that marks the step: strace,
attached to the shim's worker thread only, injects SIGKILL there (the
call itself is not made).  No test hook in the shim.

  before-stop       the first setsockopt(SO_ATTACH_FILTER): the threads
                    are parked, no connection is stopped yet
  after-stop        uname() (gethostname for the image header): every
                    connection stopped and read, no byte written
  mid-image-write   the second write() into the image's temporary file
  image-not-renamed rename(temporary, IMAGE): complete, not in place
  after-image       rename of IMAGE.done's temporary file: the image is
                    in place and durable, the answer not written
  no-restart        after-stop, and nobody restarts the server
  address-absent    an image restored on a host without the service
                    address (tests/migrate's hosts)

Generation 1 of the server checkpoints (exit) into IMAGE; generation 2
restores from IMAGE and checkpoints to IMAGE (as `tcpcp run --image
IMAGE --restore IMAGE` would), so IMAGE is "the previous image" while it
runs.  Two clients: one busy (it talks to generation 2: IMAGE is stale
for it) and one idle (IMAGE is still exact for it).  Then the kill, and
for each step:

  - `tcpcp checkpoint` fails and says the process exited without
    answering;
  - IMAGE is intact (`tcpcp show` reads it, CRC checked) and is the
    previous image, byte for byte, unless the kill came after the
    rename; what a kill leaves (a temporary file) is listed, and it
    must not be mistaken for the image;
  - the hold (nft list table inet tcpcp2): one element per connection
    right after the kill when the connections were stopped, none when
    they were not, and none once TCPCP_HOLD_SECONDS (3) have passed;
  - no TCP reset on the wire while the peers are held;
  - generation 3 starts from IMAGE at once (within the hold) and
    restores cleanly (after-image), or says clearly why not; either way
    no peer may be left hanging: each client's request is answered, or
    the client is told (EOF, reset) within FATE_BOUND seconds of the
    kill.  (A stale image restored as if it were current leaves the
    busy client and its restored socket ignoring each other's segments:
    hung, both ends ESTABLISHED, until the client's retransmissions give
    up after about 15 minutes.)

TAP, one line per case; each case runs every check and lists all that
failed.  Runs in a network namespace of its own (the hosts for
address-absent are namespaces too)."""

import argparse
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import soaklib  # noqa: E402
import e2e  # noqa: E402
import hosts  # noqa: E402 (tests/migrate)
from e2e import Failure, RstCounter, ShimServer, Test, log  # noqa: E402
from clients import ProtoClient, run_clients  # noqa: E402

HOLD = 3          # TCPCP_HOLD_SECONDS for these servers
FATE_BOUND = 12   # seconds within which every peer must know its fate
HOSTS_STEM = "tcpcp-soakf"

# step -> (syscall, strace's when=, what the killed call must show,
#          were the connections stopped, does IMAGE change)
STEPS = {
    "before-stop": ("setsockopt", 1, "SO_ATTACH_FILTER", False, False),
    "after-stop": ("uname", 1, "uname(", True, False),
    "mid-image-write": ("write", 2, "write(", True, False),
    "image-not-renamed": ("rename", 1, ".img", True, False),
    "after-image": ("rename", 2, ".img.done", True, True),
}


class Checks:
    """Every check of a case runs; the failed ones are listed at the end."""

    def __init__(self):
        self.failed = []

    def expect(self, ok, what):
        log(("ok: " if ok else "FAILED: ") + what)
        if not ok:
            self.failed.append(what)
        return ok

    def done(self):
        if self.failed:
            raise Failure("%d check(s) failed:\n  - %s" % (
                len(self.failed), "\n  - ".join(self.failed)))


def worker_tid(pid):
    """The shim's worker: the thread waiting in poll(2) on its signalfd
    (testsrv in epoll mode waits in epoll_wait)."""
    def find():
        others = [int(x) for x in os.listdir("/proc/%d/task" % pid)
                  if int(x) != pid]
        for tid in others:
            try:
                with open("/proc/%d/task/%d/syscall" % (pid, tid)) as f:
                    if f.read().split()[0] == "7":  # poll, x86-64
                        return tid
            except OSError:
                pass
        return None
    return e2e.wait_until(find, 5, "the shim's worker thread in poll")


def traced(tid):
    with open("/proc/%d/status" % tid) as f:
        for line in f:
            if line.startswith("TracerPid:"):
                return int(line.split()[1]) != 0
    return False


def kill_at(t, srv, step):
    """Checkpoints srv with strace set to kill it at step; returns what
    `tcpcp checkpoint` said and strace's last line."""
    call, when, _, _, _ = STEPS[step]
    tid = worker_tid(srv.pid)
    out = os.path.join(t.tmp, "strace.%s" % step)
    st = e2e.Proc(t, "strace", ["strace", "-qq", "-o", out, "-p", str(tid),
                                "-e", "trace=" + call, "-e",
                                "inject=%s:error=EIO:signal=SIGKILL:when=%d"
                                % (call, when)])
    e2e.wait_until(lambda: traced(tid), 5, "strace to attach")
    r = subprocess.run([e2e.TOOL, "checkpoint", str(srv.pid), "--timeout",
                        "10"], capture_output=True, text=True, timeout=20)
    rc = srv.proc.wait(10)
    st.wait(10)
    with open(out) as f:
        lines = f.read().splitlines()
    # the call strace stopped: the last one, never finished ("= ?")
    killed = [line for line in lines if line.startswith(call + "(")]
    killed = killed[-1] if killed and killed[-1].endswith("= ?") else ""
    log("strace: %s" % " / ".join(lines[-2:]))
    return r, rc, killed, lines


def tool_show(path):
    r = subprocess.run([e2e.TOOL, "show", path], capture_output=True,
                       text=True, timeout=20)
    return r.returncode, (r.stdout + r.stderr).strip()


def client_fate(c, timeout):
    """answered, EOF, reset, error or hung (no answer, no error)."""
    t0 = time.monotonic()
    try:
        run_clients([c], timeout, c.name)
        what = "answered"
    except Failure as e:
        msg = str(e)
        if "not done after" in msg:
            what = "hung"
        elif "EOF" in msg:
            what = "EOF"
        elif "reset" in msg.lower():
            what = "reset"
        else:
            what = "error: " + msg.splitlines()[0]
    return what, time.monotonic() - t0


def ask(c):
    """One more request; a send that fails is the client's fate, seen
    by client_fate() on the next read."""
    c.request()
    try:
        c.send_some()
    except Failure as e:
        log("%s: %s" % (c.name, str(e).splitlines()[0]))


def start(t, gen, port, restore=None, wrap=None, bind="127.0.0.1",
          hold=HOLD):
    srv = ShimServer(t, "srv", [e2e.TESTSRV, "--mode", "epoll-fd", "--bind",
                                bind, "--port", str(port)], gen=gen,
                     restore=restore, wrap=wrap,
                     extra_env={"TCPCP_HOLD_SECONDS": str(hold)})
    srv.proc.wait_line("ready", 15)
    return srv


def two_generations(t, port):
    """Generation 1 checkpointed into an image; generation 2 restored
    from it, at the path generation 2's checkpoint writes to; the busy
    client talks to generation 2, the idle one does not."""
    g1 = start(t, 1, port)
    busy = ProtoClient.connect(t, "busy", ("127.0.0.1", port), 11)
    idle = ProtoClient.connect(t, "idle", ("127.0.0.1", port), 12)
    for c in (busy, idle):
        c.request()
        c.request()
    run_clients([busy, idle], 10, "warm-up")
    g1.checkpoint(2)
    # as with `tcpcp run --image IMAGE --restore IMAGE`, one path for
    # every generation: generation 2 restores from the file that its own
    # checkpoint replaces
    path = os.path.join(t.tmp, "srv.2.img")
    shutil.copy2(g1.image, path)
    g2 = start(t, 2, port, restore=path)
    for _ in range(5):
        busy.request()
    run_clients([busy], 10, "generation 2 answers")
    with open(g2.image, "rb") as f:
        previous = f.read()
    return g2, busy, idle, previous


def leftovers(t, image):
    d, base = os.path.split(image)
    return sorted(os.path.join(d, n) for n in os.listdir(d)
                  if n.startswith("." + base + "."))


def case_kill(t, step, port):
    call, _, marker, stopped, changes = STEPS[step]
    ck = Checks()
    rst = t.start_rst_counter()
    g2, busy, idle, previous = two_generations(t, port)

    r, rc, killed, _ = kill_at(t, g2, step)
    t_kill = time.monotonic()
    ck.expect(rc == -9, "generation 2 was killed by SIGKILL (status %s)"
              % rc)
    ck.expect(call + "(" in killed and marker in killed,
              "the kill landed on %s(...%s...): %s" % (call, marker,
                                                       killed or "none"))
    ck.expect(r.returncode != 0 and "exited without answering" in r.stderr,
              "tcpcp checkpoint failed and said why: %r"
              % (r.stderr.strip() or r.stdout.strip()))
    held = soaklib.hold_elements()
    ck.expect(len(held) == (2 if stopped else 0),
              "%d hold element(s) right after the kill (%s)"
              % (len(held), "stopped: one per connection" if stopped
                 else "nothing was stopped yet"))

    # the image: intact, and the previous one unless the rename was done
    code, shown = tool_show(g2.image)
    ck.expect(code == 0, "tcpcp show IMAGE reads it (CRC checked): %s"
              % (shown.splitlines() or [""])[0])
    with open(g2.image, "rb") as f:
        now = f.read()
    if changes:
        ck.expect(now != previous and "pid:         %d" % g2.pid in shown,
                  "IMAGE is generation 2's new image")
    else:
        ck.expect(now == previous, "IMAGE is the previous image, byte for "
                  "byte")
    for tmp in leftovers(t, g2.image):
        code, why = tool_show(tmp)
        log("left behind: %s (%d bytes); tcpcp show: %s" % (
            os.path.basename(tmp), os.path.getsize(tmp),
            why.splitlines()[0] if why else "exit %d" % code))

    # the peers while held (or, before-stop, after the kernel closed)
    for c in (busy, idle):
        ask(c)
    time.sleep(0.8)
    if stopped:
        resets = rst.count()
        ck.expect(not resets, "no reset while the peers are held (%d)"
                  % len(resets))

    # generation 3 from IMAGE, within the hold
    g3 = start(t, 3, port, restore=g2.image)
    time.sleep(0.2)
    for line in g3.shim_log().splitlines():
        log("generation 3: " + line)
    ok, total = soaklib.restored_count(g3)
    bound = max(0.5, FATE_BOUND - (time.monotonic() - t_kill))
    fates = {}
    for c in (idle, busy):
        fates[c.name] = client_fate(c, bound)
        log("%s: %s after %.1f s" % (c.name, fates[c.name][0],
                                     fates[c.name][1]))
        bound = max(0.5, FATE_BOUND - (time.monotonic() - t_kill))
    if changes:
        ck.expect(ok == total == 2, "generation 3 restored %d of %d" % (
            ok, total))
        ck.expect(all(f[0] == "answered" for f in fates.values()),
                  "both clients carry on: %s" % fates)
    elif stopped:
        # IMAGE is exact for the idle client and stale for the busy one
        # (its bytes since generation 1 are not in it): restoring the
        # idle one is right; the busy one must not be left hanging
        told = [n for n, f in fates.items() if f[0] != "answered"]
        why = [line for line in g3.shim_log().splitlines()
               if "not restor" in line or "stale" in line or
               "failed" in line]
        ck.expect(all(f[0] != "hung" for f in fates.values()),
                  "no client is left hanging: %s" % fates)
        ck.expect(not told or why,
                  "the shim says why %s did not come back: %s" % (
                      " and ".join(told) or "nothing",
                      why or "it said %d of %d restored" % (ok, total)))
    else:
        ck.expect(all(f[0] in ("EOF", "reset") for f in fates.values()),
                  "nothing was stopped: the peers were told at once "
                  "(closed with the process): %s" % fates)
    ck.expect(g3.proc.alive(), "generation 3 runs on")

    # the hold is gone once it expires
    time.sleep(max(0, HOLD + 1.0 - (time.monotonic() - t_kill)))
    held = soaklib.hold_elements()
    ck.expect(not held, "no hold element %d s after the kill: %s"
              % (HOLD + 1, held))
    ck.done()


def case_no_restart(t, port):
    """Killed after the stop and never restarted: the peers are held for
    TCPCP_HOLD_SECONDS, then the kernel resets them."""
    ck = Checks()
    rst = t.start_rst_counter()
    g2, busy, idle, _ = two_generations(t, port)
    kill_at(t, g2, "after-stop")
    t_kill = time.monotonic()
    held = soaklib.hold_elements()
    ck.expect(len(held) == 2, "2 hold elements right after the kill (%d)"
              % len(held))
    ask(busy)
    fate, after = client_fate(busy, FATE_BOUND)
    when = time.monotonic() - t_kill
    resets = rst.count()
    first = resets[0][0] if resets else None
    ck.expect(fate == "reset", "the busy client was reset (%s after "
              "%.1f s)" % (fate, when))
    ck.expect(first is None or first - (t_kill - e2e._t0) >= HOLD - 0.1,
              "no reset before the hold expired (first %.1f s after the "
              "kill)" % ((first - (t_kill - e2e._t0)) if resets else -1))
    time.sleep(max(0, HOLD + 1.0 - (time.monotonic() - t_kill)))
    held = soaklib.hold_elements()
    ck.expect(not held, "no hold element %d s after the kill: %s"
              % (HOLD + 1, held))
    ck.done()


def case_address_absent(t, port):
    """Restored on host b while the service address is still on a: one
    clear line per connection, the program runs on, b holds nothing
    after the hold expires; once the address is on b, the same image
    restores there."""
    soaklib.need_root_and("ip", "nft")
    ck = Checks()
    soaklib.sweep_stale_hosts(HOSTS_STEM)
    prefix = "%s-%d" % (HOSTS_STEM, os.getpid())
    t.closers.append(lambda: hosts.topology("down", prefix))
    hosts.topology("up", prefix)
    with hosts.netns(prefix, "switch"):
        t.rst = RstCounter(ifname="")
    t.closers.append(t.rst.close)
    on_a, on_b = hosts.on(prefix, "a"), hosts.on(prefix, "b")
    # a's hold outlasts this case; b's (from the failed restore) is short
    g1 = start(t, 1, port, wrap=on_a, bind="::", hold=60)
    with hosts.netns(prefix, "client"):
        cl = [ProtoClient.connect(t, "v%d" % f, (hosts.SVC[f], port), f)
              for f in (4, 6)]
    for c in cl:
        c.request()
    run_clients(cl, 10, "warm-up")
    g1.checkpoint(2)
    d = os.path.join(t.tmp, "host-b")
    os.makedirs(d, mode=0o700)
    image = os.path.join(d, "srv.1.img")
    shutil.copy2(g1.image, image)

    g2 = start(t, 2, port, restore=image, wrap=on_b, bind="::")
    t0 = time.monotonic()
    time.sleep(0.3)
    lines = g2.shim_log().splitlines()
    for line in lines:
        log("on b: " + line)
    failed = [line for line in lines if "failed" in line]
    ck.expect(len(failed) == 2 and all(
        "Cannot assign requested address" in line or "EADDRNOTAVAIL" in line
        for line in failed),
        "one line per connection says the address is not on this host")
    ck.expect(g2.proc.alive(), "the program runs on")
    with hosts.netns(prefix, "client"):
        fresh = ProtoClient.connect(t, "fresh", ("10.77.0.3", port), 5)
    fresh.request()
    try:
        run_clients([fresh], 5, "a new connection to host b")
        ck.expect(True, "host b's server serves a new connection")
    except Failure as e:
        ck.expect(False, "host b's server serves a new connection: %s" % e)
    held_b = soaklib.hold_elements(on_b)
    log("hold on b right after: %d element(s)" % len(held_b))
    time.sleep(max(0, HOLD + 1.0 - (time.monotonic() - t0)))
    held_b = soaklib.hold_elements(on_b)
    ck.expect(not held_b, "no hold element on b %d s later: %s"
              % (HOLD + 1, held_b))
    ck.expect(len(soaklib.hold_elements(on_a)) == 2,
              "a still holds the 2 peers (its hold lasts 60 s)")
    resets = t.rst.count()
    ck.expect(not resets, "no reset on the wire so far (%d)" % len(resets))

    # the address arrives on b: the same image, the same connections
    g2.proc.kill()
    subprocess.run(on_b + [e2e.TOOL, "hold", image], check=True, timeout=20,
                   stdout=subprocess.DEVNULL)
    hosts.topology("move", prefix, "b")
    g3 = start(t, 3, port, restore=image, wrap=on_b, bind="::")
    for c in cl:
        c.request()
    try:
        run_clients(cl, 10, "after the address moved")
        ck.expect(True, "with the address on b the image restores and both "
                  "clients carry on")
    except Failure as e:
        ck.expect(False, "with the address on b the image restores: %s\n%s"
                  % (e, g3.shim_log()))
    resets = t.rst.count()
    ck.expect(not resets, "no reset on the wire (%d)" % len(resets))
    ck.done()


CASES = [(s, lambda t, p, s=s: case_kill(t, s, p)) for s in STEPS] + [
    ("no-restart", case_no_restart),
    ("address-absent", case_address_absent),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", action="append",
                    choices=[n for n, _ in CASES])
    args = ap.parse_args()
    e2e.enter_netns()
    e2e.tap = True
    cases = [c for c in CASES if not args.case or c[0] in args.case]
    print("1..%d" % len(cases), flush=True)
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for i, (name, fn) in enumerate(cases, 1):
        if not shutil.which("strace") and name != "address-absent":
            print("ok %d - %s # SKIP strace not found" % (i, name))
            counts["skipped"] += 1
            continue
        t = Test("fault-" + name, deadline=90)
        rc = t.run(lambda t: fn(t, 7100 + i), exit=False)
        if rc == e2e.SKIP:
            print("ok %d - %s # SKIP %s" % (i, name, t.skip_reason),
                  flush=True)
            counts["skipped"] += 1
        else:
            counts["passed" if rc == 0 else "failed"] += 1
            print("%s %d - %s" % ("ok" if rc == 0 else "not ok", i, name),
                  flush=True)
    print("# faults: %(passed)d passed, %(failed)d failed, %(skipped)d "
          "skipped" % counts, flush=True)
    os._exit(1 if counts["failed"] else 0)


if __name__ == "__main__":
    main()
