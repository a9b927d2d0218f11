#!/usr/bin/env bash
# Installs what a fresh checkout lacks, so `npm start` and `npm test` are each one command:
# Debian packages (softhsm2, python3-pykmip, openssl) and the npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
if [ ! -d node_modules/better-sqlite3/build ] || [ ! -d node_modules/pkcs11js/build ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
