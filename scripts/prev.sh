#!/usr/bin/env bash
# Builds the part binaries of the last release — the commit named in
# tests/contract/released/COMMIT — for the mixed-version upgrade test, once: the
# result is kept in build/prev/<commit>/bin and printed on stdout.
#
# Usage: scripts/prev.sh
#
# The source comes from `git archive` of that commit (no worktree is added
# to the repository); a checkout without that commit (a shallow clone)
# cannot build it and fails, naming it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COMMIT=$(grep -v '^#' "$ROOT/tests/contract/released/COMMIT" | head -n 1)
[[ $COMMIT =~ ^[0-9a-f]{40}$ ]] || { echo "prev.sh: tests/contract/released/COMMIT names no commit" >&2; exit 1; }
OUT=$ROOT/build/prev/$COMMIT

if [[ -f $OUT/done ]]; then
    echo "$OUT/bin"
    exit 0
fi
# A shallow clone (CI may make one) lacks the commit: fetch the history from
# where it was cloned, once.
if ! git -C "$ROOT" cat-file -e "$COMMIT^{commit}" 2>/dev/null &&
    [[ $(git -C "$ROOT" rev-parse --is-shallow-repository 2>/dev/null) == true ]]; then
    echo "prev.sh: shallow clone: fetching its history for $COMMIT" >&2
    timeout 120 git -C "$ROOT" fetch --quiet --unshallow >&2 || true
fi
if ! git -C "$ROOT" cat-file -e "$COMMIT^{commit}" 2>/dev/null; then
    echo "prev.sh: commit $COMMIT (the last release) is not in this checkout; fetch it (git fetch --unshallow)" >&2
    exit 1
fi
rm -rf "$OUT"
mkdir -p "$OUT/src"
git -C "$ROOT" archive "$COMMIT" | tar -x -C "$OUT/src"
parts=()
for m in "$OUT"/src/*/main.c; do
    parts+=("build/bin/$(basename "$(dirname "$m")")")
done
echo "prev.sh: building ${#parts[@]} parts of $COMMIT in $OUT" >&2
start=$SECONDS
# A plain build whatever make runs this (`make SANITIZE=… test` passes its
# variables down through MAKEFLAGS: the old tree would look in build/san).
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$OUT/src" -j2 SANITIZE= "${parts[@]}" >&2
mv "$OUT/src/build/bin" "$OUT/bin"
rm -rf "$OUT/src"
touch "$OUT/done"
echo "prev.sh: built in $((SECONDS - start)) s" >&2
echo "$OUT/bin"
