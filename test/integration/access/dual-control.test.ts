/**
 * Dual control end to end (issue 16 item 4): a real server process with an access policy file, real
 * TLS client certificates for each identity (the data dir's dev PKI), the client library, and
 * `kmip-server approve` run beside the server. A covered request answers Operation Pending (with the
 * Asynchronous Indicator) or Permission Denied (without); a second officer approves or denies; the
 * requester's Poll runs it and returns its outcome; Cancel withdraws; the requester cannot approve
 * its own request; a restart keeps pending requests; both identities are in the audit trails;
 * `kek retire` needs an approval when a rule names KekRetire.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KmipClient, attribute, attributeValues, ttlv, type BatchItemResult, type ProtocolVersion } from '../../../src/client';
import { encodeRequest, decodeResponse } from '../../../src/client/messages';
import { AsynchronousIndicator, CancellationResult, CryptographicAlgorithm, CryptographicUsageMask, ObjectType, Operation, ResultReason, ResultStatus, State } from '../../../src/spec/generated/enums';
import { Tag } from '../../../src/spec/generated/tags';
import { issueClientCertificate } from '../../../src/pki/dev-pki';
import { startServerProcess, type ServerProcess } from '../../helpers/server-process';
import { jsonOut, runCli } from '../../helpers/custody';

jest.setTimeout(300_000);

const POLICY = {
  // Plain identity names: the server names a TLS client by its CN, and `approve --as` by the name given.
  roles: { securityOfficer: ['carol', 'dave'] },
  dualControl: [
    { operations: ['Destroy'], objectGroup: 'finance' },
    { operations: ['Get'], objectTypes: ['PrivateKey'] },
    { operations: ['KekRetire'] },
  ],
};

const V21: ProtocolVersion = { major: 2, minor: 1 };
const V14: ProtocolVersion = { major: 1, minor: 4 };

let root: string;
let dataDir: string;
let configFile: string;
let policyFile: string;
let server: ServerProcess;
const clients: KmipClient[] = [];
/** An object destroyed through an approval: its sealed Digest must survive the KEK rotation below. */
let destroyedThroughApproval: string | undefined;

function certsFor(cn: string): { cert: Buffer; key: Buffer } {
  const dir = path.join(root, 'certs');
  if (!fs.existsSync(path.join(dir, `${cn}.pem`))) issueClientCertificate(path.join(dataDir, 'pki'), cn, dir, { fileBase: cn });
  return { cert: fs.readFileSync(path.join(dir, `${cn}.pem`)), key: fs.readFileSync(path.join(dir, `${cn}-key.pem`)) };
}

function clientAs(cn: string, version: ProtocolVersion = V21): KmipClient {
  const c = new KmipClient({ servers: [`127.0.0.1:${server.port}`], servername: 'localhost', ca: fs.readFileSync(path.join(dataDir, 'pki', 'ca.pem')), ...certsFor(cn), version });
  clients.push(c);
  return c;
}

/** One item with the Asynchronous Indicator set (or not), as sent. */
async function sendOne(c: KmipClient, version: ProtocolVersion, operation: number, payload: Parameters<typeof ttlv.structure>[1], asynchronous: boolean): Promise<BatchItemResult> {
  // A Boolean in 1.x; in 2.x an Enumeration, whose Optional lets the server answer asynchronously.
  const indicator = version.major >= 2 ? ttlv.enumeration(Tag.AsynchronousIndicator, AsynchronousIndicator.Optional) : ttlv.boolean(Tag.AsynchronousIndicator, true);
  const header = asynchronous ? [indicator] : [];
  const bytes = encodeRequest(version, [{ operation, payload }], { header, timeStamp: BigInt(Math.floor(Date.now() / 1000)) });
  return decodeResponse(await c.sendMessage(bytes)).items[0]!;
}

const uid = (id: string) => ttlv.textString(Tag.UniqueIdentifier, id);
const acv = (v: Uint8Array) => [ttlv.byteString(Tag.AsynchronousCorrelationValue, Buffer.from(v))];

function cli(...args: string[]) {
  return runCli([...args, '--data-dir', dataDir, '--config', configFile]);
}

async function aesKey(c: KmipClient, group?: string): Promise<string> {
  const r = await c.create(ObjectType.SymmetricKey, [
    attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES),
    attribute('Cryptographic Length', 256),
    attribute('Cryptographic Usage Mask', CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
    ...(group !== undefined ? [attribute('Object Group', group)] : []),
  ]);
  return r.uniqueIdentifier;
}

/** Destroy held for approval: its correlation value and the request's id in `approve list`. */
async function pendingDestroy(c: KmipClient, id: string, version = V21): Promise<{ value: Uint8Array; approvalId: string }> {
  const r = await sendOne(c, version, Operation.Destroy, [uid(id)], true);
  expect(r.status).toBe(ResultStatus.OperationPending);
  expect(r.asyncCorrelationValue?.length).toBe(16);
  const list = jsonOut(await cli('approve', 'list', '--json')) as { approvals: { id: string; uniqueIdentifier?: string; state: string }[] };
  const entry = list.approvals.find((a) => a.uniqueIdentifier === id);
  expect(entry?.state).toBe('pending');
  return { value: r.asyncCorrelationValue!, approvalId: entry!.id };
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-dual-'));
  dataDir = path.join(root, 'data');
  policyFile = path.join(root, 'access-policy.json');
  fs.writeFileSync(policyFile, JSON.stringify(POLICY));
  configFile = path.join(root, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify({ accessPolicy: policyFile }));
  server = await startServerProcess({ dataDir, extraArgs: ['--config', configFile] });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

describe.each([
  ['2.1', V21],
  ['1.4', V14],
])('KMIP %s', (_label, version) => {
  test('Destroy in the finance group: refused without the Asynchronous Indicator, pending with it; the approved request runs at Poll as the requester', async () => {
    const alice = clientAs('alice', version);
    const plain = await aesKey(alice);
    const finance = await aesKey(alice, 'finance');
    // No rule covers an object outside the group: it runs at once.
    expect((await sendOne(alice, version, Operation.Destroy, [uid(plain)], false)).status).toBe(ResultStatus.Success);
    const sync = await sendOne(alice, version, Operation.Destroy, [uid(finance)], false);
    expect(sync.status).toBe(ResultStatus.OperationFailed);
    expect(sync.reason).toBe(ResultReason.PermissionDenied);
    expect(sync.message).toMatch(/second security officer's approval.*Asynchronous Indicator/);
    const { value, approvalId } = await pendingDestroy(alice, finance, version);
    const early = await sendOne(alice, version, Operation.Poll, acv(value), false);
    expect(early.status).toBe(ResultStatus.OperationPending);
    expect(Buffer.from(early.asyncCorrelationValue!).equals(Buffer.from(value))).toBe(true);
    // Still there while it waits.
    expect((await alice.getAttributes(finance, ['State'])).uniqueIdentifier).toBe(finance);
    // Another identity's Poll of the value answers as for an unknown one.
    const bob = await sendOne(clientAs('bob', version), version, Operation.Poll, acv(value), false);
    expect(bob.status).toBe(ResultStatus.OperationFailed);
    expect(bob.reason).toBe(version.major >= 2 ? ResultReason.InvalidAsynchronousCorrelationValue : ResultReason.ItemNotFound);
    // alice is no officer; bob neither.
    const notOfficer = await cli('approve', approvalId, '--as', 'alice');
    expect(notOfficer.code).toBe(1);
    expect(notOfficer.stderr).toMatch(/alice is not a security officer/);
    const approved = await cli('approve', approvalId, '--as', 'dave', '--json');
    expect(approved.code).toBe(0);
    expect(jsonOut(approved)).toMatchObject({ id: approvalId, state: 'approved', decidedBy: 'dave', requester: 'alice' });
    const again = await cli('approve', approvalId, '--as', 'carol');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/is approved \(by dave\), no longer pending/);
    const outcome = await sendOne(alice, version, Operation.Poll, acv(value), false);
    expect(outcome.status).toBe(ResultStatus.Success);
    expect(outcome.payload?.find((p) => p.tag === Tag.UniqueIdentifier)?.value).toBe(finance);
    expect(attributeValues((await alice.getAttributes(finance, ['State'])).attributes, 'State')).toEqual([State.Destroyed]);
    destroyedThroughApproval = finance;
    // Ran once: a later Poll answers its status, and Cancel says it completed.
    expect((await sendOne(alice, version, Operation.Poll, acv(value), false)).status).toBe(ResultStatus.Success);
    const cancel = await sendOne(alice, version, Operation.Cancel, acv(value), false);
    expect(cancel.payload?.find((p) => p.tag === Tag.CancellationResult)?.value).toBe(CancellationResult.Completed);
  });

  test('denied: Poll answers Permission Denied and the object stays; cancelled: Canceled, and no officer can approve it after', async () => {
    const alice = clientAs('alice', version);
    const a = await aesKey(alice, 'finance');
    const denied = await pendingDestroy(alice, a, version);
    expect((await cli('approve', denied.approvalId, '--as', 'carol', '--deny')).code).toBe(0);
    const poll = await sendOne(alice, version, Operation.Poll, acv(denied.value), false);
    expect(poll.status).toBe(ResultStatus.OperationFailed);
    expect(poll.reason).toBe(ResultReason.PermissionDenied);
    expect(poll.message).toMatch(/denied/);
    expect((await alice.getAttributes(a, ['State'])).uniqueIdentifier).toBe(a);

    const withdrawn = await pendingDestroy(alice, a, version);
    const cancel = await sendOne(alice, version, Operation.Cancel, acv(withdrawn.value), false);
    expect(cancel.status).toBe(ResultStatus.Success);
    expect(cancel.payload?.find((p) => p.tag === Tag.CancellationResult)?.value).toBe(CancellationResult.Canceled);
    const late = await cli('approve', withdrawn.approvalId, '--as', 'dave');
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/is cancelled/);
    const polled = await sendOne(alice, version, Operation.Poll, acv(withdrawn.value), false);
    expect(polled.reason).toBe(ResultReason.OperationCanceledByRequester);
    expect((await alice.getAttributes(a, ['State'])).uniqueIdentifier).toBe(a);
  });
});

test('nothing is held for an object the caller cannot reach (it answers as unknown), nor in a batch of several items', async () => {
  const alice = clientAs('alice');
  const id = await aesKey(alice, 'finance');
  const bob = clientAs('bob');
  const unknown = await sendOne(bob, V21, Operation.Destroy, [uid('no-such-object')], true);
  const other = await sendOne(bob, V21, Operation.Destroy, [uid(id)], true);
  expect(other.status).toBe(ResultStatus.OperationFailed);
  expect([other.reason, other.message?.replace(id, 'X')]).toEqual([unknown.reason, unknown.message?.replace('no-such-object', 'X')]);
  const header = [ttlv.enumeration(Tag.AsynchronousIndicator, AsynchronousIndicator.Mandatory)];
  const two = decodeResponse(await alice.sendMessage(encodeRequest(V21, [{ operation: Operation.GetAttributes, payload: [uid(id)] }, { operation: Operation.Destroy, payload: [uid(id)] }], { header }))).items;
  expect(two[0]!.status).toBe(ResultStatus.Success);
  expect(two[1]!.reason).toBe(ResultReason.PermissionDenied);
  expect(two[1]!.message).toMatch(/alone in its message/);
  const list = jsonOut(await cli('approve', 'list', '--json')) as { approvals: { uniqueIdentifier?: string }[] };
  expect(list.approvals.some((a) => a.uniqueIdentifier === id)).toBe(false);
});

test('an officer\'s own request needs another officer: carol cannot approve hers, dave can', async () => {
  const carol = clientAs('carol');
  // An officer creates no keys (the access policy's role table); it may destroy anyone's.
  const id = await aesKey(clientAs('alice'), 'finance');
  const { value, approvalId } = await pendingDestroy(carol, id);
  const self = await cli('approve', approvalId, '--as', 'carol');
  expect(self.code).toBe(1);
  expect(self.stderr).toMatch(/carol made request .*needs a second person/);
  expect((await cli('approve', approvalId, '--as', 'dave')).code).toBe(0);
  expect((await sendOne(carol, V21, Operation.Poll, acv(value), false)).status).toBe(ResultStatus.Success);
});

test('Get of a private key waits for approval; its public key does not', async () => {
  const alice = clientAs('alice');
  const pair = await alice.createKeyPair({
    common: [attribute('Cryptographic Algorithm', CryptographicAlgorithm.RSA), attribute('Cryptographic Length', 2048)],
    privateKey: [attribute('Cryptographic Usage Mask', CryptographicUsageMask.Sign)],
    publicKey: [attribute('Cryptographic Usage Mask', CryptographicUsageMask.Verify)],
  });
  expect((await alice.get(pair.publicKeyUniqueIdentifier)).objectType).toBe(ObjectType.PublicKey);
  await expect(alice.get(pair.privateKeyUniqueIdentifier)).rejects.toMatchObject({ reason: ResultReason.PermissionDenied });
  const r = await sendOne(alice, V21, Operation.Get, [uid(pair.privateKeyUniqueIdentifier)], true);
  expect(r.status).toBe(ResultStatus.OperationPending);
  const list = jsonOut(await cli('approve', 'list', '--json')) as { approvals: { id: string; uniqueIdentifier?: string; operation: string }[] };
  const entry = list.approvals.find((a) => a.uniqueIdentifier === pair.privateKeyUniqueIdentifier)!;
  expect(entry.operation).toBe('Get');
  expect((await cli('approve', entry.id, '--as', 'dave')).code).toBe(0);
  const got = await sendOne(alice, V21, Operation.Poll, acv(r.asyncCorrelationValue!), false);
  expect(got.status).toBe(ResultStatus.Success);
  expect(got.payload?.some((p) => p.tag === Tag.PrivateKey)).toBe(true);
});

test('a pending request survives a restart; the trails name requester and approver', async () => {
  const alice = clientAs('alice');
  const id = await aesKey(alice, 'finance');
  const { value, approvalId } = await pendingDestroy(alice, id);
  for (const c of clients.splice(0)) c.close();
  await server.stop();
  server = await startServerProcess({ dataDir, extraArgs: ['--config', configFile] });
  const after = clientAs('alice');
  expect((await sendOne(after, V21, Operation.Poll, acv(value), false)).status).toBe(ResultStatus.OperationPending);
  expect((await cli('approve', approvalId, '--as', 'dave')).code).toBe(0);
  expect((await sendOne(after, V21, Operation.Poll, acv(value), false)).status).toBe(ResultStatus.Success);

  const records = fs.readFileSync(path.join(dataDir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const held = records.find((r) => r['approvalId'] === approvalId && r['resultStatus'] === 'OperationPending');
  expect(held).toMatchObject({ client: 'alice', operation: 'Destroy', uniqueIdentifiers: [id] });
  const ran = records.find((r) => r['approvalId'] === approvalId && r['resultStatus'] === 'Success');
  expect(ran).toMatchObject({ client: 'alice', approvedBy: 'dave', asynchronous: true, operation: 'Destroy' });
  const custody = fs.readFileSync(path.join(dataDir, 'custody-audit.log'), 'utf8');
  const decision = custody.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r['approvalId'] === approvalId);
  expect(decision).toMatchObject({ action: 'approval-approve', requester: 'alice', approver: 'dave', operation: 'Destroy', uniqueIdentifier: id });
  // Both trails still verify.
  expect((await runCli(['audit', 'verify', '--data-dir', dataDir])).code).toBe(0);
  expect((await runCli(['audit', 'verify', '--data-dir', dataDir, path.join(dataDir, 'custody-audit.log')])).code).toBe(0);
});

test('kek retire needs an approved request when a rule names KekRetire', async () => {
  const rotated = await cli('kek', 'rotate', '--json');
  expect(rotated.stderr).toBe('');
  expect(rotated.code).toBe(0);
  const oldKek = jsonOut(rotated)['fromKekId'] as string;
  // The current KEK (kek-current.json names it) cannot be retired: no approval is asked for it.
  const current = await cli('kek', 'retire', '--kek', jsonOut(rotated)['toKekId'] as string, '--as', 'carol');
  expect(current.code).toBe(1);
  expect(current.stderr).toMatch(/is the current KEK: rotate first/);
  expect((await cli('approve', 'list', '--json')).stdout).not.toMatch(/KekRetire/);
  const bare = await cli('kek', 'retire', '--kek', oldKek);
  expect(bare.code).toBe(1);
  expect(bare.stderr).toMatch(/needs a second officer's approval.*--as/);
  const asked = await cli('kek', 'retire', '--kek', oldKek, '--as', 'carol', '--json');
  expect(asked.code).toBe(1);
  const approvalId = jsonOut(asked)['approvalId'] as string;
  expect(approvalId).toMatch(/^apr-[0-9a-f]{16}$/);
  // Not before the approval, and not by the requester.
  expect((await cli('kek', 'retire', '--kek', oldKek, '--approval', approvalId)).stderr).toMatch(/is pending, not approved/);
  expect((await cli('approve', approvalId, '--as', 'carol')).code).toBe(1);
  expect((await cli('approve', approvalId, '--as', 'dave')).code).toBe(0);
  const retired = await cli('kek', 'retire', '--kek', oldKek, '--approval', approvalId, '--json');
  expect(retired.stderr).toBe('');
  expect(retired.code).toBe(0);
  expect(jsonOut(retired)).toMatchObject({ msg: 'kek retired', kekId: oldKek, approvalId, approvedBy: 'dave' });
  // Used once: the approval is done, and the KEK is gone.
  expect((await cli('kek', 'retire', '--kek', oldKek, '--approval', approvalId)).stderr).toMatch(/the token holds no KEK/);
  const used = jsonOut(await cli('approve', 'list', '--all', '--json')) as { approvals: { id: string; state: string }[] };
  expect(used.approvals.find((a) => a.id === approvalId)?.state).toBe('done');
  // The destroyed object's Digest, sealed under the old KEK, was re-wrapped (rotation.ts binds it as Destroy sealed it).
  const digest = attributeValues((await clientAs('alice').getAttributes(destroyedThroughApproval!, ['Digest'])).attributes, 'Digest');
  expect(digest).toHaveLength(1);
});

test('SIGHUP reads the policy again: a rule taken out stops holding requests, a broken file keeps the rules in force', async () => {
  const alice = clientAs('alice');
  const reloads = () => server.output().split('"msg":"reload').length;
  const hup = async () => {
    const before = reloads();
    server.child.kill('SIGHUP');
    for (let i = 0; i < 200 && reloads() === before; i++) await new Promise((r) => setTimeout(r, 50));
  };
  fs.writeFileSync(policyFile, '{ "dualControl": [');
  await hup();
  expect(server.output()).toMatch(/"msg":"reload failed".*accessPolicy.*the access policy in force is unchanged/);
  const held = await aesKey(alice, 'finance');
  expect((await sendOne(alice, V21, Operation.Destroy, [uid(held)], false)).reason).toBe(ResultReason.PermissionDenied);
  fs.writeFileSync(policyFile, JSON.stringify({ ...POLICY, dualControl: POLICY.dualControl.slice(1) }));
  await hup();
  expect((await sendOne(alice, V21, Operation.Destroy, [uid(held)], false)).status).toBe(ResultStatus.Success);
  fs.writeFileSync(policyFile, JSON.stringify(POLICY));
  await hup();
  const again = await aesKey(alice, 'finance');
  expect((await sendOne(alice, V21, Operation.Destroy, [uid(again)], false)).reason).toBe(ResultReason.PermissionDenied);
});
