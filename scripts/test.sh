#!/usr/bin/env bash
# The README's test command (`npm test`): install what is missing, type-check, run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
npx tsc -p tsconfig.json --noEmit
npx jest --ci "$@"
