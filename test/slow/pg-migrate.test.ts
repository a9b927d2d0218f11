/**
 * `kmip-server migrate`: an embedded store copied into PostgreSQL while its server keeps serving
 * and writing, the difference caught up once it is stopped, then a server on PostgreSQL with the
 * same data dir (the same token and KEK) answers every acknowledged object with the same key bytes,
 * Locate included, the grants and the requests held for approval copied (a decision taken after
 * the first copy with them); a second copy into the now non-empty database is refused.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { nameAttribute } from '../../src/client';
import { ObjectType } from '../../src/spec/generated/enums';
import { SqliteObjectStore } from '../../src/store/sqlite';
import { SqliteApprovalStore } from '../../src/store/sqlite-approvals';
import type { NewApproval } from '../../src/store/approval-store';
import { PostgresObjectStore } from '../../src/store/postgres-store';
import { PostgresApprovalStore } from '../../src/store/postgres-approvals';
import { requireEnvironment } from '../helpers/environment';
import { freshDatabase, postgresForTests, postgresMissing } from '../helpers/postgres';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';
import { aesKey, nodeClient, runCli, writeConfig } from '../helpers/pg-nodes';

jest.setTimeout(300_000);

let root: string;
let pg: Awaited<ReturnType<typeof postgresForTests>> | undefined;
const servers: ServerProcess[] = [];

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-pg-migrate-'));
});
afterAll(async () => {
  for (const s of servers) await s.stop();
  pg?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

const pgTest = requireEnvironment('PostgreSQL (initdb, pg_ctl)', postgresMissing()).test;

const keyBytes = (r: { keyBlock?: { keyMaterial?: unknown } }) => Buffer.from(r.keyBlock!.keyMaterial as Uint8Array).toString('hex');

pgTest('migrate copies a live embedded store into PostgreSQL, catches up after the stop, and a PostgreSQL node serves every object', async () => {
  pg ??= await postgresForTests();
  const url = await freshDatabase(pg.adminUrl);
  const dataDir = path.join(root, 'node');
  const sqliteServer = await startServerProcess({ dataDir });
  servers.push(sqliteServer);
  const c = nodeClient([sqliteServer]);
  const acknowledged: string[] = [];
  for (let i = 0; i < 12; i++) acknowledged.push((await c.create(ObjectType.SymmetricKey, aesKey(`mig-${i}`))).uniqueIdentifier);
  await c.addAttribute(acknowledged[0]!, nameAttribute('mig-0-alias'));
  await c.destroy(acknowledged[1]!);
  // A grant, written beside the running server as `kmip-server grant` does.
  const side = new SqliteObjectStore({ path: path.join(dataDir, 'kmip.sqlite'), sharedWithOtherProcesses: true });
  await side.grants().grant({ target: { objectUid: acknowledged[2]! }, to: { identity: 'bob' }, operations: ['Get', 'Encrypt'], by: 'test' });
  side.close();
  // Two requests held for approval (dual control), as a server keeps them: one pending, one approved.
  const held = new SqliteApprovalStore(path.join(dataDir, 'kmip.sqlite'));
  const request = (id: string, uid: string): NewApproval => ({
    id, correlation: `c0ffee${id.slice(-4)}`, requester: 'alice', operation: 'Destroy', uniqueIdentifier: uid, rule: 'accessPolicy.dualControl[0]', protocolVersion: '2.1', request: Buffer.from([0x42, 0, 0x79, 1]), createdAt: 1_700_000_000_000,
  });
  await held.add(request('apr-00000000000000a1', acknowledged[3]!));
  await held.add(request('apr-00000000000000b2', acknowledged[4]!));
  expect(await held.transition('apr-00000000000000b2', ['pending'], 'approved', { decidedBy: 'carol', decidedAt: 1_700_000_001_000 })).toBe(true);

  // Online: a writer keeps creating while the copy runs.
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing; i++) acknowledged.push((await c.create(ObjectType.SymmetricKey, aesKey(`during-${i}`))).uniqueIdentifier);
  })();
  const first = await runCli(['migrate', '--from', dataDir, '--to', url]);
  writing = false;
  await writer;
  expect(first.stderr).toBe('');
  expect(first.code).toBe(0);
  expect(first.stdout).toMatch(/copied \d+ objects and 1 grants and 2 requests held for approval .* counts verified/);
  // Decided on the embedded store after the first copy: the catch-up takes the decision.
  expect(await held.transition('apr-00000000000000a1', ['pending'], 'denied', { decidedBy: 'dave', decidedAt: 1_700_000_002_000 })).toBe(true);
  const heldThen = await held.list();
  await held.close();
  expect(first.stdout).toContain(`is still serving from the SQLite store`);
  expect(first.stdout).toContain(`"store": { "engine": "postgres", "url": "${url}"`);

  // Key bytes as the embedded server serves them, then the server stopped and the rest caught up.
  const material = new Map<string, string>();
  for (const uid of acknowledged) if (uid !== acknowledged[1]) material.set(uid, keyBytes(await c.get(uid)));
  c.close();
  expect(await sqliteServer.stop()).toBe(0);
  const again = await runCli(['migrate', '--from', dataDir, '--to', url]);
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(/^kmip-server: the target store is not empty \(\d+ objects, 1 grants\): migrate copies into an empty database only\n$/);
  const catchUp = await runCli(['migrate', '--from', dataDir, '--to', url, '--catch-up', '--json']);
  expect(catchUp.code).toBe(0);
  const report = JSON.parse(catchUp.stdout) as { objects: number; grants: number; serverRunning: boolean };
  expect(report).toMatchObject({ objects: acknowledged.length, grants: 1, approvals: 2, serverRunning: false });

  // Every row as the embedded store holds it: ciphertexts byte for byte, nothing unwrapped.
  const sqlite = new SqliteObjectStore({ path: path.join(dataDir, 'kmip.sqlite') });
  const target = await PostgresObjectStore.open({ url, poolSize: 2 });
  try {
    for (const uid of acknowledged) {
      const [a, b] = [await sqlite.get(uid), await target.get(uid)];
      expect(b).toBeDefined();
      expect({ ...b!, seq: 0, revision: 0 }).toEqual({ ...a!, seq: 0, revision: 0 });
    }
  } finally {
    sqlite.close();
    await target.closeAsync();
  }

  const config = writeConfig(path.join(root, 'pg.json'), { engine: 'postgres', url, poolSize: 4 });
  const pgServer = await startServerProcess({ dataDir, extraArgs: ['--config', config] });
  servers.push(pgServer);
  const p = nodeClient([pgServer]);
  try {
    for (const [uid, hex] of material) expect(keyBytes(await p.get(uid))).toBe(hex);
    expect((await p.locate([nameAttribute('mig-0-alias')])).uniqueIdentifiers).toEqual([acknowledged[0]]);
    await expect(p.get(acknowledged[1]!)).rejects.toThrow(/Object Destroyed|destroyed/i);
  } finally {
    p.close();
  }
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    const grants = await db.query('SELECT object_uid, to_identity, operations FROM grants');
    expect(grants.rows).toEqual([{ object_uid: acknowledged[2], to_identity: 'bob', operations: 'Encrypt,Get' }]);
    const approvals = await db.query('SELECT id, state, decided_by, uid FROM approvals ORDER BY id');
    expect(approvals.rows).toEqual([
      { id: 'apr-00000000000000a1', state: 'denied', decided_by: 'dave', uid: acknowledged[3] },
      { id: 'apr-00000000000000b2', state: 'approved', decided_by: 'carol', uid: acknowledged[4] },
    ]);
    // Every field as the embedded store held it, the request's payload byte for byte.
    const onPg = await PostgresApprovalStore.open({ url });
    expect(await onPg.list()).toEqual(heldThen);
    await onPg.close();
  } finally {
    await db.end();
  }
});

test('migrate refuses a --to that is not a postgresql URL and a data dir without a store, in one line', async () => {
  const notUrl = await runCli(['migrate', '--from', root, '--to', 'mysql://x@h/db']);
  expect(notUrl.code).toBe(1);
  expect(notUrl.stderr).toBe('kmip-server: --to: must be a postgresql:// URL, not "mysql://x@h/db"\n');
  const empty = await runCli(['migrate', '--from', path.join(root, 'nothing'), '--to', 'postgresql://u@127.0.0.1:1/db']);
  expect(empty.code).toBe(1);
  expect(empty.stderr).toMatch(/^kmip-server: --from: no store at .*nothing.* is it the server's data dir\?\n$/);
});
