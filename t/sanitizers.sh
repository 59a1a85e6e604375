#!/bin/bash
# Issue 5.7: memory errors and undefined behaviour, with the server loading
# an instrumented build of the extension.
#
# Why not AddressSanitizer in the server: Debian's postgres is not built
# with ASan, so the ASan runtime would have to be LD_PRELOADed; it then
# initializes lazily on the first malloc, which happens inside
# libgpg-error's constructor (bindtextdomain, holding glibc's gettext lock),
# and ASan's initialization calls dlerror() -> dcgettext(), which waits for
# that same lock: every postgres process, even "postgres -V", hangs before
# main() (seen with both gcc 12's libasan and clang 14's runtime).  So:
#
#  A. UndefinedBehaviorSanitizer: the sources are copied to a temporary
#     directory and built with -fsanitize=undefined -fno-sanitize-recover=all
#     (no preload needed: libubsan initializes when the server dlopens the
#     library), installed with DESTDIR into the temporary directory, and
#     this cluster's extension_destdir (a Debian setting) points there; the
#     system-wide installation is never touched.  The full regression and
#     isolation suites run against it; any "runtime error" aborts the
#     backend and fails the test.
#  B. Valgrind memcheck: the server itself runs under valgrind (backends are
#     forked, so they are checked too) with the same library, for the
#     regression and isolation suites (about a minute more than without).
#     Debian does not ship PostgreSQL's src/tools/valgrind.supp, and a
#     non-USE_VALGRIND server reports some harmless errors of its own
#     (uninitialised padding written to files and sockets); so the test fails
#     on any memcheck error with a frame in the extension's code, and only
#     counts the others.
#  Negative controls: t/sanitizer/selftest.c (a heap overflow and a signed
#  overflow, same flags, same server) must be reported by each phase.
# Takes a few minutes.
set -euo pipefail
. "$(dirname "$0")/lib/robust.bash"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
V=${PGVERSION:-15}
SAN="-fsanitize=undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g"
BUILD=$TMPD/build
INST=$TMPD/inst
REPORTS=$TMPD/reports
mkdir -p "$BUILD" "$INST" "$REPORTS"
chmod 1777 "$REPORTS"
LOG=$(server_log)
DATA=$(q postgres "SHOW data_directory")
CONF=$(q postgres "SHOW config_file")
BINDIR=$("$PG_CONFIG" --bindir)
PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)

say "--- building the instrumented extension"
(cd "$ROOT" && tar cf - Makefile ./*.control src sql test 2>/dev/null) | tar xf - -C "$BUILD"
find "$BUILD" \( -name '*.o' -o -name '*.bc' -o -name '*.so' \) -delete
# with_llvm=no: no JIT bitcode (clang, without the sanitizer).
make -C "$BUILD" -s with_llvm=no COPT="$SAN" PG_CONFIG="$PG_CONFIG" >"$TMPD/build.log" 2>&1 \
    || { cat "$TMPD/build.log"; bad "instrumented build failed"; finish; }
make -C "$BUILD" -s with_llvm=no COPT="$SAN" PG_CONFIG="$PG_CONFIG" install DESTDIR="$INST" >>"$TMPD/build.log" 2>&1
SO=$INST$PKGLIBDIR/logout_everywhere.so
if [ -f "$SO" ] && ldd "$SO" | grep libubsan >/dev/null; then
    ok "instrumented library built (links $(ldd "$SO" | awk '/libubsan/ {print $1}'))"
else
    cat "$TMPD/build.log"; bad "no instrumented library at $SO"; finish
fi
# Built like the extension (from the build copy, relative source path), so
# that the negative control also proves that memcheck frames in code built
# there are recognised (by their source path under $BUILD).
mkdir -p "$BUILD/selftest"
cp "$ROOT/t/sanitizer/selftest.c" "$BUILD/selftest/"
(cd "$BUILD" && gcc $("$PG_CONFIG" --cflags_sl) -I"$("$PG_CONFIG" --includedir-server)" $SAN -shared \
    -o "$INST$PKGLIBDIR/le_sanitizer_selftest.so" selftest/selftest.c)
chmod -R a+rX "$TMPD"

stop_server() {
    local attempt
    # pg_ctlcluster asks ps whether the pid file's process runs; retry.
    for attempt in 1 2 3 4 5; do
        pg_ctlcluster "$V" regress stop 2>/dev/null || true
        pg_isready -q || return 0
        sleep 1
    done
    bad "could not stop the server"; finish
}
ready_count() { grep -c "ready to accept connections" "$LOG" || true; }
# wait_cycle N: wait for the postmaster's next "ready" (after a crash).
wait_cycle() {
    local i
    for i in $(seq 1 1200); do
        [ "$(ready_count)" -gt "$1" ] && break
        sleep 0.1
    done
    wait_server
}
selftest_functions() {
    q postgres "DROP DATABASE IF EXISTS le_sanitizer"
    q postgres "CREATE DATABASE le_sanitizer"
    q le_sanitizer "CREATE FUNCTION le_asan_selftest(int) RETURNS int LANGUAGE c AS '\$libdir/le_sanitizer_selftest', 'le_asan_selftest';
                    CREATE FUNCTION le_ubsan_selftest(int) RETURNS int LANGUAGE c AS '\$libdir/le_sanitizer_selftest', 'le_ubsan_selftest'"
}
loads_instrumented_library() {
    local maps
    maps=$(q le_sanitizer "CREATE EXTENSION IF NOT EXISTS logout_everywhere; LOAD '\$libdir/logout_everywhere'; SELECT pg_read_file('/proc/self/maps')" || true)
    grep -q "$SO" <<<"$maps"
}
# run_suites NAME ARGS...: make installcheck in the build copy (regress and
# isolation; the copy has no t/*.pl for TAP_TESTS).
run_suites() {
    local name=$1; shift
    set +e
    make -C "$BUILD" -s with_llvm=no PG_CONFIG="$PG_CONFIG" installcheck TAP_TESTS= "$@" >"$TMPD/$name.log" 2>&1
    local rc=$?
    set -e
    grep -E '^(ok|not ok) |^test .* \.\.\. |^     [a-z_]+ +\.\.\. |tests? (passed|failed)' "$TMPD/$name.log" | tail -40 || true
    if [ $rc -ne 0 ]; then
        say "NOTE: $name: the suites had failures (rc=$rc); the normal installcheck judges results. Diffs:"
        find "$BUILD" -name regression.diffs -exec head -60 {} \;
        find "$BUILD" -name regression.diffs -delete
    fi
    check "$name: the suites ran" \
        "$(grep -c -E '^(ok|not ok) +[0-9]+|^test .* \.\.\. |^     [a-z_]+ +\.\.\. ' "$TMPD/$name.log" | awk '{print ($1 > 0)}')" 1
}

say "=== A. UndefinedBehaviorSanitizer, regression + isolation suites"
pg_conftool "$V" regress set extension_destdir "$INST"
echo "UBSAN_OPTIONS = 'print_stacktrace=1:halt_on_error=1:log_path=$REPORTS/ubsan'" \
    >>"${PG_CLUSTER_CONF_ROOT:-/etc/postgresql}/$V/regress/environment"
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
# UBSan writes to stderr, i.e. the server log (or to log_path when
# pg_ctlcluster passes UBSAN_OPTIONS from the cluster's environment file).
ubsan_reports() { { cat "$REPORTS"/ubsan.* 2>/dev/null || true; grep -A12 "runtime error:" "$LOG" || true; } | grep -v '^\s*$' || true; }
if ubsan_reports | grep "signed integer overflow" >/dev/null; then
    ok "negative control: UBSan reports a deliberate signed overflow and the backend aborts"
else
    bad "negative control: UBSan did not report the deliberate signed overflow"
fi
mkdir "$TMPD/selftest" && mv "$REPORTS"/* "$TMPD/selftest/" 2>/dev/null || true
q postgres "DROP DATABASE le_sanitizer"
ubsan_before=$(grep -c "runtime error:" "$LOG" || true)
crashes=$(grep -c -E "terminated by signal|was terminated by exception" "$LOG" || true)
run_suites ubsan
if [ -z "$(ls "$REPORTS")" ] && [ "$(grep -c "runtime error:" "$LOG" || true)" -eq "$ubsan_before" ]; then
    ok "UBSan: no report from the suites"
else
    bad "UBSan reports:"; ubsan_reports | tail -n +3 | head -80
fi
check "UBSan: no backend crashed during the suites" \
    "$(grep -c -E "terminated by signal|was terminated by exception" "$LOG" || true)" "$crashes"

say "=== B. valgrind memcheck, regression + isolation suites"
if ! command -v valgrind >/dev/null; then bad "valgrind not installed (apt-get install valgrind)"; finish; fi
stop_server
OWNER=$(stat -c %U "$DATA")
as_owner() {
    if [ "$(id -un)" = "$OWNER" ]; then "$@"; else runuser -u "$OWNER" -- "$@"; fi
}
as_owner env UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$REPORTS/ubsan" \
    valgrind --tool=memcheck --leak-check=no --error-limit=no --num-callers=40 \
        --fullpath-after= --log-file="$REPORTS/memcheck.%p" \
        "$BINDIR/postgres" -D "$DATA" -c config_file="$CONF" -c huge_pages=off \
        >>"$LOG" 2>&1 &
VG=$!
BG_PIDS+=("$VG")
for i in $(seq 1 1200); do pg_isready -q && break; sleep 0.1; done
wait_server
say "server running under valgrind"
# errors_in FILES PATTERN: memcheck error blocks (between blank lines) with
# a frame matching PATTERN.
errors_in() {
    local pattern=$1; shift
    cat "$@" 2>/dev/null | awk -v pat="$pattern" '
        /^==[0-9]+== *$/ { if (blk != "" && blk ~ pat && blk ~ /(Invalid|uninitialised|Uninitialised|Mismatched|free\(\)|overlap|Syscall param)/) n++; blk = ""; next }
        /^==[0-9]+== / { blk = blk "\n" $0 }
        END { if (blk != "" && blk ~ pat && blk ~ /(Invalid|uninitialised|Uninitialised|Mismatched|free\(\)|overlap|Syscall param)/) n++; print n + 0 }'
}
selftest_functions
q le_sanitizer "SELECT le_asan_selftest(8)" >/dev/null 2>&1 || true
if [ "$(errors_in "$BUILD/selftest/selftest\\.c" "$REPORTS"/memcheck.*)" -gt 0 ]; then
    ok "negative control: memcheck reports the deliberate heap overflow"
else
    bad "negative control: memcheck did not report the deliberate heap overflow"
fi
q postgres "DROP DATABASE le_sanitizer"
mkdir "$TMPD/vg_selftest" && mv "$REPORTS"/memcheck.* "$TMPD/vg_selftest/" 2>/dev/null || true
run_suites memcheck
ours=$(errors_in "$BUILD/" "$REPORTS"/memcheck.*)
all=$(errors_in "" "$REPORTS"/memcheck.*)
say "memcheck: $all report block(s) in total, $ours with a frame in the extension; the reported errors by kind:"
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
wait "$VG" 2>/dev/null || true
pg_conftool "$V" regress remove extension_destdir
pg_ctlcluster "$V" regress start
wait_server
finish
