#!/usr/bin/env bash
# Runs a command under Node.js >= 22.12 (what Azure Functions runs). When the machine's
# node is older, Node 22 is installed from the npm registry into .tools/node22 and put
# first on PATH. Installs the project's packages on first use.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

node_ok() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=12)?0:1)'
}

if ! node_ok; then
  dir="$root/.tools/node22"
  if [ ! -x "$dir/node_modules/.bin/node" ]; then
    echo "referrals-export: installing Node.js 22 into .tools/node22 (machine node: $(node --version 2>/dev/null || echo none))" >&2
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error node@22 >&2
  fi
  export PATH="$dir/node_modules/.bin:$PATH"
fi

if [ ! -d "$root/node_modules" ]; then
  echo "referrals-export: installing packages (npm ci)" >&2
  (cd "$root" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

export PATH="$root/node_modules/.bin:$PATH"
exec "$@"
