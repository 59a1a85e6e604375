#!/bin/bash
# Issue 5.7, undefined behaviour: the server loads a build of the extension
# with UndefinedBehaviorSanitizer (-fsanitize=undefined
# -fno-sanitize-recover=all; see t/lib/sanitizer.bash for how it is built and
# loaded, and why not ASan) and runs the full regression and isolation suites
# against it; any "runtime error" aborts the backend and fails the test.
# Negative control: a deliberate signed overflow (t/sanitizer/selftest.c,
# same flags, same server) must be reported first.
# The same suites under valgrind memcheck: t/sanitizer_valgrind.sh.
set -euo pipefail
. "$(dirname "$0")/lib/robust.bash"
. "$(dirname "$0")/lib/sanitizer.bash"

build_instrumented

say "=== UndefinedBehaviorSanitizer, regression + isolation suites"
echo "UBSAN_OPTIONS = 'print_stacktrace=1:halt_on_error=1:log_path=$REPORTS/ubsan'" \
    >>"${PG_CLUSTER_CONF_ROOT:-/etc/postgresql}/$V/regress/environment"
# a restart, for the environment file and extension_destdir
stop_server
pg_ctlcluster "$V" regress start
wait_server
selftest_functions
if loads_instrumented_library; then ok "the server loads the instrumented library from extension_destdir"
else bad "the server did not load $SO"; finish; fi
check "no report before the deliberate error" "$(ls "$REPORTS" | wc -l)" 0
r=$(ready_count)
q le_sanitizer "SELECT le_ubsan_selftest(1)" >/dev/null 2>&1 && bad "signed overflow was not caught" || true
wait_cycle "$r"
if ubsan_reports | grep "signed integer overflow" >/dev/null; then
    ok "negative control: UBSan reports a deliberate signed overflow and the backend aborts"
else
    bad "negative control: UBSan did not report the deliberate signed overflow"
fi
mkdir "$TMPD/selftest" && mv "$REPORTS"/* "$TMPD/selftest/" 2>/dev/null || true
q postgres "DROP DATABASE le_sanitizer"
ubsan_before=$(grep -c "runtime error:" "$LOG" || true)
crashes=$(grep -c -E "terminated by signal|was terminated by exception" "$LOG" || true)
run_suites ubsan regress isolation
if [ -z "$(ls "$REPORTS")" ] && [ "$(grep -c "runtime error:" "$LOG" || true)" -eq "$ubsan_before" ]; then
    ok "UBSan: no report from the suites"
else
    bad "UBSan reports:"; ubsan_reports | tail -n +3 | head -80
fi
check "UBSan: no backend crashed during the suites" \
    "$(grep -c -E "terminated by signal|was terminated by exception" "$LOG" || true)" "$crashes"
finish
