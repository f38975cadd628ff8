#!/usr/bin/env bash
# What `make loadtest` executes after building: per-service load tests with
# build/tests/loadgen (tests/load/README.md) against a throw-away stack on
# free ports, one stack per service, at 1 and then 2 instances of it.
#
# Usage: scripts/loadtest.sh [authsvc|roomsvc|msgsvc|mediasvc|gateway ...]
#   Without names: every service, then the gateway's per-connection figures
#   (make bench conns and the 1,000-client fan-out), and the table goes to
#   docs/BENCHMARKS.md.
#   With names: those services; the table is printed only.
#
# Environment (besides the loadgen's REBUTTAL_LOAD_* settings):
#   LOADTEST_SECS (4)   seconds per step
#   LOADTEST_OUT        folder for results.jsonl and the raw table (default: a temporary one)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK=$ROOT/scripts/stack.sh
TESTS_DIR=$(realpath -m -- "${TEST_DIR:-$ROOT/build/tests}")
LOADGEN=$TESTS_DIR/loadgen
SECS=${LOADTEST_SECS:-4}
cd "$ROOT"

ALL=(authsvc roomsvc msgsvc mediasvc)
GATEWAY=0
if (($# == 0)); then SVCS=("${ALL[@]}"); WRITE_DOC=1; GATEWAY=1; else SVCS=(); WRITE_DOC=0; fi
for s in "$@"; do
    if [[ $s == gateway ]]; then GATEWAY=1; continue; fi
    [[ " ${ALL[*]} " == *" $s "* ]] || { echo "loadtest.sh: unknown part $s (${ALL[*]} gateway)" >&2; exit 2; }
    SVCS+=("$s")
done

# The step scenarios of each service: "scenario first-rate [VAR=value ...]".
# First rates sit a few steps below the knees seen on a 2-core machine, so
# a run takes minutes, not hours.
declare -A STEPS=(
    [authsvc]="auth.login 100|auth.get_perms 200"
    [roomsvc]="room.joinleave 200|room.createroom 100"
    [msgsvc]="msg.message 200 REBUTTAL_LOAD_ROOMS=8|msg.getmessages 200|msg.image 20"
    [mediasvc]="media.video 400|media.talking 200"
)
# argon2id at authsvc's default cost (authsvc/main.c): the stack runs the minimum.
DEFAULT_COST=(REBUTTAL_PWHASH_OPSLIMIT=2 REBUTTAL_PWHASH_MEMLIMIT=67108864)

. "$ROOT/scripts/fresh-env.sh"
fresh_stack_env load

OUT=${LOADTEST_OUT:-$(mktemp -d /tmp/rebuttal-loadout.XXXXXX)}
mkdir -p "$OUT"
: >"$OUT/results.jsonl"
: >"$OUT/table.md"
: >"$OUT/gateway.md"
: >"$OUT/loadavg.txt"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$(date -u '+%F %H:%M UTC')
DIR=""

stop_stack() {
    if [[ -n $DIR ]]; then
        "$STACK" stop "$DIR" >"$DIR/stop.out" 2>&1 || cat "$DIR/stop.out"
        rm -rf "$DIR"
        DIR=""
    fi
}
trap stop_stack EXIT

start_stack() {
    DIR=$(mktemp -d /tmp/rebuttal-load.XXXXXX)
    chmod 755 "$DIR"
    "$STACK" start "$DIR" 2>"$DIR/start.out" || { cat "$DIR/start.out"; exit 1; }
    # Nothing but the service and its helpers: no gateway decoding lists.
    "$STACK" kill "$DIR" gateway TERM 2>/dev/null
    set -a
    # shellcheck disable=SC1091
    . "$DIR/env"
    set +a
    # The generator plays the gateway and an operator tool: the stack's
    # "tester" NATS user may publish and subscribe every rb.> subject.
    export REBUTTAL_NATS_USER=tester REBUTTAL_NATS_PASSWORD_FILE=$DIR/secrets/nats-tester
}

# run SCENARIO LABEL [VAR=value ...]: one loadgen run, rows to the table.
run() {
    local sc=$1 label=$2
    shift 2
    echo "---- $sc ($label)"
    env REBUTTAL_LOAD_LABEL="$label" REBUTTAL_LOAD_JSON="$OUT/results.jsonl" \
        REBUTTAL_LOAD_SECS="$SECS" "$@" timeout 900 "$LOADGEN" "$sc" 2>>"$OUT/loadgen.err" |
        tee -a "$OUT/table.md" | grep -v '^|---' || echo "loadtest.sh: $sc ($label) failed; see $OUT/loadgen.err"
}

run_steps() {
    local svc=$1 label=$2 line sc rate
    local -a extra
    IFS='|' read -r -a lines <<<"${STEPS[$svc]}"
    for line in "${lines[@]}"; do
        read -r sc rate extra_s <<<"$line"
        read -r -a extra <<<"${extra_s:-}"
        run "$sc" "$label" REBUTTAL_LOAD_MODE=step REBUTTAL_LOAD_RATE="$rate" "${extra[@]}"
    done
}

restart_auth_default_cost() {
    "$STACK" kill "$DIR" authsvc TERM 2>/dev/null
    "$STACK" kill "$DIR" authsvc-2 TERM 2>/dev/null || true
    env "${DEFAULT_COST[@]}" "$STACK" start-part "$DIR" authsvc 2>/dev/null
}

for svc in "${SVCS[@]}"; do
    echo "==== $svc"
    echo "$svc: $(date -u '+%H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/loadavg.txt"
    start_stack
    run_steps "$svc" "1 instance"
    if [[ $svc == authsvc ]]; then
        restart_auth_default_cost
        # One verify at this cost takes longer than 50 ms by itself: the
        # knee of these two is the highest rate with p99 < 1 s.
        run auth.login "1 instance, default cost" REBUTTAL_LOAD_MODE=step REBUTTAL_LOAD_RATE=2 REBUTTAL_LOAD_P99_MS=1000
        env "${DEFAULT_COST[@]}" "$STACK" start-part "$DIR" authsvc 2 2>/dev/null
        run auth.login "2 instances, default cost" REBUTTAL_LOAD_MODE=step REBUTTAL_LOAD_RATE=2 REBUTTAL_LOAD_P99_MS=1000
        stop_stack
        start_stack
    fi
    if [[ $svc == roomsvc ]]; then
        # The lists: not a knee but a cost (tests/load/README.md).
        run room.lists "1k accounts" REBUTTAL_LOAD_ACCOUNTS=1000 REBUTTAL_LOAD_RATE=20 \
            REBUTTAL_LOAD_SECS=10 REBUTTAL_LOAD_TIMEOUT_MS=30000
        run room.lists "10k accounts" REBUTTAL_LOAD_ACCOUNTS=9000 REBUTTAL_LOAD_RATE=20 \
            REBUTTAL_LOAD_SECS=10 REBUTTAL_LOAD_TIMEOUT_MS=30000
        stop_stack
        start_stack
    fi
    if [[ $svc == msgsvc ]]; then
        # One room: its messages are ordered on one handler thread.
        run msg.message "1 instance, 1 room" REBUTTAL_LOAD_MODE=step REBUTTAL_LOAD_RATE=100 REBUTTAL_LOAD_ROOMS=1
    fi
    "$STACK" start-part "$DIR" "$svc" 2 2>/dev/null
    run_steps "$svc" "2 instances"
    stop_stack
done
if ((GATEWAY)); then
    # The gateway is not driven over the bus: its per-connection memory and
    # CPU per delivery come from the whole-stack benches (tests/bench.c).
    echo "==== gateway (make bench conns fanout)"
    BENCH_FANOUT_ONLY=1000 "$ROOT/scripts/bench.sh" conns fanout 2>&1 | tee "$OUT/gateway.md" |
        grep '^|' || echo "loadtest.sh: the gateway benches failed; see $OUT/gateway.md"
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

echo "results: $OUT/results.jsonl, table: $OUT/table.md"
((WRITE_DOC)) || exit 0
LOAD_BEFORE=$LOAD_BEFORE LOAD_AFTER=$LOAD_AFTER STARTED=$STARTED \
    "$ROOT/scripts/loadtest-doc.sh" "$OUT" >"$ROOT/docs/BENCHMARKS.md"
echo "wrote docs/BENCHMARKS.md"
# docs/CAPACITY.md's constants block: the same run's numbers.
CAP=$ROOT/docs/CAPACITY.md
if [[ -f $CAP ]] && grep -q '^<!-- constants:begin' "$CAP"; then
    "$ROOT/scripts/capacity-constants.sh" "$OUT" >"$OUT/constants.md"
    awk -v f="$OUT/constants.md" '
        /^<!-- constants:begin/ { while ((getline l < f) > 0) print l; skip = 1; next }
        /^<!-- constants:end/ { skip = 0; next }
        !skip' "$CAP" >"$OUT/capacity.md"
    cp "$OUT/capacity.md" "$CAP"
    echo "updated the constants of docs/CAPACITY.md"
fi
