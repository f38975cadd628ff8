#!/usr/bin/env bash
# Fuzzes msgsvc's parsers of network input: the image header parser
# (msgsvc/image.c) and the strict base64 decoder (msgsvc/b64.c).
#
# Usage: tests/fuzz/run.sh [SECONDS]     total time, split between targets
#                                         (default 20, or $FUZZ_SECONDS)
#
# With clang: each target is built with libFuzzer + ASan + UBSan and run for
# its share of the time, starting from tests/fuzz/corpus/<target>/ (new
# inputs go to a temporary copy; the checked-in corpus is not touched).
# Without clang: the seed corpus is replayed once through a gcc build with
# the sanitizers (no fuzzing) and a note says so; install clang to fuzz.
#
# Exit status 0 when every target ran clean; 1 on a crash, leak, sanitizer
# report or failed build, with the crashing input kept and its path printed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FUZZ=$ROOT/tests/fuzz
TOTAL=${1:-${FUZZ_SECONDS:-20}}
[[ $TOTAL =~ ^[0-9]+$ ]] || { echo "fuzz: SECONDS must be a number" >&2; exit 2; }

# target name -> the msgsvc source it tests.
declare -A SOURCES=([image]=msgsvc/image.c [b64]=msgsvc/b64.c)
TARGETS=(image b64)
PER=$((TOTAL / ${#TARGETS[@]}))
((PER > 0)) || PER=1

WORK=$(mktemp -d /tmp/rebuttal-fuzz.XXXXXX)
FAILED=0

say() { echo "fuzz: $*"; }

# build NAME COMPILER FLAGS...: the target binary, or a failure.
build() {
    local t=$1 cc=$2
    shift 2
    "$cc" -std=gnu11 -g -O1 -Wall -Wextra -Werror -I"$ROOT/msgsvc" -I"$ROOT/lib" "$@" \
        "$FUZZ/fuzz_$t.c" "$ROOT/${SOURCES[$t]}" -lsodium -o "$WORK/fuzz_$t" 2>"$WORK/build_$t.log"
}

fuzz_one() {
    local t=$1 log=$WORK/$1.log
    if ! build "$t" clang -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all; then
        say "$t: build failed:"; cat "$WORK/build_$t.log"; return 1
    fi
    mkdir -p "$WORK/corpus_$t"
    # The first folder receives new inputs; the checked-in seeds are read only.
    if "$WORK/fuzz_$t" -max_total_time="$PER" -timeout=5 -rss_limit_mb=2048 \
        -artifact_prefix="$WORK/$t-" -print_final_stats=1 \
        "$WORK/corpus_$t" "$FUZZ/corpus/$t" >"$log" 2>&1; then
        say "$t: clean, $(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?') runs in ${PER}s"
        return 0
    fi
    say "$t: FAILED; the last lines of its log ($log):"
    tail -n 30 "$log"
    ls "$WORK/$t-"* 2>/dev/null | sed 's/^/fuzz: crashing input: /'
    return 1
}

replay_one() {
    local t=$1
    if ! build "$t" cc -fsanitize=address,undefined -fno-sanitize-recover=all "$FUZZ/replay.c"; then
        say "$t: build failed:"; cat "$WORK/build_$t.log"; return 1
    fi
    "$WORK/fuzz_$t" "$FUZZ/corpus/$t"/* >"$WORK/$t.log" 2>&1 || {
        say "$t: FAILED on the seed corpus:"; cat "$WORK/$t.log"; return 1
    }
    say "$t: seed corpus clean ($(ls "$FUZZ/corpus/$t" | wc -l) inputs, replayed without clang: no fuzzing)"
}

if command -v clang >/dev/null 2>&1; then
    for t in "${TARGETS[@]}"; do fuzz_one "$t" || FAILED=1; done
else
    say "clang is not installed (apt-get install clang): replaying the seed corpus only"
    for t in "${TARGETS[@]}"; do replay_one "$t" || FAILED=1; done
fi

if ((FAILED)); then
    say "failures kept in $WORK"
    exit 1
fi
rm -rf "$WORK"
