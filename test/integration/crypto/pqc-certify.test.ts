/**
 * Certify and Re-certify with post-quantum keys through a real TLS client against the real listener
 * (real SQLite, keys wrapped by a real SoftHSM2 token): ML-DSA (and an SLH-DSA "f" set) CA keys sign
 * certificates as RFC 9881 / RFC 9909 say (the key's NIST OID as signature algorithm, parameters
 * absent); PQC subject keys are certified under PQC and under ECDSA CAs, from a managed public key
 * and from a PKCS#10 request signed with ML-DSA. Every issued certificate is checked with
 * @noble/post-quantum (this machine's OpenSSL is 3.0, which knows no ML-DSA) or, for an ECDSA
 * signature, with OpenSSL through Node.
 */
import { X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import { KmipClient, KmipResultError, attribute, newObjectAttributes } from '../../../src/client';
import { ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import {
  CertificateRequestType,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  KeyFormatType,
  LinkType,
  NameType,
  Operation,
  RecommendedCurve,
  ResultStatus,
} from '../../../src/spec/generated/enums';
import { Tag } from '../../../src/spec/generated/tags';
import type { KmipAttribute } from '../../../src/kmip/attributes';
import { PQC_ALGORITHMS, type PqcAlgorithm } from '../../../src/crypto/pqc';
import { useTestListener, type TestListener } from '../../helpers/test-listener';
import { getMaterial, pqcClient } from './pqc-helpers';

jest.setTimeout(300_000);
const t: TestListener = useTestListener();
let c: KmipClient;
beforeAll(() => {
  c = pqcClient(t);
});
afterAll(() => c.close());

const byName = (n: string): PqcAlgorithm => PQC_ALGORITHMS.find((a) => a.name === n) as PqcAlgorithm;
const M = CryptographicUsageMask;
const CA = { priv: M.Sign | M.CertificateSign, pub: M.Verify | M.CertificateSign };
const SIGNER = { priv: M.Sign, pub: M.Verify };

const named = (n: string): KmipAttribute =>
  attribute('Name', ttlv.structure(Tag.Name, [ttlv.textString(Tag.NameValue, n), ttlv.enumeration(Tag.NameType, NameType.UninterpretedTextString)]));
const link = (type: number, uid: string): KmipAttribute =>
  attribute('Link', ttlv.structure(Tag.Link, [ttlv.enumeration(Tag.LinkType, type), ttlv.textString(Tag.LinkedObjectIdentifier, uid)]));

interface Pair {
  readonly priv: string;
  readonly pub: string;
}

async function pair(common: KmipAttribute[], masks: { priv: number; pub: number }): Promise<Pair> {
  const r = await c.createKeyPair({
    common,
    privateKey: [attribute('Cryptographic Usage Mask', masks.priv)],
    publicKey: [attribute('Cryptographic Usage Mask', masks.pub)],
  });
  await c.activate(r.privateKeyUniqueIdentifier);
  await c.activate(r.publicKeyUniqueIdentifier);
  return { priv: r.privateKeyUniqueIdentifier, pub: r.publicKeyUniqueIdentifier };
}

const pqcPair = (alg: PqcAlgorithm, masks: { priv: number; pub: number }) => pair([attribute('Cryptographic Algorithm', alg.kmip)], masks);
const ecPair = (masks: { priv: number; pub: number }) =>
  pair(
    [
      attribute('Cryptographic Algorithm', CryptographicAlgorithm.EC),
      attribute('Cryptographic Domain Parameters', ttlv.structure(Tag.CryptographicDomainParameters, [ttlv.enumeration(Tag.RecommendedCurve, RecommendedCurve.P_256)])),
    ],
    masks,
  );

async function operation(op: number, items: TtlvItem[]): Promise<string> {
  const [r] = await c.send([{ operation: op, payload: items }], { version: V21 });
  if (r?.status !== ResultStatus.Success) throw new KmipResultError(op, r?.status ?? 0, r?.reason, r?.message);
  const uid = r.payload?.find((i) => i.tag === Tag.UniqueIdentifier);
  if (uid?.value === undefined || typeof uid.value !== 'string') throw new Error('no Unique Identifier answered');
  return uid.value;
}

const V21 = { major: 2, minor: 1 } as const;
const attributesItem = (attrs: KmipAttribute[]): TtlvStructure => newObjectAttributes(V21, attrs);
const certify = (items: TtlvItem[], attrs: KmipAttribute[]) => operation(Operation.Certify, [...items, attributesItem(attrs)]);
const uidItem = (uid: string) => ttlv.textString(Tag.UniqueIdentifier, uid);

async function certificateOf(uid: string): Promise<Buffer> {
  const g = await c.get(uid);
  if (!g.value) throw new Error(`object ${uid} holds no certificate`);
  return Buffer.from(g.value);
}

interface Parsed {
  readonly tbs: Uint8Array;
  readonly outerAlgorithm: asn1js.Sequence;
  readonly innerAlgorithm: asn1js.Sequence;
  readonly signature: Uint8Array;
}

function parse(der: Buffer): Parsed {
  const cert = asn1js.fromBER(Uint8Array.from(der)).result as asn1js.Sequence;
  const [tbs, alg, sig] = cert.valueBlock.value as [asn1js.Sequence, asn1js.Sequence, asn1js.BitString];
  return {
    tbs: new Uint8Array(tbs.valueBeforeDecodeView),
    outerAlgorithm: alg,
    innerAlgorithm: tbs.valueBlock.value[2] as asn1js.Sequence,
    signature: new Uint8Array(sig.valueBlock.valueHexView),
  };
}

/** RFC 9881 / 9909: the signature AlgorithmIdentifier is the key's OID alone, in both places, and the signature verifies. */
function expectSignedBy(der: Buffer, alg: PqcAlgorithm, issuerRawPublic: Uint8Array): void {
  const p = parse(der);
  for (const a of [p.outerAlgorithm, p.innerAlgorithm]) {
    expect(a.valueBlock.value).toHaveLength(1);
    expect((a.valueBlock.value[0] as asn1js.ObjectIdentifier).valueBlock.toString()).toBe(alg.oid);
  }
  expect(alg.signer!.verify(p.signature, p.tbs, issuerRawPublic)).toBe(true);
  const tampered = Uint8Array.from(p.tbs);
  tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1;
  expect(alg.signer!.verify(p.signature, tampered, issuerRawPublic)).toBe(false);
}

const spkiOfCertificate = (der: Buffer): Buffer => {
  const tbs = (asn1js.fromBER(Uint8Array.from(der)).result as asn1js.Sequence).valueBlock.value[0] as asn1js.Sequence;
  return Buffer.from(tbs.valueBlock.value[6]!.valueBeforeDecodeView);
};

/** The KeyUsage bits set (0 digitalSignature, 2 keyEncipherment, 5 keyCertSign, ...), read from the DER. */
function keyUsageBits(der: Buffer): number[] {
  const tbs = (asn1js.fromBER(Uint8Array.from(der)).result as asn1js.Sequence).valueBlock.value[0] as asn1js.Sequence;
  const wrapper = tbs.valueBlock.value.find((x) => x.idBlock.tagClass === 3 && x.idBlock.tagNumber === 3) as asn1js.Constructed;
  const exts = (wrapper.valueBlock.value[0] as asn1js.Sequence).valueBlock.value as asn1js.Sequence[];
  const ku = exts.find((e) => (e.valueBlock.value[0] as asn1js.ObjectIdentifier).valueBlock.toString() === '2.5.29.15');
  const octets = ku!.valueBlock.value[ku!.valueBlock.value.length - 1] as asn1js.OctetString;
  const bits = asn1js.fromBER(octets.valueBlock.valueHexView).result as asn1js.BitString;
  const bytes = new Uint8Array(bits.valueBlock.valueHexView);
  const out: number[] = [];
  for (let i = 0; i < bytes.length * 8; i++) if (((bytes[i >> 3] as number) & (0x80 >> (i & 7))) !== 0) out.push(i);
  return out;
}

describe.each(['ML-DSA-44', 'ML-DSA-65', 'ML-DSA-87', 'SLH-DSA-SHA2-128f'].map((n) => [n, byName(n)] as const))('a %s CA', (name, alg) => {
  let ca: Pair & { cert: string; der: Buffer; raw: Buffer };
  beforeAll(async () => {
    const keys = await pqcPair(alg, CA);
    const cert = await certify([uidItem(keys.pub)], [named(`${name} root`)]);
    await c.activate(cert);
    ca = { ...keys, cert, der: await certificateOf(cert), raw: await getMaterial(c, keys.pub, KeyFormatType.Raw) };
  });

  it('self-signs its CA certificate with its own algorithm (OID alone, parameters absent)', async () => {
    expectSignedBy(ca.der, alg, ca.raw);
    const x = new X509Certificate(ca.der);
    expect(x.ca).toBe(true);
    expect(x.subject).toBe(`CN=${name} root`);
    expect(x.issuer).toBe(x.subject);
    // The subject key is the managed public key, as its SubjectPublicKeyInfo.
    expect(spkiOfCertificate(ca.der)).toEqual(await getMaterial(c, ca.pub, KeyFormatType.X_509));
    const attrs = await c.getAttributes(ca.cert, ['Cryptographic Algorithm']);
    expect(attrs.attributes.find((a) => a.name === 'Cryptographic Algorithm')?.value.value).toBe(alg.kmip);
  });

  it('signs a leaf for an ECDSA P-256 key and one for an ML-KEM-768 key', async () => {
    const ec = await ecPair(SIGNER);
    const ecLeaf = await certificateOf(await certify([uidItem(ec.pub)], [named('ec leaf'), link(LinkType.CertificateLink, ca.cert)]));
    expectSignedBy(ecLeaf, alg, ca.raw);
    const x = new X509Certificate(ecLeaf);
    expect(x.issuer).toBe(`CN=${name} root`);
    expect(x.ca).toBe(false);
    expect(x.publicKey.export({ type: 'spki', format: 'der' })).toEqual(await getMaterial(c, ec.pub, KeyFormatType.X_509));

    const kem = await pqcPair(byName('ML-KEM-768'), { priv: M.Decrypt, pub: M.Encrypt });
    const kemLeaf = await certificateOf(await certify([uidItem(kem.pub)], [named('kem leaf'), link(LinkType.CertificateLink, ca.cert)]));
    expectSignedBy(kemLeaf, alg, ca.raw);
    expect(spkiOfCertificate(kemLeaf)).toEqual(await getMaterial(c, kem.pub, KeyFormatType.X_509));
    // RFC 9935: an ML-KEM certificate's Key Usage is keyEncipherment alone (its mask said Encrypt).
    expect(keyUsageBits(kemLeaf)).toEqual([2]);
    // RFC 9881 / 9909: a signature key's Key Usage has signature bits only; a CA's has keyCertSign.
    expect(keyUsageBits(ca.der)).toEqual([0, 5]);
  });

  it('re-certifies its own certificate and a leaf it signed', async () => {
    const again = await operation(Operation.ReCertify, [uidItem(ca.cert), attributesItem([])]);
    const renewed = await certificateOf(again);
    expectSignedBy(renewed, alg, ca.raw);
    expect(new X509Certificate(renewed).ca).toBe(true);

    const leafKeys = await pqcPair(alg, SIGNER);
    const leaf = await certify([uidItem(leafKeys.pub)], [named('pqc leaf'), link(LinkType.CertificateLink, ca.cert)]);
    const renewedLeaf = await certificateOf(await operation(Operation.ReCertify, [uidItem(leaf), attributesItem([])]));
    expectSignedBy(renewedLeaf, alg, ca.raw);
    expect(spkiOfCertificate(renewedLeaf)).toEqual(await getMaterial(c, leafKeys.pub, KeyFormatType.X_509));
  });
});

describe('post-quantum subjects under an ECDSA CA, and ML-DSA certificate requests', () => {
  let ec: Pair & { cert: string; x509: X509Certificate };
  beforeAll(async () => {
    const keys = await ecPair(CA);
    const cert = await certify([uidItem(keys.pub)], [named('ecdsa root')]);
    await c.activate(cert);
    ec = { ...keys, cert, x509: new X509Certificate(await certificateOf(cert)) };
  });

  it('an ECDSA CA certifies an ML-DSA-65 public key: OpenSSL checks the ECDSA signature, the SPKI is the key\'s', async () => {
    const alg = byName('ML-DSA-65');
    const keys = await pqcPair(alg, SIGNER);
    const der = await certificateOf(await certify([uidItem(keys.pub)], [named('ml-dsa under ecdsa'), link(LinkType.CertificateLink, ec.cert)]));
    const x = new X509Certificate(der);
    expect(x.verify(ec.x509.publicKey)).toBe(true);
    expect(x.issuer).toBe('CN=ecdsa root');
    expect((parse(der).outerAlgorithm.valueBlock.value[0] as asn1js.ObjectIdentifier).valueBlock.toString()).toBe('1.2.840.10045.4.3.2');
    expect(spkiOfCertificate(der)).toEqual(await getMaterial(c, keys.pub, KeyFormatType.X_509));
  });

  it('a PKCS#10 request signed with ML-DSA-44 is certified; a tampered one is refused', async () => {
    const alg = byName('ML-DSA-44');
    const keys = alg.signer!.keygen();
    const spki = asn1js.fromBER(Uint8Array.from(pqcSpkiDer(alg, keys.publicKey))).result;
    const name = new asn1js.Sequence({
      value: [new asn1js.Set({ value: [new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: '2.5.4.3' }), new asn1js.Utf8String({ value: 'csr subject' })] })] })],
    });
    const info = new asn1js.Sequence({ value: [new asn1js.Integer({ value: 0 }), name, spki, new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [] })] });
    const infoDer = new Uint8Array(info.toBER(false));
    const request = (signature: Uint8Array) =>
      Buffer.from(
        new asn1js.Sequence({
          value: [info, new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: alg.oid as string })] }), new asn1js.BitString({ valueHex: signature, unusedBits: 0 })],
        }).toBER(false),
      );
    const signature = alg.signer!.sign(infoDer, keys.secretKey);
    const items = (der: Buffer) => [ttlv.enumeration(Tag.CertificateRequestType, CertificateRequestType.PKCS_10), ttlv.byteString(Tag.CertificateRequestValue, der)];
    const der = await certificateOf(await certify(items(request(signature)), [link(LinkType.CertificateLink, ec.cert)]));
    const x = new X509Certificate(der);
    expect(x.subject).toBe('CN=csr subject');
    expect(x.verify(ec.x509.publicKey)).toBe(true);
    expect(spkiOfCertificate(der)).toEqual(pqcSpkiDer(alg, keys.publicKey));

    const bad = Uint8Array.from(signature);
    bad[0] = (bad[0] as number) ^ 1;
    await expect(certify(items(request(bad)), [link(LinkType.CertificateLink, ec.cert)])).rejects.toThrow(/signature does not verify/);
  });
});

/** SubjectPublicKeyInfo of a raw PQC public key, built here from the RFC's layout (OID alone, BIT STRING). */
function pqcSpkiDer(alg: PqcAlgorithm, raw: Uint8Array): Buffer {
  return Buffer.from(
    new asn1js.Sequence({
      value: [new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: alg.oid as string })] }), new asn1js.BitString({ valueHex: raw, unusedBits: 0 })],
    }).toBER(false),
  );
}
