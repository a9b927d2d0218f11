/**
 * Puts the conformance table into README.md from a runner report:
 *   npm run conformance -- --in-process --json /tmp/c.json && npm run readme:conformance -- /tmp/c.json
 * (`npm run readme:conformance` alone runs the in-process suite first.)
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderTable, type JsonReport } from '../conformance/report';

const README = path.join(__dirname, '..', 'README.md');
const START = '<!-- conformance:start -->';
const END = '<!-- conformance:end -->';

function report(file: string | undefined): JsonReport {
  let f = file;
  if (!f) {
    f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-conf-')), 'report.json');
    execFileSync(process.execPath, ['-r', path.join(__dirname, 'register-ts.js'), path.join(__dirname, '..', 'conformance', 'cli.ts'), '--in-process', '--json', f], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  return JSON.parse(fs.readFileSync(f, 'utf8')) as JsonReport;
}

const r = report(process.argv[2]);
const block = [
  '```',
  renderTable(r.table),
  '```',
  '',
  `${r.totals.passed} passed, ${r.totals.failed} failed, ${r.totals.skipped} skipped (in-process, ${r.startedAt.slice(0, 10)}).`,
].join('\n');
const readme = fs.readFileSync(README, 'utf8');
const s = readme.indexOf(START);
const e = readme.indexOf(END);
if (s < 0 || e < s) throw new Error(`README.md lacks the ${START} ... ${END} markers`);
fs.writeFileSync(README, `${readme.slice(0, s + START.length)}\n${block}\n${readme.slice(e)}`);
console.log(block);
