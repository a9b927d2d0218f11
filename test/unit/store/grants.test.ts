/**
 * The grants port over SQLite: grant, merge, revoke some or all, found by identity or group, seen at
 * once by another connection to the same file (the server while `kmip-server grant` writes), and
 * Locate's reach (own objects, granted identifiers, Object Groups, Operation Policy Names) as one query.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { SqliteObjectStore } from '../../../src/store/sqlite';

let dir: string;
let server: SqliteObjectStore;
let cli: SqliteObjectStore;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-grants-'));
  server = new SqliteObjectStore({ path: path.join(dir, 'kmip.sqlite'), sharedWithOtherProcesses: true });
  cli = new SqliteObjectStore({ path: path.join(dir, 'kmip.sqlite'), sharedWithOtherProcesses: true });
});

afterEach(() => {
  server.close();
  cli.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('grants merge, revoke in part or whole, and another connection sees each change at its next read', async () => {
  const target = { objectUid: 'u1' };
  const to = { identity: 'app' };
  expect(await server.grants().grantsTo('app', [])).toEqual([]);
  await cli.grants().grant({ target, to, operations: ['Get'], by: 'op' });
  const merged = await cli.grants().grant({ target, to, operations: ['Locate', 'Get'], by: 'op' });
  expect(merged.operations).toEqual(['Get', 'Locate']);
  expect((await server.grants().grantsTo('app', [])).map((g) => g.operations)).toEqual([['Get', 'Locate']]);
  expect((await cli.grants().revoke({ target, to, operations: ['Get'], by: 'op' }))?.operations).toEqual(['Locate']);
  expect((await server.grants().grantsTo('app', [])).map((g) => g.operations)).toEqual([['Locate']]);
  expect(await cli.grants().revoke({ target, to, operations: [], by: 'op' })).toBeUndefined();
  expect(await server.grants().grantsTo('app', [])).toEqual([]);
  expect(await cli.grants().list()).toEqual([]);
});

test('grants to a group reach its members only; one row per target and grantee', async () => {
  await cli.grants().grant({ target: { objectGroup: 'ledger' }, to: { group: 'db' }, operations: ['Get'], by: 'op' });
  await cli.grants().grant({ target: { objectGroup: 'ledger' }, to: { identity: 'db' }, operations: ['Destroy'], by: 'op' });
  expect((await server.grants().grantsTo('x', ['db'])).map((g) => [g.to, g.operations])).toEqual([[{ group: 'db' }, ['Get']]]);
  expect((await server.grants().grantsTo('db', [])).map((g) => [g.to, g.operations])).toEqual([[{ identity: 'db' }, ['Destroy']]]);
  expect(await cli.grants().list()).toHaveLength(2);
});

test("Locate's reach: own objects, granted identifiers, Object Groups and Operation Policy Names, nothing else", async () => {
  const object = (uid: string, owner: string, attrs: { name: string; value: ReturnType<typeof ttlv.textString> }[] = []) =>
    server.insert({ uid, objectType: 2, state: 1, owner, attributes: attrs.map((a) => ({ ...a, index: 0 })), protectedMaterial: null });
  await object('mine', 'me');
  await object('theirs', 'them');
  await object('granted', 'them');
  await object('grouped', 'them', [{ name: 'Object Group', value: ttlv.textString(Tag.ObjectGroup, 'ledger') }]);
  await object('policied', 'them', [{ name: 'Operation Policy Name', value: ttlv.textString(Tag.OperationPolicyName, 'shared') }]);
  const reach = { owner: 'me', uids: ['granted'], objectGroups: ['ledger'], policyNames: ['shared'] };
  expect((await server.locate({ conditions: [], reach, order: 'oldest' }))).toEqual(['mine', 'granted', 'grouped', 'policied']);
  expect(await server.locate({ conditions: [], reach: { owner: 'me', uids: [], objectGroups: [], policyNames: [] } })).toEqual(['mine']);
});
