/**
 * Server-to-client Notify and Put, end to end: the server started from a config file by
 * `startServer` (the composition root), with a real SoftHSM2 token, SQLite file and audit file;
 * clients over mutual TLS with certificates made at test time; and a client endpoint, run by the
 * test, that the server connects to over mutual TLS.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import {
  BatchErrorContinuationOption,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  LinkType,
  ObjectType,
  Operation,
  PutFunction,
  QueryFunction,
  RecommendedCurve,
  ResultReason,
  ResultStatus,
  State,
} from '../../../src/spec/generated/enums';
import { createCertificateAuthority, ensureDevPki, issueClientCertificate, issueServerCertificate } from '../../../src/pki/dev-pki';
import { loadConfig } from '../../../src/config';
import { startServer, type RunningServer } from '../../../src/main';
import { attributeFromV1, attributeFromV2, attributeToV1, attributeToV2, readAttributeReference, type KmipAttribute } from '../../../src/kmip/attributes';
import { findNewerThan } from '../../../src/kmip/version-filter';
import type { ProtocolVersion } from '../../../src/spec/versions';
import type { AuditRecord } from '../../../src/audit/audit-log';
import { makeTestToken } from '../../helpers/hsm';
import { KmipTlsClient } from '../../helpers/tls-client';
import { TestEndpoint, type ReceivedMessage } from '../../helpers/kmip-endpoint';
import { call, createAesPayload, getPayload, keyMaterialOf, uidOf } from '../../helpers/fault-server';
import { allOf, find, parseResponse, requestMessage } from '../../helpers/kmip-client';
import { waitFor } from '../../helpers/wait';

const V10: ProtocolVersion = { major: 1, minor: 0 };
const V14: ProtocolVersion = { major: 1, minor: 4 };
const V21: ProtocolVersion = { major: 2, minor: 1 };
/**
 * Small bounds so the failure paths run in seconds; the connect timeout long enough that requests
 * made while a delivery hangs are surely answered before it gives up, even on a loaded machine.
 */
const CONNECT_TIMEOUT_MS = 5000;
const QUEUE_LIMIT = 5;

let dir: string;
let auditFile: string;
let endpoint: TestEndpoint;
/** dave's endpoint: its certificate comes from a CA the server does not trust. */
let impostor: TestEndpoint;
let server: RunningServer | undefined;
const clients: Record<'alice' | 'bob' | 'carol' | 'dave', KmipTlsClient> = {} as never;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-notify-'));
  const dataDir = path.join(dir, 'data');
  const pki = ensureDevPki(path.join(dataDir, 'pki')); // where startServer looks for the dev PKI
  const certs = path.join(dir, 'certs');
  for (const who of ['alice', 'bob', 'carol', 'dave']) issueClientCertificate(pki.dir, who, certs);
  const ep = issueServerCertificate(pki.dir, certs, { fileBase: 'endpoint' });
  const ca = fs.readFileSync(pki.caPath);
  endpoint = await TestEndpoint.start({ key: Buffer.from(ep.keyPem), cert: Buffer.from(ep.certPem), ca });
  const otherCa = path.join(dir, 'other-ca');
  const other = createCertificateAuthority(otherCa);
  const fake = issueServerCertificate(otherCa, otherCa, { fileBase: 'endpoint' });
  // It would take anything: only the server's own check keeps the message from it.
  impostor = await TestEndpoint.start({ key: Buffer.from(fake.keyPem), cert: Buffer.from(fake.certPem), ca: Buffer.from(other.certPem), anyClient: true });
  const token = makeTestToken();
  const configFile = path.join(dir, 'config.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      listen: '127.0.0.1:0',
      dataDir,
      hsm: { module: token.modulePath, tokenLabel: token.tokenLabel, pinFile: token.pinFile, callMode: 'sync' },
      notifications: {
        endpoints: [
          { identity: 'alice', address: `127.0.0.1:${endpoint.port}` },
          { identity: 'carol', address: `127.0.0.1:${endpoint.port}`, protocolVersion: '2.1' },
          { identity: 'dave', address: `127.0.0.1:${impostor.port}` },
        ],
        queueLimit: QUEUE_LIMIT,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
        answerTimeoutMs: 2000,
        retryMaxMs: 300,
      },
    }),
  );
  const config = loadConfig({ configFile });
  auditFile = config.auditFile;
  server = await startServer(config);
  for (const who of ['alice', 'bob', 'carol', 'dave'] as const) {
    clients[who] = await KmipTlsClient.connect({
      port: server.listener.address.port,
      ca,
      cert: fs.readFileSync(path.join(certs, `${who}.pem`)),
      key: fs.readFileSync(path.join(certs, `${who}-key.pem`)),
    });
  }
});

afterAll(async () => {
  for (const c of Object.values(clients)) c.close();
  await server?.stop();
  await endpoint?.stop();
  await impostor?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function uidIn(m: ReceivedMessage): string | undefined {
  const u = find(m.payload, Tag.UniqueIdentifier);
  return u?.type === ItemType.TextString ? u.value : undefined;
}

function notifyFor(uid: string, where: (attrs: KmipAttribute[]) => boolean = () => true) {
  return (m: ReceivedMessage) => m.operation === Operation.Notify && uidIn(m) === uid && where(notifiedV1(m));
}

/** The attributes of a 1.x Notify, read as the server reads 1.x attributes. */
function notifiedV1(m: ReceivedMessage): KmipAttribute[] {
  return m.version.major >= 2 ? [] : allOf(m.payload, Tag.Attribute).map(attributeFromV1);
}

function textValue(attrs: readonly KmipAttribute[], name: string): string | undefined {
  const a = attrs.find((x) => x.name === name);
  return a?.value.type === ItemType.TextString ? a.value.value : undefined;
}

function custom(name: string, value: string): KmipAttribute {
  return { name, value: ttlv.textString(Tag.AttributeValue, value) };
}

async function ok(who: keyof typeof clients, op: number, payload: TtlvItem[], v: ProtocolVersion = V14) {
  const r = await call(clients[who], op, payload, v);
  if (r.status !== ResultStatus.Success) throw new Error(`operation ${op} failed: ${r.reason} ${r.message}`);
  return r;
}

async function createKey(who: keyof typeof clients, v: ProtocolVersion = V14): Promise<string> {
  return uidOf(await ok(who, Operation.Create, createAesPayload(v), v));
}

function uidItem(uid: string): TtlvItem {
  return ttlv.textString(Tag.UniqueIdentifier, uid);
}

/** The audit file's complete lines (one being appended right now is left for the next read). */
function readAudit(): AuditRecord[] {
  if (!fs.existsSync(auditFile)) return [];
  const lines = fs.readFileSync(auditFile, 'utf8').split('\n');
  lines.pop();
  return lines.filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as AuditRecord);
}

function waitForAudit(what: string, match: (r: AuditRecord) => boolean): Promise<AuditRecord> {
  return waitFor(`an audit record: ${what}`, () => readAudit().find(match), { timeoutMs: 30_000 });
}

test('Query lists Notify and Put from 1.0 on; a client that sends them gets Operation Not Supported', async () => {
  for (const v of [V10, V14, V21]) {
    const p = (await ok('bob', Operation.Query, [ttlv.enumeration(Tag.QueryFunction, QueryFunction.QueryOperations)], v)).payload!;
    const ops = allOf(p, Tag.Operation).map((o) => o.value);
    expect(ops).toEqual(expect.arrayContaining([Operation.Notify, Operation.Put]));
  }
  for (const op of [Operation.Notify, Operation.Put]) {
    const r = await call(clients.bob, op, []);
    expect([r.status, r.reason]).toEqual([ResultStatus.OperationFailed, ResultReason.OperationNotSupported]);
  }
});

test("Add Attribute on alice's key: her endpoint gets a 1.4 Notify with the identifier and the attribute, over mTLS", async () => {
  const uid = await createKey('alice');
  await ok('alice', Operation.AddAttribute, [uidItem(uid), attributeToV1(custom('x-Department', 'Finance'))]);
  const m = await endpoint.waitFor(notifyFor(uid));
  expect(m.version).toEqual(V14);
  expect(m.batchCount).toBe(1);
  // The server presented its own certificate as the TLS client (CN localhost, from the dev PKI).
  expect(m.peerCn).toBe('localhost');
  const attrs = notifiedV1(m);
  expect(textValue(attrs, 'x-Department')).toBe('Finance');
  expect(attrs.map((a) => a.name)).toContain('Last Change Date');
  // Create itself sends nothing: this Notify is the only message about the key.
  expect(endpoint.received.filter((r) => uidIn(r) === uid)).toHaveLength(1);
  expect(findNewerThan(m.payload, V14)).toEqual([]);
});

test('Activate: Notify with State Active; Delete Attribute: the instance named without a value', async () => {
  const uid = await createKey('alice');
  await ok('alice', Operation.Activate, [uidItem(uid)]);
  const m = await endpoint.waitFor(notifyFor(uid, (a) => a.some((x) => x.name === 'State')));
  const state = notifiedV1(m).find((a) => a.name === 'State')!;
  expect(state.value).toMatchObject({ type: ItemType.Enumeration, value: State.Active });

  await ok('alice', Operation.AddAttribute, [uidItem(uid), attributeToV1(custom('x-Temp', 'soon gone'))]);
  await endpoint.waitFor(notifyFor(uid, (a) => textValue(a, 'x-Temp') === 'soon gone'));
  await ok('alice', Operation.DeleteAttribute, [uidItem(uid), ttlv.textString(Tag.AttributeName, 'x-Temp')]);
  const del = await endpoint.waitFor(
    (r) => notifyFor(uid)(r) && allOf(r.payload, Tag.Attribute).some((a) => find(a as TtlvStructure, Tag.AttributeValue) === undefined),
  );
  const gone = allOf(del.payload, Tag.Attribute).find((a) => find(a as TtlvStructure, Tag.AttributeValue) === undefined) as TtlvStructure;
  expect(find(gone, Tag.AttributeName)?.value).toBe('x-Temp');
});

test('Re-key: Put with Replace, the replaced identifier, and the new key as Get returns it', async () => {
  const old = await createKey('alice');
  await ok('alice', Operation.Activate, [uidItem(old)]);
  const fresh = uidOf(await ok('alice', Operation.ReKey, [uidItem(old)]));
  const put = await endpoint.waitFor((r) => r.operation === Operation.Put && uidIn(r) === fresh);
  expect(put.version).toEqual(V14);
  expect(find(put.payload, Tag.PutFunction)?.value).toBe(PutFunction.Replace);
  expect(find(put.payload, Tag.ReplacedUniqueIdentifier)?.value).toBe(old);
  const got = await ok('alice', Operation.Get, getPayload(fresh));
  const material = keyMaterialOf({ status: ResultStatus.Success, payload: ttlv.structure(Tag.ResponsePayload, put.payload.value) });
  expect(material.equals(keyMaterialOf(got))).toBe(true);
  expect(material.equals(keyMaterialOf(await ok('alice', Operation.Get, getPayload(old))))).toBe(false);
  const attrs = allOf(put.payload, Tag.Attribute).map(attributeFromV1);
  expect(textValue(attrs, 'Unique Identifier')).toBe(fresh);
  const link = attrs.find((a) => a.name === 'Link')!.value as TtlvStructure;
  expect(find(link, Tag.LinkType)?.value).toBe(LinkType.ReplacedObjectLink);
  expect(find(link, Tag.LinkedObjectIdentifier)?.value).toBe(old);
  expect(attrs.find((a) => a.name === 'Object Type')?.value).toMatchObject({ value: ObjectType.SymmetricKey });
  // The replaced key changed too (its Link to the replacement): a Notify says so.
  await endpoint.waitFor(notifyFor(old, (a) => a.some((x) => x.name === 'Link')));
});

test('Re-key Key Pair: one Put per replacement, each naming the half it replaces', async () => {
  const attr = (name: string, value: TtlvItem) => attributeToV1({ name, value });
  const r = await ok('alice', Operation.CreateKeyPair, [
    ttlv.structure(Tag.CommonTemplateAttribute, [
      attr('Cryptographic Algorithm', ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.EC)),
      attr('Cryptographic Domain Parameters', ttlv.structure(Tag.CryptographicDomainParameters, [ttlv.enumeration(Tag.RecommendedCurve, RecommendedCurve.P_256)])),
    ]),
    ttlv.structure(Tag.PrivateKeyTemplateAttribute, [attr('Cryptographic Usage Mask', ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Sign))]),
    ttlv.structure(Tag.PublicKeyTemplateAttribute, [attr('Cryptographic Usage Mask', ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Verify))]),
  ]);
  const priv = find(r.payload!, Tag.PrivateKeyUniqueIdentifier)!.value as string;
  const pub = find(r.payload!, Tag.PublicKeyUniqueIdentifier)!.value as string;
  const re = await ok('alice', Operation.ReKeyKeyPair, [ttlv.textString(Tag.PrivateKeyUniqueIdentifier, priv)]);
  const pairs: Array<[number, string, string]> = [
    [Tag.PrivateKey, priv, find(re.payload!, Tag.PrivateKeyUniqueIdentifier)!.value as string],
    [Tag.PublicKey, pub, find(re.payload!, Tag.PublicKeyUniqueIdentifier)!.value as string],
  ];
  for (const [bodyTag, replaced, replacement] of pairs) {
    const put = await endpoint.waitFor((m) => m.operation === Operation.Put && uidIn(m) === replacement);
    expect(find(put.payload, Tag.ReplacedUniqueIdentifier)?.value).toBe(replaced);
    expect(find(put.payload, bodyTag)).toBeDefined();
  }
});

test('carol speaks 2.1: Notify with an Attributes structure, and Attribute Reference for a deleted attribute', async () => {
  const uid = await createKey('carol', V21);
  await ok('carol', Operation.AddAttribute, [uidItem(uid), ttlv.structure(Tag.NewAttribute, [attributeToV2(custom('x-Team', 'Ops'))])], V21);
  const m = await endpoint.waitFor((r) => r.operation === Operation.Notify && uidIn(r) === uid);
  expect(m.version).toEqual(V21);
  expect(allOf(m.payload, Tag.Attribute)).toEqual([]);
  const attrs = (find(m.payload, Tag.Attributes) as TtlvStructure).value.map(attributeFromV2);
  expect(textValue(attrs, 'x-Team')).toBe('Ops');
  expect(attrs.map((a) => a.name)).toContain('Last Change Date');

  const ref = ttlv.structure(Tag.AttributeReference, [ttlv.textString(Tag.VendorIdentification, 'x'), ttlv.textString(Tag.AttributeName, 'Team')]);
  await ok('carol', Operation.DeleteAttribute, [uidItem(uid), ref], V21);
  const del = await endpoint.waitFor((r) => r.operation === Operation.Notify && uidIn(r) === uid && find(r.payload, Tag.AttributeReference) !== undefined);
  expect(readAttributeReference(find(del.payload, Tag.AttributeReference)!)).toBe('x-Team');
});

test('a batch undone (Batch Error Continuation Option Undo) tells nothing: the objects are as they were', async () => {
  const uid = await createKey('alice');
  const bytes = requestMessage(
    V14,
    [
      { operation: Operation.AddAttribute, payload: [uidItem(uid), attributeToV1(custom('x-Undone', 'never'))] },
      { operation: Operation.AddAttribute, payload: [uidItem('no-such-object'), attributeToV1(custom('x-Undone', 'never'))] },
    ],
    [ttlv.enumeration(Tag.BatchErrorContinuationOption, BatchErrorContinuationOption.Undo)],
  );
  const r = parseResponse(await clients.alice.request(bytes));
  expect(r.items.map((i) => i.status)).toEqual([ResultStatus.OperationUndone, ResultStatus.OperationFailed]);
  // A later change of the same key: once its Notify is in, one for the undone change would be too.
  await ok('alice', Operation.AddAttribute, [uidItem(uid), attributeToV1(custom('x-Kept', 'yes'))]);
  await endpoint.waitFor(notifyFor(uid, (a) => textValue(a, 'x-Kept') === 'yes'));
  expect(endpoint.received.filter((m) => notifyFor(uid, (a) => a.some((x) => x.name === 'x-Undone'))(m))).toEqual([]);
});

test('a first Get: Notify with Fresh false once that write is durable (the answer did not wait for it); an undone Get tells nothing', async () => {
  const uid = await createKey('alice');
  await ok('alice', Operation.Get, getPayload(uid));
  const fresh = (a: KmipAttribute[]) => a.find((x) => x.name === 'Fresh')?.value;
  const m = await endpoint.waitFor(notifyFor(uid, (a) => fresh(a) !== undefined));
  expect(fresh(notifiedV1(m))).toMatchObject({ type: ItemType.Boolean, value: false });

  const undone = await createKey('alice');
  const bytes = requestMessage(
    V14,
    [
      { operation: Operation.Get, payload: getPayload(undone) },
      { operation: Operation.Get, payload: getPayload('no-such-object') },
    ],
    [ttlv.enumeration(Tag.BatchErrorContinuationOption, BatchErrorContinuationOption.Undo)],
  );
  const r = parseResponse(await clients.alice.request(bytes));
  expect(r.items.map((i) => i.status)).toEqual([ResultStatus.OperationUndone, ResultStatus.OperationFailed]);
  // Once a later change's Notify is in, one for the undone Get would be too.
  await ok('alice', Operation.AddAttribute, [uidItem(undone), attributeToV1(custom('x-Kept', 'yes'))]);
  await endpoint.waitFor(notifyFor(undone, (a) => textValue(a, 'x-Kept') === 'yes'));
  expect(endpoint.received.filter(notifyFor(undone, (a) => fresh(a) !== undefined))).toEqual([]);
});

test("an endpoint whose certificate the configured CA did not sign gets nothing; the refusal is audited", async () => {
  const uid = await createKey('dave');
  await ok('dave', Operation.AddAttribute, [uidItem(uid), attributeToV1(custom('x-Secret', 'not for impostors'))]);
  const refused = await waitForAudit("dave's notification", (r) => r.event === 'notification' && r.client === 'dave' && r.uniqueIdentifiers?.includes(uid) === true);
  expect(refused.resultStatus).toBe('NotDelivered');
  expect(refused.reason).toMatch(/certificate/i);
  expect(impostor.received).toEqual([]);
});

test('bob has no endpoint: changes to his objects send nothing', async () => {
  const bobs = await createKey('bob');
  await ok('bob', Operation.AddAttribute, [uidItem(bobs), attributeToV1(custom('x-Department', 'Bob'))]);
  await ok('bob', Operation.Activate, [uidItem(bobs)]);
  // A later change of alice's: once it has arrived, anything about bob's key would have too.
  const alices = await createKey('alice');
  await ok('alice', Operation.AddAttribute, [uidItem(alices), attributeToV1(custom('x-Department', 'after bob'))]);
  await endpoint.waitFor(notifyFor(alices));
  expect(endpoint.received.filter((r) => uidIn(r) === bobs)).toEqual([]);
  expect(readAudit().filter((r) => r.event === 'notification' && r.uniqueIdentifiers?.includes(bobs))).toEqual([]);
});

test('endpoint down: requests still answer at once, the failures and drops are audited; endpoint back: delivery resumes', async () => {
  const uid = await createKey('alice');
  await ok('alice', Operation.AddAttribute, [uidItem(uid), attributeToV1(custom('x-Step', 'up'))]);
  await endpoint.waitFor(notifyFor(uid));

  // The endpoint hangs: it accepts TCP and never completes TLS.
  await endpoint.stop();
  await endpoint.listenBlackHole();
  const burst = ['down-0', 'down-1', 'down-2', 'down-3', 'down-4', 'down-5', 'down-6', 'down-7'];
  const gaveUp = (r: AuditRecord) =>
    r.event === 'notification' && r.resultStatus === 'NotDelivered' && r.uniqueIdentifiers?.includes(uid) === true && /no TLS connection within/.test(r.reason ?? '');
  // The connection that was cut fails at once; the next attempt meets the hanging endpoint.
  await ok('alice', Operation.ModifyAttribute, [uidItem(uid), attributeToV1(custom('x-Step', burst[0]!))]);
  await waitFor('the delivery attempt to reach the hanging endpoint', () => endpoint.openConnections > 0);
  // Delivery waits up to CONNECT_TIMEOUT_MS for the endpoint; the requests never do: all are
  // answered while that attempt still hangs (it has not given up yet).
  for (const value of burst.slice(1)) {
    await ok('alice', Operation.ModifyAttribute, [uidItem(uid), attributeToV1(custom('x-Step', value))]);
  }
  expect(readAudit().filter(gaveUp)).toEqual([]);
  // It gives up after the connect timeout.
  const failed = await waitForAudit('the hanging delivery given up', gaveUp);
  expect(failed).toMatchObject({ client: 'alice', operation: 'Notify', peer: `127.0.0.1:${endpoint.port}`, protocolVersion: '1.4' });
  expect(failed.durationMs).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 50);
  // Eight changes queued behind a dead endpoint, five fit: the oldest were dropped, and counted.
  const droppedSoFar = () => readAudit().filter((r) => r.event === 'notification-dropped').reduce((n, r) => n + (r.count ?? 0), 0);
  // The one being tried goes back to the head when it fails, so all but QUEUE_LIMIT go in the end.
  await waitFor(`${burst.length - QUEUE_LIMIT} dropped notifications audited`, () => droppedSoFar() >= burst.length - QUEUE_LIMIT, { timeoutMs: 30_000 });

  await endpoint.stop();
  await endpoint.listenTls();
  await ok('alice', Operation.AddAttribute, [uidItem(uid), attributeToV1(custom('x-Site', 'back'))]);
  await endpoint.waitFor(notifyFor(uid, (a) => textValue(a, 'x-Site') === 'back'));
  // The newest change queued while the endpoint was down arrives too; the oldest was dropped.
  expect(endpoint.received.some(notifyFor(uid, (a) => textValue(a, 'x-Step') === 'down-7'))).toBe(true);
  expect(endpoint.received.some(notifyFor(uid, (a) => textValue(a, 'x-Step') === 'down-1'))).toBe(false);
  // The server audits a delivery once the endpoint has answered it: a moment after the endpoint has it.
  await waitForAudit('a delivered notification', (r) => r.event === 'notification' && r.resultStatus === 'Success' && r.uniqueIdentifiers?.includes(uid) === true);
});

test('stopping the server delivers what is queued first', async () => {
  const uid = await createKey('alice');
  // A slow endpoint: the server sends one message at a time, so most of these are still queued at stop.
  endpoint.answerDelayMs = 150;
  const values = ['last-1', 'last-2', 'last-3', 'last-4'];
  for (const value of values) await ok('alice', Operation.AddAttribute, [uidItem(uid), attributeToV1(custom('x-Last', value))]);
  const running = server!;
  server = undefined;
  await running.stop();
  for (const value of values) {
    expect(endpoint.received.some(notifyFor(uid, (a) => a.some((x) => x.name === 'x-Last' && x.value.type === ItemType.TextString && x.value.value === value)))).toBe(true);
  }
});
