/**
 * The role-by-operation table: a row for every operation, the separation of duties it promises, and
 * the documentation generated from it (scripts/access-table.ts --write fixes a stale one).
 */
import fs from 'node:fs';
import { Operation } from '../../../src/spec/generated/enums';
import { ROLE_TABLE, scopeFor } from '../../../src/access/role-table';
import { ACCESS_DOC, ACCESS_TABLE_MARKERS, README, renderAccessTable } from '../../../scripts/access-table';
import { betweenMarkers } from '../../../scripts/doc-markers';

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

test("docs/access.md's and README's tables are the one the server enforces (node -r ./scripts/register-ts.js scripts/access-table.ts --write)", () => {
  const table = renderAccessTable();
  expect(betweenMarkers(fs.readFileSync(ACCESS_DOC, 'utf8'), ACCESS_TABLE_MARKERS)).toBe(table);
  expect(betweenMarkers(fs.readFileSync(README, 'utf8'), ACCESS_TABLE_MARKERS)).toBe(table);
});
