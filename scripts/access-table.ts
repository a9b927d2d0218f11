/**
 * Renders the role-by-operation table from the table the server enforces (src/access/role-table.ts)
 * for the operations the server implements, and with `--write` puts it into docs/access.md (and
 * README.md when it has the markers). test/unit/access/role-table.test.ts fails when either is behind.
 */
import path from 'node:path';
import { buildRegistry } from '../src/server/registry';
import { SENT_OPERATIONS } from '../src/notify/messages';
import { Operation } from '../src/spec/generated/enums';
import { OBJECTLESS, ROLE_COLUMNS, ROLE_TABLE, type Scope } from '../src/access/role-table';
import { writeBetweenMarkers, type Markers } from './doc-markers';

export const ACCESS_TABLE_MARKERS: Markers = { start: '<!-- access-table:start -->', end: '<!-- access-table:end -->' };
export const ACCESS_DOC = path.join(__dirname, '..', 'docs', 'access.md');
export const README = path.join(__dirname, '..', 'README.md');

const CELL: Readonly<Record<Scope, string>> = { all: 'every object', own: 'own + granted', '-': '-' };
const HEADING: Readonly<Record<string, string>> = { administrator: 'administrator', securityOfficer: 'security officer', auditor: 'auditor', user: 'user' };

export function renderAccessTable(): string {
  const byValue = new Map<number, keyof typeof Operation>(Object.entries(Operation).map(([k, v]) => [v, k as keyof typeof Operation]));
  const rows = buildRegistry(SENT_OPERATIONS)
    .implemented()
    .filter((op) => op.clientToServer !== null)
    .map((op) => {
      const key = byValue.get(op.value)!;
      const cell = (s: Scope) => (OBJECTLESS.has(key) ? (s === '-' ? '-' : 'yes') : CELL[s]);
      return `| ${op.name} | ${ROLE_TABLE[key].map(cell).join(' | ')} |`;
    });
  return [`| operation | ${ROLE_COLUMNS.map((r) => HEADING[r]).join(' | ')} |`, `|---|${ROLE_COLUMNS.map(() => '---').join('|')}|`, ...rows].join('\n');
}

if (require.main === module) {
  const table = renderAccessTable();
  if (process.argv.includes('--write')) for (const f of [ACCESS_DOC, README]) writeBetweenMarkers(f, ACCESS_TABLE_MARKERS, table);
  else console.log(table);
}
