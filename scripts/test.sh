#!/usr/bin/env bash
# The README's test command (`npm test`): install what is missing, type-check, run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
npx tsc -p tsconfig.json --noEmit
results=$(mktemp)
status=0
npx jest --ci --json --outputFile="$results" "$@" || status=$?
# The plain closing line CI readers look for.
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""))' "$results" || true
rm -f "$results"
exit $status
