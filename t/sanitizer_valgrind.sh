#!/bin/bash
# Issue 5.7, memory errors: the server itself runs under valgrind memcheck
# (backends are forked, so they are checked too), loading the instrumented
# build of the extension (the UBSan build of t/lib/sanitizer.bash, so a UBSan
# report fails this test too), for the regression tests and isolation specs
# named in MEMCHECK_REGRESS and MEMCHECK_ISOLATION (t/lib/sanitizer.bash),
# side by side (each keeps a core busy; they work in databases of their own).
# Those tests reach every line of the extension's C that the whole suites
# reach; t/sanitizer_ubsan.sh checks that on every run.
# Debian does not ship PostgreSQL's src/tools/valgrind.supp, and a
# non-USE_VALGRIND server reports some harmless errors of its own
# (uninitialised padding written to files and sockets); so the test fails on
# any memcheck error with a frame in the extension's code, and only counts the
# others.  t/sanitizer/valgrind.supp suppresses one false report that has
# frames of the extension's: see there.
# Negative control: a deliberate heap overflow (t/sanitizer/selftest.c, built
# like the extension, same server) must be reported first.
# The same suites with UBSan and no valgrind: t/sanitizer_ubsan.sh.
# The longest t/*.sh script: everything runs many times slower under valgrind.
set -euo pipefail
. "$(dirname "$0")/lib/robust.bash"
. "$(dirname "$0")/lib/sanitizer.bash"

OWNER=$(stat -c %U "$DATA")
as_owner() {
    if [ "$(id -un)" = "$OWNER" ]; then "$@"; else runuser -u "$OWNER" -- "$@"; fi
}
# errors_in PATTERN FILES: memcheck error blocks (between blank lines) with
# a frame matching PATTERN.
errors_in() {
    local pattern=$1; shift
    cat "$@" 2>/dev/null | awk -v pat="$pattern" '
        /^==[0-9]+== *$/ { if (blk != "" && blk ~ pat && blk ~ /(Invalid|uninitialised|Uninitialised|Mismatched|free\(\)|overlap|Syscall param)/) n++; blk = ""; next }
        /^==[0-9]+== / { blk = blk "\n" $0 }
        END { if (blk != "" && blk ~ pat && blk ~ /(Invalid|uninitialised|Uninitialised|Mismatched|free\(\)|overlap|Syscall param)/) n++; print n + 0 }'
}
if ! command -v valgrind >/dev/null; then bad "valgrind not installed (apt-get install valgrind)"; finish; fi
build_instrumented

say "=== valgrind memcheck, the tests that reach every line the suites reach"
install -m 644 "$ROOT/t/sanitizer/valgrind.supp" "$TMPD/"    # readable by the server's OS user
stop_server
as_owner env UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$REPORTS/ubsan" \
    valgrind --tool=memcheck --leak-check=no --error-limit=no --num-callers=40 \
        --suppressions="$TMPD/valgrind.supp" \
        --fullpath-after= --log-file="$REPORTS/memcheck.%p" \
        "$BINDIR/postgres" -D "$DATA" -c config_file="$CONF" -c huge_pages=off \
        >>"$LOG" 2>&1 &
vg=$!
BG_PIDS+=("$vg")
for i in $(seq 1 1200); do pg_isready -q && break; sleep 0.1; done
wait_server
say "server running under valgrind"
selftest_functions
if loads_instrumented_library; then ok "the server under valgrind loads the instrumented library from extension_destdir"
else bad "the server under valgrind did not load $SO"; finish; fi
q le_sanitizer "SELECT le_asan_selftest(8)" >/dev/null 2>&1 || true
if [ "$(errors_in "$BUILD/selftest/selftest\\.c" "$REPORTS"/memcheck.*)" -gt 0 ]; then
    ok "negative control: memcheck reports the deliberate heap overflow"
else
    bad "negative control: memcheck did not report the deliberate heap overflow"
fi
q postgres "DROP DATABASE le_sanitizer"
mkdir "$TMPD/vg_selftest" && mv "$REPORTS"/memcheck.* "$TMPD/vg_selftest/" 2>/dev/null || true
ubsan_before=$(grep -c "runtime error:" "$LOG" || true)
run_suites memcheck "regress=${MEMCHECK_REGRESS[*]}" "isolation=${MEMCHECK_ISOLATION[*]}"
ours=$(errors_in "$BUILD/" "$REPORTS"/memcheck.*)
all=$(errors_in "" "$REPORTS"/memcheck.*)
suppressed=$(sed -n 's/.*ERROR SUMMARY:.*(suppressed: \([0-9]*\) from.*/\1/p' "$REPORTS"/memcheck.* 2>/dev/null \
    | awk '{ n += $1 } END { print n + 0 }')
say "memcheck: $all report block(s) in total, $ours with a frame in the extension" \
    "($suppressed suppressed by t/sanitizer/valgrind.supp); the reported errors by kind:"
cat "$REPORTS"/memcheck.* 2>/dev/null | sed -n 's/^==[0-9]*== \([A-Z][a-z]* [a-z(].*\)/  \1/p' \
    | grep -v -E '^  (Memcheck|Copyright|Using|Command|Parent|For |Use )' | sort | uniq -c | sort -rn | head -8 || true
if [ "$ours" -eq 0 ]; then
    ok "memcheck: no error in the extension's code"
else
    bad "memcheck errors in the extension:"
    grep -l "$BUILD/" "$REPORTS"/memcheck.* | head -3 | xargs -r sed -n '1,120p'
fi
check "memcheck: no UBSan report either" "$(ls "$REPORTS" | grep -c ubsan || true)/$(grep -c "runtime error:" "$LOG" || true)" "0/$ubsan_before"

say "--- back to the normal server"
pm=$(head -1 "$DATA/postmaster.pid")
kill -INT "$pm"          # fast shutdown of the postmaster under valgrind
for i in $(seq 1 600); do kill -0 "$pm" 2>/dev/null || break; sleep 0.1; done
wait "$vg" 2>/dev/null || true
pg_conftool "$V" regress remove extension_destdir
pg_ctlcluster "$V" regress start
wait_server
finish
