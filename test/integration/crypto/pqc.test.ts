/**
 * Every post-quantum parameter set through a real TLS client against the real listener (real
 * SQLite, keys wrapped by a real SoftHSM2 token), except the SLH-DSA "s" sets, whose signatures take
 * up to a minute each in JavaScript: test/integration/crypto/pqc-slh-small.test.ts. Also the
 * refusals of malformed PQC input over the wire.
 */
import { KmipClient, KmipResultError, attribute, keyObject } from '../../../src/client';
import fs from 'node:fs';
import path from 'node:path';
import { ttlv } from '../../../ttlv/types';
import { CryptographicAlgorithm, CryptographicUsageMask, KeyFormatType, ObjectType, Operation, ResultReason, ResultStatus } from '../../../src/spec/generated/enums';
import { Tag } from '../../../src/spec/generated/tags';
import { PQC_ALGORITHMS, pqcAlgorithm } from '../../../src/crypto/pqc';
import { useTestListener, type TestListener } from '../../helpers/test-listener';
import { createPair, getMaterial, pqcClient, roundTrip } from './pqc-helpers';

jest.setTimeout(300_000);
const t: TestListener = useTestListener();
let c: KmipClient;
beforeAll(() => {
  c = pqcClient(t);
});
afterAll(() => c.close());

const FAST = PQC_ALGORITHMS.filter((a) => !(a.family === 'slh-dsa' && a.name.endsWith('s')));

describe.each(FAST.map((a) => [a.name, a] as const))('%s through a TLS client', (_n, alg) => {
  it('creates, gets in every format, registers, and round-trips its operation', async () => {
    await roundTrip(c, alg, { extraSignatures: true });
  });
});

async function reasonOf(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
  } catch (e) {
    if (e instanceof KmipResultError) return e.reason;
    throw e;
  }
  return undefined;
}

it('Re-key Key Pair makes a new pair of the same parameter set that signs', async () => {
  const dsa = pqcAlgorithm(CryptographicAlgorithm.ML_DSA_65)!;
  const { priv } = await createPair(c, dsa);
  const [item] = await c.send([{ operation: Operation.ReKeyKeyPair, payload: [ttlv.textString(Tag.PrivateKeyUniqueIdentifier, priv)] }]);
  expect(item?.status).toBe(ResultStatus.Success);
  const newPriv = item!.payload!.find((x) => x.tag === Tag.PrivateKeyUniqueIdentifier)!.value as string;
  const newPub = item!.payload!.find((x) => x.tag === Tag.PublicKeyUniqueIdentifier)!.value as string;
  const g = await c.get(newPriv);
  expect(g.keyBlock?.cryptographicAlgorithm).toBe(dsa.kmip);
  await c.activate(newPriv).catch(() => undefined);
  await c.activate(newPub).catch(() => undefined);
  const s = await c.sign(newPriv, Buffer.from('rekeyed'));
  expect((await c.signatureVerify(newPub, Buffer.from('rekeyed'), s.signature)).valid).toBe(true);
});

describe('malformed post-quantum input over the wire', () => {
  const kem = pqcAlgorithm(CryptographicAlgorithm.ML_KEM_768)!;

  it('a malformed key to Register answers Invalid Field', async () => {
    const garbage = Buffer.alloc(100, 7);
    const pk = keyObject(Tag.PublicKey, { format: KeyFormatType.Raw, material: garbage, algorithm: kem.kmip });
    expect(await reasonOf(c.register(ObjectType.PublicKey, pk, [attribute('Cryptographic Usage Mask', CryptographicUsageMask.Encrypt)]))).toBe(ResultReason.InvalidField);
    const der = keyObject(Tag.PrivateKey, { format: KeyFormatType.PKCS_8, material: Buffer.from('3034020100300b0609608648016503040311042280', 'hex'), algorithm: CryptographicAlgorithm.ML_DSA_44 });
    expect(await reasonOf(c.register(ObjectType.PrivateKey, der, [attribute('Cryptographic Usage Mask', CryptographicUsageMask.Sign)]))).toBe(ResultReason.InvalidField);
  });

  it('a wrong-length ciphertext answers Invalid Field, none Missing Data; a signing key with the Encrypt bit still cannot encapsulate', async () => {
    const { priv } = await createPair(c, kem);
    expect(await reasonOf(c.decapsulate(priv, Buffer.alloc(10)))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(c.decapsulate(priv, Buffer.alloc(0)))).toBe(ResultReason.MissingData);
    const dsa = pqcAlgorithm(CryptographicAlgorithm.ML_DSA_65)!;
    const r = await c.createKeyPair({
      common: [attribute('Cryptographic Algorithm', dsa.kmip)],
      privateKey: [attribute('Cryptographic Usage Mask', CryptographicUsageMask.Sign | CryptographicUsageMask.Decrypt)],
      publicKey: [attribute('Cryptographic Usage Mask', CryptographicUsageMask.Verify | CryptographicUsageMask.Encrypt)],
    });
    await c.activate(r.publicKeyUniqueIdentifier);
    await c.activate(r.privateKeyUniqueIdentifier);
    expect(await reasonOf(c.encapsulate(r.publicKeyUniqueIdentifier))).toBe(ResultReason.InvalidField);
    expect(await reasonOf(c.decapsulate(r.privateKeyUniqueIdentifier, Buffer.alloc(1088)))).toBe(ResultReason.InvalidField);
    // In parts: refused, the schemes are one-shot here.
    const [part] = await c.send([
      { operation: Operation.Sign, payload: [ttlv.textString(Tag.UniqueIdentifier, r.privateKeyUniqueIdentifier), ttlv.byteString(Tag.Data, Buffer.from('a')), ttlv.boolean(Tag.InitIndicator, true)] },
    ]);
    expect(part?.status).toBe(ResultStatus.OperationFailed);
    expect(part?.reason).toBe(ResultReason.FeatureNotSupported);
  });

  it('private keys are wrapped by the HSM at rest: no 32-byte run of the key is in the SQLite files', async () => {
    const { priv } = await createPair(c, pqcAlgorithm(CryptographicAlgorithm.ML_DSA_44)!);
    const raw = await getMaterial(c, priv, KeyFormatType.Raw);
    const dir = path.join(t.dir, 'data');
    const files = Buffer.concat(fs.readdirSync(dir).filter((f) => f.startsWith('kmip.sqlite')).map((f) => fs.readFileSync(path.join(dir, f))));
    expect(files.length).toBeGreaterThan(0);
    for (let i = 0; i + 32 <= raw.length; i += 512) expect(files.indexOf(raw.subarray(i, i + 32))).toBe(-1);
  });

  it('Get in a format the key has no encoding for answers Key Format Type Not Supported', async () => {
    const { priv } = await createPair(c, kem);
    expect(await reasonOf(getMaterial(c, priv, KeyFormatType.PKCS_1))).toBe(ResultReason.KeyFormatTypeNotSupported);
    const hybrid = await createPair(c, pqcAlgorithm(CryptographicAlgorithm.X25519_ML_KEM_768)!);
    expect(await reasonOf(getMaterial(c, hybrid.pub, KeyFormatType.X_509))).toBe(ResultReason.KeyFormatTypeNotSupported);
  });
});
