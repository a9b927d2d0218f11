/**
 * The role-by-operation table: a row for every operation, the separation of duties it promises, and
 * the documentation generated from it (scripts/access-table.ts --write fixes a stale one).
 */
import fs from 'node:fs';
import { Operation } from '../../../src/spec/generated/enums';
import { ROLE_TABLE, scopeFor } from '../../../src/access/role-table';
import { ACCESS_DOC, README, renderAccessTable, tableIn } from '../../../scripts/access-table';

test('every operation of the enumeration has a row', () => {
  expect(Object.keys(ROLE_TABLE).sort()).toEqual(Object.keys(Operation).sort());
});

test('administrators and officers get no key material or key use; auditors only read metadata', () => {
  const material = ['Get', 'Export', 'Encrypt', 'Decrypt', 'Sign', 'MAC', 'DeriveKey', 'Certify', 'JoinSplitKey'] as const;
  for (const op of material) {
    expect([op, scopeFor(op, new Set(['administrator']))]).toEqual([op, '-']);
    expect([op, scopeFor(op, new Set(['securityOfficer']))]).toEqual([op, '-']);
    expect([op, scopeFor(op, new Set(['auditor']))]).toEqual([op, '-']);
  }
  const auditorMay = (Object.keys(ROLE_TABLE) as (keyof typeof Operation)[]).filter((op) => scopeFor(op, new Set(['auditor'])) !== '-').sort();
  expect(auditorMay).toEqual(['DiscoverVersions', 'GetAttributeList', 'GetAttributes', 'Interop', 'Locate', 'Log', 'Ping', 'Query', 'SetEndpointRole']);
  for (const op of ['Revoke', 'Destroy', 'ReKey', 'Activate', 'ModifyAttribute'] as const) expect(scopeFor(op, new Set(['securityOfficer']))).toBe('all');
  // Roles add up: the widest scope wins.
  expect(scopeFor('Get', new Set(['auditor', 'user']))).toBe('own');
});

test("docs/access.md's table is the one the server enforces (node -r ./scripts/register-ts.js scripts/access-table.ts --write)", () => {
  const table = renderAccessTable();
  expect(tableIn(fs.readFileSync(ACCESS_DOC, 'utf8'))).toBe(table);
  // The README carries it between the same markers once its access section is in.
  const inReadme = tableIn(fs.readFileSync(README, 'utf8'));
  if (inReadme !== undefined) expect(inReadme).toBe(table);
});
