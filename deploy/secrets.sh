#!/usr/bin/env bash
# Fresh random secrets for a hosted deployment, in the form it takes them:
#
#   deploy/secrets.sh env > .env          docker compose (its env file; then
#                                          add REBUTTAL_PUBLIC_URL etc. to it)
#   deploy/secrets.sh k8s | kubectl apply -f -
#                                          Kubernetes: Secret rebuttal-secrets
#                                          in namespace rebuttal
#
# Every run makes new values: run it once, keep what it wrote (a changed
# database password does not reach an initialised database volume).  The
# names are the one list below; `env` writes NAME as NAME_PASSWORD in capitals
# (nats-gateway -> NATS_GATEWAY_PASSWORD), admin-password as
# REBUTTAL_ADMIN_PASSWORD.  Values are R and 32 URL-safe base64 characters, so
# they need no quoting in any of the configurations that hold them.  Values from
# elsewhere (a secret manager) must be the same kind: the NATS ones must not
# start with a digit.
set -euo pipefail

# admin-password  root@localhost's password at the first start of authsvc
# pg-postgres     the PostgreSQL superuser (only the init script uses it)
# pg-PART         the PostgreSQL role of PART, owner of its schema
# redis-PART      the Redis user of PART
# nats-PART       the NATS user of PART (deploy/nats-permissions.conf)
NAMES=(admin-password pg-postgres pg-authsvc pg-msgsvc redis-roomsvc redis-mediasvc
    nats-gateway nats-authsvc nats-roomsvc nats-msgsvc nats-mediasvc nats-rebuttalctl)

# A letter first: nats-server reads $NATS_*_PASSWORD as a configuration value,
# and one that starts with a digit would be taken for a number.
value() { printf 'R%s\n' "$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')"; }

env_name() {
    if [[ $1 == admin-password ]]; then
        echo REBUTTAL_ADMIN_PASSWORD
    else
        local n=${1^^}
        echo "${n//-/_}_PASSWORD"
    fi
}

case ${1:-} in
env)
    echo "# Written by deploy/secrets.sh env: keep it (mode 0600), never commit it."
    for name in "${NAMES[@]}"; do
        echo "$(env_name "$name")=$(value)"
    done
    ;;
k8s)
    echo "# Written by deploy/secrets.sh k8s: apply it, do not commit it."
    echo "apiVersion: v1"
    echo "kind: Secret"
    echo "metadata:"
    echo "  name: rebuttal-secrets"
    echo "  namespace: rebuttal"
    echo "type: Opaque"
    echo "stringData:"
    for name in "${NAMES[@]}"; do
        echo "  $name: $(value)"
    done
    ;;
*)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
