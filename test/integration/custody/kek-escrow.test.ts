/**
 * KEK escrow and recovery between two real SoftHSM2 tokens, in process: a blob made under the KEK
 * of the first token decrypts under the recovered KEK of the second (same CKA_ID, same index key);
 * fewer shares than the threshold, shares of two escrows, a repeated custodian and a damaged share
 * are refused, and the refusals write nothing to the token.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pkcs11KeyProtector } from '../../../src/keys/pkcs11';
import { softHsmProtectorConfig } from '../../../src/keys/softhsm';
import { KEK_LABEL } from '../../../src/config';
import { CustodyError, escrowKeys, recoverKeys, shareFileName } from '../../../src/custody/escrow';
import { CustodyToken } from '../../../src/custody/token';
import { makeTestToken } from '../../helpers/hsm';
import { generateKek } from '../../../src/keys/kek';
import { MECHANISM_AES_GCM } from '../../../src/keys/key-protector';
import { currentKekId, writeCurrentKek } from '../../../src/keys/kek-current';
import { rotatedKekLabel } from '../../../src/custody/token';
import crypto from 'node:crypto';

jest.setTimeout(120_000);

let out: string;
const source = makeTestToken();
const target = makeTestToken();
const sourceConfig = softHsmProtectorConfig(source, KEK_LABEL, { kekEscrowable: true });
const targetConfig = softHsmProtectorConfig(target, KEK_LABEL, { kekEscrowable: true });
const rotatedSource = makeTestToken();
const fresh = makeTestToken();

beforeAll(() => {
  out = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-escrow-'));
});

afterAll(() => {
  fs.rmSync(out, { recursive: true, force: true });
});

async function withToken<T>(config: typeof sourceConfig, fn: (t: CustodyToken) => T | Promise<T>): Promise<T> {
  const t = await CustodyToken.open(config);
  try {
    return await fn(t);
  } finally {
    await t.close();
  }
}

it('escrows 2 of 3, refuses bad share sets without writing, and recovers a KEK that decrypts the first token\'s blobs', async () => {
  const keys = await Pkcs11KeyProtector.open(sourceConfig);
  const material = Buffer.from('0123456789abcdef0123456789abcdef');
  const blob = await keys.protect('uid-1', material);
  const index = await keys.indexMac(Buffer.from('digest'));
  await keys.auditMac(Buffer.from('x')); // makes the audit key
  await keys.close();

  const dirA = path.join(out, 'a');
  const dirB = path.join(out, 'b');
  const a = await withToken(sourceConfig, (t) => escrowKeys(t, { shares: 3, threshold: 2, outDir: dirA, dataDir: out, referenced: [blob.kekId] }));
  expect(a.kekId).toBe(blob.kekId);
  expect(a.keys.map((k) => k.role)).toEqual(['kek', 'index', 'audit']);
  const b = await withToken(sourceConfig, (t) => escrowKeys(t, { shares: 3, threshold: 2, outDir: dirB, dataDir: out, referenced: [blob.kekId] }));
  for (const f of a.files) expect(fs.statSync(f).mode & 0o777).toBe(0o600);
  // Dual control: a threshold of 1 is refused.
  await expect(withToken(sourceConfig, (t) => escrowKeys(t, { shares: 3, threshold: 1, outDir: path.join(out, 'c'), dataDir: out, referenced: [] }))).rejects.toThrow(/at least 2/);

  const shareA = (i: number) => path.join(dirA, shareFileName(i, 3));
  const shareB = (i: number) => path.join(dirB, shareFileName(i, 3));
  const damaged = path.join(out, 'damaged.json');
  const d = JSON.parse(fs.readFileSync(shareA(2), 'utf8')) as { share: string };
  fs.writeFileSync(damaged, JSON.stringify({ ...d, share: `${d.share.slice(0, -2)}${d.share.endsWith('00') ? '01' : '00'}` }));

  await withToken(targetConfig, (t) => {
    expect(() => recoverKeys(t, [shareA(1)])).toThrow(new CustodyError(`1 share given (custodian 1), but recovering KEK ${a.kekId} needs 2 of the 3: nothing was written`));
    expect(() => recoverKeys(t, [shareA(1), shareB(2)])).toThrow(/belongs to another escrow/);
    expect(() => recoverKeys(t, [shareA(1), shareA(1)])).toThrow(/given twice/);
    expect(() => recoverKeys(t, [shareA(1), damaged])).toThrow(/do not reconstruct the escrow key/);
    expect(t.keks()).toEqual([]);
    expect(b.escrowId).not.toBe(a.escrowId);
    const r = recoverKeys(t, [shareA(3), shareA(1)]);
    expect(r.restored.map((k) => k.role)).toEqual(['kek', 'index', 'audit']);
    // Again: already there, nothing doubled.
    expect(recoverKeys(t, [shareA(2), shareA(3)]).alreadyPresent).toHaveLength(3);
    expect(t.keks().map((k) => [k.id, k.facts.sensitive, k.facts.valueLength])).toEqual([[a.kekId, true, 32]]);
  });

  const recovered = await Pkcs11KeyProtector.open({ ...targetConfig, createKek: false, createIndexKey: false });
  try {
    expect(recovered.kekId).toBe(blob.kekId);
    expect(Buffer.from(await recovered.unprotect('uid-1', blob))).toEqual(material);
    expect(await recovered.indexMac(Buffer.from('digest'))).toEqual(index);
  } finally {
    await recovered.close();
  }
});

it('escrows every KEK the store still references, not only the current one, and a recovery gives the current one the KEK label', async () => {
  const config = softHsmProtectorConfig(rotatedSource, KEK_LABEL, { kekEscrowable: true });
  const dataDir = fs.mkdtempSync(path.join(out, 'rotated-'));
  const first = await Pkcs11KeyProtector.open(config);
  const oldBlob = await first.protect('uid-old', Buffer.from('old material, under the first KEK'));
  await first.auditMac(Buffer.from('x'));
  await first.close();
  // A rotation half done: a second KEK, made with its final label, is current; an object still names the first.
  const newKekId = crypto.randomBytes(16).toString('hex');
  await withToken(config, (t) => {
    generateKek(t.lib, t.session, { label: rotatedKekLabel(KEK_LABEL, newKekId), id: Buffer.from(newKekId, 'hex'), mechanism: MECHANISM_AES_GCM, escrowable: true });
  });
  writeCurrentKek(dataDir, newKekId);
  const second = await Pkcs11KeyProtector.open({ ...config, kekId: newKekId });
  const newBlob = await second.protect('uid-new', Buffer.from('new material, under the second KEK'));
  await second.close();
  expect(newBlob.kekId).toBe(newKekId);

  const shares = path.join(out, 'rotated-shares');
  const e = await withToken(config, (t) => escrowKeys(t, { shares: 3, threshold: 2, outDir: shares, dataDir, referenced: [oldBlob.kekId, newKekId] }));
  expect(e.kekId).toBe(newKekId);
  expect(e.keys).toEqual([
    { role: 'kek', id: newKekId },
    { role: 'earlierKek', id: oldBlob.kekId },
    { role: 'index', id: expect.any(String) },
    { role: 'audit', id: expect.any(String) },
  ]);
  // A KEK the store references but the token lacks: refused, naming it.
  const ghost = crypto.randomBytes(16).toString('hex');
  await expect(withToken(config, (t) => escrowKeys(t, { shares: 3, threshold: 2, outDir: path.join(out, 'ghost'), dataDir, referenced: [ghost] }))).rejects.toThrow(`reference KEK ${ghost}`);

  const freshConfig = softHsmProtectorConfig(fresh, KEK_LABEL, { kekEscrowable: true });
  await withToken(freshConfig, (t) => {
    const r = recoverKeys(t, [path.join(shares, shareFileName(1, 3)), path.join(shares, shareFileName(3, 3))]);
    expect(r.restored.map((k) => k.role)).toEqual(['kek', 'earlierKek', 'index', 'audit']);
    expect(t.keks().map((k) => k.id).sort()).toEqual([newKekId, oldBlob.kekId].sort());
  });
  const recovered = await Pkcs11KeyProtector.open({ ...freshConfig, createKek: false, createIndexKey: false });
  try {
    // By label (no kek-current.json yet) the recovery's current KEK is found: it took the KEK label.
    expect(recovered.kekId).toBe(newKekId);
    expect(Buffer.from(await recovered.unprotect('uid-old', oldBlob)).toString()).toBe('old material, under the first KEK');
    expect(Buffer.from(await recovered.unprotect('uid-new', newBlob)).toString()).toBe('new material, under the second KEK');
  } finally {
    await recovered.close();
  }
  expect(currentKekId(dataDir)).toBe(newKekId);
});
