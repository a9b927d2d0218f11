/**
 * Failover between two real server processes sharing one PKI: the client's first server is
 * killed (SIGKILL) with the client's connections to it open, and the client goes on with the
 * second, as an operator's redundant pair would have it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KmipClient, KmipResultError, attribute, nameAttribute } from '../../../src/client';
import { ensureDevPki, type DevPki } from '../../../src/pki/dev-pki';
import { CryptographicAlgorithm, ObjectType, ResultReason } from '../../../src/spec/generated/enums';
import { startServerProcess, type ServerProcess } from '../../helpers/server-process';

jest.setTimeout(240_000);

let root: string;
let pki: DevPki;
let first: ServerProcess;
let second: ServerProcess;

/** A data directory holding a copy of the shared PKI, so both servers trust one CA and present its certificates. */
function dataDirWithPki(name: string): string {
  const dataDir = path.join(root, name);
  fs.cpSync(pki.dir, path.join(dataDir, 'pki'), { recursive: true });
  return dataDir;
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-failover-'));
  pki = ensureDevPki(path.join(root, 'pki'));
  [first, second] = await Promise.all([startServerProcess({ dataDir: dataDirWithPki('a') }), startServerProcess({ dataDir: dataDirWithPki('b') })]);
});

afterAll(async () => {
  await Promise.all([first?.stop(), second?.stop()]);
  fs.rmSync(root, { recursive: true, force: true });
});

it('goes on with the second server when the first is killed', async () => {
  const servers = [
    { host: '127.0.0.1', port: first.port },
    { host: '127.0.0.1', port: second.port },
  ];
  const c = new KmipClient({
    servers,
    servername: 'localhost',
    ca: fs.readFileSync(pki.caPath),
    cert: fs.readFileSync(pki.clientCertPath),
    key: fs.readFileSync(pki.clientKeyPath),
    maxConnections: 2,
  });
  try {
    const attrs = (name: string) => [attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES), attribute('Cryptographic Length', 256), nameAttribute(name)];
    const before = await c.create(ObjectType.SymmetricKey, attrs(`before-${crypto.randomUUID()}`));
    await Promise.all([c.get(before.uniqueIdentifier), c.get(before.uniqueIdentifier)]);
    expect(c.currentServer).toEqual(servers[0]);
    expect(c.openConnections).toBe(2);

    expect(await first.stop('SIGKILL')).toBe('SIGKILL');

    // Idempotent calls on the pooled connections to the dead server move to the second one.
    const q = await c.query();
    expect(q.operations.length).toBeGreaterThan(0);
    expect(c.currentServer).toEqual(servers[1]);
    // The second server has its own store: the key made on the first is not there.
    const missing = await c.get(before.uniqueIdentifier).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(KmipResultError);
    expect((missing as KmipResultError).reason).toBe(ResultReason.ObjectNotFound);

    const name = `after-${crypto.randomUUID()}`;
    const after = await c.create(ObjectType.SymmetricKey, attrs(name));
    expect((await c.locate([nameAttribute(name)])).uniqueIdentifiers).toEqual([after.uniqueIdentifier]);
  } finally {
    c.close();
  }
});
