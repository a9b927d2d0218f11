/**
 * Attributes the server sets on new objects by itself: the reserved Object Group "default" (KMIP
 * 1.1 and 1.2), and the 2.x Certificate Attributes of a registered X.509 certificate.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { CertificateType, ObjectType, Operation, ResultReason } from '../../../src/spec/generated/enums';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { createCertificateAuthority } from '../../../src/pki/dev-pki';
import { attributeValues, createAes, failure, newAttribute, openHarness, uidItem, V21, type Harness } from '../../helpers/ops-harness';
import { attributesFor, find, successPayload, textOf } from '../../helpers/kmip-client';

const V10: ProtocolVersion = { major: 1, minor: 0 };
const V11: ProtocolVersion = { major: 1, minor: 1 };
const V12: ProtocolVersion = { major: 1, minor: 2 };
const V13: ProtocolVersion = { major: 1, minor: 3 };

let h: Harness;
beforeAll(async () => {
  h = await openHarness('server-set-attrs');
});
afterAll(async () => {
  await h.close();
});

const group = (name: string) => ({ name: 'Object Group', value: ttlv.textString(Tag.ObjectGroup, name) });

async function groups(v: ProtocolVersion, uid: string): Promise<unknown[]> {
  return (await attributeValues(h, v, uid, 'Object Group', Tag.ObjectGroup)).map((i) => i.value);
}

async function attributeNames(v: ProtocolVersion, uid: string): Promise<unknown[]> {
  const p = successPayload(await h.send(v, Operation.GetAttributeList, [uidItem(uid)]));
  return p.value.filter((c) => c.tag === Tag.AttributeName).map((c) => c.value);
}

describe('Object Group "default" (reserved in KMIP 1.1 and 1.2)', () => {
  test.each([
    ['1.1', V11],
    ['1.2', V12],
  ])('a key a %s client creates without a group is in the group "default"', async (_, v) => {
    const uid = await createAes(h, v);
    expect(await groups(v, uid)).toEqual(['default']);
    expect(await attributeNames(v, uid)).toContain('Object Group');
  });

  test('a group the client names replaces the default one', async () => {
    const uid = await createAes(h, V11, [group('tape-pool')]);
    expect(await groups(V11, uid)).toEqual(['tape-pool']);
  });

  test('the client may take the object out of the default group', async () => {
    const uid = await createAes(h, V12);
    const del = await h.send(V12, Operation.DeleteAttribute, [uidItem(uid), ttlv.textString(Tag.AttributeName, 'Object Group')]);
    expect(successPayload(del)).toBeDefined();
    expect(await groups(V12, uid)).toEqual([]);
  });

  test.each([
    ['1.0 (no reserved group yet)', V10],
    ['1.3 (the reservation was dropped)', V13],
    ['2.1', V21],
  ])('a %s client gets no group it did not ask for', async (_, v) => {
    const uid = await createAes(h, v);
    expect(await groups(v, uid)).toEqual([]);
  });

  test('Locate finds the default group members by Object Group', async () => {
    const a = await createAes(h, V11);
    const b = await createAes(h, V11, [group('other')]);
    const p = successPayload(await h.send(V11, Operation.Locate, [ttlv.structure(Tag.Attribute, [ttlv.textString(Tag.AttributeName, 'Object Group'), ttlv.textString(Tag.AttributeValue, 'default')])]));
    const found = p.value.filter((c) => c.tag === Tag.UniqueIdentifier).map((c) => c.value);
    expect(found).toContain(a);
    expect(found).not.toContain(b);
  });
});

describe('Certificate Attributes (2.x) of a registered X.509 certificate', () => {
  let der: Buffer;
  beforeAll(() => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-cert-attrs-'));
    try {
      der = new X509Certificate(createCertificateAuthority(dir, { commonName: 'Cert Attr Test CA' }).certPem).raw;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  async function register(v: ProtocolVersion): Promise<string> {
    const r = await h.send(v, Operation.Register, [
      ttlv.enumeration(Tag.ObjectType, ObjectType.Certificate),
      attributesFor(v, []),
      ttlv.structure(Tag.Certificate, [ttlv.enumeration(Tag.CertificateType, CertificateType.X_509), ttlv.byteString(Tag.CertificateValue, der)]),
    ]);
    return textOf(successPayload(r), Tag.UniqueIdentifier)!;
  }

  test('Get Attributes by Attribute Reference returns the subject and issuer fields under their own tags', async () => {
    const uid = await register(V21);
    const p = successPayload(
      await h.send(V21, Operation.GetAttributes, [
        uidItem(uid),
        ttlv.enumeration(Tag.AttributeReference, Tag.CertificateSubjectCN),
        ttlv.enumeration(Tag.AttributeReference, Tag.CertificateIssuerO),
        ttlv.enumeration(Tag.AttributeReference, Tag.CertificateLength),
      ]),
    );
    const attrs = find(p, Tag.Attributes) as TtlvStructure;
    const byTag = (t: number): TtlvItem[] => attrs.value.filter((c) => c.tag === t);
    expect(byTag(Tag.CertificateSubjectCN).map((c) => c.value)).toEqual(['Cert Attr Test CA']);
    expect(byTag(Tag.CertificateIssuerO).map((c) => c.value)).toEqual(['KMIP Server Dev PKI']);
    expect(byTag(Tag.CertificateLength).map((c) => c.value)).toEqual([der.length]);
    // Only what was asked for.
    expect(byTag(Tag.CertificateSubjectO)).toEqual([]);
  });

  test('Get Attribute List names them; they are read-only', async () => {
    const uid = await register(V21);
    const p = successPayload(await h.send(V21, Operation.GetAttributeList, [uidItem(uid)]));
    const refs = p.value.filter((c) => c.tag === Tag.AttributeReference && c.type === ItemType.Enumeration).map((c) => c.value);
    expect(refs).toEqual(expect.arrayContaining([Tag.CertificateSubjectCN, Tag.CertificateSubjectO, Tag.CertificateIssuerCN, Tag.CertificateIssuerO]));
    const modify = await h.send(V21, Operation.ModifyAttribute, [uidItem(uid), newAttribute(V21, { name: 'Certificate Subject CN', value: ttlv.textString(Tag.CertificateSubjectCN, 'x') })]);
    expect(failure(modify)).toBe(ResultReason.AttributeReadOnly);
  });

  test('a 1.4 client sees none of them (they are attributes from 2.0 on)', async () => {
    const v14: ProtocolVersion = { major: 1, minor: 4 };
    const uid = await register(v14);
    const names = await attributeNames(v14, uid);
    expect(names).toContain('X.509 Certificate Subject');
    expect(names.some((n) => typeof n === 'string' && /^Certificate (Subject|Issuer) [A-Z]/.test(n))).toBe(false);
  });
});
