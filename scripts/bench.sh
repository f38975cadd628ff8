#!/usr/bin/env bash
# What `make bench` executes after building: starts a throw-away stack on free
# ports, runs build/tests/bench (all benchmarks, or the ones named), prints
# their table, and stops the stack.
#
# Usage: scripts/bench.sh [conns|msg|history|relay|presence ...]
#   (presence: BENCH_CLIENTS=N sets its number of clients, default 200)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK=$ROOT/scripts/stack.sh
TESTS_DIR=${TEST_DIR:-$ROOT/build/tests}
cd "$ROOT"

# Minimum argon2id cost: the benchmarks log in many connections and measure
# messages, not password hashing (authsvc/README.md has that number).
. "$ROOT/scripts/fresh-env.sh"
fresh_stack_env bench
export RT_TIMEOUT=${RT_TIMEOUT:-900}
# The gateway's limits are for clients spread over many addresses at human
# speed; the bench is thousands of clients on 127.0.0.1 sending as fast as
# they can (gateway/README.md, "Limits"). Off unless the caller sets them.
export REBUTTAL_USER_RATE=${REBUTTAL_USER_RATE:-0}
export REBUTTAL_RELAY_RATE=${REBUTTAL_RELAY_RATE:-0}

umask 077
DIR=$(mktemp -d /tmp/rebuttal-bench.XXXXXX)
chmod 711 "$DIR"
trap '"$STACK" stop "$DIR" >"$DIR/stop.out" 2>&1 || cat "$DIR/stop.out"; rm -rf "$DIR"' EXIT

"$STACK" start "$DIR" 2>"$DIR/start.out" || { cat "$DIR/start.out"; exit 1; }
set -a
# shellcheck disable=SC1091
. "$DIR/env"
set +a
echo "stack: $(nproc) cores, $(grep -c . <<<"$(ls "$DIR/pids")") processes, logs in $DIR/logs (removed at exit)"
"$TESTS_DIR/bench" "$@"
