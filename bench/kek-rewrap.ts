/**
 * The KEK re-wrap rate of `kmip-server kek rotate` (objects/s). The store is filled straight through
 * src/store/sqlite.ts: one real AES-256 key made by Create is the template, and each clone gets its
 * own identifier and its own 32 random key bytes protected under the KEK for that identifier (so
 * every clone decrypts, as the rotation needs). Then the rotation runs in this process exactly as
 * the command does (rotateKek: batches, compare-and-swap updates, audited batches in the custody
 * trail, checkpoints unMAC'd here), and every row is checked to name the new KEK. No server runs:
 * the figure is the rotation's own cost on the embedded SoftHSM2 token. Prints figures; asserts nothing.
 * With `--postgres ADMIN_URL` the clones go into a PostgreSQL database made for the run (dropped
 * after) and the rotation is the postgres engine's (rotateKekPostgres: rows read in batches, written
 * back at their revision, the current KEK in the database), no node running beside it.
 *
 *   node -r ./scripts/register-ts.js bench/kek-rewrap.ts [--objects 10000] [--batch 200] [--dir DIR] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
 */
import { randomBytes, randomUUID, createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ttlv } from '../ttlv/types';
import { Tag } from '../src/spec/generated/tags';
import { EMBEDDED_TOKEN_DIR, KEK_LABEL, STORE_FILE } from '../src/config';
import { createEmbeddedCore } from '../src/embedded';
import { handleMessage } from '../src/server/handle-message';
import { openEmbeddedHsm } from '../src/server-hsm';
import { ensureSoftHsmToken, softHsmProtectorConfig } from '../src/keys/softhsm';
import { SqliteObjectStore } from '../src/store/sqlite';
import { DEV_CLIENT_CN } from '../src/pki/dev-pki';
import type { NewObject, StoredAttribute } from '../src/store/object-store';
import { openCustodyAudit } from '../src/custody/custody-audit';
import { openStoreFile, kekReferences, rotateKek } from '../src/custody/rotation';
import { CustodyToken } from '../src/custody/token';
import { RequestBuilder, summarise } from './lib/kmip';
import { Client } from 'pg';
import { PostgresObjectStore } from '../src/store/postgres-store';
import { PostgresKekCatalog } from '../src/store/postgres-keks';
import { rotateKekPostgres } from '../src/custody/rotation-postgres';
import type { ObjectStore } from '../src/store/object-store';

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

const CHUNK = 2_000;

function cloneAttributes(template: readonly StoredAttribute[], uid: string): StoredAttribute[] {
  return template
    .filter((a) => a.name !== 'Name')
    .map((a) => {
      if (a.name === 'Unique Identifier') return { ...a, value: ttlv.textString(Tag.UniqueIdentifier, uid) };
      if (a.name === 'Short Unique Identifier') return { ...a, value: ttlv.byteString(Tag.ShortUniqueIdentifier, createHash('sha256').update(uid, 'utf8').digest()) };
      return a;
    });
}

/** Fills the data dir's SQLite store, or `into` (PostgreSQL) with clones of the SQLite template. */
async function populate(dir: string, count: number, into?: ObjectStore): Promise<void> {
  const embedded = await createEmbeddedCore(dir);
  let templateUid: string;
  try {
    const answer = summarise(await handleMessage(new RequestBuilder({ major: 1, minor: 4 }).create('rewrap-template'), { client: { name: DEV_CLIENT_CN, isAdmin: false } }, embedded.core));
    if (!answer.ok || answer.uids[0] === undefined) throw new Error(`template Create failed: ${answer.message ?? ''}`);
    templateUid = answer.uids[0];
  } finally {
    await embedded.close();
  }
  const keys = await openEmbeddedHsm(path.join(dir, EMBEDDED_TOKEN_DIR));
  const store = new SqliteObjectStore({ path: path.join(dir, STORE_FILE) });
  try {
    const template = await store.get(templateUid);
    if (!template) throw new Error('template object not found');
    // The template is one of the `count` objects: into PostgreSQL too.
    const { uid, objectType, state, owner, attributes, protectedMaterial } = template;
    if (into !== undefined) await into.insert({ uid, objectType, state, owner, attributes, protectedMaterial });
    for (let start = 1; start < count; start += CHUNK) {
      const ops: Array<{ insert: NewObject }> = [];
      for (let i = start; i < Math.min(count, start + CHUNK); i++) {
        const uid = randomUUID();
        const material = randomBytes(32);
        ops.push({
          insert: {
            uid,
            objectType: template.objectType,
            state: template.state,
            owner: template.owner,
            attributes: cloneAttributes(template.attributes, uid),
            protectedMaterial: await keys.protect(uid, material),
          },
        });
      }
      if (into !== undefined) {
        // Sequential inserts, each its own transaction: populating is not what is measured.
        for (const op of ops) await into.insert(op.insert);
      } else await store.writeBatch(ops);
    }
  } finally {
    store.close();
    await keys.close();
  }
}

/** The same run on a database made under `adminUrl` for it, dropped after. */
async function onPostgres(adminUrl: string, dir: string, objects: number, batch: number): Promise<void> {
  const name = `kmip_rewrap_${process.pid}`;
  const admin = async (sql: string) => {
    const c = new Client({ connectionString: adminUrl });
    await c.connect();
    await c.query(sql).finally(() => c.end());
  };
  await admin(`CREATE DATABASE ${name}`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const store = await PostgresObjectStore.open({ url: u.toString(), poolSize: 4 });
  const catalog = PostgresKekCatalog.open(u.toString());
  try {
    const p0 = performance.now();
    await populate(dir, objects, store);
    console.error(`[kek-rewrap] ${objects} objects stored in PostgreSQL in ${((performance.now() - p0) / 1000).toFixed(1)} s`);
    const { result, seconds } = await timedRotation(dir, (token, audit, protector) => rotateKekPostgres(token, audit, { catalog, dataDir: dir, protector, batch }));
    printResult('postgres', objects, batch, result, seconds, await catalog.references());
  } finally {
    await catalog.close();
    await store.closeAsync();
    await admin(`DROP DATABASE ${name} WITH (FORCE)`);
  }
}

/** The data dir's token and custody trail opened as `kek rotate` opens them, and `rotate` timed between. */
async function timedRotation<R>(
  dir: string,
  rotate: (token: CustodyToken, audit: Awaited<ReturnType<typeof openCustodyAudit>>, protector: ReturnType<typeof softHsmProtectorConfig>) => Promise<R>,
): Promise<{ result: R; seconds: number }> {
  const protector = softHsmProtectorConfig(ensureSoftHsmToken(path.join(dir, EMBEDDED_TOKEN_DIR)), KEK_LABEL, { callMode: 'sync' });
  const token = await CustodyToken.open(protector);
  const audit = await openCustodyAudit(dir, undefined);
  const t0 = performance.now();
  try {
    return { result: await rotate(token, audit, protector), seconds: (performance.now() - t0) / 1000 };
  } finally {
    await audit.close();
    await token.close();
  }
}

/** One JSON line: the rate, and how many objects each KEK wraps afterwards (all under the new one). */
function printResult(
  engine: string,
  objects: number,
  batch: number,
  result: { rewrapped: number; done: boolean; toKekId: string; fromKekId: string },
  seconds: number,
  refs: ReadonlyMap<string, { objects: number }>,
): void {
  console.log(
    JSON.stringify({
      engine,
      objects,
      batch,
      rewrapped: result.rewrapped,
      done: result.done,
      seconds: Number(seconds.toFixed(2)),
      objectsPerSecond: Math.round(result.rewrapped / seconds),
      underNewKek: refs.get(result.toKekId)?.objects ?? 0,
      underOldKek: refs.get(result.fromKekId)?.objects ?? 0,
    }),
  );
}

async function main(): Promise<void> {
  const objects = Number(flag('objects', '10000'));
  const batch = Number(flag('batch', '200'));
  const given = flag('dir', '');
  const postgres = flag('postgres', '');
  const dir = given || fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-kek-rewrap-'));
  try {
    if (postgres !== '') {
      await onPostgres(postgres, dir, objects, batch);
      return;
    }
    const p0 = performance.now();
    await populate(dir, objects);
    console.error(`[kek-rewrap] ${objects} objects stored in ${((performance.now() - p0) / 1000).toFixed(1)} s`);
    const { result, seconds } = await timedRotation(dir, (token, audit, protector) => rotateKek(token, audit, { dataDir: dir, storePath: path.join(dir, STORE_FILE), protector, batch }));
    const db = openStoreFile(path.join(dir, STORE_FILE));
    const refs = kekReferences(db);
    db.close();
    printResult('sqlite', objects, batch, result, seconds, refs);
  } finally {
    if (!given) fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
