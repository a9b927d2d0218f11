/**
 * The lifecycle scheduler end to end: a server started by `startServer` with a clock the test
 * moves, a real SoftHSM2 token, SQLite file and audit file, and the client library over mutual
 * TLS. Dates take effect when the clock passes them, without any read: Locate by State answers
 * the new State at once, the store holds it, and the audit trail has the server's action.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CryptographicAlgorithm, CryptographicUsageMask, ObjectType, State } from '../../../src/spec/generated/enums';
import { DEV_CLIENT_CN, ensureDevPki, issueServerCertificate } from '../../../src/pki/dev-pki';
import { ItemType } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { Operation } from '../../../src/spec/generated/enums';
import { TestEndpoint } from '../../helpers/kmip-endpoint';
import { find } from '../../helpers/kmip-client';
import { loadConfig, type ServerConfig } from '../../../src/config';
import { startServer, type RunningServer } from '../../../src/main';
import { openHsmForVerify } from '../../../src/server-hsm';
import { verifyAuditTrail } from '../../../src/audit/verify';
import { KmipClient, attribute, nameAttribute, type KmipAttribute } from '../../../src/client';
import { SqliteObjectStore } from '../../../src/store/sqlite';
import type { AuditRecord } from '../../../src/audit/audit-log';
import { makeTestToken } from '../../helpers/hsm';
import { devClient } from '../../helpers/dev-client';

let dir: string;
let config: ServerConfig;
let configFile: string;
let server: RunningServer | undefined;
let client: KmipClient;
/** The client identity's notification endpoint: a date's change is news like a request's. */
let endpoint: TestEndpoint;
/** The test's clock: the server reads it for every request and every sweep. */
let nowMs = Math.floor(Date.now() / 1000) * 1000;
const clock = { now: () => nowMs };

async function start(): Promise<RunningServer> {
  // The timer never fires on its own within a test: the test wakes the scheduler after moving the clock.
  server = await startServer(config, { clock, schedulerRecheckMs: 3_600_000 });
  client?.close();
  client = devClient(server.listener.address.port, path.join(config.dataDir, 'pki'), { version: { major: 2, minor: 1 } });
  return server;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-sched-'));
  const dataDir = path.join(dir, 'data');
  const pki = ensureDevPki(path.join(dataDir, 'pki'));
  const ep = issueServerCertificate(pki.dir, path.join(dir, 'certs'), { fileBase: 'endpoint' });
  endpoint = await TestEndpoint.start({ key: Buffer.from(ep.keyPem), cert: Buffer.from(ep.certPem), ca: fs.readFileSync(pki.caPath) });
  const token = makeTestToken();
  configFile = path.join(dir, 'config.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      listen: '127.0.0.1:0',
      dataDir,
      hsm: { module: token.modulePath, tokenLabel: token.tokenLabel, pinFile: token.pinFile, callMode: 'sync' },
      notifications: { endpoints: [{ identity: DEV_CLIENT_CN, address: `127.0.0.1:${endpoint.port}` }] },
    }),
  );
  config = loadConfig({ configFile });
  await start();
});

afterAll(async () => {
  client?.close();
  await server?.stop();
  await endpoint?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const at = (secondsFromNow: number) => new Date(nowMs + secondsFromNow * 1000);

function aes(name: string, dates: KmipAttribute[]): KmipAttribute[] {
  return [
    attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES),
    attribute('Cryptographic Length', 128),
    attribute('Cryptographic Usage Mask', CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
    nameAttribute(name),
    ...dates,
  ];
}

async function inState(name: string, state: number): Promise<boolean> {
  const r = await client.locate([nameAttribute(name), attribute('State', state)]);
  return r.uniqueIdentifiers.length === 1;
}

/** The State column and revision as the store holds them (a second connection: WAL allows it). */
function stored(uid: string): Promise<{ state: number; revision: number } | undefined> {
  const store = new SqliteObjectStore({ path: config.storePath, sharedWithOtherProcesses: true });
  return store.get(uid).then(
    (r) => {
      store.close();
      return r && { state: r.state, revision: r.revision };
    },
    (e: unknown) => {
      store.close();
      throw e;
    },
  );
}

async function scheduledRecords(): Promise<AuditRecord[]> {
  await server!.audit.durable();
  return fs
    .readFileSync(config.auditFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"scheduled"'))
    .map((l) => JSON.parse(l) as AuditRecord);
}

describe('lifecycle scheduler', () => {
  it('`kmip-server schedule --json` lists what comes next, read beside the running server', async () => {
    // The test's clock has not moved yet: it is the real time the command reads.
    const { uniqueIdentifier: uid } = await client.create(
      ObjectType.SymmetricKey,
      aes('coming', [attribute('Deactivation Date', at(3600)), attribute('Rotate Automatic', true), attribute('Rotate Interval', 7200)]),
    );
    const root = path.join(__dirname, '..', '..', '..');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['-r', path.join(root, 'scripts', 'register-ts.js'), path.join(root, 'scripts', 'run-cli.ts'), 'schedule', '--config', configFile, '--within', 'PT3H', '--json'],
      { cwd: root },
    );
    const out = JSON.parse(stdout) as { events: { uid: string; event: string; at: string }[]; more: boolean };
    const mine = out.events.filter((e) => e.uid === uid);
    const iso = (s: number) => new Date(Math.floor((nowMs + s * 1000) / 1000) * 1000).toISOString().replace('.000Z', 'Z');
    expect(mine).toEqual([
      { uid, event: 'Deactivation Date', at: iso(3600) },
      { uid, event: 'Rotation', at: iso(7200), detail: 'Rotate Interval' },
    ]);
    expect(out.more).toBe(false);
  });

  it('activates and deactivates at the dates, persisted, audited and found by Locate by State at once', async () => {
    const { uniqueIdentifier: uid } = await client.create(ObjectType.SymmetricKey, aes('dated', [attribute('Activation Date', at(100)), attribute('Deactivation Date', at(200))]));
    expect(await inState('dated', State.PreActive)).toBe(true);

    nowMs += 100_000;
    const first = await server!.scheduler!.wake();
    expect(first.transitions).toBe(1);
    expect((await stored(uid))?.state).toBe(State.Active);
    expect(await inState('dated', State.Active)).toBe(true);
    expect(await inState('dated', State.PreActive)).toBe(false);
    // Notified to the owner's endpoint, as a request's change would be.
    await endpoint.waitFor((m) => {
      const u = find(m.payload, Tag.UniqueIdentifier);
      return m.operation === Operation.Notify && u?.type === ItemType.TextString && u.value === uid;
    }, 15_000);

    nowMs += 100_000;
    await server!.scheduler!.wake();
    expect((await stored(uid))?.state).toBe(State.Deactivated);
    expect(await inState('dated', State.Deactivated)).toBe(true);

    const records = (await scheduledRecords()).filter((r) => r.uniqueIdentifiers?.includes(uid));
    expect(records.map((r) => [r.operation, r.reason])).toEqual([
      ['Activation Date reached', 'State PreActive -> Active'],
      ['Deactivation Date reached', 'State Active -> Deactivated'],
    ]);
    // Nothing more is due: a second sweep changes nothing.
    expect(await server!.scheduler!.wake()).toEqual({ transitions: 0, marks: 0 });
  });

  it('a read answers the State the dates give but does not write it', async () => {
    const { uniqueIdentifier: uid } = await client.create(ObjectType.SymmetricKey, aes('read-only', [attribute('Activation Date', at(50))]));
    const before = await stored(uid);
    nowMs += 60_000;
    const attrs = await client.getAttributes(uid, ['State']);
    expect(attrs.attributes.find((a) => a.name === 'State')?.value.value).toBe(State.Active);
    // The store is as it was: no write by the read (revision and State column unchanged).
    expect(await stored(uid)).toEqual(before);
    await server!.scheduler!.wake();
    expect((await stored(uid))?.state).toBe(State.Active);
  });

  it('records Process Start and Protect Stop Dates when reached, once', async () => {
    const { uniqueIdentifier: uid } = await client.create(ObjectType.SymmetricKey, aes('marks', [attribute('Process Start Date', at(30)), attribute('Protect Stop Date', at(40))]));
    nowMs += 45_000;
    expect((await server!.scheduler!.wake()).marks).toBe(2);
    nowMs += 1_000;
    // The next sweep reaches back over them (its overlap) but does not record them again.
    expect((await server!.scheduler!.wake()).marks).toBe(0);
    const ops = (await scheduledRecords()).filter((r) => r.uniqueIdentifiers?.includes(uid)).map((r) => r.operation);
    expect(ops).toEqual(['Process Start Date reached', 'Protect Stop Date reached']);
  });

  it('catches up at start on dates that passed while the server was stopped', async () => {
    const { uniqueIdentifier: uid } = await client.create(ObjectType.SymmetricKey, aes('while-down', [attribute('Activation Date', at(10))]));
    await server!.stop();
    server = undefined;
    nowMs += 20_000;
    const restarted = await start();
    // The first sweep runs at start; wake() joins it or runs after it.
    await restarted.scheduler!.wake();
    expect((await stored(uid))?.state).toBe(State.Active);
    expect(await inState('while-down', State.Active)).toBe(true);
  });

  it('keeps the audit chain whole: audit verify passes', async () => {
    await server!.stop();
    server = undefined;
    const keys = await openHsmForVerify(config);
    try {
      const result = await verifyAuditTrail({ files: [config.auditFile], verifyMac: (data, mac) => keys.verifyAuditMac!(data, mac) });
      expect(result).toMatchObject({ ok: true });
    } finally {
      await keys.close();
    }
  });
});
