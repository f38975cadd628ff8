#!/bin/bash
# PostgreSQL's first start (the postgres image runs /docker-entrypoint-initdb.d/
# once, on an empty volume): a login role per service, no superuser, owning
# its schema.  The passwords come from PG_<ROLE>_PASSWORD (compose's env file)
# or the file /run/secrets/rebuttal/pg-<role> (the Kubernetes Secret); psql
# reads them with \getenv, so they are on no command line.  A volume made
# before these roles existed is not touched: see deploy/README.md.
set -euo pipefail

for role in authsvc msgsvc; do
    var=PG_${role^^}_PASSWORD
    file=/run/secrets/rebuttal/pg-$role
    if [[ -z ${!var:-} && -r $file ]]; then
        printf -v "$var" '%s' "$(<"$file")"
    fi
    [[ -n ${!var:-} ]] || { echo "postgres-init: no password for $role ($var or $file)" >&2; exit 1; }
    export "${var?}"
done

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'EOF'
\getenv authsvc_pw PG_AUTHSVC_PASSWORD
\getenv msgsvc_pw PG_MSGSVC_PASSWORD
CREATE ROLE authsvc LOGIN PASSWORD :'authsvc_pw';
CREATE ROLE msgsvc LOGIN PASSWORD :'msgsvc_pw';
REVOKE ALL ON DATABASE :"DBNAME" FROM PUBLIC;
GRANT CONNECT, CREATE ON DATABASE :"DBNAME" TO authsvc, msgsvc;
CREATE SCHEMA auth AUTHORIZATION authsvc;
CREATE SCHEMA msg AUTHORIZATION msgsvc;
EOF
