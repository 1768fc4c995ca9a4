#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Fuzzes for a bounded time, for the meson test and for run-fuzzer alike:
#   fuzz-bounded.sh FUZZER SEEDS ARTIFACTS SECONDS [CORPUS]
# libFuzzer writes what it learns into its corpus directory, so it works on
# a copy of the seeds (a temporary one unless CORPUS is given) and the
# committed corpus never changes under a test run.  Crash reproducers go to
# ARTIFACTS, which is kept.
set -eu

if [ $# -lt 4 ] || [ $# -gt 5 ]; then
	echo "usage: $0 FUZZER SEEDS ARTIFACTS SECONDS [CORPUS]" >&2
	exit 2
fi
fuzzer=$1
seeds=$2
artifacts=$3
seconds=$4
corpus=${5:-}

if [ -z "$corpus" ]; then
	corpus=$(mktemp -d "${TMPDIR:-/tmp}/tcpcp-fuzz.XXXXXX")
	trap 'rm -rf "$corpus"' EXIT
fi
mkdir -p "$corpus" "$artifacts"
cp "$seeds"/* "$corpus"/

# -timeout: a single input taking 10 s is a hang worth a reproducer.
# UBSan must stop at its first report, or libFuzzer saves nothing.
rc=0
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
"$fuzzer" -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 \
	-print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "fuzz-bounded: the fuzzer failed (exit $rc); reproducers:" >&2
	ls -l "$artifacts" >&2
	echo "replay one with si_codec_replay FILE (image_replay for" \
		"fuzz_image); keep it in fuzz/crashes/ (crashes-image/)" >&2
fi
exit "$rc"
