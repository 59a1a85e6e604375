# scripts/lib.sh — shared by scripts/test and scripts/demo (sourced, not run).
#
# le_deps    install the Debian packages the build and the tests need, when missing
# le_build   make clean, build with warnings as errors (WERROR=-Werror), make install
# le_ensure  build and install only when the installed copy is missing or stale
# le_virtualenv  pg_virtualenv -t -v 15 <command>, on a free port
#
# Everything runs from the top of the repository (the caller cd's there).

PG_MAJOR=${PG_MAJOR:-15}
export DEBIAN_FRONTEND=noninteractive

le_say() { printf '\n==> %s\n' "$*"; }
le_die() { printf 'error: %s\n' "$*" >&2; exit 2; }

# Run a command as root: directly when we are root, else through sudo.
le_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        le_die "this step needs root (or sudo): $*"
    fi
}

le_have_pkg() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# apt-get, quietly: its log is printed only when it fails.
le_apt() {
    local log rc
    log=$(mktemp "${TMPDIR:-/tmp}/le-apt.XXXXXX")
    le_root apt-get -y -q "$@" </dev/null >"$log" 2>&1
    rc=$?
    [ "$rc" -eq 0 ] || cat "$log" >&2
    rm -f "$log"
    return "$rc"
}

# Install what is missing; on a machine that has it all, this is a few dpkg
# queries and nothing else.
#   postgresql-server-dev-$PG_MAJOR  pg_config, PGXS, pg_regress, pg_isolation_regress
#   postgresql-$PG_MAJOR-cron        some script tests schedule expunge_expired with pg_cron
#   postgresql-$PG_MAJOR-plproxy     the sharding test (t/sharding.pl) routes calls with PL/Proxy
#   clang, libclang-rt-14-dev        Debian's server is built with LLVM JIT: PGXS compiles
#                                    and installs bitcode with clang
#   nodejs / npm                     script tests that act as an application client
#   make, gcc, libc6-dev             the compiler PGXS uses (pg_config's CC), not always there
#   libclang-rt-14-dev               the sanitizer runtime, for the ASan/UBSan test build
#   libipc-run-perl, perl            the TAP tests (t/*.pl): PostgreSQL::Test::Cluster needs
#                                    IPC::Run; prove comes with perl
#   python3-psycopg python3-psycopg2 ruby-pg libdbd-pg-perl libpostgresql-jdbc-java
#   default-jdk-headless (for javac, unless one is there)
#                                    the driver matrix, t/drivers.sh (its npm packages:
#                                    npm ci from examples/drivers/node/package-lock.json)
# "le_deps" is for the tests (everything); "le_deps build" only what the build
# and the demo need (no pg_cron, no Node.js).
le_deps() {
    command -v dpkg-query >/dev/null 2>&1 || le_die "not a Debian system (no dpkg-query); install the packages by hand (see README, Installation)"
    local missing=() p pkgs
    pkgs=("postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" clang make gcc libc6-dev)
    [ "${1:-}" = build ] || pkgs+=("postgresql-$PG_MAJOR-cron" "postgresql-$PG_MAJOR-plproxy"
                                   libclang-rt-14-dev valgrind
                                   perl libipc-run-perl
                                   python3-psycopg python3-psycopg2 ruby-pg libdbd-pg-perl
                                   libpostgresql-jdbc-java)
    for p in "${pkgs[@]}"; do
        le_have_pkg "$p" || missing+=("$p")
    done
    if [ "${1:-}" != build ]; then
        command -v node >/dev/null 2>&1 || missing+=(nodejs)
        command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        le_say "installing missing packages: ${missing[*]} (apt-get)"
        le_apt update || le_die "apt-get update failed"
        le_apt install --no-install-recommends "${missing[@]}" || le_die "apt-get install ${missing[*]} failed"
    fi
    # Debian's nodejs comes without npm (NodeSource's has it built in).
    if [ "${1:-}" != build ] && ! command -v npm >/dev/null 2>&1; then
        le_say "installing missing package: npm (apt-get)"
        le_apt install --no-install-recommends npm \
            || { le_apt update && le_apt install --no-install-recommends npm; } \
            || le_die "apt-get install npm failed"
    fi
    command -v pg_virtualenv >/dev/null 2>&1 || le_die "pg_virtualenv not found (package postgresql-common)"
    PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}
    [ -x "$PG_CONFIG" ] || PG_CONFIG=$(command -v pg_config)
    export PG_CONFIG
}

le_jobs() { nproc 2>/dev/null || echo 2; }

# A clean build with warnings as errors, then install.
le_build() {
    le_say "building (make clean && make, warnings are errors)"
    make -s clean PG_CONFIG="$PG_CONFIG" &&
    make -s -j"$(le_jobs)" PG_CONFIG="$PG_CONFIG" WERROR=-Werror &&
    le_say "installing (make install)" &&
    le_root make -s install PG_CONFIG="$PG_CONFIG"
}

# True when the installed extension is the one this tree builds.
le_installed_current() {
    local pkglib share f
    pkglib=$("$PG_CONFIG" --pkglibdir)
    share=$("$PG_CONFIG" --sharedir)/extension
    [ -f logout_everywhere.so ] && cmp -s logout_everywhere.so "$pkglib/logout_everywhere.so" || return 1
    cmp -s logout_everywhere.control "$share/logout_everywhere.control" || return 1
    for f in sql/logout_everywhere--*.sql; do
        cmp -s "$f" "$share/$(basename "$f")" || return 1
    done
}

# Build (incrementally) and install only if the installed copy is not current.
le_ensure() {
    make -s -j"$(le_jobs)" PG_CONFIG="$PG_CONFIG" || return 1
    if ! le_installed_current; then
        le_say "installing the extension (make install)"
        le_root make -s install PG_CONFIG="$PG_CONFIG" || return 1
    fi
}

# A port that no cluster on this machine uses: pg_virtualenv -t takes 5432 (or
# the next port its own, empty, configuration knows to be free) and fails when
# another throwaway cluster of a concurrent run already listens there.
# Ports are drawn below the kernel's ephemeral range (32768 and up on Linux),
# where client sockets (pgbench's, psql's) would otherwise take them.
le_free_port() {
    local p i low
    low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    [ "$low" -gt 12000 ] 2>/dev/null || low=32768
    for i in $(seq 1 100); do
        p=$((10000 + RANDOM % (low - 10000)))
        [ -e "/var/run/postgresql/.s.PGSQL.$p" ] && continue
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
        echo "$p"
        return 0
    done
    echo 5432
}

# pg_virtualenv -t -v $PG_MAJOR <args>, in a throwaway cluster on a free port.
le_virtualenv() {
    PGPORT=$(le_free_port) pg_virtualenv -t -v "$PG_MAJOR" "$@"
}

# True when a pg_virtualenv log shows that the cluster could not start because
# its port was taken meanwhile (worth one more try on another port).
le_port_clash() {
    grep -q 'Error: Port conflict\|could not bind IPv4 address\|Is another postmaster already running on port' "$1"
}
