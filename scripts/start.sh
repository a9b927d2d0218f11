#!/usr/bin/env bash
# The README's run command (`npm start`): install what is missing, build, start the server.
# Extra arguments go to `kmip-server start` (e.g. npm start -- --listen 127.0.0.1:5697).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
npx tsc -p tsconfig.json
exec node bin/kmip-server.js start "$@"
