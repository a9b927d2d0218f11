/**
 * Certify and Re-certify through handleMessage (real SQLite, real SoftHSM2), in KMIP 1.4 and 2.1:
 * a self-signed CA certificate for a managed key pair, a leaf signed by it (from the managed public
 * key, and from a PKCS#10 request in DER and PEM), links, the ID Placeholder, renewal with the
 * links and names moving, and the refusals (wrong object type, a key without Certificate Sign, a
 * request whose signature fails, another client's key). Certificates are checked with OpenSSL.
 */
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import {
  CertificateRequestType,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  LinkType,
  NameType,
  ObjectType,
  Operation,
  RecommendedCurve,
  ResultReason,
} from '../../../src/spec/generated/enums';
import type { KmipAttribute } from '../../../src/kmip/attributes';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { attributesFor, find, successPayload, textOf } from '../../helpers/kmip-client';
import { csr } from '../../helpers/pkcs10';
import { ENCRYPT_DECRYPT, VERSIONS, attributeValues, createAes, failure, openHarness, uidItem, type Harness } from '../../helpers/ops-harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness('certify');
});
afterAll(async () => {
  await h.close();
});

const now = () => BigInt(Math.floor(Date.now() / 1000));
const active = (): KmipAttribute => ({ name: 'Activation Date', value: ttlv.dateTime(Tag.ActivationDate, now() - 60n) });
const mask = (m: number): KmipAttribute => ({ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, m) });
const named = (n: string): KmipAttribute => ({
  name: 'Name',
  value: ttlv.structure(Tag.Name, [ttlv.textString(Tag.NameValue, n), ttlv.enumeration(Tag.NameType, NameType.UninterpretedTextString)]),
});
const link = (type: number, uid: string): KmipAttribute => ({
  name: 'Link',
  value: ttlv.structure(Tag.Link, [ttlv.enumeration(Tag.LinkType, type), ttlv.textString(Tag.LinkedObjectIdentifier, uid)]),
});

async function createPair(v: ProtocolVersion, privMask: number, pubMask: number, activated = true): Promise<{ priv: string; pub: string }> {
  const wrap = (t1: number, t2: number, a: KmipAttribute[]) => ttlv.structure(v.major >= 2 ? t2 : t1, (attributesFor(v, a) as TtlvStructure).value);
  const common: KmipAttribute[] = [
    { name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.EC) },
    { name: 'Cryptographic Domain Parameters', value: ttlv.structure(Tag.CryptographicDomainParameters, [ttlv.enumeration(Tag.RecommendedCurve, RecommendedCurve.P_256)]) },
    ...(activated ? [active()] : []),
  ];
  const p = successPayload(
    await h.send(v, Operation.CreateKeyPair, [
      wrap(Tag.CommonTemplateAttribute, Tag.CommonAttributes, common),
      wrap(Tag.PrivateKeyTemplateAttribute, Tag.PrivateKeyAttributes, [mask(privMask)]),
      wrap(Tag.PublicKeyTemplateAttribute, Tag.PublicKeyAttributes, [mask(pubMask)]),
    ]),
  );
  return { priv: textOf(p, Tag.PrivateKeyUniqueIdentifier)!, pub: textOf(p, Tag.PublicKeyUniqueIdentifier)! };
}

async function certify(v: ProtocolVersion, items: TtlvItem[], attrs: KmipAttribute[]): Promise<string> {
  return textOf(successPayload(await h.send(v, Operation.Certify, [...items, attributesFor(v, attrs)])), Tag.UniqueIdentifier)!;
}

async function getCertificate(v: ProtocolVersion, uid: string): Promise<X509Certificate> {
  const p = successPayload(await h.send(v, Operation.Get, [uidItem(uid)]));
  const value = find(find(p, Tag.Certificate) as TtlvStructure, Tag.CertificateValue);
  if (value?.type !== ItemType.ByteString) throw new Error('no certificate value');
  return new X509Certificate(Buffer.from(value.value));
}

async function links(v: ProtocolVersion, uid: string): Promise<{ type: unknown; uid: unknown }[]> {
  return (await attributeValues(h, v, uid, 'Link', Tag.Link)).map((l) => ({
    type: find(l as TtlvStructure, Tag.LinkType)?.value,
    uid: find(l as TtlvStructure, Tag.LinkedObjectIdentifier)?.value,
  }));
}

function requestItems(v: ProtocolVersion, type: number, value: Buffer): TtlvItem[] {
  return [ttlv.enumeration(Tag.CertificateRequestType, type), ttlv.byteString(v.major >= 2 ? Tag.CertificateRequestValue : Tag.CertificateRequest, value)];
}

const CA_PRIV = CryptographicUsageMask.Sign | CryptographicUsageMask.CertificateSign;
const CA_PUB = CryptographicUsageMask.Verify | CryptographicUsageMask.CertificateSign;

describe.each(VERSIONS)('KMIP %s Certify and Re-certify', (_label, v) => {
  let ca: { priv: string; pub: string; cert: string; x509: X509Certificate };

  test('a Pre-Active signing key certifies (the lifecycle table\'s certify rule, as the reference servers do)', async () => {
    const pair = await createPair(v, CA_PRIV, CA_PUB, false);
    const uid = await certify(v, [uidItem(pair.pub)], [named(`pre-active-root-${v.major}${v.minor}`)]);
    const x509 = await getCertificate(v, uid);
    expect(x509.verify(x509.publicKey)).toBe(true);
  });

  beforeAll(async () => {
    const pair = await createPair(v, CA_PRIV, CA_PUB);
    const cert = await certify(v, [uidItem(pair.pub)], [named(`root-${v.major}${v.minor}`), active()]);
    ca = { ...pair, cert, x509: await getCertificate(v, cert) };
  });

  test('a self-signed CA certificate for a managed key pair, linked both ways', async () => {
    expect(ca.x509.subject).toBe(`CN=root-${v.major}${v.minor}`);
    expect(ca.x509.issuer).toBe(ca.x509.subject);
    expect(ca.x509.ca).toBe(true);
    expect(ca.x509.verify(ca.x509.publicKey)).toBe(true);
    expect(await links(v, ca.cert)).toEqual([{ type: LinkType.PublicKeyLink, uid: ca.pub }]);
    expect(await links(v, ca.pub)).toContainEqual({ type: LinkType.CertificateLink, uid: ca.cert });
    // The certificate attributes come from the certificate itself, as for a registered one.
    expect((await attributeValues(h, v, ca.cert, 'Certificate Type', Tag.CertificateType))[0]?.value).toBe(1);
  });

  test('a leaf for a managed public key, signed by the CA the Certificate Link names', async () => {
    const leaf = await createPair(v, CryptographicUsageMask.Sign, CryptographicUsageMask.Verify);
    const uid = await certify(v, [uidItem(leaf.pub)], [named('leaf.example'), link(LinkType.CertificateLink, ca.cert)]);
    const x = await getCertificate(v, uid);
    expect(x.subject).toBe('CN=leaf.example');
    expect(x.checkIssued(ca.x509)).toBe(true);
    expect(x.verify(ca.x509.publicKey)).toBe(true);
    expect(x.ca).toBe(false);
    expect(Date.parse(x.validTo)).toBeLessThanOrEqual(Date.parse(ca.x509.validTo));
    expect((await links(v, uid)).sort((a, b) => Number(a.type) - Number(b.type))).toEqual([
      { type: LinkType.CertificateLink, uid: ca.cert },
      { type: LinkType.PublicKeyLink, uid: leaf.pub },
    ]);
  });

  test.each([
    ['PKCS#10 (DER)', CertificateRequestType.PKCS_10, (d: Buffer) => d],
    ['PEM', CertificateRequestType.PEM, (d: Buffer) => Buffer.from(`-----BEGIN CERTIFICATE REQUEST-----\n${d.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`)],
  ])('a leaf from a %s certificate request: its subject and key, no managed public key needed', async (_n, type, encode) => {
    const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const uid = await certify(v, requestItems(v, type, encode(csr('from-a-csr', key))), [link(LinkType.CertificateLink, ca.cert)]);
    const x = await getCertificate(v, uid);
    expect(x.subject).toBe('CN=from-a-csr');
    expect(x.publicKey.export({ type: 'spki', format: 'der' }).equals(key.publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
    expect(x.verify(ca.x509.publicKey)).toBe(true);
  });

  test('a request whose signature does not verify is refused (Invalid CSR in 2.x, Invalid Field in 1.x)', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const r = await h.send(v, Operation.Certify, [...requestItems(v, CertificateRequestType.PKCS_10, csr('x', key, true)), attributesFor(v, [link(LinkType.CertificateLink, ca.cert)])]);
    expect(failure(r)).toBe(v.major >= 2 ? ResultReason.InvalidCSR : ResultReason.InvalidField);
  });

  test('Create Key Pair then Certify in one batch (ID Placeholder), then Get the certificate', async () => {
    // The placeholder names the private key after Create Key Pair: Certify needs a public key.
    const pair = await createPair(v, CryptographicUsageMask.Sign, CryptographicUsageMask.Verify);
    const r = await h.batch(v, [
      { operation: Operation.Certify, payload: [uidItem(pair.pub), attributesFor(v, [link(LinkType.CertificateLink, ca.cert)])] },
      { operation: Operation.Get, payload: [] },
    ]);
    expect(find(r.items[1]!.payload!, Tag.ObjectType)?.value).toBe(ObjectType.Certificate);
    expect(find(r.items[1]!.payload!, Tag.UniqueIdentifier)?.value).toBe(find(r.items[0]!.payload!, Tag.UniqueIdentifier)?.value);
  });

  test('Re-certify: same key and subject, signed by the same CA; names and links move to the new certificate', async () => {
    const leaf = await createPair(v, CryptographicUsageMask.Sign, CryptographicUsageMask.Verify);
    const old = await certify(v, [uidItem(leaf.pub)], [named(`renew-me-${v.major}${v.minor}`), link(LinkType.CertificateLink, ca.cert), active()]);
    const p = successPayload(await h.send(v, Operation.ReCertify, [uidItem(old), attributesFor(v, [])]));
    const renewed = textOf(p, Tag.UniqueIdentifier)!;
    expect(renewed).not.toBe(old);
    const [a, b] = [await getCertificate(v, old), await getCertificate(v, renewed)];
    expect(b.subject).toBe(a.subject);
    expect(b.serialNumber).not.toBe(a.serialNumber);
    expect(b.publicKey.export({ type: 'spki', format: 'der' }).equals(a.publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
    expect(b.verify(ca.x509.publicKey)).toBe(true);
    expect(await links(v, old)).toContainEqual({ type: LinkType.ReplacementObjectLink, uid: renewed });
    expect(await links(v, renewed)).toEqual(
      expect.arrayContaining([
        { type: LinkType.ReplacedObjectLink, uid: old },
        { type: LinkType.PublicKeyLink, uid: leaf.pub },
        { type: LinkType.CertificateLink, uid: ca.cert },
      ]),
    );
    const pubLinks = await links(v, leaf.pub);
    expect(pubLinks).toContainEqual({ type: LinkType.CertificateLink, uid: renewed });
    expect(pubLinks).not.toContainEqual({ type: LinkType.CertificateLink, uid: old });
    expect(await attributeValues(h, v, old, 'Name', Tag.Name)).toEqual([]);
    expect((await attributeValues(h, v, renewed, 'Name', Tag.Name)).length).toBe(1);
    // Activation Date copied (no Offset): the new certificate is Active too.
    expect((await attributeValues(h, v, renewed, 'State', Tag.State))[0]?.value).toBe(2);
  });

  test('Re-certify a self-signed certificate signs it again with its own key', async () => {
    const p = successPayload(await h.send(v, Operation.ReCertify, [uidItem(ca.cert), attributesFor(v, [])]));
    const x = await getCertificate(v, textOf(p, Tag.UniqueIdentifier)!);
    expect(x.issuer).toBe(x.subject);
    expect(x.verify(ca.x509.publicKey)).toBe(true);
    expect(x.ca).toBe(true);
  });

  test('Offset with an Activation Date is Invalid Message', async () => {
    const r = await h.send(v, Operation.ReCertify, [uidItem(ca.cert), ttlv.interval(Tag.Offset, 60), attributesFor(v, [active()])]);
    expect(failure(r)).toBe(ResultReason.InvalidMessage);
  });

  test('refusals: a symmetric key, an issuer key without Certificate Sign, another client\'s key', async () => {
    const aes = await createAes(h, v, [], ENCRYPT_DECRYPT);
    expect(failure(await h.send(v, Operation.Certify, [uidItem(aes), attributesFor(v, [])]))).toBe(v.major >= 2 ? ResultReason.InvalidObjectType : ResultReason.PermissionDenied);
    const plain = await createPair(v, CryptographicUsageMask.Sign, CryptographicUsageMask.Verify);
    const selfCert = await certify(v, [uidItem(plain.pub)], [active()]);
    const leaf = await createPair(v, CryptographicUsageMask.Sign, CryptographicUsageMask.Verify);
    // The self-signed certificate is not a CA (no Certificate Sign): it cannot issue.
    const r = await h.send(v, Operation.Certify, [uidItem(leaf.pub), attributesFor(v, [link(LinkType.CertificateLink, selfCert)])]);
    expect(failure(r)).toBe(ResultReason.PermissionDenied);
    const m = await h.send(v, Operation.Certify, [uidItem(leaf.pub), attributesFor(v, [])], { name: 'mallory', isAdmin: false });
    expect(failure(m)).toBe(v.major >= 2 ? ResultReason.ObjectNotFound : ResultReason.ItemNotFound);
  });

  test('a public key whose private key may not sign certificates gets no self-signed certificate', async () => {
    const pair = await createPair(v, CryptographicUsageMask.Decrypt, CryptographicUsageMask.Encrypt);
    const r = await h.send(v, Operation.Certify, [uidItem(pair.pub), attributesFor(v, [])]);
    expect(failure(r)).toBe(v.major >= 2 ? ResultReason.IncompatibleCryptographicUsageMask : ResultReason.PermissionDenied);
  });
});
