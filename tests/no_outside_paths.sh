#!/bin/sh
# `make lint`: fail when a tracked file points at reference material outside the repository
# (the sibling `shared` checkout some of this code was first written against). Everything the
# code cites lives in docs/, and every fixture says how to remake it (fixtures/*/README.md).
#
# Usage: sh tests/no_outside_paths.sh [REPO_ROOT]   (default: the repository holding this file)
#
# The patterns are assembled from pieces so that this file does not match them itself.
set -u
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 2

s=shared
pattern="\.\./$s\b|$s/golden|$s/reference|$s/DESIGN\.md"

# Tracked files (CI runs on a clean clone); without git metadata, every file but build output.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    list_files() { git ls-files -z; }
else
    list_files() { find . -path ./target -prune -o -path ./.git -prune -o -type f -print0; }
fi

hits=$(list_files | xargs -0 grep -nIE "$pattern" -- 2>/dev/null)
if [ -n "$hits" ]; then
    echo "no_outside_paths: these lines point outside the repository; cite docs/ or an upstream URL instead:" >&2
    echo "$hits" >&2
    exit 1
fi
echo "no_outside_paths: no tracked file points outside the repository"
