/**
 * The Certificate Request managed object (KMIP 2.0 on) through handleMessage (real SQLite, real
 * SoftHSM2): Register (a PKCS#10 request must be valid; CRMF is kept as given), Get, Get
 * Attributes, Get Attribute List, Locate by Object Type, Destroy; Certify from a stored request by
 * Certificate Request Unique Identifier, and by the ID Placeholder after a Register in the same
 * batch; Query claims the type in 2.1 and not in 1.4, where the type does not exist.
 */
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import {
  CertificateRequestType,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  LinkType,
  ObjectType,
  Operation,
  QueryFunction,
  RecommendedCurve,
  ResultReason,
  ResultStatus,
} from '../../../src/spec/generated/enums';
import type { KmipAttribute } from '../../../src/kmip/attributes';
import { allOf, attributesFor, find, successPayload, textOf } from '../../helpers/kmip-client';
import { csr } from '../../helpers/pkcs10';
import { V14, V21, attributeValues, bytesOf, createAes, failure, nameValue, openHarness, uidItem, type Harness } from '../../helpers/ops-harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness('certificate-request');
});
afterAll(async () => {
  await h.close();
});

const v = V21;
const named = (n: string): KmipAttribute => ({ name: 'Name', value: nameValue(n) });
const link = (type: number, uid: string): KmipAttribute => ({
  name: 'Link',
  value: ttlv.structure(Tag.Link, [ttlv.enumeration(Tag.LinkType, type), ttlv.textString(Tag.LinkedObjectIdentifier, uid)]),
});

function requestBody(type: number, value: Buffer): TtlvItem {
  return ttlv.structure(Tag.CertificateRequest, [ttlv.enumeration(Tag.CertificateRequestType, type), ttlv.byteString(Tag.CertificateRequestValue, value)]);
}

function registerPayload(body: TtlvItem, attrs: KmipAttribute[] = []): TtlvItem[] {
  return [ttlv.enumeration(Tag.ObjectType, ObjectType.CertificateRequest), attributesFor(v, attrs), body];
}

async function registerRequest(body: TtlvItem, attrs: KmipAttribute[] = []): Promise<string> {
  return textOf(successPayload(await h.send(v, Operation.Register, registerPayload(body, attrs))), Tag.UniqueIdentifier)!;
}

/** A self-signed, Active CA certificate for a managed EC key pair: the issuer of the certificates below. */
async function createCa(): Promise<string> {
  const mask = (m: number): KmipAttribute => ({ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, m) });
  const wrap = (tag: number, a: KmipAttribute[]) => ttlv.structure(tag, (attributesFor(v, a) as TtlvStructure).value);
  const pair = successPayload(
    await h.send(v, Operation.CreateKeyPair, [
      wrap(Tag.CommonAttributes, [
        { name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.EC) },
        { name: 'Cryptographic Domain Parameters', value: ttlv.structure(Tag.CryptographicDomainParameters, [ttlv.enumeration(Tag.RecommendedCurve, RecommendedCurve.P_256)]) },
      ]),
      wrap(Tag.PrivateKeyAttributes, [mask(CryptographicUsageMask.Sign | CryptographicUsageMask.CertificateSign)]),
      wrap(Tag.PublicKeyAttributes, [mask(CryptographicUsageMask.Verify | CryptographicUsageMask.CertificateSign)]),
    ]),
  );
  const pub = textOf(pair, Tag.PublicKeyUniqueIdentifier)!;
  const cert = textOf(successPayload(await h.send(v, Operation.Certify, [uidItem(pub), attributesFor(v, [named('csr-test-root')])])), Tag.UniqueIdentifier)!;
  successPayload(await h.send(v, Operation.Activate, [uidItem(cert)]));
  return cert;
}

async function certificateOf(uid: string): Promise<X509Certificate> {
  const p = successPayload(await h.send(v, Operation.Get, [uidItem(uid)]));
  return new X509Certificate(bytesOf(find(find(p, Tag.Certificate) as TtlvStructure, Tag.CertificateValue)));
}

const spki = (k: { export(o: { type: 'spki'; format: 'der' }): Buffer }) => k.export({ type: 'spki', format: 'der' });

describe('KMIP 2.1 Certificate Request objects', () => {
  const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const der = csr('stored-request', key);

  test('Register, Get (the body as registered), Get Attributes, Locate by Object Type, Destroy', async () => {
    const uid = await registerRequest(requestBody(CertificateRequestType.PKCS_10, der), [named('a-stored-csr')]);
    const got = successPayload(await h.send(v, Operation.Get, [uidItem(uid)]));
    expect(find(got, Tag.ObjectType)?.value).toBe(ObjectType.CertificateRequest);
    const body = find(got, Tag.CertificateRequest) as TtlvStructure;
    expect(body.type).toBe(ItemType.Structure);
    expect(find(body, Tag.CertificateRequestType)?.value).toBe(CertificateRequestType.PKCS_10);
    expect(bytesOf(find(body, Tag.CertificateRequestValue)).equals(der)).toBe(true);

    expect((await attributeValues(h, v, uid, 'Object Type', Tag.ObjectType))[0]?.value).toBe(ObjectType.CertificateRequest);
    expect((await attributeValues(h, v, uid, 'Name', Tag.Name)).length).toBe(1);
    // Every attribute, and the list of their names, as for any object.
    const all = find(successPayload(await h.send(v, Operation.GetAttributes, [uidItem(uid)])), Tag.Attributes) as TtlvStructure;
    expect(find(all, Tag.State)).toBeDefined();
    const names = allOf(successPayload(await h.send(v, Operation.GetAttributeList, [uidItem(uid)])), Tag.AttributeReference).map((r) => r.value);
    expect(names).toEqual(expect.arrayContaining([Tag.ObjectType, Tag.UniqueIdentifier, Tag.Name]));

    const aes = await createAes(h, v);
    const located = successPayload(await h.send(v, Operation.Locate, [attributesFor(v, [{ name: 'Object Type', value: ttlv.enumeration(Tag.ObjectType, ObjectType.CertificateRequest) }])]));
    const found = allOf(located, Tag.UniqueIdentifier).map((i) => i.value);
    expect(found).toContain(uid);
    expect(found).not.toContain(aes);

    successPayload(await h.send(v, Operation.Destroy, [uidItem(uid)]));
    expect(failure(await h.send(v, Operation.Get, [uidItem(uid)]))).toBe(ResultReason.ObjectDestroyed);
  });

  test('a PEM request is kept as registered; a CRMF request is kept as given', async () => {
    const pem = Buffer.from(`-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`);
    const pemUid = await registerRequest(requestBody(CertificateRequestType.PEM, pem));
    const crmf = Buffer.from('30030201ff', 'hex');
    const crmfUid = await registerRequest(requestBody(CertificateRequestType.CRMF, crmf));
    for (const [uid, value] of [[pemUid, pem], [crmfUid, crmf]] as const) {
      const body = find(successPayload(await h.send(v, Operation.Get, [uidItem(uid)])), Tag.CertificateRequest) as TtlvStructure;
      expect(bytesOf(find(body, Tag.CertificateRequestValue)).equals(value)).toBe(true);
    }
  });

  test('refusals at Register: a PKCS#10 request that does not parse or whose signature fails, a missing field', async () => {
    const bad = await h.send(v, Operation.Register, registerPayload(requestBody(CertificateRequestType.PKCS_10, Buffer.from('not a request'))));
    expect(failure(bad)).toBe(ResultReason.InvalidField);
    const forged = await h.send(v, Operation.Register, registerPayload(requestBody(CertificateRequestType.PKCS_10, csr('forged', key, true))));
    expect(failure(forged)).toBe(ResultReason.InvalidField);
    const noValue = ttlv.structure(Tag.CertificateRequest, [ttlv.enumeration(Tag.CertificateRequestType, CertificateRequestType.PKCS_10)]);
    expect(failure(await h.send(v, Operation.Register, registerPayload(noValue)))).toBe(ResultReason.MissingData);
  });

  describe('Certify from a stored request', () => {
    let ca: X509Certificate;
    let caUid: string;
    beforeAll(async () => {
      caUid = await createCa();
      ca = await certificateOf(caUid);
    });

    test('by Certificate Request Unique Identifier: the certificate has the request\'s subject and key', async () => {
      const requestUid = await registerRequest(requestBody(CertificateRequestType.PKCS_10, der));
      const p = successPayload(
        await h.send(v, Operation.Certify, [ttlv.textString(Tag.CertificateRequestUniqueIdentifier, requestUid), attributesFor(v, [link(LinkType.CertificateLink, caUid)])]),
      );
      const x = await certificateOf(textOf(p, Tag.UniqueIdentifier)!);
      expect(x.subject).toBe('CN=stored-request');
      expect(spki(x.publicKey).equals(spki(key.publicKey))).toBe(true);
      expect(x.verify(ca.publicKey)).toBe(true);
    });

    test('Register then Certify in one batch: the ID Placeholder names the request', async () => {
      const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const r = await h.batch(v, [
        { operation: Operation.Register, payload: registerPayload(requestBody(CertificateRequestType.PKCS_10, csr('batched-request', other))) },
        { operation: Operation.Certify, payload: [attributesFor(v, [link(LinkType.CertificateLink, caUid)])] },
      ]);
      expect(r.items.map((i) => i.status)).toEqual([ResultStatus.Success, ResultStatus.Success]);
      const x = await certificateOf(textOf(r.items[1]!.payload!, Tag.UniqueIdentifier)!);
      expect(x.subject).toBe('CN=batched-request');
      expect(spki(x.publicKey).equals(spki(other.publicKey))).toBe(true);
    });

    test('refusals: a stored request and its bytes together, an identifier that is not a request, a CRMF request, a destroyed one', async () => {
      const requestUid = await registerRequest(requestBody(CertificateRequestType.PKCS_10, der));
      const both = await h.send(v, Operation.Certify, [
        ttlv.textString(Tag.CertificateRequestUniqueIdentifier, requestUid),
        ttlv.enumeration(Tag.CertificateRequestType, CertificateRequestType.PKCS_10),
        ttlv.byteString(Tag.CertificateRequestValue, der),
        attributesFor(v, [link(LinkType.CertificateLink, caUid)]),
      ]);
      expect(failure(both)).toBe(ResultReason.InvalidField);
      const aes = await createAes(h, v);
      const notRequest = await h.send(v, Operation.Certify, [ttlv.textString(Tag.CertificateRequestUniqueIdentifier, aes), attributesFor(v, [link(LinkType.CertificateLink, caUid)])]);
      expect(failure(notRequest)).toBe(ResultReason.InvalidObjectType);
      const crmfUid = await registerRequest(requestBody(CertificateRequestType.CRMF, Buffer.from('30030201ff', 'hex')));
      const crmf = await h.send(v, Operation.Certify, [ttlv.textString(Tag.CertificateRequestUniqueIdentifier, crmfUid), attributesFor(v, [link(LinkType.CertificateLink, caUid)])]);
      expect(failure(crmf)).toBe(ResultReason.FeatureNotSupported);
      successPayload(await h.send(v, Operation.Destroy, [uidItem(requestUid)]));
      const destroyed = await h.send(v, Operation.Certify, [ttlv.textString(Tag.CertificateRequestUniqueIdentifier, requestUid), attributesFor(v, [link(LinkType.CertificateLink, caUid)])]);
      expect(failure(destroyed)).toBe(ResultReason.ObjectDestroyed);
    });
  });
});

describe('Query Objects', () => {
  const objects = async (version: typeof v) =>
    allOf(successPayload(await h.send(version, Operation.Query, [ttlv.enumeration(Tag.QueryFunction, QueryFunction.QueryObjects)])), Tag.ObjectType).map((i) => i.value);

  test('2.1 claims Certificate Request; 1.4, which has no such type, neither lists nor registers it', async () => {
    expect(await objects(V21)).toContain(ObjectType.CertificateRequest);
    expect(await objects(V14)).not.toContain(ObjectType.CertificateRequest);
    const r = await h.send(V14, Operation.Register, [
      ttlv.enumeration(Tag.ObjectType, ObjectType.CertificateRequest),
      attributesFor(V14, []),
      requestBody(CertificateRequestType.PKCS_10, csr('old-client', generateKeyPairSync('ec', { namedCurve: 'prime256v1' }))),
    ]);
    expect(failure(r)).toBe(ResultReason.InvalidField);
  });
});
