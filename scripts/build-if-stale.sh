#!/usr/bin/env bash
# Sourced by scripts/cli.sh and scripts/dev.sh (which set $root): compiles src/ into dist/ only when
# dist/ is missing or older than a source, so a command starts at once when nothing changed.

# Written after a build that succeeded; a failed build (which still emits) leaves it old.
stamp="$root/dist/.build-complete"

build_if_stale() {
  local entry="$root/dist/$1"
  if [ -f "$entry" ] && [ -f "$stamp" ] && [ -z "$(find "$root/src" "$root"/tsconfig*.json "$root/package.json" -newer "$stamp" -print -quit)" ]; then
    return 0
  fi
  echo "referrals-export: compiling src/ into dist/" >&2
  # Dated before the build, so a source saved while tsc runs is newer and builds next time.
  mkdir -p "$root/dist"
  touch "$stamp.next"
  # tsc reports on stdout; a command's stdout is its result (--json), so the report goes to stderr.
  bash "$root/scripts/node22.sh" tsc -p "$root/tsconfig.build.json" >&2
  mv "$stamp.next" "$stamp"
}
