#!/usr/bin/env bash
#
# t/packaging.sh — the version lives in one place, and the release archive is
# complete.
#
#   1. META.json (version, provides.*.version), CHANGELOG.md's latest entry and
#      the control file's default_version agree (scripts/version --check), and
#      the check does fail when any one of them differs.
#   2. META.json has what PGXN's spec 1.0.0 requires, and the files it names
#      exist.
#   3. make dist (scripts/dist) makes logout_everywhere-<X.Y.Z>.zip and .tar.gz
#      from a commit, everything under logout_everywhere-<X.Y.Z>/, with the files a
#      PGXN user needs and no build output; the extension builds from the
#      unpacked tarball alone.
#
# Needs no database.
set -euo pipefail

cd "$(dirname "$0")/.."
top=$(pwd)
ext=logout_everywhere
tmp=$(mktemp -d "${TMPDIR:-/tmp}/le-packaging.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# ------------------------------------------------------------------ 1.
version=$(scripts/version)
semver=$(scripts/version --semver)
echo "# control file: $version (PGXN $semver)"
scripts/version --check || fail "META.json / CHANGELOG.md / control file disagree"
echo "ok: META.json, CHANGELOG.md and $ext.control agree"

# A copy of the three files, one of them changed: the check must fail.
mutant() { # description sed-expression file
    rm -rf "$tmp/m" && mkdir "$tmp/m"
    cp "$ext.control" META.json CHANGELOG.md "$tmp/m/"
    sed -i "$2" "$tmp/m/$3"
    cmp -s "$3" "$tmp/m/$3" && fail "test bug: '$2' did not change $3"
    if LE_ROOT="$tmp/m" scripts/version --check 2>"$tmp/m/err"; then
        fail "scripts/version --check passed with $1"
    fi
    echo "ok: refused $1: $(head -n 1 "$tmp/m/err")"
}
mutant "another META.json version" "0,/\"version\"/s/\"version\": *\"[^\"]*\"/\"version\": \"9.9.9\"/" META.json
mutant "another provides version" '/"provides"/,/}/s/"version": *"[^"]*"/"version": "9.9.9"/' META.json
mutant "another latest CHANGELOG entry" '0,/^## /s/^## .*/## 9.9 (unreleased)/' CHANGELOG.md
mutant "another default_version" "s/^default_version = .*/default_version = '9.9'/" "$ext.control"

# ------------------------------------------------------------------ 2.
node - "$top/META.json" <<'JS' || fail "META.json is not a valid PGXN META.json"
const fs = require('fs');
const path = require('path');
const file = process.argv[2];
const m = JSON.parse(fs.readFileSync(file, 'utf8'));
const problems = [];
for (const k of ['name', 'abstract', 'version', 'maintainer', 'license', 'provides', 'meta-spec']) {
  if (m[k] === undefined) problems.push(`missing "${k}"`);
}
const semver = /^\d+\.\d+\.\d+(-[0-9A-Za-z-]+)?$/;
if (!semver.test(m.version)) problems.push(`version "${m.version}" is not a semantic version`);
if (m['meta-spec'] && m['meta-spec'].version !== '1.0.0') problems.push('meta-spec.version is not 1.0.0');
if (m.name !== 'logout_everywhere') problems.push(`name is "${m.name}"`);
const top = path.dirname(file);
for (const [name, p] of Object.entries(m.provides || {})) {
  if (!p.file) problems.push(`provides.${name} has no file`);
  if (!semver.test(p.version || '')) problems.push(`provides.${name}.version is not a semantic version`);
  for (const f of [p.file, p.docfile].filter(Boolean)) {
    if (!fs.existsSync(path.join(top, f))) problems.push(`provides.${name} names ${f}, which does not exist`);
  }
}
if (problems.length) {
  for (const p of problems) console.error(`META.json: ${p}`);
  process.exit(1);
}
console.log('ok: META.json has the keys PGXN requires; the files it names exist');
JS

# ------------------------------------------------------------------ 3.
# make dist archives a commit. To test the tree as it is now (committed or
# not; in CI the two are the same), commit a snapshot of the files git would
# track (.gitignore'd build output left out) in a throwaway repository and
# run that snapshot's make dist there.
repo=$tmp/repo
mkdir "$repo"
git ls-files -z --cached --others --exclude-standard --deduplicate \
    | while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done \
    | xargs -0 cp --parents -t "$repo"
git -C "$repo" init -q
git -C "$repo" add -A
git -C "$repo" -c user.name=test -c user.email=test@example.com -c core.hooksPath=/dev/null \
    -c commit.gpgSign=false commit -q --no-verify -m snapshot
echo "# make dist on a snapshot of the work tree ($(git -C "$repo" ls-files | wc -l) files)"

mkdir "$tmp/dist"
DISTDIR="$tmp/dist" make -s -C "$repo" dist PG_CONFIG="${PG_CONFIG:-pg_config}" >"$tmp/dist.out" \
    || fail "make dist failed"
name=$ext-$semver
for f in "$name.zip" "$name.tar.gz"; do
    [ -s "$tmp/dist/$f" ] || fail "make dist did not make $f"
done
echo "ok: make dist made $name.zip and $name.tar.gz"
head -c 2 "$tmp/dist/$name.zip" | grep -q PK || fail "$name.zip is not a zip archive"

tar -tzf "$tmp/dist/$name.tar.gz" >"$tmp/list"
outside=$(grep -v "^$name/" "$tmp/list" || true)
[ -z "$outside" ] || fail "files outside $name/: $outside"
for f in Makefile "$ext.control" META.json LICENSE CHANGELOG.md "sql/$ext--$version.sql"; do
    grep -qx "$name/$f" "$tmp/list" || fail "the archive lacks $f"
done
built=$(grep -E '\.(o|so|bc)$|/node_modules/' "$tmp/list" || true)
[ -z "$built" ] || fail "the archive holds build output: $built"
echo "ok: the archive holds the sources, META.json, LICENSE, CHANGELOG.md and no build output"

tar -xzf "$tmp/dist/$name.tar.gz" -C "$tmp/dist"
make -s -C "$tmp/dist/$name" PG_CONFIG="${PG_CONFIG:-pg_config}" >"$tmp/build.log" 2>&1 \
    || { cat "$tmp/build.log"; fail "the extension does not build from the unpacked tarball"; }
[ -f "$tmp/dist/$name/$ext.so" ] || fail "building the unpacked tarball made no $ext.so"
echo "ok: the extension builds from the unpacked tarball alone"
