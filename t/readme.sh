#!/usr/bin/env bash
# t/readme.sh — the README's "Getting started" session runs as shown: its sql
# blocks, run in order by psql in a fresh database, print every output block
# that the README shows after them, in the same order (lines compared with
# trailing blanks removed; psql pads its headers). Runs in the cluster that
# pg_virtualenv provides.
set -euo pipefail
cd "$(dirname "$0")/.."

db=le_readme
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
/usr/bin/python3 - "$db" <<'PY'
import re, subprocess, sys

db = sys.argv[1]
text = open('README.md').read()
section = text.split('\n## Getting started\n', 1)[1].split('\n## ', 1)[0]
blocks = re.findall(r'```(\w*)\n(.*?)```', section, re.S)
sql = [b for kind, b in blocks if kind == 'sql']
shown = [b for kind, b in blocks if kind == '']
if len(sql) < 4 or len(shown) < 4:
    sys.exit(f'FAIL: the Getting started section has {len(sql)} sql and {len(shown)} output blocks')

run = subprocess.run(['psql', '-X', '-v', 'ON_ERROR_STOP=1', '-d', db],
                     input=''.join(sql), capture_output=True, text=True)
# stderr (NOTICE) and stdout interleave as a terminal shows them only in
# order per stream: compare each stream's lines in order
got_lines = [l.rstrip() for l in (run.stderr + run.stdout).splitlines()]
if run.returncode != 0:
    print(run.stdout, run.stderr)
    sys.exit('FAIL: the Getting started session does not run')

def strip(block):
    return [l.rstrip() for l in block.strip('\n').splitlines()]

notices = [l for l in got_lines if re.match(r'^(NOTICE|DETAIL|WARNING|HINT):', l)]
rest = [l for l in got_lines if l not in notices]
failures = 0
pos = 0
for block in shown:
    want = strip(block)
    want_notices = [l for l in want if re.match(r'^(NOTICE|DETAIL|WARNING|HINT):', l)]
    want_rest = [l for l in want if l not in want_notices]
    for l in want_notices:
        if l not in notices:
            print(f'FAILED the README shows "{l}", psql did not print it'); failures += 1
    # the output lines must appear as one run, after the previous block's
    for start in range(pos, len(rest) - len(want_rest) + 1):
        if rest[start:start + len(want_rest)] == want_rest:
            pos = start + len(want_rest)
            print(f'ok     output block of {len(want)} lines ({want_rest[0] if want_rest else want[0]})')
            break
    else:
        print('FAILED the README shows this output, psql printed no such run after the previous one:')
        print('\n'.join('  | ' + l for l in want))
        print('psql printed:'); print('\n'.join('  | ' + l for l in rest))
        failures += 1
sys.exit(1 if failures else 0)
PY
echo "readme: passed"
psql -X -q -d postgres -c "DROP DATABASE $db"
