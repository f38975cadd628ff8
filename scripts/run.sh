#!/usr/bin/env bash
# What `make run` executes after building: the whole local stack on the usual
# ports, with data kept between runs, in the foreground until Ctrl-C.
#
# Usage: scripts/run.sh
#
# Environment:
#   REBUTTAL_DATA  data folder (default /var/lib/rebuttal as root, else
#                  ~/.local/share/rebuttal)
#   NATS_PORT (4222) REDIS_PORT (6379) PG_PORT (5432) GW_PORT (9000)
#   REBUTTAL_WEBROOT  web client served at / (default: gateway/web, the
#                  built-in one)
#   REBUTTAL_ADMIN_PASSWORD  admin password for the first start; when unset,
#                  one is made.  Kept in DATA/admin-password (mode 0600).
#   REBUTTAL_*     anything else is passed on to the parts (see stack.sh)
#
# Ctrl-C or SIGTERM stops everything and exits 0.
set -euo pipefail
# The data folder holds passwords: nothing in it is for other users.
umask 077

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK=$ROOT/scripts/stack.sh

if ((EUID == 0)); then
    DATA=${REBUTTAL_DATA:-/var/lib/rebuttal}
else
    DATA=${REBUTTAL_DATA:-$HOME/.local/share/rebuttal}
fi
# The well-known ports, unlike the tests' random ones.  stack.sh refuses a
# port that something else holds and names the variable to set instead.
export NATS_PORT=${NATS_PORT:-4222}
export REDIS_PORT=${REDIS_PORT:-6379}
export PG_PORT=${PG_PORT:-5432}
export GW_PORT=${GW_PORT:-9000}
# The built-in web client, unless another one is named.
export REBUTTAL_WEBROOT=${REBUTTAL_WEBROOT:-$ROOT/gateway/web}
# Ctrl-C stops the local stack within stack.sh's 5 s per part: the gateway's
# drain (gateway/README.md "Drain") is cut short here unless asked for.
export REBUTTAL_DRAIN_MS=${REBUTTAL_DRAIN_MS:-0}
export REBUTTAL_DRAIN_SPREAD_MS=${REBUTTAL_DRAIN_SPREAD_MS:-1000}

say() { echo "run.sh: $*" >&2; }

mkdir -p "$DATA"

# One run.sh per data folder: a second one would share (and on exit stop) the
# first one's servers.  The lock goes away with this process, even on kill -9;
# stack.sh closes it in the servers it starts.
exec {LOCK_FD}>>"$DATA/run.lock"
if ! flock -n "$LOCK_FD"; then
    say "another run.sh is already using $DATA; stop it first (or set REBUTTAL_DATA)"
    exit 1
fi

# ------------------------------------------------------------ admin password
# authsvc sets root@localhost's password on its first start only: from
# REBUTTAL_ADMIN_PASSWORD if set, else a random one that it logs once.  So
# the password is made here before the first start and kept in a 0600 file;
# from then on that file is the truth and every run can print it.
PW_FILE=$DATA/admin-password
PW_NOTE=""
store_password() {
    (
        umask 077
        printf '%s\n' "$1" >"$PW_FILE.tmp"
    )
    mv -f "$PW_FILE.tmp" "$PW_FILE"
}
if [[ -s $PW_FILE ]]; then
    stored=$(<"$PW_FILE")
    if [[ -n ${REBUTTAL_ADMIN_PASSWORD:-} && $REBUTTAL_ADMIN_PASSWORD != "$stored" ]]; then
        say "ignoring REBUTTAL_ADMIN_PASSWORD: root's password was set on the first start" \
            "(kept in $PW_FILE); change it with the admin_set_password packet"
    fi
    export REBUTTAL_ADMIN_PASSWORD=$stored
elif [[ ! -e $DATA/pg ]]; then
    # First start: the caller's password, else 18 random bytes in base64 with
    # URL-safe letters (24 characters, well past authsvc's password rule).
    if [[ -z ${REBUTTAL_ADMIN_PASSWORD:-} ]]; then
        REBUTTAL_ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
    fi
    export REBUTTAL_ADMIN_PASSWORD
    store_password "$REBUTTAL_ADMIN_PASSWORD"
elif [[ -z ${REBUTTAL_ADMIN_PASSWORD:-} ]]; then
    # Data from before this file existed: the account is there already,
    # with the password authsvc logged on its first start.
    PW_NOTE="the one authsvc logged on its first start (see $DATA/logs/authsvc.log)"
    if [[ -f $DATA/logs/authsvc.log ]]; then
        logged=$(grep -o 'admin password: .*' "$DATA/logs/authsvc.log" | head -n 1 || true)
        [[ -z $logged ]] || PW_NOTE=${logged#admin password: }
    fi
fi

# -------------------------------------------------------------------- run
STOPPING=0
SLEEP_PID=""
stop_stack() {
    ((STOPPING == 0)) || return 0
    STOPPING=1
    if [[ -n $SLEEP_PID ]]; then kill "$SLEEP_PID" 2>/dev/null || true; fi
    say "stopping the stack in $DATA"
    "$STACK" stop "$DATA" || say "warning: stack.sh stop failed; check $DATA/pids"
}
# Whatever ends this script (start failing, Ctrl-C, SIGTERM) stops the stack;
# a requested stop exits 0.
trap 'stop_stack' EXIT
trap 'stop_stack; exit 0' INT TERM

if ! "$STACK" start "$DATA"; then
    say "the stack did not start; logs are in $DATA/logs"
    exit 1
fi

echo
echo "Rebuttal is running (data: $DATA, logs: $DATA/logs)."
# With a certificate the gateway speaks TLS only (HTTPS, WSS, HTTP/2).
WS=ws HTTP=http
if [[ -n ${REBUTTAL_TLS_CERT:-} && -n ${REBUTTAL_TLS_KEY:-} ]]; then
    WS=wss HTTP=https
fi
if [[ -x ${REBUTTAL_BIN_DIR:-${BIN_DIR:-$ROOT/build/bin}}/gateway ]]; then
    echo "  Web client: $HTTP://127.0.0.1:$GW_PORT/"
    echo "  WebSocket:  $WS://127.0.0.1:$GW_PORT/ipc"
else
    echo "  WebSocket:  $WS://127.0.0.1:$GW_PORT/ipc (no gateway binary built yet)"
fi
echo "  Admin:      root@localhost"
echo "  Password:   ${REBUTTAL_ADMIN_PASSWORD:-$PW_NOTE}"
# Every server asks for a password now; the operator's tool has its own.
echo "  Secrets:    $DATA/secrets (generated on the first start, 0600)"
echo "  Operator:   (set -a; . $DATA/env; REBUTTAL_NATS_USER=rebuttalctl \\"
echo "               REBUTTAL_NATS_PASSWORD_FILE=$DATA/secrets/nats-rebuttalctl rebuttalctl list-users)"
echo "Press Ctrl-C to stop."

# Wait for a signal.  `wait` returns as soon as one arrives (a plain `sleep`
# in the foreground would delay the trap until it ends).  Short sleeps with
# no descriptors of ours: one that outlives us by a race holds no pipe of
# our caller and no lock, and is gone within a second.
while :; do
    # shellcheck disable=SC2217 # the redirections close fds, not feed sleep
    sleep 1 </dev/null >/dev/null 2>&1 {LOCK_FD}>&- &
    SLEEP_PID=$!
    wait "$SLEEP_PID" || true
done
