#!/bin/sh
# SPDX-License-Identifier: MIT
#
# test-iceoryx-rounds.sh PSYNE-BENCH: thirty short iceoryx rounds, each two fresh processes
# that register with RouDi, stream and leave (pinned: the other placements would run the
# cell four times over). A child that hangs on its way out times its round out and fails
# the run. Exits 77 (skipped) when RouDi cannot run here, for instance because another RouDi
# holds its lock.
set -u

bench=$1
out=$("$bench" --only iceoryx --placement pinned --sizes 64 --rounds 30 --round-ms 100 \
	--timeout 10 2>&1)
rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne 0 ]; then
	echo "test-iceoryx-rounds: psyne-bench exited with status $rc"
	exit 1
fi
if printf '%s\n' "$out" | grep -q 'skipped: RouDi not running'; then
	echo "test-iceoryx-rounds: skipped, RouDi could not start"
	exit 77
fi
if ! printf '%s\n' "$out" | grep -q 'round 30 iceoryx'; then
	echo "test-iceoryx-rounds: the thirtieth round did not run"
	exit 1
fi
exit 0
