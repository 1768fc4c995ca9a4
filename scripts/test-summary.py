#!/usr/bin/env python3
"""Prints 'N passed, N failed, N skipped' over every test meson ran,
counting each TAP subtest (each Criterion test) once."""
import json
import re
import sys


def count(entry):
    """(passed, failed, skipped) for one meson test."""
    lines = entry.get("stdout") or ""
    tap = [l for l in lines.splitlines() if re.match(r"(not )?ok\b", l)]
    if not tap:
        result = entry["result"]
        if result == "SKIP":
            return 0, 0, 1
        return (1, 0, 0) if result == "OK" else (0, 1, 0)
    skipped = sum(1 for l in tap if "# SKIP" in l)
    failed = sum(1 for l in tap if l.startswith("not ok"))
    passed = len(tap) - skipped - failed
    if entry["result"] not in ("OK", "SKIP") and failed == 0:
        failed = 1  # crashed or timed out after its last report
    return passed, failed, skipped


def main():
    totals = [0, 0, 0]
    with open(sys.argv[1]) as f:
        for line in f:
            for i, n in enumerate(count(json.loads(line))):
                totals[i] += n
    print("%d passed, %d failed, %d skipped" % tuple(totals))


main()
