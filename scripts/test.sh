#!/usr/bin/env bash
# The README's test command (`npm test`): type-check everything, then run the jest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json --noEmit
npx jest --ci "$@"
