#!/usr/bin/env bash
# Install the Debian packages needed to build, run and test the chat backend.
#
# Usage: scripts/deps.sh
#
# Idempotent and quiet: when everything is already installed it only asks
# dpkg (no network, well under a second) and prints nothing.  Only when
# something is missing does it run `apt-get update` (once) and install just
# the missing packages.  When not root it cannot install, so it lists what to
# install and fails.
set -euo pipefail

PACKAGES=(
    # build
    build-essential pkg-config protobuf-c-compiler
    # libraries the parts link against
    libnats-dev libwebsockets-dev libjansson-dev libhiredis-dev libpq-dev
    libprotobuf-c-dev libsodium-dev
    # the infrastructure scripts/stack.sh runs locally
    nats-server redis-server postgresql
    # scripts/run.sh uses it to make passwords
    openssl
    # scripts/loadtest-doc.sh: docs/BENCHMARKS.md from loadgen's JSON lines
    jq
    # tests/fuzz: libFuzzer comes with clang (libclang-rt-14-dev)
    clang
    # scripts/format.sh: the house style (.clang-format), checked by make test
    clang-format
    # tests/h2: HTTP/2 and WebSocket-over-HTTP/2 checks (node:http2)
    nodejs
    # tests/browser: the web client in a real, headless browser
    chromium
    # tests/containers: a Docker engine of its own, and debian:12-slim made
    # from Debian's packages (it cannot be pulled)
    docker.io mmdebstrap
)

missing=()
for pkg in "${PACKAGES[@]}"; do
    # dpkg-query fails for never-seen packages; "deinstall ok config-files"
    # (removed but not purged) must count as missing too, hence the match.
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ $status != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} == 0)); then
    exit 0
fi

if ((EUID != 0)); then
    echo "deps.sh: missing packages: ${missing[*]}" >&2
    echo "deps.sh: install them as root:  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive

# The postgresql and redis-server packages start system-wide servers on 5432
# and 6379 from their install scripts, which would then block scripts/run.sh's
# default ports.  A policy-rc.d that answers 101 ("not allowed") stops that;
# the Debian images used here usually ship one already, else use a temporary one.
POLICY=/usr/sbin/policy-rc.d
if [[ ! -e $POLICY ]]; then
    printf '#!/bin/sh\n# temporary, from rebuttal scripts/deps.sh\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
    trap 'rm -f "$POLICY"' EXIT
fi

# The package lists may be absent or stale on a fresh machine; refresh once.
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
