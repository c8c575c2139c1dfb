#!/usr/bin/env bash
# Compares the composer with nginx SSI and Zalando Tailor on this machine,
# all on loopback, every run bounded in time. Installs its peers first:
# nginx-light and wrk from Debian, node-tailor from npm (in bench/tailor).
# Usage: bash bench/run.sh [-duration 10s] [-concurrency 64]
# With COMPOSER_BASE_REF=<commit> it also builds the composer at that commit
# and measures both in the same run, each in a column of its own:
#   COMPOSER_BASE_REF=12b341b bash bench/run.sh
# It also measures bench/bare, the least a Go composer on net/http costs
# (BARE_MODE=goroutines: one goroutine a fragment request waiting).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light wrk >/dev/null
fi
if [ ! -d bench/tailor/node_modules/node-tailor ]; then
  (cd bench/tailor && npm install --no-audit --no-fund --silent)
fi
ulimit -n 65536 2>/dev/null || true
mkdir -p bench/out
go build -o bench/out/bin/composer ./composer
go build -o bench/out/bin/bare ./bench/bare
base=()
if [ -n "${COMPOSER_BASE_REF:-}" ]; then
  src=$(mktemp -d)
  git archive "$COMPOSER_BASE_REF" | tar -x -C "$src"
  (cd "$src" && go build -o "$OLDPWD/bench/out/bin/composer-base" ./composer)
  rm -rf "$src"
  base=(-composer-base bench/out/bin/composer-base -composer-base-label "composer $(git rev-parse --short "$COMPOSER_BASE_REF")")
fi
exec go run ./bench/harness -composer bench/out/bin/composer -tailor bench/tailor/server.js -out bench/out -bare bench/out/bin/bare -bare-mode "${BARE_MODE:-inline}" "${base[@]}" "$@"
