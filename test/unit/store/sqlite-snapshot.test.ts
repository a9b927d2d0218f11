/**
 * The online snapshot under a writer that never pauses: SQLite restarts a step-wise backup after
 * every write by another connection, so the copy must still finish (the rest in one step after a
 * few restarts), consistent, and never block that writer for a whole copy per step.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { snapshotStore, storeInventory, storeObjectCount } from '../../../src/store/sqlite-snapshot';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-snapshot-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function makeStore(rows: number): Database.Database {
  const db = new Database(path.join(dir, 'store.db'));
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE objects (seq INTEGER PRIMARY KEY, uid TEXT, object_type INTEGER, kek_id TEXT, digest_kek_id TEXT, v BLOB)');
  const ins = db.prepare(`INSERT INTO objects (uid, object_type, kek_id, v) VALUES (?, ?, 'k1', randomblob(1000))`);
  db.transaction(() => {
    for (let i = 0; i < rows; i++) ins.run(`u${i}`, i % 2 === 0 ? 2 : 7);
  })();
  return db;
}

test('finishes a consistent copy while another connection writes between every step', async () => {
  const writer = makeStore(30_000); // ~9,000 pages: more than one step
  const ins = writer.prepare(`INSERT INTO objects (uid, object_type, kek_id, v) VALUES ('late', 2, 'k2', randomblob(1000))`);
  const timer = setInterval(() => ins.run(), 1);
  try {
    const r = await snapshotStore(path.join(dir, 'store.db'), path.join(dir, 'copy.db'));
    expect(r.restarts).toBeGreaterThanOrEqual(1);
  } finally {
    clearInterval(timer);
    writer.close();
  }
  const copy = new Database(path.join(dir, 'copy.db'), { readonly: true });
  try {
    expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
  } finally {
    copy.close();
  }
  const inv = storeInventory(path.join(dir, 'copy.db'));
  expect(inv.objects).toBeGreaterThanOrEqual(30_000);
  expect(inv.objectTypes).toMatchObject({ '7': 15_000 });
  expect(inv.keks.get('k1')).toEqual({ objects: 30_000, digests: 0 });
  expect(storeObjectCount(path.join(dir, 'copy.db'))).toBe(inv.objects);
});

test('counts no objects where there is no store', () => {
  expect(storeObjectCount(path.join(dir, 'none.db'))).toBe(0);
  expect(fs.existsSync(path.join(dir, 'none.db'))).toBe(false);
});
