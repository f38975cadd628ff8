#!/usr/bin/env bash
# The measured constants of docs/CAPACITY.md and what they give for 100,000
# online users, from a `make loadtest` run (scripts/loadtest.sh puts this
# between the "constants" markers of docs/CAPACITY.md, so that every number
# there is one of docs/BENCHMARKS.md). Usage: capacity-constants.sh OUT_DIR
set -euo pipefail
OUT=$1
R=$OUT/results.jsonl
G=$OUT/gateway.md

# knee SCENARIO LABEL FIELD: FIELD of the step row at the knee ("" if none).
knee() {
    jq -rs --arg s "$1" --arg l "$2" --arg f "$3" '
      (map(select(.scenario == $s and .label == $l and .knee != null)) | last) as $k
      | if $k == null then "" else
        (map(select(.scenario == $s and .label == $l and .mode == "step" and .rate == $k.knee)) | last) as $r
        | if $f == "knee" then $k.knee elif $r == null then "" else $r[$f] end end' "$R"
}
# lists LABEL FIELD
lists() {
    jq -rs --arg l "$1" --arg f "$2" 'map(select(.scenario == "room.lists" and .label == $l)) | last | if . == null then "" else .[$f] end' "$R"
}
# per CORES RATE: requests per core-second (RATE / CORES), "?" when unknown.
per() { awk -v c="$1" -v r="$2" 'BEGIN { if (c > 0 && r > 0) printf "%.0f", r / c; else print "?" }'; }
us() { awk -v c="$1" -v r="$2" 'BEGIN { if (c > 0 && r > 0) printf "%.0f", c * 1e6 / r; else print "?" }'; }
num() { [[ -n $1 ]] && echo "$1" || echo "?"; }

L1="1 instance" L2="2 instances"
login_def=$(knee auth.login "$L1, default cost" knee)
login_def_cpu=$(knee auth.login "$L1, default cost" svc_cpu)
login_def2=$(knee auth.login "$L2, default cost" knee)
login_min=$(knee auth.login "$L1" knee)
login_min_store=$(knee auth.login "$L1" store_cpu)
perms=$(knee auth.get_perms "$L1" knee)
msg1=$(knee msg.message "$L1" knee) msg2=$(knee msg.message "$L2" knee)
msg_room=$(knee msg.message "$L1, 1 room" knee)
if [[ $msg_room == 0 ]]; then
    # Even the first step failed: the ceiling is below it.
    first=$(jq -rs 'map(select(.scenario == "msg.message" and .label == "1 instance, 1 room" and .mode == "step") | .rate) | min' "$R")
    msg_room="< $first (the first step, $first/s, already missed p99 < 50 ms)"
fi
msg_cpu=$(knee msg.message "$L1" svc_cpu) msg_store=$(knee msg.message "$L1" store_cpu)
msg_nats=$(knee msg.message "$L1" nats_cpu)
hist1=$(knee msg.getmessages "$L1" knee) img1=$(knee msg.image "$L1" knee)
join1=$(knee room.joinleave "$L1" knee) join_cpu=$(knee room.joinleave "$L1" svc_cpu)
create1=$(knee room.createroom "$L1" knee)
video1=$(knee media.video "$L1" knee) video_cpu=$(knee media.video "$L1" svc_cpu)
video_nats=$(knee media.video "$L1" nats_cpu)
talk1=$(knee media.talking "$L1" knee)
lb1=$(lists "1k accounts" list_bytes) lb10=$(lists "10k accounts" list_bytes)
lc1=$(lists "1k accounts" compose_ms) lc10=$(lists "10k accounts" compose_ms)
# Accounts in the directory at the two list runs: 1,000 (+ the run's users
# and root) and 10,000 (+ both runs' users and root).
bpa=$(awk -v b="$lb10" 'BEGIN { if (b > 0) printf "%.0f", b / 10066; else print "?" }')
cpa=$(awk -v c="$lc10" 'BEGIN { if (c > 0) printf "%.1f", c * 1000 / 10066; else print "?" }')
gw_kib=$(grep 'per logged-in conn' "$G" 2>/dev/null | awk -F'|' '{print $6}' | grep -o '[0-9.]*' | head -1 || true)
gw_us=$(grep 'per delivery' "$G" 2>/dev/null | grep -o 'gateway [0-9]*% [0-9.]* us' | awk '{print $3}' | head -1 || true)
nats_us=$(grep 'per delivery' "$G" 2>/dev/null | grep -o 'nats [0-9]*% [0-9.]* us' | awk '{print $3}' | head -1 || true)

cat <<DOC
<!-- constants:begin (written by make loadtest: scripts/capacity-constants.sh) -->
### Measured constants (docs/BENCHMARKS.md of this run)

| symbol | value | from |
|---|---:|---|
| L_def | $(num "$login_def") logins/s (p99 < 1 s), $(num "$login_def2") with 2 instances | auth.login, default cost, knee |
| C_login | $(us "$login_def_cpu" "$login_def") µs of authsvc CPU per login at the default cost → $(per "$login_def_cpu" "$login_def") logins/s per authsvc core | same row: service CPU / rate |
| L_min | $(num "$login_min") logins/s at the minimum cost; store CPU there $(num "$login_min_store") cores (PostgreSQL: the limit at this cost) | auth.login, 1 instance |
| P | $(num "$perms") get_perms/s | auth.get_perms, 1 instance |
| M1, M2 | $(num "$msg1") / $(num "$msg2") messages/s, 8 rooms | msg.message, 1 / 2 instances |
| M_room | $(num "$msg_room") messages/s into one room | msg.message, 1 instance, 1 room |
| C_msg | msgsvc $(us "$msg_cpu" "$msg1") µs, stores $(us "$msg_store" "$msg1") µs, NATS $(us "$msg_nats" "$msg1") µs of CPU per message | msg.message knee row |
| H | $(num "$hist1") getmessages/s | msg.getmessages, 1 instance |
| I | $(num "$img1") 100 KiB images/s | msg.image, 1 instance |
| J | $(num "$join1") joins+leaves/s; roomsvc $(us "$join_cpu" "$join1") µs per request | room.joinleave, 1 instance |
| R | $(num "$create1") createroom/s | room.createroom, 1 instance |
| V | $(num "$video1") relays/s; mediasvc $(us "$video_cpu" "$video1") µs, NATS $(us "$video_nats" "$video1") µs per relay | media.video, 1 instance |
| T | $(num "$talk1") talking/s | media.talking, 1 instance |
| B_acct | $(num "$bpa") bytes of updateUsers per account | room.lists, 10k accounts: $(num "$lb10") B (1k: $(num "$lb1") B) |
| C_list | $(num "$cpa") µs of roomsvc time per account per updateUsers flush | room.lists, 10k: $(num "$lc10") ms per flush (1k: $(num "$lc1") ms) |
| G_mem | $(num "$gw_kib") KiB of gateway memory per logged-in connection | make bench conns |
| G_del | gateway $(num "$gw_us") µs, NATS $(num "$nats_us") µs of CPU per delivery | make bench fanout, 1,000 clients |

### 100,000 online users (the model below, with these constants)

DOC
awk -v L="$(per "$login_def_cpu" "$login_def")" -v M="$msg1" -v bpa="$bpa" -v cpa="$cpa" \
    -v gkib="$gw_kib" -v gus="$gw_us" -v nus="$nats_us" -v J="$join1" '
function ceil(x) { return x == int(x) ? x : int(x) + 1 }
BEGIN {
  U = 100000; msg_rate = U * 0.5 / 60; audience = 100; deliveries = msg_rate * audience
  logins = U * 0.10 / 60
  printf "| what | load | need |\n|---|---|---|\n"
  printf "| logins (10 %% of users reconnect within a minute) | %.0f/s | %s authsvc cores at the default cost |\n", logins, (L + 0 > 0 ? sprintf("%d", ceil(logins / L)) : "?")
  printf "| messages (one per user every 2 min) | %.0f/s | %s msgsvc instances at half their knee |\n", msg_rate, (M + 0 > 0 ? sprintf("%d", ceil(msg_rate / (M / 2))) : "?")
  printf "| deliveries (audience of 100 per message) | %.0f/s | %s gateway cores and %s NATS cores |\n", deliveries, (gus + 0 > 0 ? sprintf("%.2f", deliveries * gus / 1e6) : "?"), (nus + 0 > 0 ? sprintf("%.2f", deliveries * nus / 1e6) : "?")
  printf "| connections | %d | %s GiB of gateway memory |\n", U, (gkib + 0 > 0 ? sprintf("%.1f", U * gkib / 1048576) : "?")
  printf "| voice joins/leaves (one per user every 10 min) | %.0f/s | %s of one roomsvc at its knee |\n", U / 600, (J + 0 > 0 ? sprintf("%.2f", U / 600 / J) : "?")
  if (bpa + 0 > 0) {
    list = U * bpa
    printf "| one updateUsers (100,000 accounts) | %.1f MB | to 100,000 clients: %.0f GB per list; at REBUTTAL_LIST_BUDGET = 5 MB/s the next list waits %.0f h |\n", list / 1e6, list * U / 1e9, list * U / 5e6 / 3600
  }
  if (cpa + 0 > 0) printf "| composing it | | %.1f s of roomsvc per flush |\n", U * cpa / 1e6
}'
echo
echo "<!-- constants:end -->"
