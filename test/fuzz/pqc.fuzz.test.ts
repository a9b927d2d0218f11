/**
 * Mutation fuzzing of the post-quantum parsers (src/crypto/pqc-keys.ts, src/crypto/pqc.ts):
 * SubjectPublicKeyInfo, PKCS#8 (seed and expanded forms) and Raw keys of ML-KEM, ML-DSA and
 * SLH-DSA, generated for the run, mutated and offered under every label with and without a stated
 * algorithm; mutated ciphertexts to decapsulation and signatures to verification. A key is
 * accepted or refused with Invalid Field / Missing Data, never with bytes after it; a ciphertext
 * gives a secret or Invalid Field; a signature checks false or true; nothing else may be thrown.
 * Also PKCS#10 requests signed with ML-DSA and certificates an ML-DSA key issued
 * (src/crypto/x509-issue.ts, src/crypto/cert-keys.ts), mutated: a request is accepted or refused
 * with Invalid Field, a certificate's signature checks true or false or it is refused as unparsable.
 * FUZZ_RUNS scales the run (default 2,000), FUZZ_SECONDS bounds it as in the other fuzz tests.
 */
import fc from 'fast-check';
import { ttlv } from '../../ttlv/types';
import { Tag } from '../../src/spec/generated/tags';
import { CryptographicAlgorithm, KeyFormatType, ObjectType, ResultReason } from '../../src/spec/generated/enums';
import { KmipError } from '../../src/kmip/errors';
import { generatePqcKeyPair, pqcAlgorithm, pqcDecapsulate, pqcEncapsulate, pqcSign, pqcVerify, type PqcAlgorithm } from '../../src/crypto/pqc';
import { inspectPqcKeyBlock, pqcKeyBlock } from '../../src/crypto/pqc-keys';
import { mutation } from './fuzz-target';
import * as asn1js from 'asn1js';
import { certificateSignedBy, certificateSpki, pqcCertSigner } from '../../src/crypto/cert-keys';
import { pqcSpki } from '../../src/crypto/pqc-keys';
import { commonNameDer, issueCertificate, parseCertificationRequest } from '../../src/crypto/x509-issue';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 2000);
const SECONDS = process.env['FUZZ_SECONDS'] === undefined ? undefined : Number(process.env['FUZZ_SECONDS']);
const BUDGET = SECONDS === undefined ? {} : { interruptAfterTimeLimit: (SECONDS * 1000) / 4, markInterruptAsFailure: false };
const TEST_TIMEOUT = ((SECONDS ?? 60) / 4 + 180) * 1000;

const ALGS = [CryptographicAlgorithm.ML_KEM_512, CryptographicAlgorithm.ML_DSA_44, CryptographicAlgorithm.SLH_DSA_SHA2_128f].map((a) => pqcAlgorithm(a) as PqcAlgorithm);
const PAIRS = ALGS.map((alg) => ({ alg, pair: generatePqcKeyPair(alg) }));

const materialOf = (b: ReturnType<typeof pqcKeyBlock>): Uint8Array => {
  const kv = b.value.find((c) => c.tag === Tag.KeyValue) as { value: { tag: number; value: Uint8Array }[] };
  return kv.value.find((c) => c.tag === Tag.KeyMaterial)!.value;
};

const PRIVATE_SEEDS = PAIRS.flatMap(({ alg, pair }) => [
  materialOf(pqcKeyBlock({ alg, kind: 'private', bytes: pair.secretKey, seed: pair.seed }, KeyFormatType.PKCS_8)),
  materialOf(pqcKeyBlock({ alg, kind: 'private', bytes: pair.secretKey }, KeyFormatType.PKCS_8)),
  pair.secretKey,
]);
const PUBLIC_SEEDS = PAIRS.flatMap(({ alg, pair }) => [materialOf(pqcKeyBlock({ alg, kind: 'public', bytes: pair.publicKey }, KeyFormatType.X_509)), pair.publicKey]);
const LABELS = [KeyFormatType.PKCS_8, KeyFormatType.X_509, KeyFormatType.Raw];
const HINTS = [undefined, ...ALGS.map((a) => a.kmip)];

function keyBlock(format: number, material: Uint8Array, algorithm: number | undefined) {
  return ttlv.structure(Tag.KeyBlock, [
    ttlv.enumeration(Tag.KeyFormatType, format),
    ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, material)]),
    ...(algorithm === undefined ? [] : [ttlv.enumeration(Tag.CryptographicAlgorithm, algorithm)]),
  ]);
}

function inspect(objectType: number, format: number, material: Uint8Array, hint: number | undefined): 'accepted' | 'refused' | 'not pqc' {
  try {
    return inspectPqcKeyBlock(keyBlock(format, material, hint), objectType, undefined) ? 'accepted' : 'not pqc';
  } catch (e) {
    if (!(e instanceof KmipError)) throw e;
    expect([ResultReason.InvalidField, ResultReason.MissingData, ResultReason.KeyFormatTypeNotSupported]).toContain(e.reason);
    return 'refused';
  }
}

describe('post-quantum key parsers under mutation', () => {
  test.each([
    ['private', ObjectType.PrivateKey, PRIVATE_SEEDS],
    ['public', ObjectType.PublicKey, PUBLIC_SEEDS],
  ] as const)('%s keys: accepted or refused with a KMIP reason, never with bytes after the key', (kind, objectType, seeds) => {
    let accepted = 0;
    let executions = 0;
    fc.assert(
      fc.property(mutation(seeds), fc.constantFrom(...LABELS), fc.constantFrom(...HINTS), fc.uint8Array({ minLength: 1, maxLength: 4 }), (bytes, label, hint, tail) => {
        executions++;
        if (inspect(objectType, label, bytes, hint) === 'accepted') {
          accepted++;
          expect(inspect(objectType, label, Buffer.concat([bytes, tail]), hint)).not.toBe('accepted');
        }
      }),
      { numRuns: RUNS, ...BUDGET },
    );
    console.log(`pqc key fuzz (${kind}): ${executions} inputs, ${accepted} accepted as keys`);
    expect(accepted).toBeGreaterThan(0);
  }, TEST_TIMEOUT);
});

describe('post-quantum ciphertexts and signatures under mutation', () => {
  const kem = PAIRS[0]!;
  const dsa = PAIRS[1]!;
  const ct = pqcEncapsulate(kem.alg, kem.pair.publicKey).cipherText;
  const data = Buffer.from('fuzz');
  const sig = pqcSign(dsa.alg, dsa.pair.secretKey, data);

  test('a ciphertext gives a secret or Invalid Field; a signature verifies or not; nothing else', () => {
    let secrets = 0;
    fc.assert(
      fc.property(mutation([ct]), (bytes) => {
        try {
          expect(pqcDecapsulate(kem.alg, kem.pair.secretKey, bytes).length).toBe(32);
          secrets++;
        } catch (e) {
          if (!(e instanceof KmipError)) throw e;
          expect(e.reason).toBe(ResultReason.InvalidField);
        }
      }),
      { numRuns: RUNS, ...BUDGET },
    );
    let valid = 0;
    fc.assert(
      fc.property(mutation([sig]), (bytes) => {
        if (pqcVerify(dsa.alg, dsa.pair.publicKey, data, bytes)) valid++;
      }),
      { numRuns: RUNS, ...BUDGET },
    );
    console.log(`pqc ciphertext/signature fuzz: ${secrets} secrets, ${valid} valid signatures`);
    expect(secrets).toBeGreaterThan(0);
  }, TEST_TIMEOUT);
});

describe('certificates and certificate requests of ML-DSA keys under mutation', () => {
  // Each input costs an ML-DSA verification (milliseconds): a quarter of the runs keeps the file's time.
  const CERT_RUNS = Math.max(1, Math.ceil(RUNS / 4));
  const dsa = PAIRS[1]!;
  const spki = pqcSpki(dsa.alg, dsa.pair.publicKey);
  const info = new asn1js.Sequence({
    value: [new asn1js.Integer({ value: 0 }), asn1js.fromBER(commonNameDer('fuzz')).result, asn1js.fromBER(spki).result, new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [] })],
  });
  const signature = pqcSign(dsa.alg, dsa.pair.secretKey, new Uint8Array(info.toBER(false)));
  const request = Buffer.from(
    new asn1js.Sequence({ value: [info, new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: dsa.alg.oid as string })] }), new asn1js.BitString({ valueHex: signature, unusedBits: 0 })] }).toBER(false),
  );

  test('a request is accepted or refused with Invalid Field; a certificate verifies, fails, or is refused as unparsable', async () => {
    expect(parseCertificationRequest(request).publicSpki).toEqual(spki);
    const cert = await issueCertificate({ subjectDer: commonNameDer('fuzz'), subjectSpki: spki, issuerDer: commonNameDer('fuzz'), signer: pqcCertSigner(dsa.alg, dsa.pair.secretKey), notBefore: 1_700_000_000n, notAfter: 1_800_000_000n, usageMask: 0 });
    expect(certificateSignedBy(cert, spki)).toBe(true);
    let accepted = 0;
    fc.assert(
      fc.property(mutation([request]), (bytes) => {
        try {
          parseCertificationRequest(bytes);
          accepted++;
        } catch (e) {
          if (!(e instanceof KmipError)) throw e;
          expect(e.reason).toBe(ResultReason.InvalidField);
        }
      }),
      { numRuns: CERT_RUNS, ...BUDGET },
    );
    let verified = 0;
    fc.assert(
      fc.property(mutation([cert]), (bytes) => {
        try {
          certificateSpki(bytes);
          if (certificateSignedBy(bytes, spki)) verified++;
        } catch (e) {
          if (!(e instanceof KmipError)) throw e;
          expect(e.reason).toBe(ResultReason.InvalidField);
        }
      }),
      { numRuns: CERT_RUNS, ...BUDGET },
    );
    console.log(`ML-DSA certificate fuzz: ${accepted} requests accepted, ${verified} certificates verified`);
    expect(accepted).toBeGreaterThan(0);
  }, TEST_TIMEOUT);
});
