# Sourced by the scripts that start a throw-away stack of their own
# (test.sh, bench.sh, loadtest.sh): `fresh_stack_env PREFIX`.
#
# Such a stack always gets free ports of its own: addresses inherited from
# a shell that sourced some other stack's env (e.g. the `make run` one)
# would otherwise win over the fresh stack's and point the run at it.
# Password hashing costs argon2's minimum (the runs log in many
# connections; authsvc/README.md has the real cost's numbers) and the admin
# password is a random PREFIX-... one.  A caller's own values win.
fresh_stack_env() {
    unset NATS_PORT REDIS_PORT PG_PORT GW_PORT
    unset REBUTTAL_NATS_URL REBUTTAL_REDIS_HOST REBUTTAL_REDIS_PORT REBUTTAL_PG \
        REBUTTAL_PORT REBUTTAL_PUBLIC_URL REBUTTAL_HEALTH_PORT REBUTTAL_STACK_DIR \
        REBUTTAL_GATEWAY_ID
    export REBUTTAL_PWHASH_OPSLIMIT=${REBUTTAL_PWHASH_OPSLIMIT:-1}
    export REBUTTAL_PWHASH_MEMLIMIT=${REBUTTAL_PWHASH_MEMLIMIT:-8192}
    if [[ -z ${REBUTTAL_ADMIN_PASSWORD:-} ]]; then
        REBUTTAL_ADMIN_PASSWORD=$1-$(head -c 12 /dev/urandom | base64 | tr '+/' '-_')
        export REBUTTAL_ADMIN_PASSWORD
    fi
}
