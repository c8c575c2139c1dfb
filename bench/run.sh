#!/usr/bin/env bash
# Compares the composer with nginx SSI and Zalando Tailor on this machine,
# all on loopback, every run bounded in time. Installs its peers first:
# nginx-light and wrk from Debian, node-tailor from npm (in bench/tailor).
# Usage: bash bench/run.sh [-duration 10s] [-concurrency 64]
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
exec go run ./bench/harness -composer bench/out/bin/composer -tailor bench/tailor/server.js -out bench/out "$@"
