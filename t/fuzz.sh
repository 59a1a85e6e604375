#!/bin/bash
# Issue 5.8: fuzz the subject form-encoder (src/form_encoding.c, pure C) with
# libFuzzer + AddressSanitizer + UndefinedBehaviorSanitizer, cross-checked
# against a naive reference encoder in fuzz/fuzz_form_encoding.c.
#  1. negative control: the harness must catch a deliberately broken copy of
#     the encoder (lower-case hex digits) within a short run;
#  2. the real encoder: 10 s of fuzzing from the seed corpus in fuzz/corpus,
#     no crash, no mismatch.
# Needs clang and libclang-rt-dev (libFuzzer runtime).  Does not use the
# database cluster.  FUZZ_SECONDS overrides the run time.
set -euo pipefail
. "$(dirname "$0")/lib/robust.bash"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_TO_RUN=${FUZZ_SECONDS:-10}
CLANG=${CLANG:-clang}
FLAGS=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -Wall -Werror)
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

command -v "$CLANG" >/dev/null || { bad "clang not found (apt-get install clang libclang-rt-dev)"; finish; }

# 1. Negative control.
sed 's/0123456789ABCDEF/0123456789abcdef/' "$ROOT/src/form_encoding.c" > "$TMPD/broken.c"
if cmp -s "$ROOT/src/form_encoding.c" "$TMPD/broken.c"; then
    bad "could not make the broken copy of the encoder (hex digit table not found)"
else
    "$CLANG" "${FLAGS[@]}" -I"$ROOT/src" "$ROOT/fuzz/fuzz_form_encoding.c" "$TMPD/broken.c" -o "$TMPD/fuzz_broken"
    mkdir "$TMPD/broken_corpus"
    if (cd "$TMPD" && ./fuzz_broken -max_total_time=10 -seed=1 broken_corpus >"$TMPD/broken.log" 2>&1); then
        bad "negative control: the harness did not catch a broken encoder"
    elif grep -q "form_encode mismatch" "$TMPD/broken.log"; then
        ok "negative control: the harness catches a broken encoder ($(grep -m1 'form_encode mismatch' "$TMPD/broken.log"))"
    else
        bad "negative control failed for another reason: $(tail -5 "$TMPD/broken.log")"
    fi
fi

# 2. The real encoder.
"$CLANG" "${FLAGS[@]}" -I"$ROOT/src" "$ROOT/fuzz/fuzz_form_encoding.c" "$ROOT/src/form_encoding.c" -o "$TMPD/fuzz_form_encoding"
mkdir "$TMPD/corpus"
cp "$ROOT"/fuzz/corpus/* "$TMPD/corpus/"
say "fuzzing form_encode for ${SECONDS_TO_RUN} s"
if (cd "$TMPD" && ./fuzz_form_encoding -max_total_time="$SECONDS_TO_RUN" -max_len=4096 \
        -print_final_stats=1 corpus >"$TMPD/fuzz.log" 2>&1); then
    ok "form_encode: no crash, no sanitizer report, no mismatch with the reference ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$TMPD/fuzz.log" || true))"
else
    bad "form_encode fuzzing found a problem:"
    tail -40 "$TMPD/fuzz.log"
    ls "$TMPD"/crash-* 2>/dev/null && for f in "$TMPD"/crash-*; do say "input: $(od -An -tx1 "$f" | head -3)"; done
fi

finish
