/**
 * Post-quantum primitives and encodings against NIST's known answers (ACVP vectors, a few per
 * parameter set: test/fixtures/pqc/nist-acvp.json, made by scripts/extract-pqc-kat.ts), and the
 * encodings' refusals of malformed keys.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { CryptographicAlgorithm, HashingAlgorithm, KeyFormatType, ObjectType } from '../../../src/spec/generated/enums';
import { ENUM_INFO } from '../../../src/spec/generated/enums';
import { KmipError, Reason } from '../../../src/kmip/errors';
import {
  PQC_ALGORITHMS,
  generatePqcKeyPair,
  pqcAlgorithm,
  pqcDecapsulate,
  pqcEncapsulate,
  pqcKeyPairFromSeed,
  pqcSign,
  pqcVerify,
  type PqcAlgorithm,
} from '../../../src/crypto/pqc';
import { convertPqcKeyBlock, inspectPqcKeyBlock, pqcKeyBlock, readPqcBlock } from '../../../src/crypto/pqc-keys';

type Vec = Record<string, string | number | boolean>;
const KAT = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'fixtures', 'pqc', 'nist-acvp.json'), 'utf8')) as Record<string, Vec[]>;

const hex = (s: unknown): Buffer => Buffer.from(String(s), 'hex');
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const byName = (name: unknown): PqcAlgorithm => {
  const a = PQC_ALGORITHMS.find((x) => x.name === name);
  if (!a) throw new Error(`no ${String(name)}`);
  return a;
};
const HASH_BY_ACVP: Record<string, number> = { 'SHA2-224': HashingAlgorithm.SHA_224, 'SHA2-256': HashingAlgorithm.SHA_256, 'SHA2-512': HashingAlgorithm.SHA_512 };

function reasonOf(f: () => unknown): number | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof KmipError) return e.reason;
    throw e;
  }
  return undefined;
}

function block(format: number, material: Uint8Array, algorithm?: number) {
  return ttlv.structure(Tag.KeyBlock, [
    ttlv.enumeration(Tag.KeyFormatType, format),
    ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, material)]),
    ...(algorithm === undefined ? [] : [ttlv.enumeration(Tag.CryptographicAlgorithm, algorithm)]),
  ]);
}

function materialOf(b: ReturnType<typeof block>): Buffer {
  const kv = b.value.find((c) => c.tag === Tag.KeyValue);
  if (kv?.type !== 9 && kv?.type !== 1) throw new Error('no key value');
  const m = (kv.value as { tag: number; value: Uint8Array }[]).find((c) => c.tag === Tag.KeyMaterial);
  return Buffer.from(m?.value ?? []);
}

describe('enumeration values', () => {
  it('every PQC row names a generated Cryptographic Algorithm value recorded with its source', () => {
    const values = ENUM_INFO.CryptographicAlgorithm.values;
    for (const a of PQC_ALGORITHMS) {
      const v = values.find((x) => x.value === a.kmip);
      expect(v?.source).toMatch(/Cosmian/);
    }
    expect(CryptographicAlgorithm.ML_KEM_512).toBe(0x39);
    expect(CryptographicAlgorithm.SLH_DSA_SHAKE_256f).toBe(0x4a);
  });
});

describe('NIST ACVP known answers', () => {
  it.each(KAT['mlKemKeyGen']!.map((v) => [v['set'], v['tcId'], v] as const))('%s keyGen (tcId %s)', (_s, _t, v) => {
    const pair = pqcKeyPairFromSeed(byName(v['set']), Buffer.concat([hex(v['d']), hex(v['z'])]));
    expect(sha(pair.publicKey)).toBe(v['ekSha256']);
    expect(sha(pair.secretKey)).toBe(v['dkSha256']);
  });

  it.each(KAT['mlKemEncaps']!.map((v) => [v['set'], v['tcId'], v] as const))('%s encapsulation (tcId %s)', (_s, _t, v) => {
    const alg = byName(v['set']);
    const out = alg.kem!.encapsulate(hex(v['ek']), hex(v['m']));
    expect(sha(out.cipherText)).toBe(v['cSha256']);
    expect(Buffer.from(out.sharedSecret).toString('hex')).toBe(v['k']);
  });

  it.each(KAT['mlDsaKeyGen']!.map((v) => [v['set'], v['tcId'], v] as const))('%s keyGen (tcId %s)', (_s, _t, v) => {
    const pair = pqcKeyPairFromSeed(byName(v['set']), hex(v['seed']));
    expect(sha(pair.publicKey)).toBe(v['pkSha256']);
    expect(sha(pair.secretKey)).toBe(v['skSha256']);
  });

  it.each(KAT['mlDsaSigVer']!.map((v) => [v['set'], v['preHash'], v['tcId'], v] as const))('%s %s sigVer (tcId %s), through our M\' formatting', (_s, _p, _t, v) => {
    const hashing = v['preHash'] === 'preHash' ? HASH_BY_ACVP[String(v['hashAlg'])] : undefined;
    const ok = pqcVerify(byName(v['set']), hex(v['pk']), hex(v['message']), hex(v['signature']), { hashing, context: hex(v['context']) });
    expect(ok).toBe(v['testPassed']);
  });

  it.each(KAT['slhDsaKeyGen']!.map((v) => [v['set'], v['tcId'], v] as const))('%s keyGen (tcId %s)', (_s, _t, v) => {
    const alg = byName(v['set']);
    const pair = alg.signer!.keygen(Buffer.concat([hex(v['skSeed']), hex(v['skPrf']), hex(v['pkSeed'])]));
    expect(Buffer.from(pair.publicKey).toString('hex')).toBe(v['pk']);
    expect(Buffer.from(pair.secretKey).toString('hex')).toBe(v['sk']);
  });
});

// SLH-DSA takes from a second to tens of seconds per signature in JavaScript: one set here, every
// set through the server (test/integration/crypto/pqc.test.ts).
const FAST = PQC_ALGORITHMS.filter((a) => a.family !== 'slh-dsa' || a.kmip === CryptographicAlgorithm.SLH_DSA_SHA2_128f);

describe.each(FAST.map((a) => [a.name, a] as const))('%s', (_n, alg) => {
  const pair = generatePqcKeyPair(alg);

  it('round-trips its operation', () => {
    if (alg.kem) {
      const { sharedSecret, cipherText } = pqcEncapsulate(alg, pair.publicKey);
      expect(Buffer.from(pqcDecapsulate(alg, pair.secretKey, cipherText))).toEqual(Buffer.from(sharedSecret));
    } else {
      const data = Buffer.from('post-quantum');
      const sig = pqcSign(alg, pair.secretKey, data);
      expect(pqcVerify(alg, pair.publicKey, data, sig)).toBe(true);
      expect(pqcVerify(alg, pair.publicKey, Buffer.from('post-quantuM'), sig)).toBe(false);
      // Pre-hash (HashML-DSA / HashSLH-DSA): over Data or over the client's digest, the same signature scheme.
      const pre = pqcSign(alg, pair.secretKey, data, { hashing: HashingAlgorithm.SHA_256 });
      expect(pqcVerify(alg, pair.publicKey, createHash('sha256').update(data).digest(), pre, { hashing: HashingAlgorithm.SHA_256, digested: true })).toBe(true);
      expect(pqcVerify(alg, pair.publicKey, data, pre)).toBe(false);
    }
  });

  it('encodes both halves in every offered format and reads them back', () => {
    const priv = { alg, kind: 'private' as const, bytes: pair.secretKey, seed: pair.seed };
    const pub = { alg, kind: 'public' as const, bytes: pair.publicKey };
    const formats = alg.oid ? [KeyFormatType.Raw, alg.oid ? KeyFormatType.PKCS_8 : -1] : [KeyFormatType.Raw];
    for (const f of formats) {
      const b = pqcKeyBlock(priv, f);
      expect(Buffer.from(readPqcBlock(b, 'private', alg).bytes)).toEqual(Buffer.from(pair.secretKey));
      expect(inspectPqcKeyBlock(b, ObjectType.PrivateKey, undefined)).toEqual({ algorithm: alg.kmip, length: alg.publicKeyBytes * 8 });
    }
    const pubFormats = alg.oid ? [KeyFormatType.Raw, KeyFormatType.X_509] : [KeyFormatType.Raw];
    for (const f of pubFormats) {
      const b = pqcKeyBlock(pub, f);
      expect(Buffer.from(readPqcBlock(b, 'public', alg).bytes)).toEqual(Buffer.from(pair.publicKey));
    }
    if (alg.oid) {
      // SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { OID }, BIT STRING }, the OID with absent parameters.
      const der = materialOf(pqcKeyBlock(pub, KeyFormatType.X_509));
      const oidArc = Number(alg.oid.split('.').pop());
      const algId = `300b0609608648016503040${alg.family === 'ml-kem' ? '4' : '3'}${oidArc.toString(16).padStart(2, '0')}`;
      // After the outer SEQUENCE's header (2 or 4 bytes), then the BIT STRING with no unused bits.
      expect(der.toString('hex').indexOf(`${algId}03`)).toBe(der[1]! & 0x80 ? 8 : 4);
      // Converting a stored PKCS#8 block to Raw gives the expanded key, and back.
      const secrets: Uint8Array[] = [];
      const raw = convertPqcKeyBlock(pqcKeyBlock(priv, KeyFormatType.PKCS_8), ObjectType.PrivateKey, KeyFormatType.Raw, alg, secrets);
      expect(materialOf(raw)).toEqual(Buffer.from(pair.secretKey));
      expect(secrets.length).toBeGreaterThan(0);
    } else {
      expect(reasonOf(() => pqcKeyBlock(pub, KeyFormatType.X_509))).toBe(Reason.KeyFormatTypeNotSupported);
    }
  });
});

describe('malformed post-quantum keys and ciphertexts', () => {
  const kem = pqcAlgorithm(CryptographicAlgorithm.ML_KEM_768)!;
  const dsa = pqcAlgorithm(CryptographicAlgorithm.ML_DSA_44)!;
  const k = generatePqcKeyPair(kem);
  const d = generatePqcKeyPair(dsa);

  it('answers Invalid Field for a wrong-length Raw key, a truncated DER, trailing bytes and an unknown OID', () => {
    expect(reasonOf(() => readPqcBlock(block(KeyFormatType.Raw, k.publicKey.subarray(1)), 'public', kem))).toBe(Reason.InvalidField);
    const spki = materialOf(pqcKeyBlock({ alg: kem, kind: 'public', bytes: k.publicKey }, KeyFormatType.X_509));
    expect(reasonOf(() => readPqcBlock(block(KeyFormatType.X_509, spki.subarray(0, spki.length - 5)), 'public', undefined))).toBe(Reason.InvalidField);
    expect(reasonOf(() => readPqcBlock(block(KeyFormatType.X_509, Buffer.concat([spki, Buffer.from([0])])), 'public', undefined))).toBe(Reason.InvalidField);
    const wrongOid = Buffer.from(spki);
    wrongOid[16] = 0x7f;
    expect(reasonOf(() => readPqcBlock(block(KeyFormatType.X_509, wrongOid), 'public', undefined))).toBe(Reason.InvalidField);
    expect(reasonOf(() => readPqcBlock(block(KeyFormatType.Raw, Buffer.alloc(10)), 'private', undefined))).toBe(Reason.MissingData);
  });

  it('answers Invalid Field when the stated algorithm and the OID disagree', () => {
    const spki = materialOf(pqcKeyBlock({ alg: kem, kind: 'public', bytes: k.publicKey }, KeyFormatType.X_509));
    expect(reasonOf(() => readPqcBlock(block(KeyFormatType.X_509, spki), 'public', dsa))).toBe(Reason.InvalidField);
  });

  it('answers Invalid Field for an ML-KEM private key failing its hash check, an ML-KEM public key failing the modulus check', () => {
    const bad = Buffer.from(k.secretKey);
    bad[bad.length - 40] ^= 1;
    expect(reasonOf(() => readPqcBlock(block(KeyFormatType.Raw, bad), 'private', kem))).toBe(Reason.InvalidField);
    const pk = Buffer.from(k.publicKey);
    pk.fill(0xff, 0, 384);
    expect(reasonOf(() => readPqcBlock(block(KeyFormatType.Raw, pk), 'public', kem))).toBe(Reason.InvalidField);
  });

  it('reads the PKCS#8 "both" form, and answers Invalid Field when its seed and expanded key disagree', () => {
    const len = (n: number): Buffer => (n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]));
    const tlv = (tag: number, ...parts: Buffer[]): Buffer => {
      const body = Buffer.concat(parts);
      return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
    };
    const both = (seed: Uint8Array, sk: Uint8Array): Buffer =>
      tlv(0x30, Buffer.from('020100', 'hex'), tlv(0x30, Buffer.from('0609608648016503040311', 'hex')), tlv(0x04, tlv(0x30, tlv(0x04, Buffer.from(seed)), tlv(0x04, Buffer.from(sk)))));
    expect(Buffer.from(readPqcBlock(block(KeyFormatType.PKCS_8, both(d.seed!, d.secretKey)), 'private', undefined).bytes)).toEqual(Buffer.from(d.secretKey));
    const other = generatePqcKeyPair(dsa);
    expect(reasonOf(() => readPqcBlock(block(KeyFormatType.PKCS_8, both(d.seed!, other.secretKey)), 'private', undefined))).toBe(Reason.InvalidField);
    // Written with the seed alone ([0] IMPLICIT OCTET STRING) when the seed is known, the expanded key otherwise.
    expect(materialOf(pqcKeyBlock({ alg: dsa, kind: 'private', bytes: d.secretKey, seed: d.seed }, KeyFormatType.PKCS_8)).subarray(18, 22).toString('hex')).toBe('04228020');
    expect(materialOf(pqcKeyBlock({ alg: dsa, kind: 'private', bytes: d.secretKey }, KeyFormatType.PKCS_8)).length).toBe(d.secretKey.length + 28);
  });

  it('reads the seed-only PKCS#8 form (what OpenSSL and pyca export) and a Raw seed', () => {
    const oid = Buffer.from('0609608648016503040311', 'hex');
    const seedOnly = Buffer.concat([Buffer.from('3034020100300b', 'hex'), oid, Buffer.from('04228020', 'hex'), d.seed!]);
    expect(Buffer.from(readPqcBlock(block(KeyFormatType.PKCS_8, seedOnly), 'private', undefined).bytes)).toEqual(Buffer.from(d.secretKey));
    expect(Buffer.from(readPqcBlock(block(KeyFormatType.Raw, d.seed!), 'private', dsa).bytes)).toEqual(Buffer.from(d.secretKey));
  });

  it('decapsulation: a wrong-length ciphertext is Invalid Field; a tampered one yields another secret (implicit rejection)', () => {
    const { sharedSecret, cipherText } = pqcEncapsulate(kem, k.publicKey);
    expect(reasonOf(() => pqcDecapsulate(kem, k.secretKey, cipherText.subarray(1)))).toBe(Reason.InvalidField);
    const t = Buffer.from(cipherText);
    t[0] ^= 1;
    expect(Buffer.from(pqcDecapsulate(kem, k.secretKey, t))).not.toEqual(Buffer.from(sharedSecret));
  });

  it('signatures: a garbage signature is Invalid, a digest of the wrong size or without its hash is refused', () => {
    expect(pqcVerify(dsa, d.publicKey, Buffer.from('x'), Buffer.alloc(7))).toBe(false);
    expect(reasonOf(() => pqcSign(dsa, d.secretKey, Buffer.alloc(31), { hashing: HashingAlgorithm.SHA_256, digested: true }))).toBe(Reason.InvalidField);
    expect(reasonOf(() => pqcSign(dsa, d.secretKey, Buffer.alloc(32), { digested: true }))).toBe(Reason.MissingData);
    expect(reasonOf(() => pqcSign(dsa, d.secretKey, Buffer.alloc(32), { hashing: HashingAlgorithm.MD5 }))).toBe(Reason.InvalidField);
    expect(reasonOf(() => pqcSign(kem, k.secretKey, Buffer.alloc(32)))).toBe(Reason.InvalidField);
  });
});
