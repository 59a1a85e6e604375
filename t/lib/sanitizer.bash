# Shared by the sanitizer scripts, t/sanitizer_ubsan.sh and
# t/sanitizer_valgrind.sh (sourced after robust.bash, not run).  They are two
# scripts, not one, so that scripts/test can run them beside other suites.
#
# Both load an instrumented build of the extension into this throwaway
# cluster: the sources are copied to a temporary directory and built with
# -fsanitize=undefined -fno-sanitize-recover=all (no preload needed: libubsan
# initializes when the server dlopens the library), installed with DESTDIR
# into the temporary directory, and this cluster's extension_destdir (a Debian
# setting) points there; the system-wide installation is never touched.
# Negative controls: t/sanitizer/selftest.c (a heap overflow and a signed
# overflow, same flags, same server) must be reported.
#
# Why not AddressSanitizer in the server: Debian's postgres is not built
# with ASan, so the ASan runtime would have to be LD_PRELOADed; it then
# initializes lazily on the first malloc, which happens inside
# libgpg-error's constructor (bindtextdomain, holding glibc's gettext lock),
# and ASan's initialization calls dlerror() -> dcgettext(), which waits for
# that same lock: every postgres process, even "postgres -V", hangs before
# main() (seen with both gcc 12's libasan and clang 14's runtime).

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
SO=$INST$PKGLIBDIR/logout_everywhere.so

# The tests that t/sanitizer_valgrind.sh runs under memcheck: together they
# reach every line of the extension's C that the whole regression and
# isolation suites reach, in about a third of the time (under memcheck the
# whole suites take several minutes; the rest repeat code paths these already
# run, with other data or interleavings). t/sanitizer_ubsan.sh checks that
# claim on every run, from gcov line counts, and names any line that only
# the other tests reach: add a test that reaches it here.
MEMCHECK_REGRESS=(checks ddl errors expunge lock_coverage password_trigger postgrest
                  privileges purposes revocation table_shapes)
MEMCHECK_ISOLATION=(concurrency_privileges concurrency_tables concurrency_upgrade
                    concurrency_yield notify_revocations user_lookup_snapshot)

# build_instrumented [--coverage]: the extension and the negative control,
# into $INST; with --coverage, also gcov counters (written by each backend
# when it exits, to $BUILD/src: see covered_lines). Stops the script when the
# build fails.
build_instrumented() {
    local copt=$SAN
    [ "${1:-}" = --coverage ] && copt="$SAN --coverage"
    say "--- building the instrumented extension"
    (cd "$ROOT" && tar cf - Makefile ./*.control src sql test 2>/dev/null) | tar xf - -C "$BUILD"
    find "$BUILD" \( -name '*.o' -o -name '*.bc' -o -name '*.so' \) -delete
    # with_llvm=no: no JIT bitcode (clang, without the sanitizer).
    make -C "$BUILD" -s -j"$(nproc 2>/dev/null || echo 2)" with_llvm=no COPT="$copt" PG_CONFIG="$PG_CONFIG" \
        >"$TMPD/build.log" 2>&1 \
        || { cat "$TMPD/build.log"; bad "instrumented build failed"; finish; }
    make -C "$BUILD" -s with_llvm=no COPT="$copt" PG_CONFIG="$PG_CONFIG" install DESTDIR="$INST" >>"$TMPD/build.log" 2>&1
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
    chmod a+w "$BUILD/src"     # the server's OS user writes the gcov counters there
    pg_conftool "$V" regress set extension_destdir "$INST"
}

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
# UBSan writes to stderr, i.e. the server log (or to log_path when
# UBSAN_OPTIONS, from the cluster's environment file or the command line, says so).
ubsan_reports() { { cat "$REPORTS"/ubsan.* 2>/dev/null || true; grep -A12 "runtime error:" "$LOG" || true; } | grep -v '^\s*$' || true; }

# run_suites NAME SUITE...: make installcheck in the build copy (the copy has
# no t/*.pl for TAP_TESTS) of each SUITE, all at the same time: "regress" or
# "isolation" for the whole suite, "regress=TEST..." or "isolation=TEST..."
# for those tests. Each suite works in databases of its own
# (contrib_regression and the regress_le_* databases its tests make;
# isolation_regression).
run_suites() {
    local name=$1 suite kind tests pid pids=() rc=0 labels=()
    shift
    [ $# -gt 0 ] || { bad "run_suites $name: no suite named"; finish; }
    for suite in "$@"; do
        kind=${suite%%=*}
        tests=()
        if [ "$kind" = regress ]; then read -r -a tests <<<"$(suite_tests regress)"; fi
        if [ "$kind" = isolation ]; then read -r -a tests <<<"$(suite_tests isolation)"; fi
        [ "$suite" != "$kind" ] && read -r -a tests <<<"${suite#*=}"
        [ ${#tests[@]} -gt 0 ] || continue
        labels+=("$kind")
        case $kind in
            regress)   make -C "$BUILD" -s with_llvm=no PG_CONFIG="$PG_CONFIG" installcheck TAP_TESTS= ISOLATION= \
                           REGRESS="${tests[*]}" ;;
            isolation) make -C "$BUILD" -s with_llvm=no PG_CONFIG="$PG_CONFIG" installcheck TAP_TESTS= REGRESS= \
                           ISOLATION="${tests[*]}" ;;
            *)         echo "run_suites: no suite $kind"; exit 1 ;;
        esac >"$TMPD/$name.$kind.log" 2>&1 &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || rc=$?; done
    SUITES_RC=$rc
    for kind in "${labels[@]}"; do
        grep -E '^(ok|not ok) |^test .* \.\.\. |^     [a-z_]+ +\.\.\. |tests? (passed|failed)' "$TMPD/$name.$kind.log" | tail -40 || true
        check "$name: the $kind tests ran" \
            "$(grep -c -E '^(ok|not ok) +[0-9]+|^test .* \.\.\. |^     [a-z_]+ +\.\.\. ' "$TMPD/$name.$kind.log" | awk '{print ($1 > 0)}')" 1
    done
    if [ $rc -ne 0 ]; then
        say "NOTE: $name: the suites had failures (rc=$rc); the normal installcheck judges results. Diffs:"
        find "$BUILD" -name regression.diffs -exec head -60 {} \;
        find "$BUILD" -name regression.diffs -delete
    fi
}

# suite_tests regress|isolation [EXCEPT...]: the suite's tests in the build
# copy (what the Makefile's wildcards find), but EXCEPT.
suite_tests() {
    local kind=$1 f n out=() except
    shift
    except=" $* "
    case $kind in
        regress)   for f in "$BUILD"/test/sql/*.sql; do n=$(basename "$f" .sql)
                       [[ $except == *" $n "* ]] || out+=("$n"); done ;;
        isolation) for f in "$BUILD"/test/specs/*.spec; do n=$(basename "$f" .spec)
                       [[ $except == *" $n "* ]] || out+=("$n"); done ;;
    esac
    echo "${out[*]}"
}

# covered_lines OUT: the lines of src/*.c and src/*.h that ran since the
# last call (their gcov count is not zero), as "FILE:LINE", sorted, into
# OUT; then zeroes the counters. A backend writes its counters when it
# exits, after it has left pg_stat_activity: a restart of the server makes
# sure that every one has.
covered_lines() {
    local out=$1 f c missing=0
    stop_server
    pg_ctlcluster "$V" regress start
    wait_server
    # gcov reads the sources by the relative paths they were compiled with,
    # and writes a FILE.gcov for each into the current directory (a header's
    # counts summed over the sources that include it)
    (cd "$BUILD" && gcov -o src src/*.c >"$TMPD/gcov.log" 2>&1) || { cat "$TMPD/gcov.log"; bad "gcov failed"; }
    for c in "$BUILD"/src/*.c; do
        [ -f "$BUILD/$(basename "$c").gcov" ] || { missing=1; bad "gcov wrote no $(basename "$c").gcov"; }
    done
    [ "$missing" = 0 ] || cat "$TMPD/gcov.log"
    # a .gcov line is "COUNT:LINE:SOURCE", the first ones "-:0:Source:PATH";
    # COUNT is "-" (no code), "#####" (never ran), or a number, with "*" when
    # part of the line did not run. Only the extension's own files count.
    for f in "$BUILD"/*.gcov; do
        [ -f "$f" ] || continue
        awk -F: '$2 + 0 == 0 && $3 == "Source" { file = $4; next }
                 file ~ /^src\// && $2 + 0 > 0 { c = $1; gsub(/[ *]/, "", c); if (c ~ /^[0-9]+$/ && c > 0) print file ":" ($2 + 0) }' "$f"
    done | sort -u >"$out"
    rm -f "$BUILD"/*.gcov
    find "$BUILD/src" -name '*.gcda' -delete 2>/dev/null || true
}
