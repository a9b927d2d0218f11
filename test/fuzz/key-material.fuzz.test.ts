/**
 * Mutation fuzzing of the key material parsers (src/crypto/key-encoding.ts through
 * inspectKeyBlock, and Register through handleMessage): DER keys of every encoding Register
 * accepts, generated for the run, are mutated (bit flips, rewrites, truncation, splices, random
 * bytes, trailing bytes) and offered under every label. Each must be accepted as a key or refused
 * with Invalid Field naming the Key Material; nothing else may be thrown, and bytes after a key
 * are never accepted. FUZZ_RUNS scales the run (default 2,000 direct, a tenth through Register);
 * with FUZZ_SECONDS (`npm run fuzz`) each of the three runs stops after a quarter of that time.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { ttlv } from '../../ttlv/types';
import { Tag } from '../../src/spec/generated/tags';
import { KeyFormatType, ObjectType, Operation, ResultReason, ResultStatus } from '../../src/spec/generated/enums';
import { inspectKeyBlock } from '../../src/crypto/asymmetric-keys';
import { DEFAULT_KEY_LIMITS } from '../../src/crypto/key-encoding';
import { KmipError } from '../../src/kmip/errors';
import { createEmbeddedCore, type EmbeddedCore } from '../../src/embedded';
import { handleMessage } from '../../src/server/handle-message';
import { openTestProtector } from '../helpers/hsm';
import { parseResponse, requestMessage } from '../helpers/kmip-client';
import { mutation } from './fuzz-target';

const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const ed = generateKeyPairSync('ed25519').privateKey;
const der = (k: KeyObject, o: object): Buffer => k.export({ format: 'der', ...o } as never) as Buffer;

const PRIVATE_SEEDS: Uint8Array[] = [
  der(rsa, { type: 'pkcs1' }),
  der(rsa, { type: 'pkcs8' }),
  der(rsa, { type: 'pkcs8', cipher: 'aes-128-cbc', passphrase: 'fuzz' }),
  der(ec, { type: 'sec1' }),
  der(ec, { type: 'pkcs8' }),
  der(ed, { type: 'pkcs8' }),
];
const PUBLIC_SEEDS: Uint8Array[] = [
  der(createPublicKey(rsa), { type: 'spki' }),
  der(createPublicKey(rsa), { type: 'pkcs1' }),
  der(createPublicKey(ec), { type: 'spki' }),
  der(createPublicKey(ed), { type: 'spki' }),
];
/** The labels each kind's material is read under (others are stored unread, as for Transparent DSA). */
const PRIVATE_LABELS = [KeyFormatType.PKCS_1, KeyFormatType.PKCS_8, KeyFormatType.ECPrivateKey, KeyFormatType.Raw];
const PUBLIC_LABELS = [KeyFormatType.PKCS_1, KeyFormatType.X_509, KeyFormatType.Raw];
const LABELS = [...PRIVATE_LABELS, KeyFormatType.X_509];
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 2000);
const SECONDS = process.env['FUZZ_SECONDS'] === undefined ? undefined : Number(process.env['FUZZ_SECONDS']);
/** A time-bounded run stops between inputs and passes with what it ran (fast-check's interrupt). */
const BUDGET = SECONDS === undefined ? {} : { interruptAfterTimeLimit: (SECONDS * 1000) / 4, markInterruptAsFailure: false };
const TEST_TIMEOUT = ((SECONDS ?? 60) / 4 + 120) * 1000;

function keyBlock(format: number, material: Uint8Array) {
  return ttlv.structure(Tag.KeyBlock, [ttlv.enumeration(Tag.KeyFormatType, format), ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, material)])]);
}

/** Accepted, or Invalid Field about the key; anything else fails the run. */
function inspect(objectType: number, format: number, material: Uint8Array): 'accepted' | 'refused' {
  try {
    inspectKeyBlock(keyBlock(format, material), objectType, DEFAULT_KEY_LIMITS);
    return 'accepted';
  } catch (e) {
    if (!(e instanceof KmipError)) throw e;
    expect(e.reason).toBe(ResultReason.InvalidField);
    expect(e.message).toMatch(/Key Material|EC key|RSA (modulus|private key)|curve .* is not supported/);
    return 'refused';
  }
}

const input = (seeds: Uint8Array[], labels: number[]) =>
  fc.tuple(
    mutation(seeds),
    fc.constantFrom(...labels),
    fc.uint8Array({ minLength: 1, maxLength: 4 }),
  );

describe('key material parsers under mutation', () => {
  test.each([
    ['private', ObjectType.PrivateKey, PRIVATE_SEEDS, PRIVATE_LABELS],
    ['public', ObjectType.PublicKey, PUBLIC_SEEDS, PUBLIC_LABELS],
  ] as const)('%s keys: accepted or Invalid Field, and never with bytes after the key', (kind, objectType, seeds, labels) => {
    // The seeds themselves are keys under their own family of labels.
    for (const s of seeds) expect(inspect(objectType, objectType === ObjectType.PrivateKey ? KeyFormatType.PKCS_8 : KeyFormatType.X_509, s)).toBe('accepted');
    let accepted = 0;
    let executions = 0;
    fc.assert(
      fc.property(input(seeds, [...labels]), ([bytes, label, tail]) => {
        executions++;
        if (inspect(objectType, label, bytes) === 'accepted') {
          accepted++;
          // Raw EdDSA material has no DER framing to end: appended bytes make another length, refused by length.
          expect(inspect(objectType, label, Buffer.concat([bytes, tail]))).toBe('refused');
        }
      }),
      { numRuns: RUNS, ...BUDGET },
    );
    console.log(`key material fuzz (${kind}): ${executions} inputs, ${accepted} accepted as keys`);
    // Some mutations leave a key (the seeds are picked unchanged too): both outcomes were exercised.
    expect(accepted).toBeGreaterThan(0);
  }, TEST_TIMEOUT);
});

describe('Register with mutated key material, through handleMessage', () => {
  let dir: string;
  let embedded: EmbeddedCore;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-fuzz-keys-'));
    embedded = await createEmbeddedCore(dir, { keys: await openTestProtector() });
  });
  afterAll(async () => {
    await embedded.close();
    await embedded.core.keys.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('every request is answered: success, or Invalid Field with a message about the Key Material', async () => {
    const v = { major: 2, minor: 1 };
    await fc.assert(
      fc.asyncProperty(fc.boolean(), mutation(PRIVATE_SEEDS), mutation(PUBLIC_SEEDS), fc.constantFrom(...LABELS), async (isPrivate, priv, pub, label) => {
        const objectType = isPrivate ? ObjectType.PrivateKey : ObjectType.PublicKey;
        const payload = [ttlv.enumeration(Tag.ObjectType, objectType), ttlv.structure(Tag.Attributes, []), ttlv.structure(isPrivate ? Tag.PrivateKey : Tag.PublicKey, [keyBlock(label, isPrivate ? priv : pub)])];
        const r = parseResponse(await handleMessage(requestMessage(v, [{ operation: Operation.Register, payload }]), { client: { name: 'fuzz', isAdmin: false } }, embedded.core));
        const item = r.items[0]!;
        if (item.status === ResultStatus.Success) return;
        expect([ResultReason.InvalidField, ResultReason.KeyFormatTypeNotSupported]).toContain(item.reason);
        expect(item.message).toMatch(/Key Material|EC key|RSA (modulus|private key)|is not supported/);
      }),
      { numRuns: Math.max(50, Math.floor(RUNS / 10)), ...BUDGET },
    );
    expect(await embedded.store.integrityCheck()).toBe('ok');
  }, TEST_TIMEOUT);
});

test('found by this fuzz run: a malformed UniversalString inside a key is refused, not thrown (asn1js throws RangeError on it)', () => {
  const inner = Buffer.from('1c03010203', 'hex');
  const seq = Buffer.concat([Buffer.from([0x30, inner.length]), inner]);
  expect(inspect(ObjectType.PrivateKey, KeyFormatType.PKCS_8, seq)).toBe('refused');
  expect(inspect(ObjectType.PublicKey, KeyFormatType.X_509, seq)).toBe('refused');
});
