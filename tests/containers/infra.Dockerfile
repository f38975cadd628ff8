# NATS, Redis and PostgreSQL for tests/containers/run.sh, from Debian 12's
# packages.  The production files name the upstream images (nats:2.10-alpine,
# redis:7, postgres:15), which cannot be pulled on the test machines; the
# servers here are the same programs (NATS 2.9, Redis 7.0, PostgreSQL 15) with
# the same configuration files from deploy/.  The command picks the server.
FROM debian:12-slim
# No server started by the packages' scripts, no default PostgreSQL cluster.
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \
 && mkdir -p /etc/postgresql-common/createcluster.d \
 && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/no-main.conf \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      nats-server redis-server postgresql-15 \
 && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/postgresql/15/bin:$PATH
