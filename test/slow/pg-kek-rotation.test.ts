/**
 * KEK rotation with two server nodes on one PostgreSQL database (issue 18 item 6), under a light
 * Create + Get load from the client library: `kek rotate` runs beside them, is SIGKILLed after its
 * first re-wrapped batch and run again; the nodes switch to the new KEK without a restart (new
 * objects' rows name it, from both nodes); `kek retire` of the old KEK is refused while a row
 * names it and accepted after; every object reads the same from both nodes throughout; escrow
 * takes the database's current KEK.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import type { KmipClient } from '../../src/client';
import { ObjectType } from '../../src/spec/generated/enums';
import { requireEnvironment } from '../helpers/environment';
import { freshDatabase, postgresForTests, postgresMissing } from '../helpers/postgres';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';
import { aesKey, nodeClient, writeConfig } from '../helpers/pg-nodes';
import { comparable, jsonOut, runCli, spawnCli } from '../helpers/custody';

jest.setTimeout(300_000);

let root: string;
let pg: Awaited<ReturnType<typeof postgresForTests>> | undefined;
let db: Client | undefined;
const servers: ServerProcess[] = [];
const clients: KmipClient[] = [];

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-pg-kek-'));
});
afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.stop();
  await db?.end();
  pg?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

const pgTest = requireEnvironment('PostgreSQL (initdb, pg_ctl)', postgresMissing()).test;

function track(c: KmipClient): KmipClient {
  clients.push(c);
  return c;
}

/** Rows per KEK, material and Digests together (what `kek retire` must see as zero). */
async function rowsUnder(kekId: string): Promise<number> {
  const r = await db!.query<{ n: string }>('SELECT count(*) AS n FROM objects WHERE kek_id = $1 OR digest_kek_id = $1', [kekId]);
  return Number(r.rows[0]!.n);
}

async function kekOfRow(uid: string): Promise<string> {
  return (await db!.query<{ kek_id: string }>('SELECT kek_id FROM objects WHERE uid = $1', [uid])).rows[0]!.kek_id;
}

pgTest('kek rotate beside two nodes under load: killed mid-way and rerun, both nodes switch, retire refused while a row names the old KEK', async () => {
  pg ??= await postgresForTests();
  const url = await freshDatabase(pg.adminUrl);
  db = new Client({ connectionString: url });
  await db.connect();
  const dataDir = path.join(root, 'data');
  const configs = [0, 1].map((i) => writeConfig(path.join(root, `node-${i}.json`), { engine: 'postgres', url, poolSize: 4 }, { hsm: { kekEscrowable: true }, ...(i === 0 ? {} : { audit: { file: `audit-${i}.log` } }) }));
  for (const config of configs) servers.push(await startServerProcess({ dataDir, extraArgs: ['--config', config] }));
  const [a, b] = servers as [ServerProcess, ServerProcess];
  const onA = track(nodeClient([a], { maxConnections: 2 }));
  const onB = track(nodeClient([b], { maxConnections: 2 }));
  const cli = (...args: string[]) => runCli([...args, '--data-dir', dataDir, '--config', configs[0]!]);

  // 30 objects made before, half on each node; what Get answers for each is kept to compare after.
  const before = new Map<string, string>();
  for (let i = 0; i < 30; i++) {
    const uid = (await (i % 2 === 0 ? onA : onB).create(ObjectType.SymmetricKey, aesKey(`before-${i}`))).uniqueIdentifier;
    before.set(uid, comparable((await onA.get(uid)).keyBlock));
  }
  const status0 = jsonOut(await cli('kek', 'status', '--json')) as { keks: { kekId: string; role: string; objects: number }[] };
  const oldKek = status0.keks.find((k) => k.role === 'current')!;
  expect(oldKek.objects).toBe(30);
  expect((await db.query('SELECT kek_id FROM kek_current')).rows).toEqual([{ kek_id: oldKek.kekId }]);
  expect((await cli('kek', 'retire', '--kek', oldKek.kekId)).stderr).toMatch(/is the current KEK: rotate first/);

  // The load: a Create on one node and a Get of it on the other, until stopped.
  const acknowledged: string[] = [];
  const failures: string[] = [];
  let loading = true;
  const load = (async () => {
    for (let i = 0; loading; i++) {
      try {
        const uid = (await (i % 2 === 0 ? onA : onB).create(ObjectType.SymmetricKey, aesKey(`load-${i}`))).uniqueIdentifier;
        acknowledged.push(uid);
        await (i % 2 === 0 ? onB : onA).get(uid);
      } catch (e) {
        failures.push((e as Error).message);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  })();

  // Killed after its first batch of 5: the new KEK is current, most rows are still under the old one.
  const paused = spawnCli(['kek', 'rotate', '--batch', '5', '--json', '--data-dir', dataDir, '--config', configs[0]!], { KMIP_SERVER_TEST_PAUSE: 'kek-rewrap' });
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    paused.child.stderr!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes('paused at kek-rewrap')) {
        paused.child.kill('SIGKILL');
        resolve();
      }
    });
    void paused.done.then((r) => r.signal === null && reject(new Error(`rotation ended before its pause point: ${r.stdout} ${r.stderr}`)));
  });
  expect((await paused.done).signal).toBe('SIGKILL');
  const newKek = (await db.query<{ kek_id: string }>('SELECT kek_id FROM kek_current')).rows[0]!.kek_id;
  expect(newKek).not.toBe(oldKek.kekId);
  // Both nodes switched before the re-wrap began (the rotation waited for them): new objects from each are under the new KEK.
  const fromA = (await onA.create(ObjectType.SymmetricKey, aesKey('after-a'))).uniqueIdentifier;
  const fromB = (await onB.create(ObjectType.SymmetricKey, aesKey('after-b'))).uniqueIdentifier;
  expect(await kekOfRow(fromA)).toBe(newKek);
  expect(await kekOfRow(fromB)).toBe(newKek);
  const nodes = (await db.query<{ kek_id: string }>('SELECT kek_id FROM kek_nodes')).rows;
  expect(nodes).toEqual([{ kek_id: newKek }, { kek_id: newKek }]);

  // Rows still name the old KEK: retire refuses, naming them.
  const left = await rowsUnder(oldKek.kekId);
  expect(left).toBeGreaterThan(0);
  const refused = await cli('kek', 'retire', '--kek', oldKek.kekId);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(new RegExp(`KEK ${oldKek.kekId} still protects \\d+ objects and 0 Digests: run kmip-server kek rotate`));

  // The rerun resumes and finishes while the load goes on.
  const rerunStart = Date.now();
  const rerun = await cli('kek', 'rotate', '--batch', '5', '--json');
  const rerunMs = Date.now() - rerunStart;
  expect(rerun.code).toBe(0);
  const result = jsonOut(rerun) as { fromKekId: string; toKekId: string; resumed: boolean; done: boolean; remaining: number; nodesSwitched: string[] };
  expect(result).toMatchObject({ fromKekId: oldKek.kekId, toKekId: newKek, resumed: true, done: true, remaining: 0 });
  expect(result.nodesSwitched).toHaveLength(2);
  loading = false;
  await load;
  expect(failures).toEqual([]);
  expect(acknowledged.length).toBeGreaterThan(10);
  expect(await rowsUnder(oldKek.kekId)).toBe(0);
  const rewrapped = (result as unknown as { rewrapped: number }).rewrapped;
  console.log(JSON.stringify({ drill: 'kek rotate beside two PostgreSQL nodes', leftAfterKill: left, rewrappedByRerun: rewrapped, rerunMs, loadAcknowledged: acknowledged.length, loadFailures: failures.length }));

  const retired = await cli('kek', 'retire', '--kek', oldKek.kekId, '--json');
  expect(retired.code).toBe(0);
  expect(jsonOut(retired)).toMatchObject({ msg: 'kek retired', kekId: oldKek.kekId });
  const status1 = jsonOut(await cli('kek', 'status', '--json')) as { keks: { kekId: string; role: string; objects: number }[]; nodes: { kekId: string }[] };
  expect(status1.keks.map((k) => [k.kekId, k.role])).toEqual([[newKek, 'current']]);
  expect(status1.keks[0]!.objects).toBe(before.size + acknowledged.length + 2);
  expect(status1.nodes.map((n) => n.kekId)).toEqual([newKek, newKek]);

  // Every object reads from both nodes, the ones made before exactly as before.
  for (const uid of [...before.keys(), ...acknowledged, fromA, fromB]) {
    const [onFirst, onSecond] = [comparable((await onA.get(uid)).keyBlock), comparable((await onB.get(uid)).keyBlock)];
    expect(onSecond).toBe(onFirst);
    if (before.has(uid)) expect(onFirst).toBe(before.get(uid));
  }
  // Escrow takes the database's current KEK (a data dir's file would name none, or the old one).
  const escrow = await cli('kek', 'escrow', '--shares', '3', '--threshold', '2', '--out', path.join(root, 'shares'), '--json');
  expect(escrow.code).toBe(0);
  expect(jsonOut(escrow)).toMatchObject({ msg: 'kek escrowed', kekId: newKek });
  // The custody side trail tells the rotation's steps, the kill's resume and the retirement.
  const trail = fs.readFileSync(path.join(dataDir, 'custody-audit.log'), 'utf8');
  for (const step of ['kek-escrow', 'kek-rotate-start', 'kek-rotate-switched', 'kek-rotate-resume', 'kek-rotate-done', 'kek-retire-refused', 'kek-retire']) expect(trail).toContain(`"${step}"`);
});
