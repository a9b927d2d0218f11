/**
 * The client-compatibility suite (`npm run compat [-- --write]`): runs the jest files of real
 * clients and client personas (test/compat, test/interop) with COMPAT_RESULTS set, then prints one
 * line per flow, the interoperability matrix (client x KMIP version: flows passed/run) and
 * "N passed, N failed". With --write the matrix goes into README.md between its interop markers.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FlowResult } from '../test/helpers/compat-results';

const ROOT = path.join(__dirname, '..');
const README = path.join(ROOT, 'README.md');
const START = '<!-- interop:start -->';
const END = '<!-- interop:end -->';

const resultsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-compat-')), 'results.jsonl');
fs.writeFileSync(resultsFile, '');
const jest = spawnSync('npx', ['jest', '--ci', 'test/compat', 'test/interop'], {
  cwd: ROOT,
  stdio: ['ignore', 'ignore', 'inherit'],
  env: { ...process.env, COMPAT_RESULTS: resultsFile },
});
const results = fs
  .readFileSync(resultsFile, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as FlowResult);
fs.rmSync(path.dirname(resultsFile), { recursive: true, force: true });

for (const r of results) console.log(`${r.client} ${r.version} ${r.flow}: ${r.ok ? 'pass' : `fail (${r.detail ?? ''})`}`);

const versions = [...new Set(results.map((r) => r.version))].sort((a, b) => Number(a) - Number(b));
const clients = [...new Set(results.map((r) => r.client))].sort();
const cell = (client: string, version: string): string => {
  const rs = results.filter((r) => r.client === client && r.version === version);
  return rs.length === 0 ? '-' : `${rs.filter((r) => r.ok).length}/${rs.length}`;
};
const flowsOf = (client: string): number => new Set(results.filter((r) => r.client === client).map((r) => r.flow)).size;
const table = [
  `| client | flows | ${versions.map((v) => `KMIP ${v}`).join(' | ')} |`,
  `|---|---|${versions.map(() => '---').join('|')}|`,
  ...clients.map((c) => `| ${c} | ${flowsOf(c)} | ${versions.map((v) => cell(c, v)).join(' | ')} |`),
].join('\n');
const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
const summary = `${passed} passed, ${failed} failed`;
console.log(`\n${table}\n`);
if (process.argv.includes('--write')) {
  const readme = fs.readFileSync(README, 'utf8');
  const s = readme.indexOf(START);
  const e = readme.indexOf(END);
  if (s < 0 || e < s) throw new Error(`README.md lacks the ${START} ... ${END} markers`);
  const block = `${table}\n\n${summary} (\`npm run compat\`, ${new Date().toISOString().slice(0, 10)}).`;
  fs.writeFileSync(README, `${readme.slice(0, s + START.length)}\n${block}\n${readme.slice(e)}`);
}
console.log(summary);
process.exit(jest.status === 0 && failed === 0 && results.length > 0 ? 0 : 1);
