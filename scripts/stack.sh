#!/usr/bin/env bash
# Run the local stack (NATS, Redis, PostgreSQL and the part binaries) out of
# one data folder DIR.  Everything the stack owns lives there:
#
#   DIR/env            sourceable `export VAR=value` lines: ports + REBUTTAL_*
#   DIR/logs/NAME.log  one log per process (instance)
#   DIR/pids/NAME.pid  one pid per process; stop/kill only ever use these
#   DIR/ports/NAME     the port that proves an instance is up
#   DIR/pg, DIR/pgsock PostgreSQL data and socket folders (owned by postgres)
#   DIR/redis          Redis data (AOF) and its users (owned by redis)
#   DIR/nats.conf      NATS configuration (its users and their passwords)
#   DIR/secrets/NAME   generated passwords, made on the first start:
#       nats-PART       NATS user PART (gateway, authsvc, roomsvc, msgsvc,
#                       mediasvc, rebuttalctl; tester: the tests' own user)
#       pg-ROLE         PostgreSQL roles postgres, authsvc, msgsvc; and
#       pgpass          the same as a libpq password file (psql, tests)
#       redis-PART      Redis users roomsvc, mediasvc
#
# Nothing in DIR is for other users of the host: folders are 0700 (DIR
# 0711 when root, so postgres and redis can reach their own folders), files
# 0600; every server asks for a password (docs/notes/hardening.md).  Each
# part gets its own credentials as file paths (REBUTTAL_*_PASSWORD_FILE),
# never as values in its environment.
#
# Usage:
#   stack.sh start DIR                      infra + every part whose binary exists
#   stack.sh stop DIR                       parts, then postgres, redis, nats
#   stack.sh start-part DIR NAME [INSTANCE] one part as NAME or NAME-INSTANCE
#   stack.sh kill DIR INSTANCE [SIGNAL]     signal (default KILL), wait until gone
#   stack.sh start-infra DIR nats|redis|postgres
#   stack.sh stop-infra DIR nats|redis|postgres
#   stack.sh status DIR
#
# Settings read from the environment:
#   NATS_PORT REDIS_PORT PG_PORT GW_PORT  ports for `start` (else the ones
#       recorded in DIR/env, else free loopback ports are picked)
#   REBUTTAL_*        passed to the parts and written to DIR/env; they win
#                     over the values this script computes
#   REBUTTAL_BIN_DIR or BIN_DIR  where the part binaries are (ROOT/build/bin)
#   NATS_MONITOR_PORT  nats-server's monitoring port (/varz, /connz), for
#       profiling; none by default
#   STACK_INFRA_TIMEOUT (20) / STACK_PART_TIMEOUT (10)  seconds to wait
#
# Everything but `port=N` (start-part of a gateway) and `status` goes to
# stderr, so callers can capture stdout.  All servers run in their own
# session with stdio redirected: a `$(stack.sh ...)` caller never hangs, and a
# Ctrl-C meant for scripts/run.sh does not hit the servers behind its back.
set -euo pipefail
# Everything this script and the servers it starts create is theirs alone.
umask 077

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# BIN_DIR is what the Makefile passes (build/bin, or build/san/bin when
# sanitizing).  Absolute, because the parts are started from DIR.
BIN_DIR=$(realpath -m -- "${REBUTTAL_BIN_DIR:-${BIN_DIR:-$ROOT/build/bin}}")

# Services start before the gateway, so that once the gateway's port answers
# there is something behind it.  Stopping goes the other way round.
SERVICES=(authsvc roomsvc msgsvc mediasvc)
GATEWAY=gateway
# Who has a NATS user (deploy/nats-permissions.conf says what each may do),
# a PostgreSQL role (owning its schema) or a Redis user.
NATS_USERS=(gateway authsvc roomsvc msgsvc mediasvc rebuttalctl)
PG_ROLES=(authsvc msgsvc)
declare -A PG_SCHEMA=([authsvc]=auth [msgsvc]=msg)
REDIS_USERS=(roomsvc mediasvc)
INFRA_TIMEOUT=${STACK_INFRA_TIMEOUT:-20}
PART_TIMEOUT=${STACK_PART_TIMEOUT:-10}
STOP_TIMEOUT=5

# Snapshot of the caller's REBUTTAL_* variables: they override what we compute.
# Left out: the ones that must differ per process or per stack (a stale value
# from a sourced env file would make two processes share a port or an id), and
# the knobs meant for these scripts rather than for the parts.
declare -A CALLER=()
while IFS= read -r var; do
    case $var in
    REBUTTAL_STACK_DIR | REBUTTAL_HEALTH_PORT | REBUTTAL_GATEWAY_ID) ;;
    REBUTTAL_BIN_DIR | REBUTTAL_DATA | REBUTTAL_TEST_TIMEOUT) ;;
    REBUTTAL_*) CALLER[$var]=${!var} ;;
    esac
done < <(compgen -e)

log() { echo "stack.sh: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# Print the end of a log, indented, so a failure explains itself.  Logs are
# appended to across restarts: show only what the latest start wrote (from
# the last "==== " line that launch writes), at most 30 lines of it.
show_log() {
    local file=$1
    if [[ -s $file ]]; then
        log "last lines of $file:"
        awk '/^==== / { n = 0 } { buf[n++] = $0 } END { for (i = (n > 30 ? n - 30 : 0); i < n; i++) print "    " buf[i] }' "$file" >&2
    else
        log "$file is empty or missing"
    fi
}

# ---------------------------------------------------------------- processes

# True while PID is a live process.  A zombie counts as gone: PID 1 on these
# machines reaps slowly, so `kill -0` says "alive" for ~2 s after a server
# has exited; the state letter in /proc/PID/stat does not lie.
pid_alive() {
    local pid=$1 stat state
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || return 1
    state=${stat##*) } # the command name in (...) may hold spaces
    state=${state%% *}
    [[ $state != Z && $state != X ]]
}

# The program an instance runs: its command line must mention it, which
# guards against a stale pid file whose PID now belongs to someone else.
program_of() {
    local name=${1%%-*}
    case $name in
    nats) echo nats-server ;;
    redis) echo redis-server ;;
    *) echo "$name" ;;
    esac
}

# Print the PID of INSTANCE if its pid file names a live process of ours.
running_pid() {
    local inst=$1 file=$DIR/pids/$1.pid pid cmd
    [[ -s $file ]] || return 1
    read -r pid <"$file" || return 1
    pid_alive "$pid" || return 1
    { cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline"); } 2>/dev/null || return 1
    [[ $cmd == *"$(program_of "$inst")"* ]] || return 1
    echo "$pid"
}

# Wait up to SECONDS for PID to be gone; false if it is still there.
wait_gone() {
    local pid=$1 deadline=$((SECONDS + $2))
    while pid_alive "$pid"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# Stop instances politely: SIGTERM to all, wait up to STOP_TIMEOUT, then
# SIGKILL to the rest.  Only PIDs from our pid files, checked by running_pid.
stop_instances() {
    local inst pid
    local -A pids=()
    for inst in "$@"; do
        if pid=$(running_pid "$inst"); then
            pids[$inst]=$pid
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for inst in "${!pids[@]}"; do
        # One shared deadline would be nicer, but all get TERM at once, so
        # in practice this waits at most STOP_TIMEOUT in total.
        if ! wait_gone "${pids[$inst]}" "$STOP_TIMEOUT"; then
            log "$inst (pid ${pids[$inst]}) ignored SIGTERM for ${STOP_TIMEOUT}s; sending SIGKILL"
            kill -KILL "${pids[$inst]}" 2>/dev/null || true
            wait_gone "${pids[$inst]}" 10 || log "warning: $inst (pid ${pids[$inst]}) is still there"
        fi
        log "stopped $inst"
    done
    for inst in "$@"; do
        rm -f "$DIR/pids/$inst.pid" "$DIR/ports/$inst"
    done
}

# Close every descriptor above 2 that this shell inherited: a server that kept
# a caller's pipe open would make that caller (e.g. a test reading our output)
# wait for EOF as long as the server lives.
close_extra_fds() {
    local fd
    for fd in "/proc/$BASHPID"/fd/*; do
        fd=${fd##*/}
        if ((fd > 2)); then
            eval "exec $fd>&-" 2>/dev/null || true
        fi
    done
}

# launch INSTANCE SETUP CMD...: start CMD in the background, after running
# the function SETUP (its environment) in the child: own session, stdin from
# /dev/null, stdout+stderr appended to its log, PID recorded.  The subshell
# execs setsid, which (not being a process group leader, as job control is
# off) does not fork but execs the server: $! is the server's own PID, and
# the server is our child, so wait_up can tell how it died.
launch() {
    local inst=$1 setup=$2
    shift 2
    local logf=$DIR/logs/$inst.log
    echo "==== $(date '+%F %T') stack.sh starting: $*" >>"$logf"
    (
        "$setup"
        close_extra_fds
        exec setsid "$@" </dev/null >>"$logf" 2>&1
    ) &
    echo $! >"$DIR/pids/$inst.pid"
}

# How a child of ours ended, for error messages ("" if not our child).
exit_reason() {
    local rc=0
    wait "$1" 2>/dev/null || rc=$?
    if ((rc == 127)); then
        return 0 # not our child (started by an earlier stack.sh)
    elif ((rc > 128)); then
        echo " (killed by SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128))))"
    else
        echo " (exit status $rc)"
    fi
}

# -------------------------------------------------------------------- ports

# True if something accepts connections on 127.0.0.1:PORT.  `timeout` guards
# against a listener whose backlog is full (the connect would hang).
port_open() {
    # shellcheck disable=SC2016 # $0 is expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null
}

# True if GET /healthz on 127.0.0.1:PORT answers 200.
healthz_ok() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 2 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
        printf "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n" "$0" >&3
        IFS= read -r status <&3 || exit 1
        [[ $status =~ ^HTTP/1\.[01]\ 200 ]]' "$1" 2>/dev/null
}

# Ports picked or recorded in this run, so that two picks never collide and a
# picked health port never takes the port of a server that is merely stopped.
declare -A TAKEN=()

# pick_port VAR: store a free loopback port in VAR.  The range sits below the
# kernel's ephemeral range (32768+) so outgoing connections cannot hold it.
pick_port() {
    # Odd local names: printf -v must reach the caller's variable, which a
    # local of the same name here would shadow.
    local _pp_port _pp_try
    for ((_pp_try = 0; _pp_try < 500; _pp_try++)); do
        _pp_port=$((20000 + RANDOM % 12000))
        [[ -z ${TAKEN[$_pp_port]:-} ]] || continue
        port_open "$_pp_port" && continue
        TAKEN[$_pp_port]=1
        printf -v "$1" '%s' "$_pp_port"
        return 0
    done
    die "found no free port on 127.0.0.1"
}

# Fail clearly when a port we are about to use belongs to someone else.
ensure_port_free() {
    local port=$1 var=$2 what=$3
    if port_open "$port"; then
        die "port $port ($var) for $what is already in use by another process; set $var to a free port (or stop that process)"
    fi
}

# wait_up INSTANCE PORT SECONDS [healthz]: wait until the port answers (or
# /healthz answers 200), failing early with the log if the process dies.
wait_up() {
    local inst=$1 port=$2 secs=$3 how=${4:-port} deadline pid
    # SECONDS counts whole seconds: +1 so we never wait less than asked.
    deadline=$((SECONDS + secs + 1))
    read -r pid <"$DIR/pids/$inst.pid"
    while :; do
        if [[ $how == healthz ]]; then
            healthz_ok "$port" && return 0
        else
            port_open "$port" && return 0
        fi
        if ! pid_alive "$pid"; then
            show_log "$DIR/logs/$inst.log"
            die "$inst (pid $pid) ended$(exit_reason "$pid") before 127.0.0.1:$port answered; log: $DIR/logs/$inst.log"
        fi
        if ((SECONDS >= deadline)); then
            show_log "$DIR/logs/$inst.log"
            if [[ $how == healthz ]]; then
                die "$inst (pid $pid) did not answer http://127.0.0.1:$port/healthz within ${secs}s; log: $DIR/logs/$inst.log"
            fi
            die "$inst (pid $pid) did not listen on 127.0.0.1:$port within ${secs}s; log: $DIR/logs/$inst.log"
        fi
        sleep 0.1
    done
}

# ------------------------------------------------------------ env file / dir

# Quote a value for the env file: plain when safe, else in single quotes.
quote() {
    if [[ $1 =~ ^[A-Za-z0-9_./:@%+=,-]*$ ]]; then
        printf '%s' "$1"
    else
        printf "'%s'" "${1//\'/\'\\\'\'}"
    fi
}

# The value VAR has in DIR/env (empty if none), read in a subshell so that
# sourcing the file does not leak into this script.
recorded() {
    [[ -f $DIR/env ]] || return 0
    (
        set +eu
        # shellcheck disable=SC1091
        . "$DIR/env" >/dev/null 2>&1
        printf '%s' "${!1:-}"
    )
}

# Load the four infra/gateway ports of an existing stack from DIR/env.
load_ports() {
    [[ -f $DIR/env ]] || die "$DIR/env not found: run 'stack.sh start $DIR' first"
    local var
    for var in NATS_PORT REDIS_PORT PG_PORT GW_PORT; do
        printf -v "$var" '%s' "$(recorded "$var")"
        [[ -n ${!var} ]] || die "$DIR/env has no $var"
        TAKEN[${!var}]=1
    done
    # Ports of other instances (running or not) are not to be handed out again.
    local f port
    for f in "$DIR"/ports/*; do
        [[ -f $f ]] || continue
        read -r port <"$f" || continue
        TAKEN[$port]=1
    done
}

write_env() {
    local -A vals=(
        [REBUTTAL_NATS_URL]=nats://127.0.0.1:$NATS_PORT
        [REBUTTAL_REDIS_HOST]=127.0.0.1
        [REBUTTAL_REDIS_PORT]=$REDIS_PORT
        # The user (and the password file) are per part: part_env.
        [REBUTTAL_PG]="host=127.0.0.1 port=$PG_PORT dbname=rebuttal gssencmode=disable"
        [REBUTTAL_PORT]=$GW_PORT
        [REBUTTAL_PUBLIC_URL]=http://127.0.0.1:$GW_PORT
    )
    local known=(REBUTTAL_NATS_URL REBUTTAL_REDIS_HOST REBUTTAL_REDIS_PORT REBUTTAL_PG
        REBUTTAL_PORT REBUTTAL_PUBLIC_URL)
    local var extra=()
    for var in "${!CALLER[@]}"; do
        [[ -n ${vals[$var]+set} ]] || extra+=("$var")
        vals[$var]=${CALLER[$var]}
    done
    if ((${#extra[@]})); then
        mapfile -t extra < <(printf '%s\n' "${extra[@]}" | sort)
    fi
    # 0600: it may hold REBUTTAL_ADMIN_PASSWORD.  Written aside then renamed,
    # so a reader never sees half a file.
    (
        umask 077
        {
            echo "# Written by scripts/stack.sh start: what the parts of this stack get."
            echo "# Per process, not here: REBUTTAL_HEALTH_PORT (and REBUTTAL_PORT of extra gateways)."
            for var in NATS_PORT REDIS_PORT PG_PORT GW_PORT; do
                echo "export $var=${!var}"
            done
            echo "export REBUTTAL_STACK_DIR=$(quote "$DIR")"
            for var in "${known[@]}" "${extra[@]}"; do
                echo "export $var=$(quote "${vals[$var]}")"
            done
        } >"$DIR/env.tmp"
    )
    mv -f "$DIR/env.tmp" "$DIR/env"
}

# The folders of DIR.  PostgreSQL runs as `postgres` when we are root, so it
# must be able to walk down to DIR (a checkout under /root, mode 0700, is out)
# and own its data, socket and log files.
make_dirs() {
    mkdir -p "$DIR" "$DIR/logs" "$DIR/pids" "$DIR/ports" "$DIR/redis" "$DIR/secrets"
    # A folder of an older stack.sh may have been made with umask 022.
    chmod -R go-rwx "$DIR/logs" "$DIR/pids" "$DIR/ports" "$DIR/secrets"
    [[ ! -f $DIR/env ]] || chmod 600 "$DIR/env"
    if ((EUID == 0)); then
        # Traversable, not listable: postgres and redis reach their folders.
        chmod 711 "$DIR"
        if ! runuser -u postgres -- test -x "$DIR"; then
            die "user postgres cannot reach $DIR (a parent folder is not traversable, e.g. /root is 0700); use a data folder elsewhere, e.g. under /var/lib or /tmp"
        fi
    else
        chmod 700 "$DIR"
    fi
}

# ----------------------------------------------------------------- secrets

# secret NAME: print the secret NAME, made on first use: 24 random bytes in
# URL-safe base64 (32 characters that need no quoting in any config).
secret() {
    local f=$DIR/secrets/$1 value
    if [[ ! -s $f ]]; then
        value=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
        printf '%s\n' "$value" >"$f.tmp"
        mv -f "$f.tmp" "$f"
    fi
    printf '%s' "$(<"$f")"
}

# Make every secret of the stack (idempotent), and the libpq password file.
make_secrets() {
    local name role
    for name in "${NATS_USERS[@]}" tester; do secret "nats-$name" >/dev/null; done
    for name in "${REDIS_USERS[@]}"; do secret "redis-$name" >/dev/null; done
    for role in postgres "${PG_ROLES[@]}"; do
        printf '*:*:*:%s:%s\n' "$role" "$(secret "pg-$role")"
    done >"$DIR/secrets/pgpass.tmp"
    mv -f "$DIR/secrets/pgpass.tmp" "$DIR/secrets/pgpass"
}

# as_user USER: set AS to the words that run a command as USER when we are
# root (setpriv execs it: the pid stays the server's), else to nothing.
as_user() {
    AS=()
    if ((EUID == 0)); then
        AS=(setpriv --reuid="$1" --regid="$1" --init-groups --)
    fi
}

# ------------------------------------------------------------------- infra

as_postgres() {
    if ((EUID == 0)); then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_bin() {
    local dirs=(/usr/lib/postgresql/*/bin)
    [[ -x ${dirs[0]}/pg_ctl ]] || die "PostgreSQL server not installed (run scripts/deps.sh)"
    # Newest version folder if there are several; not hard-coded to 15.
    printf '%s\n' "${dirs[@]}" | sort -V | tail -n 1
}

# already_up NAME: true, saying so, when the stack's NAME is running.
already_up() {
    local pid
    pid=$(running_pid "$1") || return 1
    log "$1 already running (pid $pid)"
}

start_nats() {
    already_up nats && return 0
    ensure_port_free "$NATS_PORT" NATS_PORT nats
    # Media travels over NATS in messages of up to 16 MiB.  max_pending (per
    # client buffer) must stay above max_payload; its default is 64 MiB, set
    # here so nobody lowers it without seeing why.
    # Users: one per part, with what deploy/nats-permissions.conf allows
    # it, and `tester`, the tests' and benchmarks' own user, who plays any
    # part (they forge services' events and deliveries on purpose).
    cp "$ROOT/deploy/nats-permissions.conf" "$DIR/nats-permissions.conf"
    local user
    {
        echo "# Written by scripts/stack.sh"
        echo "max_payload: 16777216"
        echo "max_pending: 67108864"
        echo "include ./nats-permissions.conf"
        echo 'TESTER_PERMISSIONS = {publish: ["rb.>", "_INBOX.>"], subscribe: ["rb.>", "_INBOX.>"]}'
        echo "authorization {"
        echo "  users = ["
        for user in "${NATS_USERS[@]}" tester; do
            printf '    {user: %s, password: "%s", permissions: $%s_PERMISSIONS}\n' \
                "$user" "$(secret "nats-$user")" "${user^^}"
        done
        echo "  ]"
        echo "}"
    } >"$DIR/nats.conf.tmp"
    mv -f "$DIR/nats.conf.tmp" "$DIR/nats.conf"
    launch nats : nats-server -a 127.0.0.1 -p "$NATS_PORT" ${NATS_MONITOR_PORT:+-m "$NATS_MONITOR_PORT"} -c "$DIR/nats.conf"
    wait_up nats "$NATS_PORT" "$INFRA_TIMEOUT"
    log "nats up on 127.0.0.1:$NATS_PORT (pid $(<"$DIR/pids/nats.pid"))"
}

start_redis() {
    already_up redis && return 0
    ensure_port_free "$REDIS_PORT" REDIS_PORT redis
    # Users: one per part that uses Redis, anything but administration.
    # The default user is off (no client can be it), but keeps every right:
    # Redis replays the AOF as that user at start.
    local user acl=$DIR/redis/users.acl
    {
        echo "user default off resetpass ~* &* +@all"
        for user in "${REDIS_USERS[@]}"; do
            echo "user $user on >$(secret "redis-$user") ~* &* +@all -@admin -@dangerous"
        done
    } >"$acl.tmp"
    mv -f "$acl.tmp" "$acl"
    # Not as root: as redis, owning its folder (0700).
    if ((EUID == 0)); then
        chown -R redis: "$DIR/redis"
    fi
    chmod 700 "$DIR/redis"
    as_user redis
    # AOF on and RDB snapshots off: every write survives a restart, which the
    # tests check by restarting Redis.  --logfile '' logs to stdout (our log).
    launch redis : "${AS[@]}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
        --dir "$DIR/redis" --aclfile "$acl" --appendonly yes --save '' --daemonize no \
        --logfile ''
    wait_up redis "$REDIS_PORT" "$INFRA_TIMEOUT"
    log "redis up on 127.0.0.1:$REDIS_PORT (pid $(<"$DIR/pids/redis.pid"))"
}

# psql as the superuser, over TCP with its password (DIR/secrets/pgpass).
psql_admin() {
    PGPASSFILE=$DIR/secrets/pgpass PGGSSENCMODE=disable PGCONNECT_TIMEOUT=5 \
        "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"
}

HBA_MARK="# Written by scripts/stack.sh: a password (SCRAM) for every connection."

# pg_hba.conf: SCRAM for every connection, socket and TCP alike.
write_hba() {
    local hba=$DIR/pg/pg_hba.conf
    {
        echo "$HBA_MARK"
        echo "local all all scram-sha-256"
        echo "host all all 127.0.0.1/32 scram-sha-256"
        echo "host all all ::1/128 scram-sha-256"
    } >"$hba.tmp"
    if ((EUID == 0)); then chown postgres: "$hba.tmp"; fi
    mv -f "$hba.tmp" "$hba"
}

# initdb with the superuser's password (from a file only postgres reads).
pg_init() {
    local pgdata=$1 logf=$2 tmp
    log "initialising PostgreSQL in $pgdata"
    tmp=$(mktemp -d "$DIR/pginit.XXXXXX")
    secret pg-postgres >"$tmp/pw"
    if ((EUID == 0)); then chown -R postgres: "$tmp"; fi
    mkdir -p "$pgdata"
    chmod 700 "$pgdata"
    # -U postgres: same superuser name whether we run as root or not.
    if ! as_postgres "$PGBIN/initdb" -D "$pgdata" -U postgres --auth=scram-sha-256 \
        --pwfile="$tmp/pw" -E UTF8 --locale=C.UTF-8 --no-sync >>"$logf" 2>&1; then
        rm -rf "$tmp"
        show_log "$logf"
        die "initdb failed; log: $logf"
    fi
    rm -rf "$tmp"
    write_hba
}

# The roles and the database of the parts, every start (idempotent): a
# login role per service that owns its schema and is no superuser; the
# passwords from DIR/secrets.  A data folder of an older stack.sh (role
# `rebuttal`, a superuser owning both schemas) is brought to this state.
# The SQL goes through stdin: no password on a command line.
pg_roles() {
    local role sql="SET log_min_error_statement = panic; SET log_statement = 'none';"
    sql+="ALTER ROLE postgres PASSWORD '$(secret pg-postgres)';"
    for role in "${PG_ROLES[@]}"; do
        sql+="SELECT 'CREATE ROLE $role' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role') \\gexec
"
        sql+="ALTER ROLE $role LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD '$(secret "pg-$role")';"
    done
    sql+="SELECT 'CREATE DATABASE rebuttal OWNER postgres' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'rebuttal') \\gexec
"
    sql+="ALTER DATABASE rebuttal OWNER TO postgres;"
    sql+="REVOKE ALL ON DATABASE rebuttal FROM PUBLIC;"
    psql_admin -d postgres <<<"$sql" >>"$DIR/logs/postgres.log" 2>&1 ||
        die "could not set up the PostgreSQL roles; log: $DIR/logs/postgres.log"
    sql="SELECT 'ALTER ROLE rebuttal NOLOGIN NOSUPERUSER' FROM pg_roles WHERE rolname = 'rebuttal' \\gexec
"
    for role in "${PG_ROLES[@]}"; do
        sql+="GRANT CONNECT, CREATE ON DATABASE rebuttal TO $role;"
        sql+="CREATE SCHEMA IF NOT EXISTS ${PG_SCHEMA[$role]} AUTHORIZATION $role;"
        sql+="$(schema_owner_sql "${PG_SCHEMA[$role]}" "$role")"
    done
    psql_admin -d rebuttal <<<"$sql" >>"$DIR/logs/postgres.log" 2>&1 ||
        die "could not give the schemas to their roles; log: $DIR/logs/postgres.log"
}

# SQL that makes ROLE the owner of SCHEMA and everything in it (tables,
# views, free-standing sequences, functions, types): a no-op once it is.
schema_owner_sql() {
    local s=$1 r=$2
    cat <<EOF
ALTER SCHEMA $s OWNER TO $r;
DO \$\$ DECLARE o record; BEGIN
  FOR o IN SELECT c.oid::regclass AS n,
      CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
        WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END AS k
    FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
    WHERE ns.nspname = '$s' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
      AND c.relowner <> '$r'::regrole
      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
  LOOP EXECUTE format('ALTER %s %s OWNER TO $r', o.k, o.n); END LOOP;
  FOR o IN SELECT p.oid::regprocedure AS n, CASE p.prokind WHEN 'p' THEN 'PROCEDURE'
        WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END AS k
    FROM pg_proc p JOIN pg_namespace ns ON ns.oid = p.pronamespace
    WHERE ns.nspname = '$s' AND p.proowner <> '$r'::regrole
  LOOP EXECUTE format('ALTER %s %s OWNER TO $r', o.k, o.n); END LOOP;
  FOR o IN SELECT t.oid::regtype AS n FROM pg_type t
      JOIN pg_namespace ns ON ns.oid = t.typnamespace
    WHERE ns.nspname = '$s' AND t.typowner <> '$r'::regrole
      AND t.typtype IN ('e', 'd', 'c') AND (t.typrelid = 0 OR
        (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
  LOOP EXECUTE format('ALTER TYPE %s OWNER TO $r', o.n); END LOOP;
END \$\$;
EOF
}

# True if the postmaster named in postmaster.pid is alive.  Not `pg_ctl
# status`: it uses kill -0, which takes a killed postmaster's zombie for a
# running server.
pg_running() {
    local pid
    [[ -f $DIR/pg/postmaster.pid ]] || return 1
    read -r pid <"$DIR/pg/postmaster.pid" || return 1
    pid_alive "$pid"
}

# Wait up to SECONDS until PID has vanished from /proc, zombie included.
wait_vanished() {
    local deadline=$((SECONDS + $2))
    while [[ -e /proc/$1 ]] && ((SECONDS < deadline)); do
        sleep 0.1
    done
}

start_postgres() {
    PGBIN=$(pg_bin)
    local pgdata=$DIR/pg sock=$DIR/pgsock logf=$DIR/logs/postgres.log
    mkdir -p "$sock"
    touch "$logf"
    if ((EUID == 0)); then
        # initdb/pg_ctl run as postgres: it must own what it writes.  The
        # log is written through our descriptor, not by postgres.
        mkdir -p "$pgdata"
        chown postgres: "$pgdata" "$sock"
    fi
    # Nobody else may reach the socket (and psql from there still asks
    # for a password).
    chmod 700 "$sock"
    # A Unix socket path is limited to 107 bytes; with a deep DIR go TCP-only.
    local sockopt="-k '$sock'"
    if ((${#sock} > 90)); then
        sockopt="-c unix_socket_directories=''"
    fi
    if [[ ! -f $pgdata/PG_VERSION ]]; then
        pg_init "$pgdata" "$logf"
    fi
    if pg_running; then
        log "postgres already running (pid $(head -n 1 "$pgdata/postmaster.pid"))"
    else
        ensure_port_free "$PG_PORT" PG_PORT postgres
        # After a SIGKILL (stack.sh kill) the old postmaster lingers as a
        # zombie for a while, which postgres's own lock-file check (kill -0)
        # takes for a live server, and its orphaned backends hold the shared
        # memory for a moment: wait for the old PID to vanish, and give
        # pg_ctl a few tries.
        local old="" try
        if [[ -f $pgdata/postmaster.pid ]]; then
            read -r old <"$pgdata/postmaster.pid" || true
            [[ -z $old ]] || wait_vanished "$old" 10
        fi
        for try in 1 2 3; do
            echo "==== $(date '+%F %T') stack.sh starting postgres (try $try)" >>"$logf"
            # pg_ctl -w returns once the server accepts connections (or
            # failed).  In a subshell without our inherited descriptors,
            # which the postmaster would otherwise keep open.
            # shellcheck disable=SC2094 # pg_ctl and the server both append to it
            if (
                close_extra_fds
                as_postgres "$PGBIN/pg_ctl" -D "$pgdata" -w -t "$INFRA_TIMEOUT" \
                    -o "-p $PG_PORT $sockopt -c listen_addresses=127.0.0.1" start </dev/null >>"$logf" 2>&1
            ); then
                break
            fi
            if ((try == 3)); then
                show_log "$logf"
                die "postgres did not start on 127.0.0.1:$PG_PORT; log: $logf"
            fi
            sleep 1
        done
    fi
    head -n 1 "$pgdata/postmaster.pid" >"$DIR/pids/postgres.pid"
    wait_up postgres "$PG_PORT" "$INFRA_TIMEOUT"

    pg_roles
    # A data folder of an older stack.sh trusted every local connection:
    # now that the superuser has its password, ask for it from everyone.
    if [[ $(head -n 1 "$pgdata/pg_hba.conf") != "$HBA_MARK" ]]; then
        log "PostgreSQL in $pgdata: passwords required from now on (pg_hba.conf rewritten)"
        write_hba
        as_postgres "$PGBIN/pg_ctl" -D "$pgdata" reload >>"$logf" 2>&1 ||
            die "pg_ctl reload failed; log: $logf"
    fi
    log "postgres up on 127.0.0.1:$PG_PORT (pid $(<"$DIR/pids/postgres.pid"))"
}

stop_postgres() {
    PGBIN=$(pg_bin)
    if pg_running; then
        # -m fast: roll back open transactions, disconnect clients, checkpoint.
        as_postgres "$PGBIN/pg_ctl" -D "$DIR/pg" -m fast -w -t 60 stop >>"$DIR/logs/postgres.log" 2>&1 ||
            log "warning: pg_ctl stop failed; see $DIR/logs/postgres.log"
        log "stopped postgres"
    fi
    rm -f "$DIR/pids/postgres.pid"
}

start_infra() {
    case $1 in
    nats) start_nats ;;
    redis) start_redis ;;
    postgres) start_postgres ;;
    *) die "unknown infra '$1' (nats, redis or postgres)" ;;
    esac
}

stop_infra() {
    case $1 in
    nats | redis) stop_instances "$1" ;;
    postgres) stop_postgres ;;
    *) die "unknown infra '$1' (nats, redis or postgres)" ;;
    esac
}

# -------------------------------------------------------------------- parts

# launch_part NAME INSTANCE: start a part without waiting; sets UP_PORT and
# UP_HOW to what wait_up must check.
launch_part() {
    local name=$1 inst=$2 bin=$BIN_DIR/$1 health port=""
    [[ -x $bin ]] || die "no binary $bin"
    if already_up "$inst"; then
        UP_PORT=$(<"$DIR/ports/$inst")
        UP_HOW=running
        return 0
    fi
    # Every process gets its own health port, the gateway too, so that two
    # processes never fall back on one built-in default.
    pick_port health
    if [[ $name == "$GATEWAY" ]]; then
        if [[ $inst == "$GATEWAY" ]]; then
            port=$GW_PORT
            ensure_port_free "$port" GW_PORT gateway
        else
            pick_port port
        fi
        UP_PORT=$port
        UP_HOW=port
    else
        UP_PORT=$health
        UP_HOW=healthz
    fi
    echo "$UP_PORT" >"$DIR/ports/$inst"
    launch "$inst" part_env "$bin"
}

# The environment of a part, set up in its child by launch.  Uses launch_part's
# `health` and `port` (bash's dynamic scope).
part_env() {
    set -a
    # shellcheck disable=SC1091
    . "$DIR/env"
    set +a
    local var
    for var in "${!CALLER[@]}"; do
        export "$var=${CALLER[$var]}"
    done
    export REBUTTAL_HEALTH_PORT=$health
    # Its own credentials, as paths: a value in the environment could be
    # read in /proc by anyone who can read that process's memory anyway,
    # but it would also end up in every child and every `env` dump.
    export REBUTTAL_NATS_USER=$name REBUTTAL_NATS_PASSWORD_FILE=$DIR/secrets/nats-$name
    if [[ -n ${PG_SCHEMA[$name]:-} ]]; then
        export REBUTTAL_PG="$REBUTTAL_PG user=$name"
        export REBUTTAL_PG_PASSWORD_FILE=$DIR/secrets/pg-$name
    fi
    if [[ " ${REDIS_USERS[*]} " == *" $name "* ]]; then
        export REBUTTAL_REDIS_USER=$name REBUTTAL_REDIS_PASSWORD_FILE=$DIR/secrets/redis-$name
    fi
    # Each gateway makes up its own id; a shared one would clash.
    unset REBUTTAL_GATEWAY_ID
    if [[ -n $port ]]; then
        # An extra gateway links to itself unless a real public URL is set.
        if [[ $REBUTTAL_PUBLIC_URL == "http://127.0.0.1:$REBUTTAL_PORT" ]]; then
            export REBUTTAL_PUBLIC_URL=http://127.0.0.1:$port
        fi
        export REBUTTAL_PORT=$port
    fi
    # The data folder as working directory: stray files and core dumps land
    # there, not in the checkout.
    cd "$DIR"
}

wait_part() {
    local inst=$1
    [[ $UP_HOW == running ]] && return 0
    wait_up "$inst" "$UP_PORT" "$PART_TIMEOUT" "$UP_HOW"
    log "$inst up (pid $(<"$DIR/pids/$inst.pid"), $([[ $UP_HOW == healthz ]] && echo "health " )port $UP_PORT)"
}

# Part instances recorded in DIR/pids, gateways first (they go down first).
part_instances() {
    local f inst gws=() others=()
    for f in "$DIR"/pids/*.pid; do
        [[ -f $f ]] || continue
        inst=$(basename "$f" .pid)
        case $inst in
        nats | redis | postgres) ;;
        "$GATEWAY" | "$GATEWAY"-*) gws+=("$inst") ;;
        *) others+=("$inst") ;;
        esac
    done
    printf '%s\n' "${gws[@]}" "${others[@]}" | sed '/^$/d'
}

# --------------------------------------------------------------- commands

cmd_start() {
    make_dirs
    # Ports: caller's choice, else what DIR/env recorded, else free ones.
    # Known ones are reserved first so that picks cannot collide with them.
    local var val
    [[ -n ${GW_PORT:-} ]] || GW_PORT=${CALLER[REBUTTAL_PORT]:-}
    for var in NATS_PORT REDIS_PORT PG_PORT GW_PORT; do
        val=${!var:-}
        [[ -n $val ]] || val=$(recorded "$var")
        [[ -z $val || $val =~ ^[0-9]+$ ]] || die "$var=$val is not a port number"
        printf -v "$var" '%s' "$val"
        [[ -z $val ]] || TAKEN[$val]=1
    done
    for var in NATS_PORT REDIS_PORT PG_PORT GW_PORT; do
        [[ -n ${!var} ]] || pick_port "$var"
    done

    # Find a taken port now rather than after a minute of starting things,
    # and before DIR/env records it for the next start.
    running_pid nats >/dev/null || ensure_port_free "$NATS_PORT" NATS_PORT nats
    running_pid redis >/dev/null || ensure_port_free "$REDIS_PORT" REDIS_PORT redis
    [[ -f $DIR/pg/postmaster.pid ]] || ensure_port_free "$PG_PORT" PG_PORT postgres
    if [[ -x $BIN_DIR/$GATEWAY ]] && ! running_pid "$GATEWAY" >/dev/null; then
        ensure_port_free "$GW_PORT" GW_PORT gateway
    fi
    write_env
    make_secrets

    start_nats
    start_redis
    start_postgres

    # Services in parallel (each waits on NATS/Redis/Postgres, not on each
    # other), then the gateway.
    local name started=()
    local -A up_how=() up_port=()
    for name in "${SERVICES[@]}"; do
        if [[ -x $BIN_DIR/$name ]]; then
            launch_part "$name" "$name"
            up_how[$name]=$UP_HOW up_port[$name]=$UP_PORT
            started+=("$name")
        else
            log "skipping $name (no $BIN_DIR/$name yet)"
        fi
    done
    for name in "${started[@]}"; do
        UP_HOW=${up_how[$name]} UP_PORT=${up_port[$name]}
        wait_part "$name"
    done
    if [[ -x $BIN_DIR/$GATEWAY ]]; then
        launch_part "$GATEWAY" "$GATEWAY"
        wait_part "$GATEWAY"
    else
        log "skipping $GATEWAY (no $BIN_DIR/$GATEWAY yet)"
    fi
    log "stack up in $DIR (source $DIR/env for its settings)"
}

cmd_stop() {
    if [[ ! -d $DIR/pids ]]; then
        log "nothing to stop in $DIR"
        return 0
    fi
    local insts gws=() others=() inst
    mapfile -t insts < <(part_instances)
    for inst in "${insts[@]}"; do
        case $inst in
        "$GATEWAY" | "$GATEWAY"-*) gws+=("$inst") ;;
        *) others+=("$inst") ;;
        esac
    done
    ((${#gws[@]} == 0)) || stop_instances "${gws[@]}"
    ((${#others[@]} == 0)) || stop_instances "${others[@]}"
    if [[ -d $DIR/pg ]]; then stop_postgres; fi
    stop_instances redis nats
}

cmd_start_part() {
    local name=$1 inst=$1
    [[ -n ${2:-} ]] && inst=$1-$2
    [[ $name =~ ^[a-z0-9]+$ ]] || die "bad part name '$name'"
    load_ports
    launch_part "$name" "$inst"
    wait_part "$inst"
    # The port of a gateway instance, for the caller (tests) to connect to.
    if [[ $name == "$GATEWAY" ]]; then
        echo "port=$UP_PORT"
    fi
}

cmd_kill() {
    local inst=$1 sig=${2:-KILL} pid
    sig=${sig#SIG}
    if ! pid=$(running_pid "$inst"); then
        log "$inst is not running"
        rm -f "$DIR/pids/$inst.pid"
        return 0
    fi
    kill -s "$sig" "$pid" || die "could not send SIG$sig to $inst (pid $pid)"
    case $sig in
    # These do not end a process (or are caught by servers): don't wait.
    STOP | TSTP | CONT | HUP | USR1 | USR2 | WINCH | 0)
        log "sent SIG$sig to $inst (pid $pid)"
        return 0
        ;;
    esac
    wait_gone "$pid" 10 || die "$inst (pid $pid) still alive 10s after SIG$sig"
    rm -f "$DIR/pids/$inst.pid" "$DIR/ports/$inst"
    log "$inst (pid $pid) is gone after SIG$sig"
}

cmd_status() {
    local f inst pid state port
    printf '%-16s %-8s %-8s %s\n' NAME PID STATE PORT
    for f in "$DIR"/pids/*.pid; do
        [[ -f $f ]] || continue
        inst=$(basename "$f" .pid)
        read -r pid <"$f" || pid="?"
        port=""
        case $inst in
        nats) port=$(recorded NATS_PORT) ;;
        redis) port=$(recorded REDIS_PORT) ;;
        postgres) port=$(recorded PG_PORT) ;;
        *) [[ -f $DIR/ports/$inst ]] && port=$(<"$DIR/ports/$inst") ;;
        esac
        if running_pid "$inst" >/dev/null; then state=up; else state=dead; fi
        printf '%-16s %-8s %-8s %s\n' "$inst" "$pid" "$state" "$port"
    done
}

usage() {
    sed -n '/^# Usage:/,/^#$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

(($# >= 2)) || usage
cmd=$1
DIR=$(realpath -m -- "$2")
shift 2
case $cmd in
start) cmd_start ;;
stop) cmd_stop ;;
start-part) (($# >= 1)) || usage; cmd_start_part "$@" ;;
kill) (($# >= 1)) || usage; cmd_kill "$@" ;;
start-infra) (($# == 1)) || usage; load_ports; start_infra "$1" ;;
stop-infra) (($# == 1)) || usage; stop_infra "$1" ;;
status) cmd_status ;;
*) usage ;;
esac
