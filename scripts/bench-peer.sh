#!/usr/bin/env bash
# Installs the benchmark's peers: PostGraphile 5 with Node.js 22 (the npm package node@22) in a
# scratch folder (.data/bench/peer), and pgbench from Debian packages when it is missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
peer="$root/.data/bench/peer"
mkdir -p "$peer"
command -v npm >/dev/null 2>&1 || "$root/scripts/install-node.sh"
if ! command -v pgbench >/dev/null 2>&1 || ! pgbench --version >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "bench-peer: installing pgbench (postgresql) from Debian packages" >&2
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql postgresql-client >/dev/null
fi
if [ ! -x "$peer/node_modules/node/bin/node" ] || [ ! -f "$peer/node_modules/postgraphile/package.json" ]; then
  echo "bench-peer: installing postgraphile@5 and node@22 with npm into .data/bench/peer" >&2
  [ -f "$peer/package.json" ] || echo '{ "name": "crewtime-bench-peer", "private": true }' > "$peer/package.json"
  npm install --prefix "$peer" --no-audit --no-fund postgraphile@5 node@22 >/dev/null
fi
node_version="$("$peer/node_modules/node/bin/node" --version)"
pg_version="$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$peer/node_modules/postgraphile/package.json" | head -n 1)"
echo "bench-peer: PostGraphile $pg_version on Node.js $node_version; $(pgbench --version)" >&2
