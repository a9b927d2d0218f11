/**
 * Dual control's approvals table (migration 7) on both store engines, through the approval store the
 * server and `kmip-server approve` open (a SQLite file, or PostgreSQL on the run's throwaway cluster),
 * migrated by the object store: compare-and-set transitions (one winner when two processes or nodes
 * decide or run a request), listing by state, results kept without payloads, runs a stop interrupted
 * closed as failed, and a store not yet migrated or unreachable refused with a line that says what to do.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NewApproval } from '../../../src/store/approval-store';
import { StoreError } from '../../../src/store/object-store';
import { SqliteApprovalStore } from '../../../src/store/sqlite-approvals';
import { PostgresApprovalStore } from '../../../src/store/postgres-approvals';
import { requireEnvironment } from '../../helpers/environment';
import { STORE_ENGINES, stopTestPostgres, type Engine } from '../../helpers/store-engines';

afterAll(() => stopTestPostgres());

let n = 0;
function approval(extra: Partial<NewApproval> = {}): NewApproval {
  n++;
  return { id: `apr-${String(n).padStart(16, '0')}`, correlation: `c${n}`, requester: 'alice', operation: 'Destroy', uniqueIdentifier: `uid-${n}`, rule: 'dualControl[0]', protocolVersion: '2.1', request: Buffer.from([1, 2, 3]), createdAt: 1_000 + n, ...extra };
}

for (const [label, make, missing] of STORE_ENGINES) {
  requireEnvironment(label, missing).describe(`approvals on ${label}`, () => {
    let engine: Engine;
    beforeAll(async () => {
      engine = await make();
    });
    afterAll(async () => engine.cleanup());

    test('a request is kept as sent and found by id and by correlation value, from another connection too', async () => {
      const a = await engine.approvals();
      const b = await engine.approvals();
      const x = approval({ requesterFingerprint: 'ff' });
      await a.add(x);
      const got = await b.byCorrelation(x.correlation);
      expect(got).toMatchObject({ id: x.id, requester: 'alice', requesterFingerprint: 'ff', operation: 'Destroy', uniqueIdentifier: x.uniqueIdentifier, state: 'pending', protocolVersion: '2.1', createdAt: x.createdAt });
      expect(Buffer.from(got!.request)).toEqual(Buffer.from([1, 2, 3]));
      expect(await b.byId('apr-none')).toBeUndefined();
      // Absent optional fields stay absent, not null.
      const bare = approval({ uniqueIdentifier: undefined });
      await a.add(bare);
      const read = await b.byId(bare.id);
      expect(read).not.toHaveProperty('uniqueIdentifier');
      expect(read).not.toHaveProperty('requesterFingerprint');
      expect(read).not.toHaveProperty('decidedBy');
    });

    test('transitions are compare-and-set: of two deciders, or two runners, one wins', async () => {
      const a = await engine.approvals();
      const b = await engine.approvals();
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
    });

    test('racing deciders on two connections at once: exactly one wins', async () => {
      const a = await engine.approvals();
      const b = await engine.approvals();
      const x = approval();
      await a.add(x);
      const outcomes = await Promise.all([
        a.transition(x.id, ['pending'], 'approved', { decidedBy: 'dave', decidedAt: 7 }),
        b.transition(x.id, ['pending'], 'denied', { decidedBy: 'carol', decidedAt: 7 }),
        a.transition(x.id, ['pending'], 'cancelled'),
      ]);
      expect(outcomes.filter(Boolean)).toHaveLength(1);
      const state = (await b.byId(x.id))!.state;
      expect(['approved', 'denied', 'cancelled'][outcomes.indexOf(true)]).toBe(state);
    });

    test('list: pending ones, newest first, or all', async () => {
      const s = await engine.approvals();
      const pending = (await s.list(['pending'])).map((r) => r.state);
      expect(pending.length).toBeGreaterThan(0);
      expect(new Set(pending)).toEqual(new Set(['pending']));
      const all = await s.list();
      expect(all.length).toBeGreaterThan(pending.length);
      expect(all.map((r) => r.createdAt)).toEqual([...all.map((r) => r.createdAt)].sort((p, q) => q - p));
      expect((await s.list(['approved', 'denied', 'cancelled', 'done'])).length + pending.length).toBe(all.length);
    });

    test('runs a stop interrupted are closed as failed, once', async () => {
      const s = await engine.approvals();
      const x = approval();
      await s.add(x);
      await s.transition(x.id, ['pending'], 'approved', { decidedBy: 'dave' });
      await s.transition(x.id, ['approved'], 'running');
      expect(await s.abandonRunning({ status: 1, reason: 256, message: 'interrupted' })).toEqual([x.id]);
      expect(await s.byId(x.id)).toMatchObject({ state: 'done', resultStatus: 1, resultReason: 256, resultMessage: 'interrupted' });
      expect(await s.abandonRunning({ status: 1, message: 'interrupted' })).toEqual([]);
    });

    test('a store the server has not migrated is refused, saying what to do', async () => {
      await expect(engine.unmigratedApprovals()).rejects.toThrow(StoreError);
      await expect(engine.unmigratedApprovals()).rejects.toThrow(/no approvals table: start the server once/);
    });
  });
}

test('a SQLite store that is not there: cannot open it, naming the file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-approvals-'));
  try {
    expect(() => new SqliteApprovalStore(path.join(dir, 'none', 'x.sqlite'))).toThrow(/cannot open the store .*x\.sqlite/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a PostgreSQL store that is unreachable: one line naming the URL, never its password', async () => {
  // Port 1 on loopback: nothing listens there, the connection is refused at once.
  const e = (await PostgresApprovalStore.open({ url: 'postgresql://kmip:s3cret-pw@127.0.0.1:1/kmip', connectTimeoutMs: 2_000 }).catch((x: unknown) => x)) as Error;
  expect(e).toBeInstanceOf(StoreError);
  expect(e.message).toMatch(/^cannot reach the PostgreSQL store at postgresql:\/\/kmip@127\.0\.0\.1:1\/kmip/);
  expect(e.message).not.toContain('s3cret-pw');
  expect(e.message).not.toContain('\n');
});
