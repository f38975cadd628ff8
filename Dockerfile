# One image for every part of Rebuttal; the command picks the part:
#   docker run --rm rebuttal gateway        (or authsvc, roomsvc, msgsvc, mediasvc)
# Build:  docker build -t rebuttal .        Used by docker-compose.yml and deploy/k8s/.
# tests/deploy/run.sh checks this file (targets, packages, user, port).

# ---- build: the -dev packages and the Makefile's binary targets
FROM debian:12-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config protobuf-c-compiler \
      libnats-dev libwebsockets-dev libjansson-dev libhiredis-dev libpq-dev \
      libprotobuf-c-dev libsodium-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Explicit targets: plain `make` would also run scripts/deps.sh and build the tests.
# A new part (folder with a main.c) must be added here.  rebuttalctl is the
# operator's tool, e.g. `docker compose exec authsvc rebuttalctl list-users`; loadgen
# the load generator of deploy/k8s/loadtest.
RUN make -j"$(nproc)" \
      build/bin/gateway build/bin/authsvc build/bin/roomsvc build/bin/msgsvc build/bin/mediasvc \
      build/bin/rebuttalctl build/tests/loadgen

# ---- runtime: only the shared libraries the binaries need (`readelf -d build/bin/*`,
# lines NEEDED); their own dependencies (libssl3, libkrb5, …) come with them.
FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libnats3.4 libwebsockets17 libjansson4 libhiredis0.14 libpq5 libprotobuf-c1 libsodium23 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin rebuttal
COPY --from=build /src/build/bin/ /usr/local/bin/
# The built-in web client (plain files); the gateway serves it when
# REBUTTAL_WEBROOT names this folder (docker-compose.yml and deploy/k8s do).
COPY gateway/web/ /usr/local/share/rebuttal/web/
# Health check for docker-compose: bash's /dev/tcp, no curl or wget in the image.
COPY deploy/rebuttal-health /usr/local/bin/rebuttal-health
# The bus-level load generator, for deploy/k8s/loadtest (tests/load/README.md).
COPY --from=build /src/build/tests/loadgen /usr/local/bin/loadgen
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
WORKDIR /tmp
# The gateway's WebSocket + HTTP port (REBUTTAL_PORT).  Services only listen on
# their health port (REBUTTAL_HEALTH_PORT, 9101-9104); they talk over NATS.
EXPOSE 9000
CMD ["gateway"]
