/**
 * The database's own failover: a node whose store URL lists the primary and a streaming standby
 * (libpq's `h1:p1,h2:p2 ... target_session_attrs=read-write`) keeps serving when the primary
 * crashes and the standby is promoted, without a restart; with the standby synchronous, no
 * acknowledged object is lost (RPO zero). Its own cluster: the test crashes the primary.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { ObjectType } from '../../src/spec/generated/enums';
import { requireEnvironment } from '../helpers/environment';
import { postgresMissing, startPostgresCluster, type PostgresCluster } from '../helpers/postgres';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';
import { aesKey, nodeClient, writeConfig } from '../helpers/pg-nodes';

jest.setTimeout(400_000);

let root: string;
const clusters: PostgresCluster[] = [];
let server: ServerProcess | undefined;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-pg-standby-'));
});
afterAll(async () => {
  await server?.stop();
  for (const c of clusters) c.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

async function sql(url: string, text: string): Promise<Record<string, unknown>[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text)).rows as Record<string, unknown>[];
  } finally {
    await c.end();
  }
}

const pgTest = requireEnvironment('PostgreSQL (initdb, pg_ctl, pg_basebackup)', postgresMissing()).test;

pgTest('a promoted synchronous standby takes over: the node reconnects without a restart and no acknowledged object is lost', async () => {
  const primary = await startPostgresCluster();
  clusters.push(primary);
  await sql(primary.adminUrl, 'CREATE DATABASE kmip');
  const standby = await primary.startStandby();
  clusters.push(standby);
  // Synchronous: a COMMIT returns once the standby has the WAL (synchronous_commit on = remote flush).
  await sql(primary.adminUrl, "ALTER SYSTEM SET synchronous_standby_names = '*'");
  await sql(primary.adminUrl, 'SELECT pg_reload_conf()');
  for (let i = 0; ; i++) {
    const rows = await sql(primary.adminUrl, 'SELECT sync_state FROM pg_stat_replication');
    if (rows[0]?.['sync_state'] === 'sync') break;
    if (i > 100) throw new Error(`the standby did not become synchronous: ${JSON.stringify(rows)}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  const url = `postgresql://postgres@127.0.0.1:${primary.port},127.0.0.1:${standby.port}/kmip?target_session_attrs=read-write`;
  server = await startServerProcess({ dataDir: path.join(root, 'node'), extraArgs: ['--config', writeConfig(path.join(root, 'pg.json'), { engine: 'postgres', url, poolSize: 4 })] });
  const c = nodeClient([server], { maxConnections: 4 });
  const acknowledged: string[] = [];
  const okTimes: number[] = [];
  let failures = 0;
  let running = true;
  const load = Promise.all(
    [0, 1, 2, 3].map(async (w) => {
      for (let i = 0; running; i++) {
        try {
          acknowledged.push((await c.create(ObjectType.SymmetricKey, aesKey(`sb-${w}-${i}`))).uniqueIdentifier);
          okTimes.push(Date.now());
        } catch {
          failures++; // General Failure while no primary answers: not acknowledged
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }),
  );
  await new Promise((r) => setTimeout(r, 3000));
  const beforeCrash = acknowledged.length;
  const crashedAt = Date.now();
  primary.crash();
  standby.promote();
  const promotedAt = Date.now();
  await new Promise((r) => setTimeout(r, 5000));
  running = false;
  await load;
  const after = okTimes.filter((t) => t > promotedAt);
  const recoveryMs = after.length > 0 ? after[0]! - crashedAt : Infinity;
  // Every acknowledged object is on the promoted standby: RPO zero.
  const rows = await sql(`postgresql://postgres@127.0.0.1:${standby.port}/kmip`, 'SELECT uid FROM objects');
  const there = new Set(rows.map((r) => r['uid'] as string));
  const lost = acknowledged.filter((u) => !there.has(u));
  console.log(JSON.stringify({ drill: 'primary crashed, synchronous standby promoted', acknowledged: acknowledged.length, beforeCrash, failures, lost: lost.length, promoteMs: promotedAt - crashedAt, recoveryMs }));
  expect(beforeCrash).toBeGreaterThan(0);
  expect(lost).toEqual([]);
  expect(after.length).toBeGreaterThan(0);
  for (const uid of acknowledged.slice(-5)) expect((await c.get(uid)).uniqueIdentifier).toBe(uid);
  c.close();
});
