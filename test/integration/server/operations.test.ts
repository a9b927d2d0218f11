/**
 * The request path end to end without TLS: handleMessage over a real SQLite file and a real
 * SoftHSM2 token, in KMIP 1.4 and 2.1.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import {
  CryptographicAlgorithm,
  CryptographicUsageMask,
  NameType,
  ObjectType,
  Operation,
  ResultReason,
  ResultStatus,
  RevocationReasonCode,
  State,
} from '../../../src/spec/generated/enums';
import { createEmbeddedCore, type EmbeddedCore } from '../../../src/embedded';
import { handleMessage } from '../../../src/server/handle-message';
import type { ClientIdentity } from '../../../src/objects/context';
import { findNewerThan } from '../../../src/kmip/version-filter';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { openTestProtector } from '../../helpers/hsm';
import { allOf, attributesFor, find, parseResponse, requestMessage, successPayload, textOf, type ParsedResponse } from '../../helpers/kmip-client';

const V14: ProtocolVersion = { major: 1, minor: 4 };
const V21: ProtocolVersion = { major: 2, minor: 1 };
const alice: ClientIdentity = { name: 'alice', isAdmin: false };
const bob: ClientIdentity = { name: 'bob', isAdmin: false };

let dir: string;
let embedded: EmbeddedCore;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-ops-'));
  embedded = await createEmbeddedCore(dir, { keys: await openTestProtector() });
});

afterAll(async () => {
  await embedded.close();
  await embedded.core.keys.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function send(v: ProtocolVersion, client: ClientIdentity, operation: number, payload: Parameters<typeof ttlv.structure>[1]): Promise<ParsedResponse> {
  const bytes = await handleMessage(requestMessage(v, [{ operation, payload }]), { client }, embedded.core);
  const r = parseResponse(bytes);
  // The invariant: nothing newer than the client's version goes out.
  expect(findNewerThan(r.root, v)).toEqual([]);
  return r;
}

function aesAttributes(v: ProtocolVersion, name: string) {
  return attributesFor(v, [
    { name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES) },
    { name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, 256) },
    {
      name: 'Cryptographic Usage Mask',
      value: ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
    },
    {
      name: 'Name',
      value: ttlv.structure(Tag.Name, [
        ttlv.textString(Tag.NameValue, name),
        ttlv.enumeration(Tag.NameType, NameType.UninterpretedTextString),
      ]),
    },
  ]);
}

async function createKey(v: ProtocolVersion, client: ClientIdentity, name: string): Promise<string> {
  const r = await send(v, client, Operation.Create, [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), aesAttributes(v, name)]);
  const uid = textOf(successPayload(r), Tag.UniqueIdentifier);
  expect(uid).toMatch(/^[0-9a-f-]{36}$/);
  return uid!;
}

async function keyBytes(v: ProtocolVersion, client: ClientIdentity, uid: string): Promise<Buffer> {
  const r = await send(v, client, Operation.Get, [ttlv.textString(Tag.UniqueIdentifier, uid)]);
  const payload = successPayload(r);
  const key = find(payload, Tag.SymmetricKey) as { value: unknown[] };
  const block = (key.value as Parameters<typeof find>[0][]).find((c) => c.tag === Tag.KeyBlock)!;
  const kv = find(block, Tag.KeyValue) as Parameters<typeof find>[0];
  const km = find(kv, Tag.KeyMaterial) as { value: Uint8Array };
  return Buffer.from(km.value);
}

async function stateOf(v: ProtocolVersion, client: ClientIdentity, uid: string): Promise<number> {
  const ref = v.major >= 2 ? ttlv.enumeration(Tag.AttributeReference, Tag.State) : ttlv.textString(Tag.AttributeName, 'State');
  const p = successPayload(await send(v, client, Operation.GetAttributes, [ttlv.textString(Tag.UniqueIdentifier, uid), ref]));
  if (v.major >= 2) {
    const attrs = find(p, Tag.Attributes) as Parameters<typeof find>[0];
    return (find(attrs, Tag.State) as { value: number }).value;
  }
  const attr = allOf(p, Tag.Attribute)[0] as Parameters<typeof find>[0];
  return (find(attr, Tag.AttributeValue) as { value: number }).value;
}

describe.each([
  ['1.4', V14],
  ['2.1', V21],
])('KMIP %s', (_label, v) => {
  test('Create, Get: 32 random key bytes, the same on every Get', async () => {
    const uid = await createKey(v, alice, `k-${_label}-1`);
    const a = await keyBytes(v, alice, uid);
    const b = await keyBytes(v, alice, uid);
    expect(a.length).toBe(32);
    expect(a.equals(b)).toBe(true);
    expect(a.equals(Buffer.alloc(32))).toBe(false);
  });

  test('lifecycle: Pre-Active, Activate, Revoke, Destroy; wrong states refused', async () => {
    const uid = await createKey(v, alice, `k-${_label}-2`);
    expect(await stateOf(v, alice, uid)).toBe(State.PreActive);
    successPayload(await send(v, alice, Operation.Activate, [ttlv.textString(Tag.UniqueIdentifier, uid)]));
    expect(await stateOf(v, alice, uid)).toBe(State.Active);
    // An Active key cannot be destroyed.
    const refused = await send(v, alice, Operation.Destroy, [ttlv.textString(Tag.UniqueIdentifier, uid)]);
    expect(refused.items[0]!.status).toBe(ResultStatus.OperationFailed);
    expect(refused.items[0]!.reason).toBe(v.major >= 2 ? ResultReason.WrongKeyLifecycleState : ResultReason.PermissionDenied);
    successPayload(
      await send(v, alice, Operation.Revoke, [
        ttlv.textString(Tag.UniqueIdentifier, uid),
        ttlv.structure(Tag.RevocationReason, [ttlv.enumeration(Tag.RevocationReasonCode, RevocationReasonCode.CessationOfOperation)]),
      ]),
    );
    expect(await stateOf(v, alice, uid)).toBe(State.Deactivated);
    successPayload(await send(v, alice, Operation.Destroy, [ttlv.textString(Tag.UniqueIdentifier, uid)]));
    expect(await stateOf(v, alice, uid)).toBe(State.Destroyed);
    const gone = await send(v, alice, Operation.Get, [ttlv.textString(Tag.UniqueIdentifier, uid)]);
    expect(gone.items[0]!.status).toBe(ResultStatus.OperationFailed);
    // Destroy keeps the metadata and drops the material.
    expect((await embedded.store.get(uid))!.protectedMaterial).toBeNull();
  });

  test('another identity gets Object Not Found (1.x: Item Not Found), and Locate does not show it', async () => {
    const name = `private-${_label}`;
    const uid = await createKey(v, alice, name);
    const r = await send(v, bob, Operation.Get, [ttlv.textString(Tag.UniqueIdentifier, uid)]);
    expect(r.items[0]!.reason).toBe(v.major >= 2 ? ResultReason.ObjectNotFound : ResultReason.ItemNotFound);
    const nameAttr = attributesFor(v, [
      { name: 'Name', value: ttlv.structure(Tag.Name, [ttlv.textString(Tag.NameValue, name), ttlv.enumeration(Tag.NameType, NameType.UninterpretedTextString)]) },
    ]);
    const filters = v.major >= 2 ? [ttlv.structure(Tag.Attributes, (nameAttr as { value: Parameters<typeof ttlv.structure>[1] }).value)] : (nameAttr as { value: Parameters<typeof ttlv.structure>[1] }).value;
    const mine = successPayload(await send(v, alice, Operation.Locate, filters));
    expect(allOf(mine, Tag.UniqueIdentifier).map((i) => i.value)).toEqual([uid]);
    const theirs = successPayload(await send(v, bob, Operation.Locate, filters));
    expect(allOf(theirs, Tag.UniqueIdentifier)).toEqual([]);
  });
});

test('an operation the server does not take (Notify is server-to-client) is Operation Not Supported; a batch with Continue runs every item', async () => {
  const bytes = await handleMessage(
    requestMessage(
      V14,
      [
        { operation: Operation.Notify, payload: [] },
        { operation: Operation.DiscoverVersions, payload: [] },
      ],
      [ttlv.enumeration(Tag.BatchErrorContinuationOption, 1)],
    ),
    { client: alice },
    embedded.core,
  );
  const r = parseResponse(bytes);
  expect(r.items.map((i) => i.status)).toEqual([ResultStatus.OperationFailed, ResultStatus.Success]);
  expect(r.items[0]!.reason).toBe(ResultReason.OperationNotSupported);
});

test('an unsupported protocol version is answered in one we speak', async () => {
  const r = parseResponse(await handleMessage(requestMessage({ major: 1, minor: 9 }, [{ operation: Operation.Query, payload: [] }]), { client: alice }, embedded.core));
  expect(r.version).toEqual(V14);
  expect(r.items[0]!.status).toBe(ResultStatus.OperationFailed);
  expect(r.items[0]!.reason).toBe(ResultReason.InvalidMessage);
});

test('malformed bytes get a KMIP failure, not a crash', async () => {
  const good = requestMessage(V14, [{ operation: Operation.Query, payload: [] }]);
  const bad = Buffer.from(good);
  bad[bad.length - 1] = 0x55; // non-zero padding
  const r = parseResponse(await handleMessage(bad, { client: alice }, embedded.core));
  expect(r.items[0]!.reason).toBe(ResultReason.InvalidMessage);
});

test('the SQLite file and its WAL hold no key material', async () => {
  const uid = await createKey(V14, alice, 'scan-me');
  const key = await keyBytes(V14, alice, uid);
  for (const f of fs.readdirSync(dir).filter((n) => n.startsWith('kmip.sqlite'))) {
    expect(fs.readFileSync(path.join(dir, f)).includes(key)).toBe(false);
  }
});

test('Batch Error Continuation Option Undo: a failure puts back what earlier items did', async () => {
  const uid = await createKey(V21, alice, 'undo-me');
  const bytes = await handleMessage(
    requestMessage(
      V21,
      [
        { operation: Operation.Activate, payload: [ttlv.textString(Tag.UniqueIdentifier, uid)] },
        { operation: Operation.Destroy, payload: [ttlv.textString(Tag.UniqueIdentifier, 'no-such-object')] },
        { operation: Operation.DiscoverVersions, payload: [] },
      ],
      [ttlv.enumeration(Tag.BatchErrorContinuationOption, 3)],
    ),
    { client: alice },
    embedded.core,
  );
  const r = parseResponse(bytes);
  expect(r.items.map((i) => i.status)).toEqual([ResultStatus.OperationUndone, ResultStatus.OperationFailed]);
  expect(await stateOf(V21, alice, uid)).toBe(State.PreActive);
});
