#!/usr/bin/env bash
# The real thing in containers: the image of ./Dockerfile, two gateways and two
# instances of every service, NATS (a 3-node cluster, with the users and
# permissions of deploy/), Redis and PostgreSQL, each in a container of its own
# on a Docker engine that this script starts and stops.  Then:
#   smoke     a login through each gateway; a message sent through one is seen
#             through the other
#   rolling   clients send all the while every service instance and then every
#             gateway is restarted, one container at a time: no `error`, no message
#             lost or stored twice (tests/containers/chat.mjs)
#
# Usage: tests/containers/run.sh          (root; `make test-containers`)
#
# Prints one line per check and ends with `N passed, N failed`; exits non-zero if
# any failed.  Needs root (dockerd).  Installs what is missing: docker.io,
# mmdebstrap, nodejs.
#
# The Docker engine: `dockerd --bridge=none --iptables=false`, its socket, pid file
# and exec-root in a temporary folder, stopped by its pid at the end.  Every
# container runs with host networking on loopback ports picked here (no
# container needs a network of its own, nothing is published).  The data-root is
# kept in $REBUTTAL_CONTAINER_CACHE (/var/cache/rebuttal-containers) so images and
# build layers survive between runs (a lock file keeps two runs apart).
#
# Images: debian:12-slim cannot be pulled here, so it is made from Debian's
# packages (`mmdebstrap --variant=minbase bookworm`, imported once).  The parts run
# from `docker build` of ./Dockerfile as it is.  NATS, Redis and PostgreSQL run
# from tests/containers/infra.Dockerfile (Debian 12's servers) with deploy/'s
# files: nats-permissions.conf, postgres-init.sh (through postgres-entry.sh,
# which does what the postgres image's entrypoint does), the Redis users of
# docker-compose.yml.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${REBUTTAL_CONTAINER_CACHE:-/var/cache/rebuttal-containers}
P=rbct # container name prefix
SERVICES=(authsvc roomsvc msgsvc mediasvc)
T_START=$SECONDS

passed=0 failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
note() { echo "run.sh: $*" >&2; }
summary() {
    echo "containers: $((SECONDS - T_START)) s in all"
    echo "$passed passed, $failed failed"
    ((failed == 0))
}

if ((EUID != 0)); then
    fail "setup: must run as root (it starts dockerd)"
    summary
    exit 1
fi

# ------------------------------------------------------------------ setup
need() {
    local cmd=$1
    shift
    command -v "$cmd" >/dev/null && return 0
    note "installing $* (for $cmd)"
    apt-get update -qq >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1
    command -v "$cmd" >/dev/null
}
for x in "dockerd docker.io" "mmdebstrap mmdebstrap" "node nodejs"; do
    # shellcheck disable=SC2086
    if ! need $x; then
        fail "setup: ${x%% *} not found (apt-get install ${x#* })"
        summary
        exit 1
    fi
done
# The docker client of docker.io (a client elsewhere on PATH may be another version).
DOCKER_BIN=/usr/bin/docker
[[ -x $DOCKER_BIN ]] || DOCKER_BIN=$(command -v docker)

mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
if ! flock -w 600 9; then
    fail "setup: another run holds $CACHE/lock"
    summary
    exit 1
fi

TMP=$(mktemp -d /tmp/rbct.XXXXXX)
chmod 711 "$TMP"
export DOCKER_HOST=unix://$TMP/docker.sock
dk() { "$DOCKER_BIN" "$@"; }
DOCKERD_PID=

cleanup() {
    local ids
    if [[ -n $DOCKERD_PID ]]; then
        ids=$(dk ps -aq --filter label=rebuttal.test=containers 2>/dev/null)
        # shellcheck disable=SC2086
        [[ -z $ids ]] || dk rm -f $ids >/dev/null 2>&1
        kill -TERM "$DOCKERD_PID" 2>/dev/null
        for _ in $(seq 1 100); do
            [[ -e /proc/$DOCKERD_PID ]] || break
            sleep 0.2
        done
        [[ ! -e /proc/$DOCKERD_PID ]] || kill -KILL "$DOCKERD_PID" 2>/dev/null
    fi
    [[ -n ${TRAFFIC_PID:-} ]] && kill "$TRAFFIC_PID" 2>/dev/null
    # dockerd leaves its network namespace mounted in its exec-root.
    awk -v t="$TMP/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ dockerd
t0=$SECONDS
# A dockerd of a run that was killed (SIGKILL: no cleanup) would share the
# data-root with ours: say so rather than start a second one on it.
for pid in $(pgrep -x dockerd); do
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--data-root $CACHE/docker "; then
        fail "dockerd: pid $pid (an earlier run, killed?) still uses $CACHE/docker; stop it first (kill $pid)"
        summary
        exit 1
    fi
done
# Without the lock's descriptor (9>&-): only this script holds the lock.
dockerd --bridge=none --iptables=false --ip6tables=false \
    --data-root "$CACHE/docker" --exec-root "$TMP/exec" --pidfile "$TMP/dockerd.pid" \
    -H "$DOCKER_HOST" >"$TMP/dockerd.log" 2>&1 </dev/null 9>&- &
DOCKERD_PID=$!
for _ in $(seq 1 150); do
    dk info >/dev/null 2>&1 && break
    [[ -e /proc/$DOCKERD_PID ]] || break
    sleep 0.2
done
if ! dk info >/dev/null 2>&1; then
    fail "dockerd: did not start: $(tail -n 5 "$TMP/dockerd.log" | tr '\n' ' ')"
    summary
    exit 1
fi
ok "dockerd (pid $DOCKERD_PID, up in $((SECONDS - t0)) s)"
# Left over from a run that was killed: its containers go.
old=$(dk ps -aq --filter label=rebuttal.test=containers)
# shellcheck disable=SC2086
[[ -z $old ]] || dk rm -f $old >/dev/null

# ------------------------------------------------------------------ images
t0=$SECONDS
if ! dk image inspect debian:12-slim >/dev/null 2>&1; then
    note "making debian:12-slim with mmdebstrap (once; kept in $CACHE)"
    if ! mmdebstrap --variant=minbase bookworm "$TMP/base.tar" >"$TMP/mmdebstrap.log" 2>&1 ||
        ! dk import "$TMP/base.tar" debian:12-slim >/dev/null; then
        fail "image debian:12-slim: $(tail -n 5 "$TMP/mmdebstrap.log" | tr '\n' ' ')"
        summary
        exit 1
    fi
    rm -f "$TMP/base.tar"
fi
base_s=$((SECONDS - t0))
t0=$SECONDS
if ! dk build --network host -t rebuttal:test "$ROOT" >"$TMP/build.log" 2>&1; then
    fail "image rebuttal (Dockerfile): $(tail -n 15 "$TMP/build.log" | tr '\n' ' ')"
    summary
    exit 1
fi
build_s=$((SECONDS - t0))
t0=$SECONDS
if ! dk build --network host -t rebuttal-infra:test -f "$HERE/infra.Dockerfile" "$HERE" >"$TMP/infra.log" 2>&1; then
    fail "image rebuttal-infra: $(tail -n 15 "$TMP/infra.log" | tr '\n' ' ')"
    summary
    exit 1
fi
# The images these builds replaced (the cache keeps the build layers).
dk image prune -f >/dev/null 2>&1
ok "images (debian:12-slim ${base_s} s, rebuttal ${build_s} s, infra $((SECONDS - t0)) s; $(dk image inspect -f '{{.Size}}' rebuttal:test | awk '{printf "%.0f MB", $1/1e6}') image)"

# ------------------------------------------------------------------ ports
declare -A TAKEN=()
port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null; }
pick_port() {
    local p
    for _ in $(seq 1 500); do
        p=$((20000 + RANDOM % 12000))
        [[ -z ${TAKEN[$p]:-} ]] || continue
        port_open "$p" && continue
        TAKEN[$p]=1
        printf -v "$1" '%s' "$p"
        return 0
    done
    return 1
}
for v in NATS1 NATS2 NATS3 NATSR1 NATSR2 NATSR3 NATSM1 NATSM2 NATSM3 REDIS PG GW1 GW2; do pick_port "$v"; done
declare -A HP=()
for s in "${SERVICES[@]}"; do for i in 1 2; do pick_port "HP_$s$i"; v=HP_$s$i; HP[$s$i]=${!v}; done; done

healthz_ok() {
    timeout 2 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
        printf "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" >&3
        IFS= read -r status <&3 || exit 1
        [[ $status =~ ^HTTP/1\.[01]\ 200 ]]' "$1" 2>/dev/null
}
# wait_until SECONDS CMD...: true once CMD succeeds.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}
running() { [[ $(dk inspect -f '{{.State.Running}}' "$1" 2>/dev/null) == true ]]; }
logs_of() { dk logs --tail 15 "$1" 2>&1 | sed 's/^/    /'; }

# ------------------------------------------------------------------ secrets
(umask 077; "$ROOT/deploy/secrets.sh" env >"$TMP/secrets.env")
set -a
# shellcheck disable=SC1091
. "$TMP/secrets.env"
set +a

COMMON=(--network host --label rebuttal.test=containers --security-opt no-new-privileges:true)
PART=("${COMMON[@]}" --read-only --tmpfs /tmp --cap-drop ALL)

# ------------------------------------------------------------------ infrastructure
t0=$SECONDS
# NATS: three servers in one cluster (routes to each other), every one with the
# users of deploy/nats.conf.  The file is deploy/nats.conf as mounted by
# docker-compose.yml; ports and the cluster block come from the command line.
routes=nats-route://127.0.0.1:$NATSR1,nats-route://127.0.0.1:$NATSR2,nats-route://127.0.0.1:$NATSR3
for i in 1 2 3; do
    c=NATS$i r=NATSR$i m=NATSM$i
    dk run -d --name "$P-nats-$i" "${COMMON[@]}" --read-only --cap-drop ALL --user 1000:1000 \
        -v "$ROOT/deploy/nats.conf:/etc/nats/rebuttal.conf:ro" \
        -v "$ROOT/deploy/nats-permissions.conf:/etc/nats/nats-permissions.conf:ro" \
        -e NATS_GATEWAY_PASSWORD -e NATS_AUTHSVC_PASSWORD -e NATS_ROOMSVC_PASSWORD \
        -e NATS_MSGSVC_PASSWORD -e NATS_MEDIASVC_PASSWORD -e NATS_REBUTTALCTL_PASSWORD \
        rebuttal-infra:test nats-server --config /etc/nats/rebuttal.conf -a 127.0.0.1 \
        -p "${!c}" -m "${!m}" --name "nats-$i" --cluster_name rebuttal \
        --cluster "nats://127.0.0.1:${!r}" --routes "$routes" >/dev/null
done
# Redis: its users made from the environment into /tmp, as docker-compose.yml does.
dk run -d --name "$P-redis" "${COMMON[@]}" --user redis --tmpfs /tmp:uid=0,mode=1777 \
    -e REDIS_ROOMSVC_PASSWORD -e REDIS_MEDIASVC_PASSWORD rebuttal-infra:test \
    sh -c 'umask 077 && printf "user default off resetpass ~* &* +@all\nuser roomsvc on >%s ~* &* +@all -@admin -@dangerous\nuser mediasvc on >%s ~* &* +@all -@admin -@dangerous\n" "$REDIS_ROOMSVC_PASSWORD" "$REDIS_MEDIASVC_PASSWORD" >/tmp/users.acl && exec redis-server --port "$0" --bind 127.0.0.1 --dir /tmp --appendonly yes --aclfile /tmp/users.acl' "$REDIS" >/dev/null
# PostgreSQL: deploy/postgres-init.sh on the empty database, as in compose.
dk run -d --name "$P-postgres" "${COMMON[@]}" --user postgres \
    -e POSTGRES_PASSWORD="$PG_POSTGRES_PASSWORD" -e PG_AUTHSVC_PASSWORD -e PG_MSGSVC_PASSWORD -e PG_PORT="$PG" \
    -v "$ROOT/deploy/postgres-init.sh:/docker-entrypoint-initdb.d/10-rebuttal-roles.sh:ro" \
    -v "$HERE/postgres-entry.sh:/usr/local/bin/postgres-entry:ro" \
    rebuttal-infra:test bash /usr/local/bin/postgres-entry >/dev/null
# nats_up I: server I has routes to both others.
nats_up() {
    local m=NATSM$1
    [[ $(timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"; printf "GET /routez HTTP/1.0\r\n\r\n" >&3; cat <&3' "${!m}" 2>/dev/null |
        grep -c '"rid"') -ge 2 ]]
}
nats_cluster_ok() { nats_up 1 && nats_up 2 && nats_up 3; }
infra_ok() { nats_cluster_ok && port_open "$REDIS" && port_open "$PG" && dk exec "$P-postgres" pg_isready -q -h 127.0.0.1 -p "$PG"; }
if wait_until 60 infra_ok; then
    ok "infrastructure: NATS cluster of 3 (routes up), Redis, PostgreSQL with deploy/postgres-init.sh's roles ($((SECONDS - t0)) s)"
else
    fail "infrastructure not up within 60 s"
    for c in nats-1 nats-2 nats-3 redis postgres; do echo "  $c:"; logs_of "$P-$c"; done
    summary
    exit 1
fi

# ------------------------------------------------------------------ the parts
# The environment of docker-compose.yml, with loopback addresses and each
# instance's own port, in an env file of its own (0600): no password on a
# command line.
# NATS: each instance is given one server of the cluster, in turn (what a
# Kubernetes Service does), and learns the others from it (the servers
# advertise each other's client URLs).  One URL, not a list: lib/bus.c passes
# REBUTTAL_NATS_URL to natsOptions_SetURL, which takes a single server (a
# comma-separated list fails to connect with cnats 3.4).
declare -A NATS_OF=()
n=0
for s in gateway "${SERVICES[@]}"; do for i in 1 2; do NATS_OF[$s$i]=$((n % 3 + 1)); n=$((n + 1)); done; done
part_env() {
    local s=$1 i=$2 v
    v=NATS${NATS_OF[$s$i]}
    echo "REBUTTAL_NATS_URL=nats://127.0.0.1:${!v}"
    echo "REBUTTAL_NATS_USER=$s"
    v=NATS_${s^^}_PASSWORD; echo "REBUTTAL_NATS_PASSWORD=${!v}"
    case $s in
    authsvc | msgsvc)
        echo "REBUTTAL_PG=host=127.0.0.1 port=$PG dbname=rebuttal user=$s gssencmode=disable connect_timeout=5"
        v=PG_${s^^}_PASSWORD; echo "REBUTTAL_PG_PASSWORD=${!v}" ;;
    roomsvc | mediasvc)
        echo "REBUTTAL_REDIS_HOST=127.0.0.1"
        echo "REBUTTAL_REDIS_PORT=$REDIS"
        echo "REBUTTAL_REDIS_USER=$s"
        v=REDIS_${s^^}_PASSWORD; echo "REBUTTAL_REDIS_PASSWORD=${!v}" ;;
    esac
    if [[ $s == authsvc ]]; then
        echo "REBUTTAL_ADMIN_PASSWORD=$REBUTTAL_ADMIN_PASSWORD"
        echo "REBUTTAL_PUBLIC_URL=http://127.0.0.1:$GW1"
    fi
    if [[ $s == gateway ]]; then
        v=GW$i; echo "REBUTTAL_PORT=${!v}"
        echo "REBUTTAL_WEBROOT=/usr/local/share/rebuttal/web"
        # The graceful drain within `docker stop -t 10`: readyz 503 and new
        # connections refused for 1 s, then the clients closed with 1012
        # over 3 s (they reconnect to the other gateway).
        echo "REBUTTAL_DRAIN_MS=1000"
        echo "REBUTTAL_DRAIN_SPREAD_MS=3000"
    else
        echo "REBUTTAL_HEALTH_PORT=${HP[$s$i]}"
    fi
}
start_part() {
    local s=$1 i=$2
    (umask 077; part_env "$s" "$i" >"$TMP/env-$s-$i")
    dk run -d --name "$P-$s-$i" "${PART[@]}" --env-file "$TMP/env-$s-$i" rebuttal:test "$s" >/dev/null
}
part_up() {
    local s=$1 i=$2 g
    if [[ $s == gateway ]]; then g=GW$i; healthz_ok "${!g}"; else healthz_ok "${HP[$s$i]}"; fi
}
wait_part() {
    local s=$1 i=$2
    wait_until 30 part_up "$s" "$i" && return 0
    echo "  $P-$s-$i did not answer /healthz within 30 s (running: $(running "$P-$s-$i" && echo yes || echo no)):"
    logs_of "$P-$s-$i"
    return 1
}
t0=$SECONDS
up=1
for s in "${SERVICES[@]}"; do for i in 1 2; do start_part "$s" "$i" || up=0; done; done
for s in "${SERVICES[@]}"; do for i in 1 2; do wait_part "$s" "$i" || up=0; done; done
for i in 1 2; do start_part gateway "$i" || up=0; done
for i in 1 2; do wait_part gateway "$i" || up=0; done
if ((up)); then
    ok "parts: 2 gateways (:$GW1, :$GW2) and 2 of each service, read-only, no capabilities ($((SECONDS - t0)) s)"
else
    fail "parts did not all come up"
    summary
    exit 1
fi

# ------------------------------------------------------------------ smoke
t0=$SECONDS
if out=$(node "$HERE/chat.mjs" smoke "$GW1" "$GW2" 2>&1); then
    ok "smoke: login through each gateway, a message across them ($((SECONDS - t0)) s)"
    sed 's/^/    /' <<<"$out"
else
    fail "smoke"
    sed 's/^/    /' <<<"$out"
    for c in gateway-1 gateway-2 authsvc-1 authsvc-2; do echo "  $c:"; logs_of "$P-$c"; done
fi
# REBUTTAL_CONTAINERS_KEEP=1: leave the stack up for a look until $TMP/stop exists.
if [[ -n ${REBUTTAL_CONTAINERS_KEEP:-} ]]; then
    note "kept: DOCKER_HOST=$DOCKER_HOST gateways :$GW1 :$GW2; touch $TMP/stop to go on"
    printf 'DOCKER_HOST=%s\nGW1=%s\nGW2=%s\nREBUTTAL_ADMIN_PASSWORD=%s\n' "$DOCKER_HOST" "$GW1" "$GW2" "$REBUTTAL_ADMIN_PASSWORD" >"$TMP/kept"
    until [[ -e $TMP/stop ]]; do sleep 1; done
    rm -f "$TMP/stop"
fi

stats() {
    dk stats --no-stream --format '{{.Name}} {{.CPUPerc}} {{.MemUsage}}' |
        sed "s/^$P-//" | sort | awk '{printf "    %-12s cpu %7s  mem %s\n", $1, $2, $3}'
}
echo "  memory at rest (docker stats):"
stats

# ------------------------------------------------------------------ rolling restart
# Clients send all the while; each container in turn is stopped (SIGTERM, as
# an orchestrator does; killed after 10 s) and started again, and the next
# one goes only once this one answers /healthz.
t0=$SECONDS
rm -f "$TMP/stop"
SEND_GAP_MS=${SEND_GAP_MS:-40} node "$HERE/chat.mjs" traffic "$TMP/stop" "$GW1" "$GW2" >"$TMP/traffic.log" 2>&1 &
TRAFFIC_PID=$!
sleep 3
restarts=()
roll_ok=1
# ROLL_NATS=1: the NATS servers too, last (the parts on a stopped server
# reconnect to one they learnt from the cluster).  Not by default: core NATS
# delivers at most once, and a delivery (rb.out.*) that meets a server going
# down is lost, so a client may never see a stored message live
# (docs/notes/containers.md).
ROLL=()
for s in "${SERVICES[@]}" gateway; do ROLL+=("$s-1" "$s-2"); done
[[ ${ROLL_NATS:-0} == 0 ]] || ROLL+=(nats-1 nats-2 nats-3)
for c in "${ROLL[@]}"; do
    s=${c%-*} i=${c##*-}
    r0=$(date +%s.%N)
    if [[ $s == nats ]]; then
        up() { wait_until 30 nats_up "$i"; }
    else
        up() { wait_part "$s" "$i"; }
    fi
    if ! dk stop -t 10 "$P-$c" >/dev/null || ! dk start "$P-$c" >/dev/null || ! up; then
        roll_ok=0
        echo "  restart of $P-$c failed"
    fi
    restarts+=("$c $(awk -v a="$r0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s")
    if ! kill -0 "$TRAFFIC_PID" 2>/dev/null; then
        echo "  the clients stopped during the restart of $P-$c"
        roll_ok=0
        break
    fi
    sleep 2
done
echo "  memory after traffic (docker stats):"
stats
sleep 2
touch "$TMP/stop"
wait_until 60 bash -c '! kill -0 "$0" 2>/dev/null' "$TRAFFIC_PID"
wait "$TRAFFIC_PID"
rc=$?
TRAFFIC_PID=
echo "  restarts (stop, start, /healthz): ${restarts[*]/%/,}"
if ((rc == 0 && roll_ok)); then
    what="every service and gateway"
    [[ ${ROLL_NATS:-0} == 0 ]] || what="every service, gateway and NATS server"
    ok "rolling restart of $what under traffic ($((SECONDS - t0)) s)"
else
    fail "rolling restart (clients exit $rc)"
fi
grep -v '^$' "$TMP/traffic.log" | sed 's/^/    /' | tail -n 60

summary
