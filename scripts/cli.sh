#!/usr/bin/env bash
# `npm run cli -- ARGS`: the referrals-export command from this clone. Rebuilds dist/ only when a
# file under src/ (or tsconfig*.json, package.json) is newer than the last build, then runs it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/build-if-stale.sh
source "$root/scripts/build-if-stale.sh"
build_if_stale cli/main.js
exec bash "$root/scripts/node22.sh" node --max-semi-space-size=4 "$root/dist/cli/main.js" "$@"
