#!/usr/bin/env bash
# Smoke run of the benchmark suite: `bench/run --smoke --here` and
# `bench/churn --smoke --here` on tiny data in this throwaway cluster. Checks
# that every benchmark script runs, that both sides of each comparison do the
# same work (bench/run checks that itself) and that every ratio is printed.
# Timings are not judged: benchmarks are not tests.
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
            "bulk scaling" "Control: log_out_everywhere" "Control: bulk change"; do
    if grep -F "| $what" <<<"$out" | grep -Eq '\| [0-9]+\.[0-9]+× \|'; then
        echo "ok: ratio printed for '$what'"
    else
        echo "FAIL: no ratio printed for '$what'"
        fail=1
    fi
done

echo "running bench/churn --smoke --here"
if ! churn=$(CHURN_DB=churn_smoke bench/churn --smoke --here 2>&1); then
    echo "$churn"
    echo "FAIL: bench/churn --smoke exited non-zero"
    exit 1
fi
echo "$churn"
for what in "revoking UPDATE: plain [0-9.]+ ms, restating subject [0-9.]+ ms \\([0-9.]+×\\)" \
            "\\| subject \\| [0-9]+ pages \\| [0-9]+ pages \\| [0-9.]+× \\|" \
            "\\| extra \\| [0-9]+ pages"; do
    if grep -Eq "$what" <<<"$churn"; then
        echo "ok: bench/churn printed /$what/"
    else
        echo "FAIL: bench/churn did not print /$what/"
        fail=1
    fi
done
[ "$(grep -Ec 'revoking UPDATE: plain [0-9.]+ ms' <<<"$churn")" = 2 ] ||
    { echo "FAIL: bench/churn did not report both runs"; fail=1; }
[ "$fail" = 0 ] || exit 1
echo "PASS: every benchmark ran and printed its ratio"
