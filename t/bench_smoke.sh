#!/usr/bin/env bash
# Smoke run of the benchmark suite: `bench/run --smoke --here` on tiny data in
# this throwaway cluster. Checks that every benchmark script runs, that both
# sides of each comparison do the same work (bench/run checks that itself) and
# that every ratio is printed. Timings are not judged: benchmarks are not tests.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "running bench/run --smoke --here"
if ! out=$(BENCH_DB=bench_smoke bench/run --smoke --here 2>&1); then
    echo "$out"
    echo "FAIL: bench/run --smoke exited non-zero"
    exit 1
fi
echo "$out"

fail=0
for what in "log_out_everywhere vs" "Peer 1:" "Peer 2: PL/pgSQL log_out_everywhere" \
            "token_valid vs" "Peer 2: PL/pgSQL token_valid" "UPDATE of a user" \
            "token insert" "bulk password change" "Peer 2: PL/pgSQL password trigger" \
            "bulk scaling"; do
    if grep -F "| $what" <<<"$out" | grep -Eq '\| [0-9]+\.[0-9]+× \|'; then
        echo "ok: ratio printed for '$what'"
    else
        echo "FAIL: no ratio printed for '$what'"
        fail=1
    fi
done
[ "$fail" = 0 ] || exit 1
echo "PASS: every benchmark ran and printed its ratio"
