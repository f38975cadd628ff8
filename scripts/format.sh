#!/usr/bin/env bash
# The house style (.clang-format at the root) over every C file of the
# project that git tracks (the frozen contract under tests/contract/released
# has none).
#
# Usage: scripts/format.sh          rewrites the files that differ
#        scripts/format.sh --check  lists them and fails when there are any
#                                   (a step of `make test`)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
FORMAT=${CLANG_FORMAT:-clang-format}
if ! command -v "$FORMAT" >/dev/null; then
    echo "format: $FORMAT is not installed (scripts/deps.sh installs clang-format)" >&2
    exit 1
fi
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files '*.c' '*.h')
else
    mapfile -t files < <(find . -name node_modules -prune -o -type f \( -name '*.c' -o -name '*.h' \) -print | sed 's|^\./||' | grep -v '^build/')
fi

bad=0
for f in "${files[@]}"; do
    [[ -f $f ]] || continue
    if [[ ${1:-} == --check ]]; then
        if ! "$FORMAT" --style=file "$f" | cmp -s - "$f"; then
            echo "format: $f differs from .clang-format (scripts/format.sh rewrites it)" >&2
            bad=$((bad + 1))
        fi
    else
        "$FORMAT" -i --style=file "$f"
    fi
done
if [[ ${1:-} == --check ]]; then
    echo "format: ${#files[@]} files checked, $bad differ"
    ((bad == 0))
fi
