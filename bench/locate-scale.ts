/**
 * Locate by Name with many objects stored. Populating through the server would take hours at
 * these counts, so the objects are written straight into the store through its own engine
 * (src/store/sqlite.ts, or src/store/postgres-store.ts with --postgres), in batches:
 * one real AES-256 key made by Create through handleMessage serves as the template, and each
 * clone gets its own Unique Identifier, Short Unique Identifier and Name, the template's other
 * attributes and its protected key blob (bound to the template's identifier, so a clone's Get would
 * fail its integrity check; Locate never decrypts). Then our server is started on that store and
 * Locate by Name is driven over mTLS. Prints figures; asserts nothing.
 *
 *   node -r ./scripts/register-ts.js bench/locate-scale.ts [--objects 100000] [--dir DIR] [--keep 1]
 *        [--seconds 10] [--connections 32,1] [--workers N] [--postgres ADMIN_URL|auto]
 *
 * With --dir, a store already populated there (scale-manifest.json) is reused when big enough.
 * --postgres puts the objects into a database `kmip_scale_<dir's inode>` of that cluster (`auto`: a
 * throwaway cluster in a temp dir, test/helpers/postgres.ts, stopped after) and starts the server
 * on it with store.engine "postgres"; the template key is still made in the data dir (its token's
 * KEK wraps it, as on every node).
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ttlv, type TtlvItem } from '../ttlv/types';
import { Tag } from '../src/spec/generated/tags';
import { NameType } from '../src/spec/generated/enums';
import { createEmbeddedCore } from '../src/embedded';
import { handleMessage } from '../src/server/handle-message';
import { SqliteObjectStore } from '../src/store/sqlite';
import { PostgresObjectStore } from '../src/store/postgres-store';
import { Client } from 'pg';
import { databaseUrl, startPostgresCluster, type PostgresCluster } from '../test/helpers/postgres';
import { DEV_CLIENT_CN } from '../src/pki/dev-pki';
import type { NewObject, ObjectStore, StoredAttribute } from '../src/store/object-store';
import { RequestBuilder, summarise } from './lib/kmip';
import { runLoad } from './load';
import { startOurServer } from './lib/servers';
import { fmtMs, fmtRate, table } from './lib/stats';
import type { KeyRef } from './lib/workload';

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

interface Manifest {
  readonly count: number;
  /** Random clones, the Locate phase's names. */
  readonly sample: KeyRef[];
  readonly populateSeconds: number;
}

const SAMPLE = 20_000;
const CHUNK = 5_000;

function nameValue(name: string): TtlvItem {
  return ttlv.structure(Tag.Name, [
    ttlv.textString(Tag.NameValue, name),
    ttlv.enumeration(Tag.NameType, NameType.UninterpretedTextString),
  ]);
}

/** The template's attributes with this clone's identity. */
function cloneAttributes(template: readonly StoredAttribute[], uid: string, name: string): StoredAttribute[] {
  return template.map((a) => {
    if (a.name === 'Unique Identifier') return { ...a, value: ttlv.textString(Tag.UniqueIdentifier, uid) };
    if (a.name === 'Short Unique Identifier') {
      return { ...a, value: ttlv.byteString(Tag.ShortUniqueIdentifier, createHash('sha256').update(uid, 'utf8').digest()) };
    }
    if (a.name === 'Name') return { ...a, value: nameValue(name) };
    return a;
  });
}

async function makeTemplate(dir: string): Promise<string> {
  const embedded = await createEmbeddedCore(dir);
  try {
    const b = new RequestBuilder({ major: 1, minor: 4 });
    // Owned by the identity the Locate phase connects as (the dev PKI's client.pem), an ordinary one.
    const answer = summarise(await handleMessage(b.create('scale-template'), { client: { name: DEV_CLIENT_CN, isAdmin: false } }, embedded.core));
    const uid = answer.uids[0];
    if (!answer.ok || uid === undefined) throw new Error(`template Create failed: ${answer.message ?? ''}`);
    return uid;
  } finally {
    await embedded.close();
  }
}

/** The store engine the objects go into: the data dir's SQLite file, or a PostgreSQL database. */
interface Engine {
  readonly label: string;
  open(): Promise<ObjectStore>;
  /** Batches written at once: PostgreSQL overlaps their round trips, SQLite has one writer. */
  readonly batchesInFlight: number;
  /** The server's configuration for this engine (undefined: the default, SQLite). */
  readonly config?: object;
  /** Bytes the store takes. */
  size(): Promise<number>;
}

function sqliteEngine(dir: string): Engine {
  return {
    label: 'SQLite',
    open: async () => new SqliteObjectStore({ path: path.join(dir, 'kmip.sqlite') }),
    batchesInFlight: 1,
    size: async () => ['kmip.sqlite', 'kmip.sqlite-wal'].reduce((t, f) => t + (fs.existsSync(path.join(dir, f)) ? fs.statSync(path.join(dir, f)).size : 0), 0),
  };
}

async function postgresEngine(adminUrl: string, database: string): Promise<Engine> {
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${database}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(adminUrl, database);
  return {
    label: 'PostgreSQL',
    open: async () => PostgresObjectStore.open({ url, poolSize: 8 }),
    batchesInFlight: 4,
    config: { store: { engine: 'postgres', url, poolSize: 16 } },
    size: async () => {
      const c = new Client({ connectionString: url });
      await c.connect();
      try {
        const r = await c.query<{ size: string }>('SELECT pg_database_size(current_database())::text AS size');
        return Number(r.rows[0]!.size);
      } finally {
        await c.end();
      }
    },
  };
}

async function populate(dir: string, engine: Engine, count: number): Promise<Manifest> {
  const templateUid = await makeTemplate(dir);
  const templateStore = new SqliteObjectStore({ path: path.join(dir, 'kmip.sqlite') });
  const template = await templateStore.get(templateUid);
  templateStore.close();
  if (!template) throw new Error('template object not found in the store');
  const store = await engine.open();
  const t0 = performance.now();
  try {
    const sampleEvery = Math.max(1, Math.floor(count / SAMPLE));
    const sample: KeyRef[] = [];
    const inFlight: Array<Promise<void>> = [];
    for (let start = 0; start < count; start += CHUNK) {
      const ops: Array<{ insert: NewObject }> = [];
      for (let i = start; i < Math.min(count, start + CHUNK); i++) {
        const uid = randomUUID();
        const name = `scale-${i}`;
        if (i % sampleEvery === 0) sample.push({ uid, name });
        ops.push({
          insert: {
            uid,
            objectType: template.objectType,
            state: template.state,
            owner: template.owner,
            attributes: cloneAttributes(template.attributes, uid, name),
            protectedMaterial: template.protectedMaterial,
          },
        });
      }
      inFlight.push(store.writeBatch(ops));
      if (inFlight.length >= engine.batchesInFlight) await inFlight.shift();
      if ((start / CHUNK) % 20 === 0) {
        const done = Math.min(count, start + CHUNK);
        console.error(`[locate-scale] ${done} objects, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      }
    }
    await Promise.all(inFlight);
    return { count, sample, populateSeconds: (performance.now() - t0) / 1000 };
  } finally {
    await closeStore(store);
  }
}

/** PostgreSQL's pool ends asynchronously: wait for it, so the process can exit. */
async function closeStore(store: ObjectStore): Promise<void> {
  if (store instanceof PostgresObjectStore) await store.closeAsync();
  else store.close();
}

/** The store's own Locate, in process: the SQL cost without TLS, framing or KMIP. */
async function directLocate(engine: Engine, sample: readonly KeyRef[]): Promise<{ p50: number; p99: number; n: number }> {
  const store = await engine.open();
  try {
    const times: number[] = [];
    for (let i = 0; i < Math.min(5000, sample.length); i++) {
      const k = sample[Math.floor(Math.random() * sample.length)]!;
      const t = performance.now();
      const found = await store.locate({ conditions: [{ kind: 'equals', name: 'Name', value: nameValue(k.name) }] });
      times.push(performance.now() - t);
      if (!found.includes(k.uid)) throw new Error(`direct Locate missed ${k.name}`);
    }
    times.sort((a, b) => a - b);
    return { p50: times[Math.floor(times.length / 2)]!, p99: times[Math.floor(times.length * 0.99)]!, n: times.length };
  } finally {
    await closeStore(store);
  }
}

async function main(): Promise<void> {
  const count = Number(flag('objects', '100000'));
  const given = flag('dir', '');
  const dir = given ? path.resolve(given) : fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-locate-scale-'));
  fs.mkdirSync(dir, { recursive: true });
  const pgFlag = flag('postgres', '');
  let cluster: PostgresCluster | undefined;
  if (pgFlag === 'auto') cluster = await startPostgresCluster();
  try {
    // A throwaway cluster holds nothing of an earlier run.
    await measureAll(dir, count, given !== '' && pgFlag !== 'auto', pgFlag === '' ? undefined : (cluster?.adminUrl ?? pgFlag));
  } finally {
    cluster?.stop();
  }
  if (flag('keep', '0') !== '1' && !given) fs.rmSync(dir, { recursive: true, force: true });
}

async function measureAll(dir: string, count: number, reuse: boolean, pgAdminUrl: string | undefined): Promise<void> {
  // One database per data dir (its inode), so a kept --dir finds its objects again.
  const engine = pgAdminUrl === undefined ? sqliteEngine(dir) : await postgresEngine(pgAdminUrl, `kmip_scale_${fs.statSync(dir).ino}`);
  const manifestPath = path.join(dir, `scale-manifest${pgAdminUrl === undefined ? '' : '-postgres'}.json`);
  let manifest: Manifest | undefined;
  if (reuse && fs.existsSync(manifestPath)) {
    const m = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as Manifest;
    if (m.count >= count) manifest = m;
  }
  if (!manifest) {
    if (pgAdminUrl === undefined && fs.existsSync(path.join(dir, 'kmip.sqlite'))) throw new Error(`${dir} holds a store without a big enough manifest`);
    console.error(`[locate-scale] writing ${count} objects into ${engine.label} (data dir ${dir})`);
    manifest = await populate(dir, engine, count);
    fs.writeFileSync(manifestPath, JSON.stringify(manifest));
  }
  const dbBytes = await engine.size();
  const direct = await directLocate(engine, manifest.sample);
  let configFile: string | undefined;
  if (engine.config) {
    configFile = path.join(dir, 'scale-config.json');
    fs.writeFileSync(configFile, JSON.stringify(engine.config), { mode: 0o600 });
  }
  const server = await startOurServer({ dataDir: dir, configFile, workers: flag('workers', '') || undefined });
  const rows: string[][] = [];
  try {
    const pki = server.pkiDir;
    for (const connections of flag('connections', '32,1').split(',').map(Number)) {
      const report = await runLoad({
        target: {
          host: '127.0.0.1',
          port: server.port,
          ca: fs.readFileSync(path.join(pki, 'ca.pem')),
          cert: fs.readFileSync(path.join(pki, 'client.pem')),
          key: fs.readFileSync(path.join(pki, 'client-key.pem')),
          servername: 'localhost',
          requestTimeoutMs: 30_000,
        },
        pid: server.pid,
        version: { major: 1, minor: 4 },
        connections,
        phases: [{ label: 'locate', weights: [['locate', 1]] }],
        seconds: Number(flag('seconds', '10')),
        maxRequests: 10_000_000,
        warmupSeconds: 1,
        keys: 0,
        idleConnections: 0,
        populateTimeoutSeconds: 60,
        presetKeys: manifest.sample,
      });
      const r = report.results[0]!;
      const s = r.ops.get('locate')!;
      rows.push([
        String(connections),
        String(s.ok),
        String(s.failed),
        fmtRate(s.opsPerSecond),
        fmtMs(s.p50),
        fmtMs(s.p95),
        fmtMs(s.p99),
        fmtMs(s.max),
        r.server ? r.server.peakRssMb.toFixed(0) : '-',
      ]);
      if (s.failureKinds.length) console.log(`failures: ${s.failureKinds.join('; ')}`);
    }
  } finally {
    await server.stop(30_000);
  }
  console.log(
    `Locate by Name, ${manifest.count} objects stored (written straight into ${engine.label} in ${manifest.populateSeconds.toFixed(0)} s; store ${(dbBytes / 2 ** 20).toFixed(0)} MB)`,
  );
  console.log(`store.locate() in process: p50 ${(direct.p50 * 1000).toFixed(0)} µs, p99 ${(direct.p99 * 1000).toFixed(0)} µs over ${direct.n} lookups`);
  console.log(table(['connections', 'ok', 'failed', 'ops/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'server RSS MB'], rows));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
