/**
 * The approvals table (migration 7) through SqliteApprovalStore on a real SQLite file migrated by the
 * object store: compare-and-set transitions (one winner when two processes decide or run a request),
 * listing by state, results kept without payloads, runs a stop interrupted closed as failed, and a
 * store not yet migrated refused with a line that says what to do.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SqliteObjectStore } from '../../../src/store/sqlite';
import { SqliteApprovalStore } from '../../../src/store/sqlite-approvals';
import type { NewApproval } from '../../../src/store/approval-store';
import { StoreError } from '../../../src/store/object-store';

let dir: string;
let file: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-approvals-'));
  file = path.join(dir, 'kmip.sqlite');
  new SqliteObjectStore({ path: file }).close();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let n = 0;
function approval(extra: Partial<NewApproval> = {}): NewApproval {
  n++;
  return { id: `apr-${String(n).padStart(16, '0')}`, correlation: `c${n}`, requester: 'alice', operation: 'Destroy', uniqueIdentifier: `uid-${n}`, rule: 'dualControl[0]', protocolVersion: '2.1', request: Buffer.from([1, 2, 3]), createdAt: 1_000 + n, ...extra };
}

test('a request is kept as sent and found by id and by correlation value, from another connection too', async () => {
  const a = new SqliteApprovalStore(file);
  const b = new SqliteApprovalStore(file);
  const x = approval({ requesterFingerprint: 'ff' });
  await a.add(x);
  const got = await b.byCorrelation(x.correlation);
  expect(got).toMatchObject({ id: x.id, requester: 'alice', requesterFingerprint: 'ff', operation: 'Destroy', uniqueIdentifier: x.uniqueIdentifier, state: 'pending', protocolVersion: '2.1' });
  expect(Buffer.from(got!.request)).toEqual(Buffer.from([1, 2, 3]));
  expect(await b.byId('apr-none')).toBeUndefined();
  a.close();
  b.close();
});

test('transitions are compare-and-set: of two deciders, or two runners, one wins', async () => {
  const a = new SqliteApprovalStore(file);
  const b = new SqliteApprovalStore(file);
  const x = approval();
  await a.add(x);
  expect(await a.transition(x.id, ['pending'], 'approved', { decidedBy: 'dave', decidedAt: 5 })).toBe(true);
  expect(await b.transition(x.id, ['pending'], 'denied', { decidedBy: 'carol', decidedAt: 6 })).toBe(false);
  expect(await b.transition(x.id, ['approved'], 'running')).toBe(true);
  expect(await a.transition(x.id, ['approved'], 'running')).toBe(false);
  await a.finish(x.id, { status: 0, message: 'ok' });
  expect(await b.byId(x.id)).toMatchObject({ state: 'done', decidedBy: 'dave', decidedAt: 5, resultStatus: 0, resultMessage: 'ok' });
  // A cancel after it ran changes nothing.
  expect(await a.transition(x.id, ['pending', 'approved'], 'cancelled')).toBe(false);
  a.close();
  b.close();
});

test('list: pending ones, newest first, or all', async () => {
  const s = new SqliteApprovalStore(file);
  const pending = (await s.list(['pending'])).map((r) => r.state);
  expect(new Set(pending)).toEqual(new Set(['pending']));
  const all = await s.list();
  expect(all.length).toBeGreaterThan(pending.length);
  expect(all.map((r) => r.createdAt)).toEqual([...all.map((r) => r.createdAt)].sort((p, q) => q - p));
  s.close();
});

test('runs a stop interrupted are closed as failed, once', async () => {
  const s = new SqliteApprovalStore(file);
  const x = approval();
  await s.add(x);
  await s.transition(x.id, ['pending'], 'approved', { decidedBy: 'dave' });
  await s.transition(x.id, ['approved'], 'running');
  expect(await s.abandonRunning({ status: 1, reason: 256, message: 'interrupted' })).toEqual([x.id]);
  expect(await s.byId(x.id)).toMatchObject({ state: 'done', resultStatus: 1, resultReason: 256, resultMessage: 'interrupted' });
  expect(await s.abandonRunning({ status: 1, message: 'interrupted' })).toEqual([]);
  s.close();
});

test('a store the server has not migrated is refused, saying what to do', () => {
  const old = path.join(dir, 'old.sqlite');
  new Database(old).close();
  expect(() => new SqliteApprovalStore(old)).toThrow(StoreError);
  expect(() => new SqliteApprovalStore(old)).toThrow(/no approvals table: start the server once/);
  expect(() => new SqliteApprovalStore(path.join(dir, 'none', 'x.sqlite'))).toThrow(/cannot open the store/);
});
