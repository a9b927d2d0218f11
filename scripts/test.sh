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
# A suite that fails outside its tests (a file that throws while loading, a failing beforeAll or
# afterAll) counts as one failure more than its failed tests, so "0 failed" always means it.
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const extra = r.testResults.filter((s) => s.status === "failed" && s.assertionResults.every((a) => a.status !== "failed")).length;
// Where the time goes (wall clock of the run, then the five slowest files), to keep the suite fast.
const slowest = r.testResults.map((s) => [s.endTime - s.startTime, s.name.replace(process.cwd() + "/", "")]).sort((a, b) => b[0] - a[0]).slice(0, 5);
console.log(`took ${Math.round((Date.now() - r.startTime) / 1000)} s; slowest: ${slowest.map(([ms, n]) => `${n} ${Math.round(ms / 1000)} s`).join(", ")}`);
console.log(`${r.numPassedTests} passed, ${r.numFailedTests + extra} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
' "$results" || { echo "0 passed, 1 failed (no test results were written)"; status=1; }
rm -f "$results"
exit $status
