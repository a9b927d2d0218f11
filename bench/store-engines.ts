/**
 * The store port on both engines, without the server around it: insert (Create's write), get
 * (Get's read) and Locate by Name, one at a time and with `--concurrency` requests in flight, on
 * the embedded SQLite file and on PostgreSQL. Prints figures; asserts nothing.
 *
 *   node -r ./scripts/register-ts.js bench/store-engines.ts --postgres postgresql://postgres@127.0.0.1:5432/postgres
 *        [--objects 5000] [--concurrency 32] [--pool 16]
 *
 * `--postgres` names a cluster's admin database: a database is made for the run and dropped after.
 * What this measures is the engine under the port (commit, fsync or WAL flush, index probes), on
 * this machine; docs/scaling.md puts the figures in context.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { ttlv } from '../ttlv/types';
import { Tag } from '../src/spec/generated/tags';
import { NameType } from '../src/spec/generated/enums';
import { SqliteObjectStore } from '../src/store/sqlite';
import { PostgresObjectStore } from '../src/store/postgres-store';
import type { NewObject, ObjectStore } from '../src/store/object-store';

const { values } = parseArgs({
  options: { postgres: { type: 'string' }, objects: { type: 'string' }, concurrency: { type: 'string' }, pool: { type: 'string' } },
});
const OBJECTS = Number(values.objects ?? 5000);
const CONCURRENCY = Number(values.concurrency ?? 32);
const POOL = Number(values.pool ?? 16);

function object(i: number): NewObject {
  return {
    uid: `bench-${i}-${randomBytes(4).toString('hex')}`,
    objectType: 2,
    state: 1,
    owner: 'bench',
    attributes: [
      { name: 'Name', index: 0, value: ttlv.structure(Tag.Name, [ttlv.textString(Tag.NameValue, `key-${i}`), ttlv.enumeration(Tag.NameType, NameType.UninterpretedTextString)]) },
      { name: 'Cryptographic Algorithm', index: 0, value: ttlv.enumeration(Tag.CryptographicAlgorithm, 3) },
      { name: 'Cryptographic Length', index: 0, value: ttlv.integer(Tag.CryptographicLength, 256) },
      { name: 'Cryptographic Usage Mask', index: 0, value: ttlv.integer(Tag.CryptographicUsageMask, 12) },
      { name: 'Initial Date', index: 0, value: ttlv.dateTime(Tag.InitialDate, BigInt(Math.floor(Date.now() / 1000))) },
    ],
    protectedMaterial: { kekId: 'bench-kek', mechanism: 'aes-gcm', iv: randomBytes(12), ciphertext: randomBytes(48) },
  };
}

/** Runs `n` calls of `fn`, `inFlight` at a time; answers per second and p50/p99 latency in ms. */
async function measure(n: number, inFlight: number, fn: (i: number) => Promise<unknown>): Promise<string> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) {
        const i = next++;
        const t = performance.now();
        await fn(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!.toFixed(2);
  return `${Math.round(n / seconds).toString().padStart(7)}/s  p50 ${q(0.5).padStart(6)} ms  p99 ${q(0.99).padStart(6)} ms`;
}

async function run(label: string, store: ObjectStore): Promise<void> {
  const objs = Array.from({ length: OBJECTS }, (_, i) => object(i));
  const single = Math.min(OBJECTS, 1000);
  console.log(`${label}`);
  console.log(`  insert, 1 in flight   ${await measure(single, 1, (i) => store.insert(objs[i]!))}`);
  console.log(`  insert, ${CONCURRENCY} in flight  ${await measure(OBJECTS - single, CONCURRENCY, (i) => store.insert(objs[single + i]!))}`);
  const pick = (i: number) => objs[(i * 7919) % OBJECTS]!;
  console.log(`  get, 1 in flight      ${await measure(OBJECTS, 1, (i) => store.get(pick(i).uid))}`);
  console.log(`  get, ${CONCURRENCY} in flight     ${await measure(OBJECTS, CONCURRENCY, (i) => store.get(pick(i).uid))}`);
  const byName = (i: number) => store.locate({ conditions: [{ kind: 'equals', name: 'Name', value: pick(i).attributes[0]!.value }] });
  console.log(`  locate by Name, 1     ${await measure(OBJECTS, 1, byName)}`);
  console.log(`  locate by Name, ${CONCURRENCY}    ${await measure(OBJECTS, CONCURRENCY, byName)}`);
}

async function main(): Promise<void> {
  console.log(`store engines: ${OBJECTS} objects, ${os.cpus().length} cores, node ${process.version}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-bench-engines-'));
  try {
    const sqlite = new SqliteObjectStore({ path: path.join(dir, 'objects.db') });
    await run('SQLite (embedded, WAL, group commit + fdatasync)', sqlite);
    sqlite.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (values.postgres === undefined) return;
  const name = `kmip_bench_${process.pid}`;
  const admin = async (sql: string) => {
    const c = new Client({ connectionString: values.postgres });
    await c.connect();
    await c.query(sql).finally(() => c.end());
  };
  await admin(`CREATE DATABASE ${name}`);
  try {
    const u = new URL(values.postgres);
    u.pathname = `/${name}`;
    const pg = await PostgresObjectStore.open({ url: u.toString(), poolSize: POOL });
    await run(`PostgreSQL (loopback, pool ${POOL}, synchronous_commit on)`, pg);
    await pg.closeAsync();
  } finally {
    await admin(`DROP DATABASE ${name} WITH (FORCE)`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
