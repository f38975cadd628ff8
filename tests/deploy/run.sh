#!/usr/bin/env bash
# Offline checks of the hosted-deployment files: Dockerfile, .dockerignore,
# docker-compose.yml, deploy/k8s/.  No Docker engine or cluster needed.
#
# Usage: tests/deploy/run.sh
#
# Prints one line per check (`ok   NAME` / `FAIL NAME: why`) and ends with
# `N passed, N failed`; exits non-zero if any check failed.  Needs
# docker-compose (Debian's 1.29), node + npm, apt-cache; as root it installs
# what is missing with apt-get, and the npm packages with `npm ci` into
# tests/deploy/node_modules (git-ignored).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE" || exit 1

passed=0 failed=0
fail() {
    echo "FAIL $1"
    failed=$((failed + 1))
}
summary() {
    echo "$passed passed, $failed failed"
    ((failed == 0))
    exit
}

# ------------------------------------------------------------------ setup
apt_updated=
apt_update() {
    [[ -n $apt_updated ]] && return 0
    apt_updated=1
    apt-get update -qq >/dev/null 2>&1
}
# need COMMAND PACKAGE...: install PACKAGEs (root only) when COMMAND is missing.
need() {
    local cmd=$1
    shift
    command -v "$cmd" >/dev/null && return 0
    if ((EUID == 0)); then
        echo "run.sh: installing $* (for $cmd)" >&2
        apt_update
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1
    fi
    command -v "$cmd" >/dev/null || { fail "setup: $cmd not found (apt-get install $*)"; summary; }
}
need docker-compose docker-compose
need node nodejs
need npm npm

# apt-cache answers from the package lists, absent on a fresh machine.
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null && ((EUID == 0)); then
    apt_update
fi

# npm ci only when node_modules does not match the lock file.
if ! cmp -s package-lock.json node_modules/.package-lock.json.src 2>/dev/null; then
    if ! out=$(npm ci --no-audit --no-fund 2>&1); then
        fail "setup: npm ci in tests/deploy failed: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
        summary
    fi
    cp package-lock.json node_modules/.package-lock.json.src
fi

# ----------------------------------------------------------------- checks
for script in image-check.js compose-check.js k8s-validate.js; do
    out=$(node "$script" 2>&1)
    rc=$?
    [[ -n $out ]] && echo "$out"
    ok=$(grep -c '^ok   ' <<<"$out")
    bad=$(grep -c '^FAIL ' <<<"$out")
    passed=$((passed + ok))
    failed=$((failed + bad))
    # A script that died without saying which check failed still fails.
    if ((rc != 0 && bad == 0)); then
        fail "$script: exited with status $rc"
    fi
done
summary
