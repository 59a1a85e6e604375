#!/bin/bash
# Issue 5.7, undefined behaviour: the server loads a build of the extension
# with UndefinedBehaviorSanitizer (-fsanitize=undefined
# -fno-sanitize-recover=all; see t/lib/sanitizer.bash for how it is built and
# loaded, and why not ASan) and runs the full regression and isolation suites
# against it; any "runtime error" aborts the backend and fails the test.
# Negative control: a deliberate signed overflow (t/sanitizer/selftest.c,
# same flags, same server) must be reported first.
# The build also counts lines (gcov): the suites run in two parts, first the
# tests that t/sanitizer_valgrind.sh runs under memcheck (MEMCHECK_REGRESS
# and MEMCHECK_ISOLATION in t/lib/sanitizer.bash), then the others, and the
# test fails if the others reach a line of the extension's C that the
# memcheck tests do not: memcheck would never have seen that line run.
set -euo pipefail
. "$(dirname "$0")/lib/robust.bash"
. "$(dirname "$0")/lib/sanitizer.bash"

build_instrumented --coverage

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
for t in "${MEMCHECK_REGRESS[@]}"; do [ -f "$BUILD/test/sql/$t.sql" ] || bad "MEMCHECK_REGRESS: no test/sql/$t.sql"; done
for t in "${MEMCHECK_ISOLATION[@]}"; do [ -f "$BUILD/test/specs/$t.spec" ] || bad "MEMCHECK_ISOLATION: no test/specs/$t.spec"; done
covered_lines "$TMPD/lines.before"      # forget the lines of the checks above
run_suites ubsan "regress=${MEMCHECK_REGRESS[*]}" "isolation=${MEMCHECK_ISOLATION[*]}"
# A test that fails here may have stopped before lines it reaches: the
# comparison would not be sound.
check "UBSan: the memcheck tests pass" "$SUITES_RC" 0
covered_lines "$TMPD/lines.memcheck"
run_suites ubsan "regress=$(suite_tests regress "${MEMCHECK_REGRESS[@]}")" \
    "isolation=$(suite_tests isolation "${MEMCHECK_ISOLATION[@]}")"
check "UBSan: the other tests pass" "$SUITES_RC" 0
covered_lines "$TMPD/lines.others"
# Both counts must be real (a build without counters, or counters never
# written, would make the comparison below pass on nothing).
check "gcov: the memcheck tests reached lines of the extension" \
    "$(awk 'END { print (NR > 1000) }' "$TMPD/lines.memcheck")" 1
check "gcov: the other tests reached lines of the extension" \
    "$(awk 'END { print (NR > 1000) }' "$TMPD/lines.others")" 1
missed=$(comm -13 "$TMPD/lines.memcheck" "$TMPD/lines.others")
if [ -z "$missed" ]; then
    ok "gcov: every line the suites reach ($(sort -u "$TMPD"/lines.memcheck "$TMPD"/lines.others | wc -l)) is reached by the memcheck tests"
else
    bad "gcov: lines that only tests outside MEMCHECK_REGRESS / MEMCHECK_ISOLATION reach (memcheck never sees them run):"
    while IFS=: read -r file line; do
        printf '  %s:%s: %s\n' "$file" "$line" "$(sed -n "${line}{s/^[[:space:]]*//;p}" "$ROOT/$file")"
    done < <(sort -t: -k1,1 -k2,2n <<<"$missed")
fi
if [ -z "$(ls "$REPORTS")" ] && [ "$(grep -c "runtime error:" "$LOG" || true)" -eq "$ubsan_before" ]; then
    ok "UBSan: no report from the suites"
else
    bad "UBSan reports:"; ubsan_reports | tail -n +3 | head -80
fi
check "UBSan: no backend crashed during the suites" \
    "$(grep -c -E "terminated by signal|was terminated by exception" "$LOG" || true)" "$crashes"
finish
