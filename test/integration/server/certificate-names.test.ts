/**
 * A registered certificate's 1.x Certificate Subject / Issuer / Identifier strings are in RFC 4514
 * form, and Locate finds the certificate by either that form or the ", "-separated certificate-order
 * form; a 2.x certificate has a Key Format Type. Real SQLite file and SoftHSM2 token.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { KeyFormatType, ObjectType, Operation } from '../../../src/spec/generated/enums';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { attributeToV1 } from '../../../src/kmip/attributes';
import { createCertificateAuthority, issueClientCertificate } from '../../../src/pki/dev-pki';
import { attributesFor, find, successPayload, textOf } from '../../helpers/kmip-client';
import { V14, V21, attributeValues, openHarness, type Harness } from '../../helpers/ops-harness';

let h: Harness;
let dir: string;
let der: Buffer;
beforeAll(async () => {
  h = await openHarness('certnames');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-certnames-'));
  createCertificateAuthority(dir, { commonName: 'Names Test CA' });
  der = new X509Certificate(issueClientCertificate(dir, 'names.example', dir).certPem).raw;
});
afterAll(async () => {
  await h.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function register(v: ProtocolVersion = V14): Promise<string> {
  const r = await h.send(v, Operation.Register, [
    ttlv.enumeration(Tag.ObjectType, ObjectType.Certificate),
    attributesFor(v, []),
    ttlv.structure(Tag.Certificate, [ttlv.enumeration(Tag.CertificateType, 1), ttlv.byteString(Tag.CertificateValue, der)]),
  ]);
  return textOf(successPayload(r), Tag.UniqueIdentifier)!;
}

async function locate(name: string, value: TtlvItem): Promise<string[]> {
  const p = successPayload(await h.send(V14, Operation.Locate, [attributeToV1({ name, value })]));
  return p.value.filter((c) => c.tag === Tag.UniqueIdentifier).map((c) => (c.type === ItemType.TextString ? c.value : ''));
}

/** The structure with its DN member's text replaced. */
function withDn(s: TtlvStructure, member: number, dn: string): TtlvStructure {
  return ttlv.structure(s.tag, s.value.map((c) => (c.tag === member ? ttlv.textString(member, dn) : c)));
}

const DN_MEMBERS: readonly [string, number, number, string][] = [
  ['Certificate Subject', Tag.CertificateSubject, Tag.CertificateSubjectDistinguishedName, 'CN=names.example,O=KMIP Server Dev PKI'],
  ['Certificate Issuer', Tag.CertificateIssuer, Tag.CertificateIssuerDistinguishedName, 'CN=Names Test CA,O=KMIP Server Dev PKI'],
  ['Certificate Identifier', Tag.CertificateIdentifier, Tag.Issuer, 'CN=Names Test CA,O=KMIP Server Dev PKI'],
];

test.each(DN_MEMBERS)('%s: the DN string is RFC 4514; Locate finds the certificate by it and by the certificate-order ", " form', async (name, tag, member, rfc4514) => {
  const uid = await register();
  const [stored] = (await attributeValues(h, V14, uid, name)) as TtlvStructure[];
  expect(textOf(stored!, member)).toBe(rfc4514);
  const asStored = withDn(stored!, member, rfc4514);
  expect(await locate(name, ttlv.structure(tag, asStored.value))).toEqual([uid]);
  const legacy = rfc4514.split(',').reverse().join(', '); // "O=KMIP Server Dev PKI, CN=..."
  expect(await locate(name, ttlv.structure(tag, withDn(stored!, member, legacy).value))).toEqual([uid]);
  expect(await locate(name, ttlv.structure(tag, withDn(stored!, member, 'CN=someone else,O=KMIP Server Dev PKI').value))).toEqual([]);
  // Remove it so the next case's Locate sees one certificate.
  successPayload(await h.send(V14, Operation.Destroy, [ttlv.textString(Tag.UniqueIdentifier, uid)]));
});

test('X.509 Certificate Identifier: the serial number is the whole DER INTEGER of the certificate', async () => {
  const uid = await register();
  const [ident] = (await attributeValues(h, V14, uid, 'X.509 Certificate Identifier')) as TtlvStructure[];
  const serial = find(ident!, Tag.CertificateSerialNumber);
  const hex = new X509Certificate(der).serialNumber.toLowerCase();
  const content = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  const withSign = content[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), content]) : content;
  expect(serial?.type === ItemType.ByteString && Buffer.from(serial.value).toString('hex')).toBe(
    Buffer.concat([Buffer.from([0x02, withSign.length]), withSign]).toString('hex'),
  );
});

test('2.x: a certificate carries the Key Format Type attribute, X.509 (2.0 4.26: it applies to all objects); 1.x has no such attribute', async () => {
  const uid = await register(V21);
  expect((await attributeValues(h, V21, uid, 'Key Format Type', Tag.KeyFormatType)).map((i) => i.value)).toEqual([KeyFormatType.X_509]);
  expect(await attributeValues(h, V14, uid, 'Key Format Type')).toEqual([]);
});
