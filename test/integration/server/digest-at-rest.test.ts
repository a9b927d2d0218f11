/**
 * The Digest of secret material is not in the store file (ops/digest-index.ts): the SHA-256 of a
 * registered password appears neither in kmip.sqlite nor in its WAL, yet Get Attributes answers it
 * and Locate by it finds the object. Public material keeps its clear Digest. A store written before
 * is converted at start. Real SQLite file, real SoftHSM2 token, the server core through
 * handleMessage.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { encodeTtlv } from '../../../ttlv/encode';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import {
  BatchErrorContinuationOption,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  HashingAlgorithm,
  KeyFormatType,
  ObjectType,
  Operation,
  RecommendedCurve,
  ResultStatus,
  SecretDataType,
  SplitKeyMethod,
  State,
  StorageStatusMask,
} from '../../../src/spec/generated/enums';
import { createEmbeddedCore, type EmbeddedCore } from '../../../src/embedded';
import { handleMessage } from '../../../src/server/handle-message';
import { attributeToV1, attributeToV2, type KmipAttribute } from '../../../src/kmip/attributes';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { KeyProtectorError, type KeyProtector } from '../../../src/keys/key-protector';
import type { Pkcs11KeyProtector } from '../../../src/keys/pkcs11';
import { MIGRATIONS } from '../../../src/store/migrations';
import { encodeAttributeBlob, indexEntries } from '../../../src/store/attribute-rows';
import type { StoredAttribute } from '../../../src/store/object-store';
import { SqliteObjectStore } from '../../../src/store/sqlite';
import { sealClearDigests } from '../../../src/objects/digest-index';
import { digestInput } from '../../../src/objects/key-block';
import { allOf, attributesFor, find, parseResponse, requestMessage, successPayload, textOf, type ParsedResponse } from '../../helpers/kmip-client';
import { alice, aesTemplate, ENCRYPT_DECRYPT, reference, uidItem, V14, V21, VERSIONS } from '../../helpers/ops-harness';
import { openTestProtector } from '../../helpers/hsm';

let keys: Pkcs11KeyProtector;
const dirs: string[] = [];
const cores: EmbeddedCore[] = [];

beforeAll(async () => {
  keys = await openTestProtector();
});
afterAll(async () => {
  for (const c of cores) await c.close();
  await keys.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function newDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-digest-rest-'));
  dirs.push(dir);
  return dir;
}

async function openCore(dir: string): Promise<EmbeddedCore> {
  const core = await createEmbeddedCore(dir, { keys });
  cores.push(core);
  return core;
}

function sender(core: EmbeddedCore) {
  return async (v: ProtocolVersion, operation: number, payload: TtlvItem[]): Promise<ParsedResponse> =>
    parseResponse(await handleMessage(requestMessage(v, [{ operation, payload }]), { client: alice }, core.core));
}
type Send = ReturnType<typeof sender>;

const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();

/** The store file and its WAL, byte for byte as an attacker reading them would see them. */
function storeBytes(dir: string): Buffer {
  return Buffer.concat(['kmip.sqlite', 'kmip.sqlite-wal'].map((f) => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f)) : Buffer.alloc(0))));
}

/** Whether the store holds `value` in any form it writes byte strings in: raw, or hex text (index entries). */
function storeHolds(dir: string, value: Buffer): boolean {
  const bytes = storeBytes(dir);
  return bytes.includes(value) || bytes.includes(Buffer.from(value.toString('hex'), 'utf8')) || bytes.includes(Buffer.from(value.toString('hex').toUpperCase(), 'utf8'));
}

function digestValue(hash: Buffer, format: number): TtlvStructure {
  return ttlv.structure(Tag.Digest, [
    ttlv.enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_256),
    ttlv.byteString(Tag.DigestValue, hash),
    ttlv.enumeration(Tag.KeyFormatType, format),
  ]);
}

async function getDigests(send: Send, v: ProtocolVersion, uid: string, named: boolean): Promise<TtlvStructure[]> {
  const p = successPayload(await send(v, Operation.GetAttributes, named ? [uidItem(uid), reference(v, 'Digest', Tag.Digest)] : [uidItem(uid)]));
  if (v.major >= 2) return allOf(find(p, Tag.Attributes) as TtlvStructure, Tag.Digest) as TtlvStructure[];
  return allOf(p, Tag.Attribute)
    .filter((a) => textOf(a as TtlvStructure, Tag.AttributeName) === 'Digest')
    .map((a) => find(a as TtlvStructure, Tag.AttributeValue) as TtlvStructure);
}

async function attributeNames(send: Send, v: ProtocolVersion, uid: string): Promise<string[]> {
  const p = successPayload(await send(v, Operation.GetAttributeList, [uidItem(uid)]));
  if (v.major < 2) return allOf(p, Tag.AttributeName).map((n) => (n.type === ItemType.TextString ? n.value : ''));
  return allOf(p, Tag.AttributeReference).map((r) => (r.type === ItemType.Enumeration && r.value === Tag.Digest ? 'Digest' : String(r.value)));
}

async function locateByDigest(send: Send, v: ProtocolVersion, digest: TtlvItem, extra: TtlvItem[] = []): Promise<string[]> {
  const a: KmipAttribute = { name: 'Digest', value: digest };
  const payload = v.major >= 2 ? [...extra, ttlv.structure(Tag.Attributes, [attributeToV2(a)])] : [...extra, attributeToV1(a)];
  return allOf(successPayload(await send(v, Operation.Locate, payload)), Tag.UniqueIdentifier).map((u) => (u.type === ItemType.TextString ? u.value : ''));
}

async function register(send: Send, v: ProtocolVersion, objectType: number, body: TtlvStructure, attrs: KmipAttribute[] = []): Promise<string> {
  return textOf(successPayload(await send(v, Operation.Register, [ttlv.enumeration(Tag.ObjectType, objectType), attributesFor(v, attrs), body])), Tag.UniqueIdentifier)!;
}

function passwordBody(password: Buffer): TtlvStructure {
  return ttlv.structure(Tag.SecretData, [
    ttlv.enumeration(Tag.SecretDataType, SecretDataType.Password),
    ttlv.structure(Tag.KeyBlock, [ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Opaque), ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, password)])]),
  ]);
}

/** What Get returns of the object: its key block, the Digest's input and format by the spec's rule. */
async function keyBlockFromGet(send: Send, v: ProtocolVersion, uid: string, bodyTag: number): Promise<{ hash: Buffer; format: number }> {
  const p = successPayload(await send(v, Operation.Get, [uidItem(uid)]));
  const block = find(find(p, bodyTag) as TtlvStructure, Tag.KeyBlock) as TtlvStructure;
  return { hash: sha256(digestInput(block)!), format: find(block, Tag.KeyFormatType)!.value as number };
}

describe.each(VERSIONS)('KMIP %s', (_label, v) => {
  let dir: string;
  let core: EmbeddedCore;
  let send: Send;
  beforeAll(async () => {
    dir = newDir();
    core = await openCore(dir);
    send = sender(core);
  });

  test('a registered password: its SHA-256 is nowhere in the store file or WAL; Get Attributes answers it; Locate by it finds it, by another finds nothing', async () => {
    const password = Buffer.from(`correct horse battery staple ${randomBytes(4).toString('hex')}`, 'utf8');
    const uid = await register(send, v, ObjectType.SecretData, passwordBody(password));
    const hash = sha256(password);

    expect(storeHolds(dir, hash)).toBe(false);
    expect(storeHolds(dir, password)).toBe(false);
    // Only the index MAC is stored: 32 bytes, not the digest.
    const stored = (await core.store.get(uid))!;
    expect(stored.attributes.some((a) => a.name === 'Digest')).toBe(false);
    expect(stored.digestMac?.length).toBe(32);
    expect(Buffer.from(stored.digestMac!).equals(hash)).toBe(false);

    const named = await getDigests(send, v, uid, true);
    const all = await getDigests(send, v, uid, false);
    for (const digests of [named, all]) {
      expect(digests).toHaveLength(1);
      expect(find(digests[0]!, Tag.HashingAlgorithm)?.value).toBe(HashingAlgorithm.SHA_256);
      expect(Buffer.from(find(digests[0]!, Tag.DigestValue)!.value as Uint8Array).equals(hash)).toBe(true);
      expect(find(digests[0]!, Tag.KeyFormatType)?.value).toBe(KeyFormatType.Opaque);
    }
    expect(await attributeNames(send, v, uid)).toContain('Digest');

    expect(await locateByDigest(send, v, digestValue(hash, KeyFormatType.Opaque))).toEqual([uid]);
    // As Get Attributes returned it (1.x: the Attribute Value tag): the same structure matches.
    expect(await locateByDigest(send, v, all[0]!)).toEqual([uid]);
    expect(await locateByDigest(send, v, digestValue(sha256(Buffer.concat([password, Buffer.from('x')])), KeyFormatType.Opaque))).toEqual([]);
    expect(await locateByDigest(send, v, digestValue(hash, KeyFormatType.Raw))).toEqual([]);
    expect(storeHolds(dir, hash)).toBe(false);
  });

  test('every way a secret object is made: the Digest Get Attributes answers is the SHA-256 of the material Get returns, Locate finds it, the store does not hold it; a public key keeps its clear Digest', async () => {
    const made: { uid: string; bodyTag: number; secret: boolean }[] = [];
    const newUid = (r: ParsedResponse) => textOf(successPayload(r), Tag.UniqueIdentifier)!;
    made.push({ uid: newUid(await send(v, Operation.Create, [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), attributesFor(v, aesTemplate(undefined, ENCRYPT_DECRYPT))])), bodyTag: Tag.SymmetricKey, secret: true });
    const transparent = ttlv.structure(Tag.KeyMaterial, [ttlv.byteString(Tag.Key, randomBytes(32))]);
    made.push({
      uid: await register(
        send,
        v,
        ObjectType.SymmetricKey,
        ttlv.structure(Tag.SymmetricKey, [
          ttlv.structure(Tag.KeyBlock, [
            ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.TransparentSymmetricKey),
            ttlv.structure(Tag.KeyValue, [transparent]),
            ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
            ttlv.integer(Tag.CryptographicLength, 256),
          ]),
        ]),
        [{ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, ENCRYPT_DECRYPT) }],
      ),
      bodyTag: Tag.SymmetricKey,
      secret: true,
    });
    const ec = (m: number): KmipAttribute[] => [
      { name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.EC) },
      { name: 'Cryptographic Domain Parameters', value: ttlv.structure(Tag.CryptographicDomainParameters, [ttlv.enumeration(Tag.RecommendedCurve, RecommendedCurve.P_256)]) },
      { name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, m) },
    ];
    const half = (tag1: number, tag2: number, attrs: KmipAttribute[]) => ttlv.structure(v.major >= 2 ? tag2 : tag1, (attributesFor(v, attrs) as TtlvStructure).value);
    const pair = successPayload(
      await send(v, Operation.CreateKeyPair, [
        half(Tag.PrivateKeyTemplateAttribute, Tag.PrivateKeyAttributes, ec(CryptographicUsageMask.Sign)),
        half(Tag.PublicKeyTemplateAttribute, Tag.PublicKeyAttributes, ec(CryptographicUsageMask.Verify)),
      ]),
    );
    made.push({ uid: textOf(pair, Tag.PrivateKeyUniqueIdentifier)!, bodyTag: Tag.PrivateKey, secret: true });
    made.push({ uid: textOf(pair, Tag.PublicKeyUniqueIdentifier)!, bodyTag: Tag.PublicKey, secret: false });
    const parts = successPayload(
      await send(v, Operation.CreateSplitKey, [
        ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
        ttlv.integer(Tag.SplitKeyParts, 2),
        ttlv.integer(Tag.SplitKeyThreshold, 2),
        ttlv.enumeration(Tag.SplitKeyMethod, SplitKeyMethod.XOR),
        attributesFor(v, aesTemplate(undefined, ENCRYPT_DECRYPT)),
      ]),
    );
    for (const p of allOf(parts, Tag.UniqueIdentifier)) made.push({ uid: p.value as string, bodyTag: Tag.SplitKey, secret: true });

    for (const m of made) {
      const { hash, format } = await keyBlockFromGet(send, v, m.uid, m.bodyTag);
      const digests = await getDigests(send, v, m.uid, true);
      expect(digests).toHaveLength(1);
      expect(Buffer.from(find(digests[0]!, Tag.DigestValue)!.value as Uint8Array).toString('hex')).toBe(hash.toString('hex'));
      expect(find(digests[0]!, Tag.KeyFormatType)?.value).toBe(format);
      expect(await locateByDigest(send, v, digestValue(hash, format))).toEqual([m.uid]);
      // The public key's Digest in the clear shows that the scan finds a digest where there is one.
      expect([m.bodyTag, storeHolds(dir, hash)]).toEqual([m.bodyTag, !m.secret]);
      expect((await core.store.get(m.uid))!.attributes.some((a) => a.name === 'Digest')).toBe(!m.secret);
    }
  });
});

test('Export hands out the Digest with the object; Import of it stores it withheld, and the imported object answers and finds it', async () => {
  const dir = newDir();
  const core = await openCore(dir);
  const send = sender(core);
  const admin = { name: 'admin', isAdmin: true };
  const asAdmin = async (operation: number, payload: TtlvItem[]) =>
    successPayload(parseResponse(await handleMessage(requestMessage(V21, [{ operation, payload }]), { client: admin }, core.core)));
  const password = randomBytes(16);
  const uid = await register(send, V21, ObjectType.SecretData, passwordBody(password));
  const exported = await asAdmin(Operation.Export, [uidItem(uid)]);
  const attrs = find(exported, Tag.Attributes) as TtlvStructure;
  const digest = find(attrs, Tag.Digest) as TtlvStructure;
  expect(Buffer.from(find(digest, Tag.DigestValue)!.value as Uint8Array).equals(sha256(password))).toBe(true);
  await asAdmin(Operation.Import, [ttlv.textString(Tag.UniqueIdentifier, 'imported-pw'), ttlv.enumeration(Tag.ObjectType, ObjectType.SecretData), attrs, find(exported, Tag.SecretData)!]);
  const imported = (await core.store.get('imported-pw'))!;
  expect([imported.attributes.some((a) => a.name === 'Digest'), imported.digestMac?.length]).toEqual([false, 32]);
  expect(storeHolds(dir, sha256(password))).toBe(false);
  const got = await asAdmin(Operation.GetAttributes, [uidItem('imported-pw'), reference(V21, 'Digest', Tag.Digest)]);
  expect(Buffer.from(find(find(find(got, Tag.Attributes) as TtlvStructure, Tag.Digest) as TtlvStructure, Tag.DigestValue)!.value as Uint8Array).equals(sha256(password))).toBe(true);
  const located = await asAdmin(Operation.Locate, [ttlv.structure(Tag.Attributes, [attributeToV2({ name: 'Digest', value: digest })])]);
  expect(allOf(located, Tag.UniqueIdentifier).map((u) => u.value).sort()).toEqual(['imported-pw', uid].sort());
});

test('a destroyed object keeps its Digest, sealed under the KEK (not in the clear); with the HSM away, Destroy still destroys and the Digest goes too', async () => {
  const dir = newDir();
  // The real token, which the test can make unreachable for unprotect (as when the HSM is away).
  let hsmAway = false;
  const flaky: KeyProtector = {
    kekId: keys.kekId,
    mechanism: keys.mechanism,
    protect: (u, p) => keys.protect(u, p),
    unprotect: (u, b) => (hsmAway ? Promise.reject(new KeyProtectorError('HSM_UNAVAILABLE', 'HSM unavailable (the test took it away)')) : keys.unprotect(u, b)),
    indexMac: (d) => keys.indexMac(d),
    close: async () => undefined,
  };
  const core = await createEmbeddedCore(dir, { keys: flaky });
  cores.push(core);
  const send = sender(core);
  const destroyed = ttlv.integer(Tag.StorageStatusMask, StorageStatusMask.DestroyedStorage | StorageStatusMask.OnLineStorage);
  const passwords = [randomBytes(12), randomBytes(12)];
  const uids: string[] = [];
  for (const p of passwords) uids.push(await register(send, V21, ObjectType.SecretData, passwordBody(p)));
  const digests = passwords.map((p) => digestValue(sha256(p), KeyFormatType.Opaque));

  successPayload(await send(V21, Operation.Destroy, [uidItem(uids[0]!)]));
  const kept = (await core.store.get(uids[0]!))!;
  expect([kept.state, kept.protectedMaterial, kept.sealedDigest?.kekId]).toEqual([State.Destroyed, null, keys.kekId]);
  expect(Buffer.from(find((await getDigests(send, V21, uids[0]!, false))[0]!, Tag.DigestValue)!.value as Uint8Array).equals(sha256(passwords[0]!))).toBe(true);
  expect(await attributeNames(send, V21, uids[0]!)).toContain('Digest');
  expect(await locateByDigest(send, V21, digests[0]!, [destroyed])).toEqual([uids[0]]);
  expect(storeHolds(dir, sha256(passwords[0]!))).toBe(false);
  // A sealed Digest cannot pass for material, nor the material for a Digest: each is bound to its use.
  await expect(keys.unprotect(uids[0]!, kept.sealedDigest!)).rejects.toThrow(KeyProtectorError);

  // Destroy undone (Batch Error Continuation Option Undo): the material is back, the seal gone.
  const undone = parseResponse(
    await handleMessage(
      requestMessage(
        V21,
        [
          { operation: Operation.Destroy, payload: [uidItem(uids[1]!)] },
          { operation: Operation.Destroy, payload: [uidItem('no-such-object')] },
        ],
        [ttlv.enumeration(Tag.BatchErrorContinuationOption, BatchErrorContinuationOption.Undo)],
      ),
      { client: alice },
      core.core,
    ),
  );
  expect(undone.items.map((i) => i.status)).toEqual([ResultStatus.OperationUndone, ResultStatus.OperationFailed]);
  const back = (await core.store.get(uids[1]!))!;
  expect([back.state, back.protectedMaterial !== null, back.sealedDigest, back.digestMac?.length]).toEqual([State.PreActive, true, null, 32]);
  expect(Buffer.from(find((await getDigests(send, V21, uids[1]!, true))[0]!, Tag.DigestValue)!.value as Uint8Array).equals(sha256(passwords[1]!))).toBe(true);

  hsmAway = true;
  successPayload(await send(V21, Operation.Destroy, [uidItem(uids[1]!)]));
  hsmAway = false;
  const gone = (await core.store.get(uids[1]!))!;
  expect([gone.state, gone.protectedMaterial, gone.sealedDigest, gone.digestMac]).toEqual([State.Destroyed, null, null, null]);
  expect(await getDigests(send, V21, uids[1]!, false)).toEqual([]);
  expect(await attributeNames(send, V21, uids[1]!)).not.toContain('Digest');
  expect(await locateByDigest(send, V21, digests[1]!, [destroyed])).toEqual([]);
});

/**
 * A store as the release before schema 5 left it: one secret object (a password) and one public
 * key, each with its Digest in the clear in its attribute blob, in the WAL and, after a checkpoint,
 * in the database file too; the password's row written twice, so an old version lingers.
 */
async function writeSchema4Store(
  file: string,
  password: Buffer,
  key: Buffer,
  destroyedDigest: Buffer,
  publicDigest: Buffer,
): Promise<{ secret: string; symmetric: string; destroyed: string; publicKey: string }> {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  for (const m of MIGRATIONS.filter((x) => x.version <= 4)) {
    db.exec(m.sql);
    m.convert?.(db);
  }
  db.pragma('user_version = 4');
  const insert = db.prepare(
    `INSERT INTO objects (uid, object_type, state, owner, kek_id, mechanism, iv, ciphertext, attrs, created_at, updated_at) VALUES (?, ?, ?, 'alice', ?, ?, ?, ?, ?, 0, 0)`,
  );
  const insertText = db.prepare('INSERT INTO attr_text (name, skey, object_seq, idx) VALUES (?, ?, ?, ?)');
  const insertNumber = db.prepare('INSERT INTO attr_num (name, nval, object_seq, idx) VALUES (?, ?, ?, ?)');
  const put = async (uid: string, objectType: number, body: TtlvStructure | null, digest: TtlvStructure, name: string, state: number = State.Active) => {
    const attrs: StoredAttribute[] = [
      { name: 'Unique Identifier', index: 0, value: ttlv.textString(Tag.UniqueIdentifier, uid) },
      { name: 'Object Type', index: 0, value: ttlv.enumeration(Tag.ObjectType, objectType) },
      { name: 'State', index: 0, value: ttlv.enumeration(Tag.State, state) },
      { name: 'Name', index: 0, value: ttlv.structure(Tag.Name, [ttlv.textString(Tag.NameValue, name), ttlv.enumeration(Tag.NameType, 1)]) },
      { name: 'Digest', index: 0, value: digest },
    ];
    const blob = body === null ? null : await keys.protect(uid, encodeTtlv(body));
    const material = blob === null ? [null, null, null, null] : [blob.kekId, blob.mechanism, Buffer.from(blob.iv), Buffer.from(blob.ciphertext)];
    const seq = Number(insert.run(uid, objectType, state, ...material, encodeAttributeBlob(attrs)).lastInsertRowid);
    for (const e of indexEntries(attrs)) {
      if (e.number === null) insertText.run(e.name, e.text, seq, e.index);
      else insertNumber.run(e.name, e.number, seq, e.index);
    }
    return attrs;
  };
  const symmetric = 'old-key';
  const destroyed = 'old-destroyed';
  const secret = 'old-secret';
  const publicKey = 'old-public';
  const keyBody = ttlv.structure(Tag.SymmetricKey, [
    ttlv.structure(Tag.KeyBlock, [
      ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
      ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, key)]),
      ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
      ttlv.integer(Tag.CryptographicLength, 256),
    ]),
  ]);
  await put(symmetric, ObjectType.SymmetricKey, keyBody, digestValue(sha256(key), KeyFormatType.Raw), 'key');
  const attrs = await put(secret, ObjectType.SecretData, passwordBody(password), digestValue(sha256(password), KeyFormatType.Opaque), 'password');
  // A Modify of the Name, as the old server wrote it: the whole blob again, the Digest with it.
  const renamed = attrs.map((a) => (a.name === 'Name' ? { ...a, value: ttlv.structure(Tag.Name, [ttlv.textString(Tag.NameValue, 'password-2'), ttlv.enumeration(Tag.NameType, 1)]) } : a));
  db.prepare('UPDATE objects SET attrs = ? WHERE uid = ?').run(encodeAttributeBlob(renamed), secret);
  const publicBody = ttlv.structure(Tag.PublicKey, [
    ttlv.structure(Tag.KeyBlock, [ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.X_509), ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, randomBytes(91))])]),
  ]);
  await put(publicKey, ObjectType.PublicKey, publicBody, digestValue(publicDigest, KeyFormatType.X_509), 'public');
  await put(destroyed, ObjectType.SecretData, null, digestValue(destroyedDigest, KeyFormatType.Opaque), 'destroyed', State.Destroyed);
  db.pragma('wal_checkpoint(PASSIVE)');
  db.close();
  return { secret, symmetric, destroyed, publicKey };
}

test('a store written before schema 5 is converted at start: the clear Digest leaves the file and WAL (old pages too), Get Attributes and Locate answer as before; a failing batch writes nothing', async () => {
  const dir = newDir();
  const file = path.join(dir, 'kmip.sqlite');
  const password = Buffer.from(`hunter2-${randomBytes(3).toString('hex')}`, 'utf8');
  const hash = sha256(password);
  const key = randomBytes(32);
  const destroyedDigest = randomBytes(32);
  const publicDigest = randomBytes(32);
  const { secret, symmetric, destroyed, publicKey } = await writeSchema4Store(file, password, key, destroyedDigest, publicDigest);
  expect(storeHolds(dir, destroyedDigest)).toBe(true);
  expect(storeHolds(dir, hash)).toBe(true);
  expect(storeHolds(dir, sha256(key))).toBe(true);

  // The HSM fails on the second index MAC: the batch holding both secret objects is not written at all.
  let macs = 0;
  const failing: KeyProtector = {
    kekId: keys.kekId,
    mechanism: keys.mechanism,
    protect: (u, p) => keys.protect(u, p),
    unprotect: (u, b) => keys.unprotect(u, b),
    indexMac: (d) => (++macs === 2 ? Promise.reject(new KeyProtectorError('HSM_UNAVAILABLE', 'HSM unavailable (the test took it away)')) : keys.indexMac(d)),
    close: async () => undefined,
  };
  const store = new SqliteObjectStore({ path: file });
  try {
    expect(store.needsDigestSealing()).toBe(true);
    await expect(sealClearDigests(store, failing)).rejects.toThrow(/HSM unavailable/);
    expect(store.needsDigestSealing()).toBe(true);
    expect(macs).toBe(2);
    for (const uid of [symmetric, secret]) {
      expect((await store.get(uid))!.attributes.some((a) => a.name === 'Digest')).toBe(true);
      expect((await store.get(uid))!.digestMac).toBeNull();
      expect((await store.get(uid))!.revision).toBe(0);
    }
  } finally {
    store.close();
  }

  const core = await openCore(dir);
  const send = sender(core);
  expect(core.store.needsDigestSealing()).toBe(false);
  expect(storeHolds(dir, hash)).toBe(false);
  expect(storeHolds(dir, sha256(key))).toBe(false);
  expect(storeHolds(dir, destroyedDigest)).toBe(false);
  expect(storeHolds(dir, password)).toBe(false);
  expect(await core.store.integrityCheck()).toBe('ok');
  expect((await core.store.get(secret))!.attributes.map((a) => a.name)).toEqual(['Name', 'Object Type', 'State', 'Unique Identifier']);
  for (const v of [V14, V21]) {
    const digests = await getDigests(send, v, secret, true);
    expect(digests.map((d) => Buffer.from(find(d, Tag.DigestValue)!.value as Uint8Array).toString('hex'))).toEqual([hash.toString('hex')]);
    expect(await locateByDigest(send, v, digestValue(hash, KeyFormatType.Opaque))).toEqual([secret]);
    expect(await locateByDigest(send, v, digestValue(sha256(key), KeyFormatType.Raw))).toEqual([symmetric]);
    expect(await locateByDigest(send, v, digestValue(publicDigest, KeyFormatType.X_509))).toEqual([publicKey]);
  }
  // A destroyed object's Digest (no material to compute it from) is kept sealed.
  const kept = await getDigests(send, V21, destroyed, true);
  expect(kept.map((d) => Buffer.from(find(d, Tag.DigestValue)!.value as Uint8Array).toString('hex'))).toEqual([destroyedDigest.toString('hex')]);
  const destroyedStorage = ttlv.integer(Tag.StorageStatusMask, StorageStatusMask.DestroyedStorage);
  expect(await locateByDigest(send, V21, digestValue(destroyedDigest, KeyFormatType.Opaque), [destroyedStorage])).toEqual([destroyed]);
  // Public material keeps its Digest in the clear.
  expect(storeHolds(dir, publicDigest)).toBe(true);
  const pub = await getDigests(send, V21, publicKey, true);
  expect(Buffer.from(find(pub[0]!, Tag.DigestValue)!.value as Uint8Array).equals(publicDigest)).toBe(true);
});
