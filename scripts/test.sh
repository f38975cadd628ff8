#!/usr/bin/env bash
# What `make test` executes after building: the unit tests, then the tests
# that need a running stack, against a fresh stack in a temporary folder.
#
# Usage: scripts/test.sh [TEST_NAME...]      (make test T=name)
#   With names, only those tests run: each goes to the binary whose --list
#   has it (unknown ones to integ, which reports them).
#
# Each test binary prints its own `N passed, N failed` line last; this script
# adds them up and ends with exactly one such line for the whole run.  A
# binary that ends without that line (crash, timeout) counts as 1 failed, and
# so does one that exits non-zero after a clean summary (e.g. a sanitizer
# report).  Exit status: 0 only if nothing failed.
#
# Environment:
#   TEST_DIR               test binaries (default ROOT/build/tests)
#   BIN_DIR or REBUTTAL_BIN_DIR  part binaries (default ROOT/build/bin)
#   REBUTTAL_TEST_TIMEOUT  seconds one test binary may run (default 1800)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK=$ROOT/scripts/stack.sh
# The Makefile passes TEST_DIR and BIN_DIR (build/..., or build/san/... when
# sanitizing), relative to the root.  The bin folder goes on to stack.sh,
# which the tests also call.
TESTS_DIR=$(realpath -m -- "${TEST_DIR:-$ROOT/build/tests}")
REBUTTAL_BIN_DIR=$(realpath -m -- "${REBUTTAL_BIN_DIR:-${BIN_DIR:-$ROOT/build/bin}}")
export REBUTTAL_BIN_DIR
TEST_TIMEOUT=${REBUTTAL_TEST_TIMEOUT:-1800}

# Binaries in build/tests, each run only if it exists.
UNIT_TESTS=(unit) # need no stack
STACK_TESTS=(integ) # run against the stack, in this order; add new ones here

# Tests always get a stack of their own on free ports, cheap password
# hashing (argon2's minimums) and a known admin password (fresh-env.sh).
. "$ROOT/scripts/fresh-env.sh"
fresh_stack_env test
# libnats can leave a message it received during shutdown unfreed; that one
# known third-party leak must not hide ours (tests/lsan.supp).
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}
# Every service runs 4 handler threads in the test stack (ordering keys and
# per-thread store connections are exercised even on a 2-core machine).
export REBUTTAL_THREADS=${REBUTTAL_THREADS:-4}
# Stress tests send as fast as replies come (333 messages per user in
# msg_crash_kill9): the per-user packet rate is off for the stack (the
# per-address cap exempts loopback by default); the tests of those limits
# start gateways of their own with them on (tests/integ_limits.c).
export REBUTTAL_USER_RATE=${REBUTTAL_USER_RATE:-0}
# Gateways stop without the production drain's waits (stack.sh gives a part
# 5 s after SIGTERM); the drain tests start gateways with settings of their own.
export REBUTTAL_DRAIN_MS=${REBUTTAL_DRAIN_MS:-0}
export REBUTTAL_DRAIN_SPREAD_MS=${REBUTTAL_DRAIN_SPREAD_MS:-0}

PASSED=0
FAILED=0
PROBLEMS=() # one line per binary that did not end cleanly

# The temporary folder holds the stack and every binary's captured output.
# 711: PostgreSQL and Redis (users postgres, redis) must get through it to
# their data; nobody else may list it, and what we write is ours (umask).
umask 077
DIR=$(mktemp -d /tmp/rebuttal-test.XXXXXX)
chmod 711 "$DIR"
STACK_STARTED=0
CLEANED=0

stop_stack() {
    if ((STACK_STARTED)); then
        STACK_STARTED=0
        # Its chatter goes to a file; shown only if stopping goes wrong.
        "$STACK" stop "$DIR" >"$DIR/stack-stop.out" 2>&1 ||
            {
                echo "test.sh: stack.sh stop failed:"
                cat "$DIR/stack-stop.out"
            }
    fi
}

# Print the end of each part's log (not the infra's), to explain failures.
show_part_logs() {
    local f name
    for f in "$DIR"/logs/*.log; do
        [[ -f $f ]] || continue
        name=$(basename "$f" .log)
        case $name in nats | redis | postgres) continue ;; esac
        echo "---- last lines of $f"
        tail -n 25 "$f"
    done
}

# Whatever way this script ends, the stack must not outlive it.  The normal
# path stops it before the summary; this catches errors and interrupts.
on_exit() {
    ((CLEANED)) && return 0
    CLEANED=1
    stop_stack
    echo "test.sh: stopped early; stack folder kept: $DIR" >&2
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_test NAME [ARGS...]: run one binary, tee its output, add up its summary.
run_test() {
    local name=$1 bin=${RUN_TEST_BIN:-$TESTS_DIR/$1} out rc summary p f
    shift
    out=$DIR/$name.out
    echo "==== $name $*"
    # --foreground: keep the binary in our process group so Ctrl-C reaches
    # it; tee -i: survive that Ctrl-C to pass on the binary's last words.
    set +e
    timeout --foreground -k 10 "$TEST_TIMEOUT" "$bin" "$@" 2>&1 | tee -i "$out"
    rc=${PIPESTATUS[0]}
    set -e
    # The last summary line, even if stderr (e.g. a sanitizer's report at
    # exit) came after it: the exit status then still counts as a failure.
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed[[:space:]]*$' "$out" | tail -n 1 || true)
    if [[ -z $summary ]]; then
        if ((rc == 124 || rc == 137)); then
            PROBLEMS+=("$name: timed out after ${TEST_TIMEOUT}s without a summary line (counted as 1 failed)")
        elif ((rc > 128)); then
            PROBLEMS+=("$name: killed by signal $((rc - 128)) without a summary line (counted as 1 failed)")
        else
            PROBLEMS+=("$name: exited with status $rc without a summary line (counted as 1 failed)")
        fi
        FAILED=$((FAILED + 1))
        return 0
    fi
    read -r p _ f _ <<<"$summary"
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
    if ((rc != 0 && f == 0)); then
        PROBLEMS+=("$name: exited with status $rc after reporting no failures (counted as 1 failed)")
        FAILED=$((FAILED + 1))
    fi
}

# Tests find scripts/stack.sh and build/ relative to the repository root.
cd "$ROOT"

# What to run: with no ARGS every binary, whole.  With ARGS, each name goes
# to the binary whose --list has it (a name nobody has goes to integ, which
# then says it does not know it), and only binaries with names run.
declare -A RUN=() NAMES=()
if (($# == 0)); then
    for t in "${UNIT_TESTS[@]}" "${STACK_TESTS[@]}"; do
        if [[ -x $TESTS_DIR/$t ]]; then RUN[$t]=1; fi
    done
else
    declare -A LISTS=()
    for t in "${UNIT_TESTS[@]}" "${STACK_TESTS[@]}"; do
        # Into a variable first: `--list | grep -q` could die of SIGPIPE.
        if [[ -x $TESTS_DIR/$t ]]; then LISTS[$t]=$("$TESTS_DIR/$t" --list 2>/dev/null || true); fi
    done
    for name in "$@"; do
        owner=integ
        for t in "${UNIT_TESTS[@]}" "${STACK_TESTS[@]}"; do
            if grep -qxF -- "$name" <<<"${LISTS[$t]:-}"; then
                owner=$t
                break
            fi
        done
        RUN[$owner]=1
        NAMES[$owner]="${NAMES[$owner]:-} $name"
    done
fi

# run_selected NAME: run it with its selected test names, if it is to run.
run_selected() {
    local t=$1 names
    [[ -n ${RUN[$t]:-} ]] || return 0
    if [[ ! -x $TESTS_DIR/$t ]]; then
        PROBLEMS+=("$t: $TESTS_DIR/$t is not built, cannot run:${NAMES[$t]:-} (counted as 1 failed)")
        FAILED=$((FAILED + 1))
        return 0
    fi
    read -r -a names <<<"${NAMES[$t]:-}"
    run_test "$t" "${names[@]}"
}

for t in "${UNIT_TESTS[@]}"; do
    run_selected "$t"
done

# The parsers of network input are fuzzed for a bounded time on a full run.
if (($# == 0)) && [[ -x $ROOT/tests/fuzz/run.sh ]]; then
    if "$ROOT/tests/fuzz/run.sh" "${REBUTTAL_FUZZ_SECONDS:-20}"; then
        PASSED=$((PASSED + 1))
    else
        PROBLEMS+=("fuzz: tests/fuzz/run.sh failed (counted as 1 failed)")
        FAILED=$((FAILED + 1))
    fi
fi

# The house style (.clang-format): every C file as clang-format writes it.
if (($# == 0)); then
    if "$ROOT/scripts/format.sh" --check; then
        PASSED=$((PASSED + 1))
    else
        PROBLEMS+=("format: files differ from .clang-format; scripts/format.sh (make format) rewrites them (counted as 1 failed)")
        FAILED=$((FAILED + 1))
    fi
fi

# docker-compose.yml, Dockerfile and deploy/k8s, checked offline.
if (($# == 0)) && [[ -x $ROOT/tests/deploy/run.sh ]]; then
    RUN_TEST_BIN=$ROOT/tests/deploy/run.sh run_test deploy
fi

want_stack=0
for t in "${STACK_TESTS[@]}"; do
    if [[ -n ${RUN[$t]:-} && -x $TESTS_DIR/$t ]]; then want_stack=1; fi
done
if ((want_stack)); then
    # The gateway serves this folder at /; test_http_static_webroot reads the
    # first line of index.html and expects to get it back over HTTP.
    mkdir -p "$DIR/webroot"
    printf '<!-- rebuttal test web root %s -->\n<!doctype html><title>Rebuttal test</title>\n' \
        "$(basename "$DIR")" >"$DIR/webroot/index.html"
    export REBUTTAL_WEBROOT=$DIR/webroot

    # The last release's parts for test_upgrade_mixed_versions, built once
    # into build/prev (a few seconds); without them that test fails, saying so.
    if PREV=$("$ROOT/scripts/prev.sh"); then
        export REBUTTAL_PREV_BIN_DIR=$PREV
    fi

    echo "==== starting the stack in $DIR"
    STACK_STARTED=1
    if "$STACK" start "$DIR"; then
        set -a
        # shellcheck disable=SC1091
        . "$DIR/env"
        set +a
        for t in "${STACK_TESTS[@]}"; do
            run_selected "$t"
        done
    else
        PROBLEMS+=("stack: did not start, no stack test ran (counted as 1 failed)")
        FAILED=$((FAILED + 1))
    fi
else
    for t in "${STACK_TESTS[@]}"; do
        run_selected "$t" # only reports those selected but not built
    done
fi

stop_stack
CLEANED=1

# The image of ./Dockerfile and the whole stack in real containers, rolling
# restart under traffic (tests/containers/run.sh: root, its own dockerd; ~1 min
# with cached images).  After the stack tests, so that it does not take their
# cores.  REBUTTAL_SKIP_CONTAINERS=1 leaves it out.
if (($# == 0)) && [[ -x $ROOT/tests/containers/run.sh && ${REBUTTAL_SKIP_CONTAINERS:-} != 1 ]]; then
    RUN_TEST_BIN=$ROOT/tests/containers/run.sh run_test containers
fi

# A part that hit a sanitizer report (under SANITIZE=…) may still have
# answered every test; its log is the only witness. Each such log counts as
# one failure. Parts are stopped by now, so leak reports are in too.
for f in "$DIR"/logs/*.log; do
    [[ -f $f ]] || continue
    if grep -qE 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:' "$f"; then
        PROBLEMS+=("$(basename "$f" .log): sanitizer report in $f (counted as 1 failed)")
        FAILED=$((FAILED + 1))
    fi
done

if ((FAILED > 0)); then
    echo
    show_part_logs
    echo
    for p in "${PROBLEMS[@]}"; do echo "test.sh: $p"; done
    echo "test.sh: outputs, logs and data kept in $DIR"
else
    rm -rf "$DIR"
fi
echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
