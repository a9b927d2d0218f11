/**
 * The access policy with two worker processes: a grant and its revocation written by `kmip-server
 * grant` reach connections held by either worker at their next request, and a SIGHUP to the primary
 * makes every worker read the policy file again, each reload audited.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KmipClient, KmipResultError, attribute } from '../../../src/client';
import { CryptographicAlgorithm, ObjectType, ResultReason } from '../../../src/spec/generated/enums';
import { issueClientCertificate } from '../../../src/pki/dev-pki';
import { startServerProcess, workerPids, type ServerProcess } from '../../helpers/server-process';
import { runCli } from '../../helpers/custody';
import { waitFor } from '../../helpers/wait';

jest.setTimeout(240_000);

let root: string;
let server: ServerProcess;
const apps: KmipClient[] = [];
let owner: KmipClient;

function client(cert: string, key: string): KmipClient {
  return new KmipClient({
    servers: [{ host: '127.0.0.1', port: server.port }],
    servername: 'localhost',
    ca: fs.readFileSync(path.join(server.pkiDir, 'ca.pem')),
    cert: fs.readFileSync(cert),
    key: fs.readFileSync(key),
    version: { major: 1, minor: 4 },
    maxConnections: 1,
  });
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-access-workers-'));
  fs.writeFileSync(path.join(root, 'access.json'), JSON.stringify({ roles: { auditor: ['cn:auditor'] } }));
  fs.writeFileSync(path.join(root, 'config.json'), JSON.stringify({ accessPolicy: path.join(root, 'access.json') }));
  server = await startServerProcess({ dataDir: path.join(root, 'data'), extraArgs: ['--config', path.join(root, 'config.json'), '--workers', '2'] });
  await waitFor('two workers', () => workerPids(server).length === 2);
  owner = client(path.join(server.pkiDir, 'client.pem'), path.join(server.pkiDir, 'client-key.pem'));
  const app = issueClientCertificate(server.pkiDir, 'app', root);
  // Connections are dealt to the workers in turn: four of them are held by both.
  for (let i = 0; i < 4; i++) apps.push(client(app.certPath, app.keyPath));
});

afterAll(async () => {
  for (const c of [owner, ...apps]) c?.close();
  await server?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

async function reasonOf(call: Promise<unknown>): Promise<number | undefined> {
  try {
    await call;
    return undefined;
  } catch (e) {
    if (!(e instanceof KmipResultError)) throw e;
    return e.reason;
  }
}

const aes = () => owner.create(ObjectType.SymmetricKey, [attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES), attribute('Cryptographic Length', 256)]);

test('grants and their revocation reach connections on every worker; SIGHUP reloads the policy in each worker', async () => {
  const uid = (await aes()).uniqueIdentifier;
  for (const app of apps) expect(await reasonOf(app.get(uid))).toBe(ResultReason.ItemNotFound);
  expect((await runCli(['grant', '--data-dir', server.dataDir, '--object', uid, '--to', 'app', '--operations', 'Get'])).code).toBe(0);
  for (const app of apps) expect((await app.get(uid)).uniqueIdentifier).toBe(uid);
  expect((await runCli(['grant', '--data-dir', server.dataDir, '--object', uid, '--to', 'app', '--revoke'])).code).toBe(0);
  for (const app of apps) expect(await reasonOf(app.get(uid))).toBe(ResultReason.ItemNotFound);

  fs.writeFileSync(path.join(root, 'access.json'), JSON.stringify({ roles: { auditor: ['cn:auditor', 'cn:app'] } }));
  server.child.kill('SIGHUP');
  const reloads = () =>
    fs
      .readFileSync(path.join(server.dataDir, 'audit.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"event":"access-policy"') && l.includes('"resultStatus":"Success"'));
  await waitFor('a reload audited by each worker', () => reloads().length === 2);
  // An auditor now, on every connection: metadata of any object, no key creation.
  for (const app of apps) {
    expect((await app.getAttributes(uid)).uniqueIdentifier).toBe(uid);
    expect(await reasonOf(app.create(ObjectType.SymmetricKey, [attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES), attribute('Cryptographic Length', 128)]))).toBe(ResultReason.PermissionDenied);
  }
});
