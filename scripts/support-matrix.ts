/**
 * Renders the README's "Supported operations" table from the handler registry, and with `--write`
 * puts it into README.md. test/consistency/readme.test.ts fails when the README is behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import { buildRegistry } from '../src/server/registry';
import { SENT_OPERATIONS } from '../src/notify/messages';
import { LATEST_SPEC_VERSION } from '../src/spec/versions';

const START = '<!-- support-matrix:start -->';
const END = '<!-- support-matrix:end -->';
export const README_PATH = path.join(__dirname, '..', 'README.md');

export function renderSupportMatrix(): string {
  const rows = buildRegistry(SENT_OPERATIONS)
    .implemented()
    .filter((op) => op.clientToServer !== null)
    .map((op) => `| ${op.name} | ${op.clientToServer!.first}-${op.clientToServer!.last ?? LATEST_SPEC_VERSION} |`);
  return ['| operation | KMIP versions |', '|---|---|', ...rows].join('\n');
}

/** The table as the README has it now. */
export function readmeSupportMatrix(readme: string): string | undefined {
  const s = readme.indexOf(START);
  const e = readme.indexOf(END);
  if (s < 0 || e < s) return undefined;
  return readme.slice(s + START.length, e).trim();
}

if (require.main === module) {
  const readme = fs.readFileSync(README_PATH, 'utf8');
  const table = renderSupportMatrix();
  if (process.argv.includes('--write')) {
    const s = readme.indexOf(START);
    const e = readme.indexOf(END);
    fs.writeFileSync(README_PATH, `${readme.slice(0, s + START.length)}\n${table}\n${readme.slice(e)}`);
  } else {
    console.log(table);
  }
}
