#!/usr/bin/env bash
# Installs Node.js and npm from Debian packages, for the graphql-ws interop check of `make test`.
set -euo pipefail
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing nodejs and npm from Debian packages" >&2
$sudo apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >/dev/null
