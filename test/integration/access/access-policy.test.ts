/**
 * The access policy end to end: a real server process with a policy file, real TLS identities from
 * the dev PKI (CN, OU and SAN URI certificates), grants written by `kmip-server grant` beside the
 * running server and revoked while a client's connection stays open, groups from the OU, 1.x
 * Operation Policy Name, every operation compared against an unknown identifier, and a SIGHUP reload.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KmipClient, KmipResultError, attribute, ttlv } from '../../../src/client';
import { CryptographicAlgorithm, CryptographicUsageMask, ObjectType, Operation, ResultReason, ResultStatus } from '../../../src/spec/generated/enums';
import { Tag } from '../../../src/spec/generated/tags';
import { issueClientCertificate } from '../../../src/pki/dev-pki';
import { buildRegistry } from '../../../src/server/registry';
import { SENT_OPERATIONS } from '../../../src/notify/messages';
import { startServerProcess, type ServerProcess } from '../../helpers/server-process';
import { runCli } from '../../helpers/custody';
import { waitFor } from '../../helpers/wait';

jest.setTimeout(240_000);

const V14 = { major: 1, minor: 4 };
const V21 = { major: 2, minor: 1 };

let root: string;
let policyFile: string;
let server: ServerProcess;
const clients = new Map<string, KmipClient>();

const POLICY = {
  roles: { administrator: ['cn:ops'], securityOfficer: ['cn:officer'], auditor: ['san:urn:example:auditor'] },
  groups: { from: 'ou' },
  operationPolicies: { shared: { grants: [{ to: 'group:db', operations: ['Get', 'GetAttributes', 'Locate'] }] } },
};

function as(name: string): KmipClient {
  const c = clients.get(name);
  if (!c) throw new Error(`no client ${name}`);
  return c;
}

function connect(name: string, certs: { certPath: string; keyPath: string }): void {
  clients.set(
    name,
    new KmipClient({
      servers: [{ host: '127.0.0.1', port: server.port }],
      servername: 'localhost',
      ca: fs.readFileSync(path.join(server.pkiDir, 'ca.pem')),
      cert: fs.readFileSync(certs.certPath),
      key: fs.readFileSync(certs.keyPath),
      version: V14,
      // One connection: a revocation must reach the connection that was already open.
      maxConnections: 1,
    }),
  );
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-access-'));
  policyFile = path.join(root, 'access.json');
  fs.writeFileSync(policyFile, JSON.stringify(POLICY));
  const config = path.join(root, 'config.json');
  fs.writeFileSync(config, JSON.stringify({ accessPolicy: policyFile }));
  server = await startServerProcess({ dataDir: path.join(root, 'data'), extraArgs: ['--config', config] });
  const out = path.join(root, 'certs');
  connect('client', { certPath: path.join(server.pkiDir, 'client.pem'), keyPath: path.join(server.pkiDir, 'client-key.pem') });
  connect('ops', issueClientCertificate(server.pkiDir, 'ops', out));
  connect('officer', issueClientCertificate(server.pkiDir, 'officer', out));
  connect('auditor', issueClientCertificate(server.pkiDir, 'audit-1', out, { sanUris: ['urn:example:auditor'] }));
  connect('app-1', issueClientCertificate(server.pkiDir, 'app-1', out, { organizationalUnits: ['db'] }));
  connect('app-2', issueClientCertificate(server.pkiDir, 'app-2', out, { organizationalUnits: ['db'] }));
  connect('app-3', issueClientCertificate(server.pkiDir, 'app-3', out));
});

afterAll(async () => {
  for (const c of clients.values()) c.close();
  await server?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

async function newKey(name: string, extra: ReturnType<typeof attribute>[] = []): Promise<string> {
  const uid = (
    await as('client').create(ObjectType.SymmetricKey, [
      attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES),
      attribute('Cryptographic Length', 256),
      attribute('Cryptographic Usage Mask', CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
      attribute('Name', ttlv.structure(Tag.Name, [ttlv.textString(Tag.NameValue, name), ttlv.enumeration(Tag.NameType, 1)])),
      ...extra,
    ])
  ).uniqueIdentifier;
  await as('client').activate(uid);
  return uid;
}

/** The Result Reason a call failed with (undefined: it succeeded). */
async function reasonOf(call: Promise<unknown>): Promise<number | undefined> {
  try {
    await call;
    return undefined;
  } catch (e) {
    if (!(e instanceof KmipResultError)) throw e;
    return e.reason;
  }
}

const byName = (name: string) => [attribute('Name', ttlv.structure(Tag.Name, [ttlv.textString(Tag.NameValue, name), ttlv.enumeration(Tag.NameType, 1)]))];

async function grant(...args: string[]): Promise<void> {
  const r = await runCli(['grant', '--data-dir', server.dataDir, ...args]);
  if (r.code !== 0) throw new Error(`grant ${args.join(' ')} failed: ${r.stderr}`);
}

function auditRecords(): Record<string, unknown>[] {
  return fs
    .readFileSync(path.join(server.dataDir, 'audit.log'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('each role does what the table says: administrator and officer get no material, the auditor reads metadata, a user only its own', async () => {
  const uid = await newKey('roles-key');
  // Administrator (CN): metadata of every object, no material, no creating keys.
  expect((await as('ops').locate(byName('roles-key'))).uniqueIdentifiers).toEqual([uid]);
  expect((await as('ops').getAttributes(uid, ['State'])).uniqueIdentifier).toBe(uid);
  expect(await reasonOf(as('ops').get(uid))).toBe(ResultReason.PermissionDenied);
  expect(await reasonOf(as('ops').create(ObjectType.SymmetricKey, [attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES), attribute('Cryptographic Length', 128)]))).toBe(ResultReason.PermissionDenied);
  // Auditor (SAN URI): metadata read-only.
  expect((await as('auditor').locate(byName('roles-key'))).uniqueIdentifiers).toEqual([uid]);
  expect((await as('auditor').getAttributeList(uid)).uniqueIdentifier).toBe(uid);
  expect(await reasonOf(as('auditor').get(uid))).toBe(ResultReason.PermissionDenied);
  expect(await reasonOf(as('auditor').revoke(uid))).toBe(ResultReason.PermissionDenied);
  // Security officer: the lifecycle of another identity's object, never its material.
  expect(await reasonOf(as('officer').get(uid))).toBe(ResultReason.PermissionDenied);
  expect(await reasonOf(as('officer').encrypt(uid, Buffer.alloc(16)))).toBe(ResultReason.PermissionDenied);
  const doomed = await newKey('officer-destroys');
  await as('officer').revoke(doomed);
  await as('officer').destroy(doomed);
  expect(await reasonOf(as('client').get(doomed))).toBeDefined();
  // A user: another identity's object is not there.
  expect(await reasonOf(as('app-3').get(uid))).toBe(ResultReason.ItemNotFound);
  expect((await as('app-3').locate(byName('roles-key'))).uniqueIdentifiers).toEqual([]);
  // The officer's reach is audited as reaching another identity's object.
  await waitFor('the officer\'s Destroy audited', () => auditRecords().some((r) => r['client'] === 'officer' && r['operation'] === 'Destroy' && r['administratorOverride'] === true));
  const destroyed = auditRecords().find((r) => r['client'] === 'officer' && r['operation'] === 'Destroy')!;
  expect(destroyed).toMatchObject({ uniqueIdentifiers: [doomed], objectOwners: ['client'], resultStatus: 'Success' });
});

test('a grant works on the connection already open, and its revocation takes effect at once', async () => {
  const uid = await newKey('granted-key');
  const app = as('app-3');
  expect(await reasonOf(app.get(uid))).toBe(ResultReason.ItemNotFound);
  await grant('--object', uid, '--to', 'app-3', '--operations', 'Get,Locate');
  expect((await app.get(uid)).uniqueIdentifier).toBe(uid);
  expect((await app.locate(byName('granted-key'))).uniqueIdentifiers).toEqual([uid]);
  // Not granted: as unknown as ever.
  expect(await reasonOf(app.getAttributes(uid))).toBe(ResultReason.ItemNotFound);
  expect(await reasonOf(app.destroy(uid))).toBe(ResultReason.ItemNotFound);
  await waitFor('the granted Get audited', () => auditRecords().some((r) => r['client'] === 'app-3' && r['operation'] === 'Get' && r['granted'] === true));
  await grant('--object', uid, '--to', 'app-3', '--operations', 'Get', '--revoke');
  expect(await reasonOf(app.get(uid))).toBe(ResultReason.ItemNotFound);
  expect((await app.locate(byName('granted-key'))).uniqueIdentifiers).toEqual([uid]);
  await grant('--object', uid, '--to', 'app-3', '--revoke');
  expect((await app.locate(byName('granted-key'))).uniqueIdentifiers).toEqual([]);
  const listed = await runCli(['grant', 'list', '--data-dir', server.dataDir, '--json']);
  expect((JSON.parse(listed.stdout) as { target: { objectUid?: string } }[]).some((g) => g.target.objectUid === uid)).toBe(false);
  // Each change is in the custody side trail.
  const side = fs.readFileSync(path.join(server.dataDir, 'custody-audit.log'), 'utf8');
  expect(side).toContain(`"action":"grant","target":"object ${uid}","to":"identity \\"app-3\\"","operations":["Get","Locate"]`);
  expect(side).toContain(`"action":"grant-revoke","target":"object ${uid}"`);
  // An operator's mistake: one line naming the flag, nothing written.
  const wrong = await runCli(['grant', '--data-dir', server.dataDir, '--object', uid, '--to', 'app-3', '--operations', 'Get,Fetch']);
  expect([wrong.code, wrong.stderr.trim()]).toEqual([1, 'kmip-server: --operations[1]: "Fetch" is not an operation (spelled as the KMIP enumeration: Get, GetAttributes, ReKey...)']);
  const unknown = await runCli(['grant', '--data-dir', server.dataDir, '--object', 'no-such-id', '--to', 'app-3', '--operations', 'Get']);
  expect([unknown.code, unknown.stderr.trim()]).toEqual([1, 'kmip-server: --object: no object no-such-id in the store']);
  const verified = await runCli(['audit', 'verify', '--data-dir', server.dataDir, path.join(server.dataDir, 'custody-audit.log')]);
  expect([verified.code, verified.stderr]).toEqual([0, '']);
});

test('a grant on an Object Group to a group from the OU reaches its members only', async () => {
  const uid = await newKey('group-key', [attribute('Object Group', 'ledger')]);
  await grant('--group', 'ledger', '--to-group', 'db', '--operations', 'Get,GetAttributes');
  expect((await as('app-1').get(uid)).uniqueIdentifier).toBe(uid);
  expect((await as('app-2').getAttributes(uid)).uniqueIdentifier).toBe(uid);
  expect(await reasonOf(as('app-3').get(uid))).toBe(ResultReason.ItemNotFound);
  // The grant is to the group, not a way around the role: key use is still the user's alone.
  expect(await reasonOf(as('app-1').destroy(uid))).toBe(ResultReason.ItemNotFound);
  await grant('--group', 'ledger', '--to-group', 'db', '--revoke');
  expect(await reasonOf(as('app-1').get(uid))).toBe(ResultReason.ItemNotFound);
});

test('1.x Operation Policy Name names a policy of the file: its grants apply', async () => {
  const uid = await newKey('policy-key', [attribute('Operation Policy Name', 'shared')]);
  expect((await as('app-2').get(uid)).uniqueIdentifier).toBe(uid);
  expect((await as('app-2').locate(byName('policy-key'))).uniqueIdentifiers).toEqual([uid]);
  expect(await reasonOf(as('app-3').get(uid))).toBe(ResultReason.ItemNotFound);
  // A name the file does not define (PyKMIP's "default") grants nothing.
  const other = await newKey('default-policy-key', [attribute('Operation Policy Name', 'default')]);
  expect(await reasonOf(as('app-2').get(other))).toBe(ResultReason.ItemNotFound);
});

/** Every implemented operation that can name an object, with only its Unique Identifier. */
function objectOperations(): number[] {
  const objectless = new Set<number>([
    Operation.Create, Operation.CreateKeyPair, Operation.Register, Operation.Locate, Operation.Query, Operation.DiscoverVersions,
    Operation.Poll, Operation.Cancel, Operation.RNGRetrieve, Operation.RNGSeed, Operation.Hash, Operation.Log, Operation.Import,
    Operation.SetEndpointRole, Operation.Interop,
  ]);
  return buildRegistry(SENT_OPERATIONS).implemented().filter((o) => o.clientToServer !== null && !objectless.has(o.value)).map((o) => o.value);
}

async function answer(c: KmipClient, operation: number, uid: string): Promise<string> {
  const [r] = await c.send([{ operation, payload: [ttlv.textString(Tag.UniqueIdentifier, uid)] }], { version: V21 });
  return JSON.stringify({ status: r!.status, reason: r!.reason, message: r!.message?.split(uid).join('UID') });
}

test('over every operation: granted ones succeed, all others answer exactly as an unknown identifier, before and after revocation', async () => {
  const uid = await newKey('every-op-key');
  const unknown = crypto.randomUUID();
  const app = as('app-3');
  const ops = objectOperations();
  expect(ops.length).toBeGreaterThan(25);
  await grant('--object', uid, '--to', 'app-3', '--operations', 'Get,GetAttributes');
  for (const op of ops) {
    const got = await answer(app, op, uid);
    if (op === Operation.Get || op === Operation.GetAttributes) expect([op, JSON.parse(got).status]).toEqual([op, ResultStatus.Success]);
    else expect([op, got]).toEqual([op, await answer(app, op, unknown)]);
  }
  await grant('--object', uid, '--to', 'app-3', '--revoke');
  for (const op of ops) expect([op, await answer(app, op, uid)]).toEqual([op, await answer(app, op, unknown)]);
  // Nothing was changed by all that: the owner's key is as it was.
  expect((await as('client').getAttributes(uid, ['State'])).uniqueIdentifier).toBe(uid);
});

test('SIGHUP reloads the policy file, audited; a broken file keeps the policy in force', async () => {
  const uid = await newKey('reload-key');
  expect(await reasonOf(as('app-3').getAttributes(uid))).toBe(ResultReason.ItemNotFound);
  fs.writeFileSync(policyFile, JSON.stringify({ ...POLICY, roles: { ...POLICY.roles, auditor: ['san:urn:example:auditor', 'cn:app-3'] } }));
  server.child.kill('SIGHUP');
  await waitFor('the reload audited', () => auditRecords().some((r) => r['event'] === 'access-policy' && r['resultStatus'] === 'Success'));
  // app-3 is an auditor now: metadata of every object, and no more key creation.
  expect((await as('app-3').getAttributes(uid)).uniqueIdentifier).toBe(uid);
  expect(await reasonOf(as('app-3').create(ObjectType.SymmetricKey, [attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES), attribute('Cryptographic Length', 128)]))).toBe(ResultReason.PermissionDenied);
  fs.writeFileSync(policyFile, JSON.stringify({ roles: { auditor: ['sha256:nope'] } }));
  server.child.kill('SIGHUP');
  await waitFor('the failed reload audited', () => auditRecords().some((r) => r['event'] === 'access-policy' && r['resultStatus'] === 'OperationFailed'));
  const failed = auditRecords().find((r) => r['event'] === 'access-policy' && r['resultStatus'] === 'OperationFailed')!;
  expect(failed['reason']).toMatch(/^config: accessPolicy\.roles\.auditor\[0\]: .*; the access policy in force is unchanged$/);
  expect((await as('app-3').getAttributes(uid)).uniqueIdentifier).toBe(uid);
  expect(server.output()).toContain('"msg":"reload failed"');
});
