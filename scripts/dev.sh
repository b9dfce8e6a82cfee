#!/usr/bin/env bash
# `npm run dev -- ARGS`: the local Functions host. Rebuilds dist/ only when a file under src/ (or
# tsconfig*.json, package.json) is newer than the last build, then runs it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/build-if-stale.sh
source "$root/scripts/build-if-stale.sh"
build_if_stale devhost/devHost.js
exec bash "$root/scripts/node22.sh" node --max-semi-space-size=4 "$root/dist/devhost/devHost.js" "$@"
