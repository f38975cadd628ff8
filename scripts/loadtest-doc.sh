#!/usr/bin/env bash
# docs/BENCHMARKS.md from a `make loadtest` run (scripts/loadtest.sh calls
# this): the knees at 1 and 2 instances, the scaling factor, the lists'
# cost, the machine, and every step row. Usage: loadtest-doc.sh OUT_DIR
set -euo pipefail
OUT=$1
R=$OUT/results.jsonl
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }

cat <<DOC
# Benchmarks: per-service ceilings

Written by \`make loadtest\` (scripts/loadtest.sh, tests/load/README.md) — do not edit
by hand; run it again. Each service was driven alone over NATS by
\`build/tests/loadgen\` standing in for a gateway (open loop, latency from each
request's intended send time), in steps of +50 % for ${LOADTEST_SECS:-4} s each, until p99
passed 50 ms (or errors/timeouts passed 1 %). **Knee** = the highest step whose p99
stayed under 50 ms (1 s for logins at the default argon2id cost, where one verify
alone takes longer than 50 ms). Numbers are for this machine only; see docs/CAPACITY.md for what
they mean for a deployment.

## Machine

| | |
|---|---|
| measured | ${STARTED:-?} |
| commit | $(git -C "$ROOT" rev-parse --short HEAD) ($(git -C "$ROOT" log -1 --format=%s | cut -c1-60)) |
| CPU | $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') |
| memory | $(free -m | awk '/^Mem:/ {print $2}') MiB |
| load average (1/5/15 min) | before: ${LOAD_BEFORE:-?}; after: ${LOAD_AFTER:-?} (the machine was shared with other work); at each service's start: $(paste -sd';' "$OUT/loadavg.txt" 2>/dev/null | sed 's/;/; /g') |
| kernel | $(uname -r) |
| nats-server | $(nats-server --version 2>/dev/null | awk '{print $NF}') |
| redis-server | $(redis-server --version 2>/dev/null | awk '{print $3}' | sed 's/v=//') |
| PostgreSQL | $(ver postgresql) |
| libnats / libwebsockets / libprotobuf-c / hiredis / libpq / libsodium | $(ver libnats-dev) / $(ver libwebsockets-dev) / $(ver libprotobuf-c-dev) / $(ver libhiredis-dev) / $(ver libpq-dev) / $(ver libsodium-dev) |
| stack settings | argon2id minimum cost (opslimit 1, 8 MiB) except "default cost" rows (opslimit 2, 64 MiB); REBUTTAL_THREADS unset (one handler thread per core) |

## Knees (max rate with p99 < 50 ms)

CPU columns are at the knee step, in cores (1.00 = one core busy): the service (all
its instances), the generator itself, nats-server, and the stores (PostgreSQL's
postmaster and backends, plus Redis).

| scenario | instances | knee req/s | p99 limit ms | p50 ms | p99 ms | service CPU | loadgen CPU | NATS CPU | store CPU | scaling 1 → 2 |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
DOC

# The step row of each knee, and the knee at 1 instance for the factor.
jq -rs '
  def kneerow($k): map(select(.scenario == $k.scenario and .label == $k.label and .rate == $k.knee and .mode == "step")) | last;
  (map(select(.knee != null))) as $knees
  | (map(select(.mode == "step"))) as $rows
  | ($knees | sort_by(.scenario, .label))[] as $k
  | ($rows | kneerow($k)) as $r
  | ($knees | map(select(.scenario == $k.scenario and
        .label == ($k.label | sub("^2 instances"; "1 instance")))) | first) as $one
  | [$k.scenario, $k.label, ($k.knee | tostring), ($k.p99_limit_ms | tostring),
     (if $r then ($r.p50_ms * 100 | round / 100 | tostring) else "-" end),
     (if $r then ($r.p99_ms * 100 | round / 100 | tostring) else "-" end),
     (if $r then ($r.svc_cpu * 100 | round / 100 | tostring) else "-" end),
     (if $r then ($r.gen_cpu * 100 | round / 100 | tostring) else "-" end),
     (if $r then ($r.nats_cpu * 100 | round / 100 | tostring) else "-" end),
     (if $r then (($r.store_cpu // 0) * 100 | round / 100 | tostring) else "-" end),
     (if ($k.label | startswith("2 ")) and $one and $one.knee > 0
        then ((($k.knee / $one.knee) * 100 | round) / 100 | tostring) + "×" else "" end)]
  | "| " + join(" | ") + " |"' "$R"

cat <<'DOC'

Reading these: on 2 shared cores a knee is usually the machine's, not the service's —
add the four CPU columns at the knee (and the other work's load average above). The
1 → 2 scaling factors therefore mostly measure noise (a second instance gets no core of
its own here): use the per-request CPU (service CPU / rate) to size, as docs/CAPACITY.md
does. A knee of 0 means the first step already failed twice (see "Every step" for its p99).

## Lists (roomsvc)

Connections going offline and online again at 20 events/s for 10 s, with 1,000 and
then 10,000 accounts in the directory (every account is in `updateUsers`). Latency:
from an event to the next `updateUsers` on `rb.out.all` (coalesced: roomsvc spaces the
lists by size × online users / `REBUTTAL_LIST_BUDGET`). Compose: roomsvc's mean time
per flush that made an `updateUsers` (`roomsvc_lists_compose_duration_seconds`).

| accounts | updateUsers/s | bytes each | compose ms | event → list p50 ms | p99 ms | roomsvc CPU |
|---|---:|---:|---:|---:|---:|---:|
DOC
jq -rs 'map(select(.scenario == "room.lists" and .knee == null))[]
  | "| \(.label) | \((.lists / 10 * 10 | round) / 10) | \(.list_bytes) | \((.compose_ms * 10 | round) / 10) | \((.p50_ms | round)) | \((.p99_ms | round)) | \((.svc_cpu * 100 | round) / 100) |"' "$R"

cat <<'DOC'

## Gateway (whole stack, tests/bench.c)

The gateway is not driven over the bus: these are `make bench conns` (1,000 WebSocket
clients log in; the gateway's resident memory before and per logged-in connection)
and the 1,000-client fan-out of `make bench fanout` (5 senders × 20 messages/s into one
room, every client receives every message; CPU of each part per delivery).

DOC
grep '^|' "$OUT/gateway.md" || echo "(not measured in this run)"

cat <<'DOC'

## The generator's own ceiling

The generator sends from one thread and takes replies on cnats' threads; its CPU is
in every row (loadgen CPU, in cores). A step whose sender fell more than 200 ms
behind its schedule is marked "sender behind" and ends the steps (the knee is then
the generator's, not the service's). Its cost per request at the knees:

| scenario | instances | loadgen CPU (cores) | µs of loadgen CPU per request | its ceiling on one core, req/s | sender behind in any step |
|---|---|---:|---:|---:|---|
DOC
jq -rs '
  (map(select(.mode == "step"))) as $rows
  | (map(select(.knee != null)) | sort_by(.scenario, .label))[] as $k
  | ($rows | map(select(.scenario == $k.scenario and .label == $k.label and .rate == $k.knee)) | last) as $r
  | ($rows | map(select(.scenario == $k.scenario and .label == $k.label and .sender_behind == 1)) | length) as $b
  | select($r != null and $r.achieved > 0)
  | "| \($k.scenario) | \($k.label) | \(($r.gen_cpu * 100 | round) / 100) | \(($r.gen_cpu * 1e6 / $r.achieved) | round) | \(if $r.gen_cpu > 0 then ($r.achieved / $r.gen_cpu | round) else "-" end) | \(if $b > 0 then "yes" else "no" end) |"' "$R"

cat <<'DOC'

## Every step

As printed by loadgen (rate/s asked, replies/s got; CPU in % of one core).

DOC
grep -m1 '^| scenario' "$OUT/table.md" || true
echo '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
grep '^| [a-z]*\.' "$OUT/table.md" || true
grep '^knee\|^  updateUsers' "$OUT/table.md" | sed 's/^/    /' || true
