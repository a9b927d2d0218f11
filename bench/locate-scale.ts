/**
 * Locate by Name with many objects stored. Populating through the server would take hours at
 * these counts, so the objects are written straight into the SQLite store (src/store/sqlite.ts):
 * one real AES-256 key made by Create through handleMessage serves as the template, and each
 * clone gets its own Unique Identifier, Short Unique Identifier and Name, the template's other
 * attributes and its protected key blob (bound to the template's identifier, so a clone's Get would
 * fail its integrity check; Locate never decrypts). Then our server is started on that store and
 * Locate by Name is driven over mTLS. Prints figures; asserts nothing.
 *
 *   node -r ./scripts/register-ts.js bench/locate-scale.ts [--objects 100000] [--dir DIR] [--keep 1]
 *        [--seconds 10] [--connections 32,1] [--workers N]
 *
 * With --dir, a store already populated there (scale-manifest.json) is reused when big enough.
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
import { DEV_CLIENT_CN } from '../src/pki/dev-pki';
import type { NewObject, StoredAttribute } from '../src/store/object-store';
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

async function populate(dir: string, count: number): Promise<Manifest> {
  const templateUid = await makeTemplate(dir);
  const store = new SqliteObjectStore({ path: path.join(dir, 'kmip.sqlite') });
  const t0 = performance.now();
  try {
    const template = await store.get(templateUid);
    if (!template) throw new Error('template object not found in the store');
    const sampleEvery = Math.max(1, Math.floor(count / SAMPLE));
    const sample: KeyRef[] = [];
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
      await store.writeBatch(ops);
      if ((start / CHUNK) % 20 === 0) {
        const done = Math.min(count, start + CHUNK);
        console.error(`[locate-scale] ${done} objects, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      }
    }
    const manifest: Manifest = { count, sample, populateSeconds: (performance.now() - t0) / 1000 };
    fs.writeFileSync(path.join(dir, 'scale-manifest.json'), JSON.stringify(manifest));
    return manifest;
  } finally {
    store.close();
  }
}

/** The store's own Locate, in process: the SQL cost without TLS, framing or KMIP. */
async function directLocate(dir: string, sample: readonly KeyRef[]): Promise<{ p50: number; p99: number; n: number }> {
  const store = new SqliteObjectStore({ path: path.join(dir, 'kmip.sqlite') });
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
    store.close();
  }
}

async function main(): Promise<void> {
  const count = Number(flag('objects', '100000'));
  const given = flag('dir', '');
  const dir = given ? path.resolve(given) : fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-locate-scale-'));
  fs.mkdirSync(dir, { recursive: true });
  const manifestPath = path.join(dir, 'scale-manifest.json');
  let manifest: Manifest | undefined;
  if (fs.existsSync(manifestPath)) {
    const m = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as Manifest;
    if (m.count >= count) manifest = m;
  }
  if (!manifest) {
    if (fs.existsSync(path.join(dir, 'kmip.sqlite'))) throw new Error(`${dir} holds a store without a big enough manifest`);
    console.error(`[locate-scale] writing ${count} objects into ${dir}`);
    manifest = await populate(dir, count);
  }
  const dbBytes = ['kmip.sqlite', 'kmip.sqlite-wal'].reduce((t, f) => t + (fs.existsSync(path.join(dir, f)) ? fs.statSync(path.join(dir, f)).size : 0), 0);
  const direct = await directLocate(dir, manifest.sample);
  const server = await startOurServer({ dataDir: dir, workers: flag('workers', '') || undefined });
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
    `Locate by Name, ${manifest.count} objects stored (written straight into SQLite in ${manifest.populateSeconds.toFixed(0)} s; store ${(dbBytes / 2 ** 20).toFixed(0)} MB)`,
  );
  console.log(`store.locate() in process: p50 ${(direct.p50 * 1000).toFixed(0)} µs, p99 ${(direct.p99 * 1000).toFixed(0)} µs over ${direct.n} lookups`);
  console.log(table(['connections', 'ok', 'failed', 'ops/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'server RSS MB'], rows));
  if (flag('keep', '0') !== '1' && !given) fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
