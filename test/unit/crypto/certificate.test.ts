/** The attributes Register derives from an X.509 certificate: the 2.x Certificate Attributes family in particular. */
import { generateKeyPairSync, sign } from 'node:crypto';
import * as asn1js from 'asn1js';
import { ItemType } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { certificateAttributes, dnStringForms, parseCertificate } from '../../../src/crypto/certificate';
import { encodeAttributeList } from '../../../src/kmip/attributes';

type Rdn = readonly (readonly [oid: string, value: asn1js.BaseBlock])[];

const utf8 = (value: string) => new asn1js.Utf8String({ value });
const printable = (value: string) => new asn1js.PrintableString({ value });
const ia5 = (value: string) => new asn1js.IA5String({ value });

function name(rdns: readonly Rdn[]): asn1js.Sequence {
  return new asn1js.Sequence({
    value: rdns.map(
      (rdn) =>
        new asn1js.Set({
          value: rdn.map(([oid, value]) => new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: oid }), value] })),
        }),
    ),
  });
}

/** A self-signed-looking (issuer given separately) v3 certificate with an EC P-256 key. */
function certificate(issuer: asn1js.Sequence, subject: asn1js.Sequence): Buffer {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = asn1js.fromBER(publicKey.export({ type: 'spki', format: 'der' }));
  const alg = () => new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: '1.2.840.10045.4.3.2' })] });
  const time = (d: Date) => new asn1js.UTCTime({ valueDate: d });
  const tbs = new asn1js.Sequence({
    value: [
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.Integer({ value: 2 })] }),
      new asn1js.Integer({ value: 4242 }),
      alg(),
      issuer,
      new asn1js.Sequence({ value: [time(new Date(Date.UTC(2024, 0, 1))), time(new Date(Date.UTC(2034, 0, 1)))] }),
      subject,
      spki.result,
    ],
  });
  const tbsDer = Buffer.from(tbs.toBER(false));
  const signature = sign('sha256', tbsDer, privateKey);
  return Buffer.from(new asn1js.Sequence({ value: [tbs, alg(), new asn1js.BitString({ valueHex: signature, unusedBits: 0 })] }).toBER(false));
}

const SUBJECT = name([
  [['2.5.4.6', printable('DE')]],
  [['2.5.4.8', utf8('Bayern')]],
  [['2.5.4.7', utf8('München')]],
  [['2.5.4.10', utf8('Example AG')]],
  [['2.5.4.11', utf8('Keys')]],
  [['2.5.4.11', utf8('Ops')]],
  [['0.9.2342.19200300.100.1.25', ia5('example')], ['0.9.2342.19200300.100.1.25', ia5('com')]], // a multi-valued RDN
  [['2.5.4.12', utf8('Custodian')]],
  [['2.5.4.5', printable('S-0001')]],
  [['0.9.2342.19200300.100.1.1', utf8('jdoe')]],
  [['2.5.4.46', printable('q1')]],
  [['2.5.4.4', utf8('Doe')]], // surname: KMIP has no field for it
  [['2.5.4.3', utf8('vault.example.com')]],
  [['1.2.840.113549.1.9.1', ia5('keys@example.com')]],
]);
const ISSUER = name([[['2.5.4.10', utf8('Example CA')]], [['2.5.4.3', utf8('Example Issuing CA')]]]);

function values(attrs: ReturnType<typeof certificateAttributes>, attributeName: string): unknown[] {
  return attrs.filter((a) => a.name === attributeName).map((a) => a.value.value);
}

describe('Certificate Attributes (KMIP 2.x) from an X.509 certificate', () => {
  const der = certificate(ISSUER, SUBJECT);
  const attrs = certificateAttributes(der);

  test('each subject name attribute KMIP names becomes its Certificate Subject attribute, under its own tag', () => {
    expect(values(attrs, 'Certificate Subject CN')).toEqual(['vault.example.com']);
    expect(values(attrs, 'Certificate Subject C')).toEqual(['DE']);
    expect(values(attrs, 'Certificate Subject ST')).toEqual(['Bayern']);
    expect(values(attrs, 'Certificate Subject L')).toEqual(['München']);
    expect(values(attrs, 'Certificate Subject O')).toEqual(['Example AG']);
    expect(values(attrs, 'Certificate Subject Email')).toEqual(['keys@example.com']);
    expect(values(attrs, 'Certificate Subject UID')).toEqual(['jdoe']);
    expect(values(attrs, 'Certificate Subject Serial Number')).toEqual(['S-0001']);
    expect(values(attrs, 'Certificate Subject Title')).toEqual(['Custodian']);
    expect(values(attrs, 'Certificate Subject DN Qualifier')).toEqual(['q1']);
    const cn = attrs.find((a) => a.name === 'Certificate Subject CN');
    expect(cn?.value.tag).toBe(Tag.CertificateSubjectCN);
    expect(cn?.value.type).toBe(ItemType.TextString);
  });

  test('a field given more than once (also inside one RDN) is one instance per value, in certificate order', () => {
    expect(values(attrs, 'Certificate Subject OU')).toEqual(['Keys', 'Ops']);
    expect(values(attrs, 'Certificate Subject DC')).toEqual(['example', 'com']);
  });

  test('the issuer name gives the Certificate Issuer attributes, and only the fields it has', () => {
    expect(values(attrs, 'Certificate Issuer CN')).toEqual(['Example Issuing CA']);
    expect(values(attrs, 'Certificate Issuer O')).toEqual(['Example CA']);
    expect(attrs.filter((a) => a.name.startsWith('Certificate Issuer ') && a.name !== 'Certificate Issuer CN' && a.name !== 'Certificate Issuer O')).toEqual([]);
  });

  test('name types KMIP has no field for are left out', () => {
    expect(attrs.some((a) => a.value.type === ItemType.TextString && a.value.value === 'Doe')).toBe(false);
    expect(parseCertificate(der).subjectFields).toHaveLength(14);
  });

  test('a 2.x response carries them; a 1.x response does not (they are not attributes before 2.0)', () => {
    const v21 = encodeAttributeList(attrs, { major: 2, minor: 1 })[0];
    expect(v21?.type).toBe(ItemType.Structure);
    const tags = v21?.type === ItemType.Structure ? v21.value.map((i) => i.tag) : [];
    expect(tags).toContain(Tag.CertificateSubjectCN);
    expect(tags).toContain(Tag.CertificateIssuerCN);
    const v14 = encodeAttributeList(attrs, { major: 1, minor: 4 });
    const v14Names = v14.flatMap((s) => (s.type === ItemType.Structure ? s.value.filter((c) => c.tag === Tag.AttributeName).map((c) => c.value) : []));
    expect(v14Names).toContain('X.509 Certificate Subject');
    expect(v14Names.some((n) => typeof n === 'string' && /^Certificate (Subject|Issuer) [A-Z]/.test(n))).toBe(false);
  });

  test('a name attribute KMIP names whose value is not a character string is refused', () => {
    const bad = certificate(ISSUER, name([[['2.5.4.3', new asn1js.Integer({ value: 7 })]]]));
    expect(() => parseCertificate(bad)).toThrow(/not a valid X.509 certificate: the subject name's CN is not a string/);
  });
});

describe('Certificate Subject / Issuer strings (1.x) in RFC 4514 form; the X.509 forms as whole DER elements', () => {
  test('RDNs last to first, "," between them, no spaces: "CN=KMIP,OU=OASIS,O=TEST,C=US"', () => {
    const oasis = name([[['2.5.4.6', printable('US')]], [['2.5.4.10', utf8('TEST')]], [['2.5.4.11', utf8('OASIS')]], [['2.5.4.3', utf8('KMIP')]]]);
    const c = parseCertificate(certificate(oasis, oasis));
    expect(c.subjectText).toBe('CN=KMIP,OU=OASIS,O=TEST,C=US');
    expect(c.issuerText).toBe('CN=KMIP,OU=OASIS,O=TEST,C=US');
    const attrs = certificateAttributes(certificate(ISSUER, oasis));
    const subject = attrs.find((a) => a.name === 'Certificate Subject')!.value;
    const issuer = attrs.find((a) => a.name === 'Certificate Issuer')!.value;
    const ident = attrs.find((a) => a.name === 'Certificate Identifier')!.value;
    const member = (s: typeof subject, tag: number) => (s.type === ItemType.Structure ? s.value.find((c) => c.tag === tag)?.value : undefined);
    expect(member(subject, Tag.CertificateSubjectDistinguishedName)).toBe('CN=KMIP,OU=OASIS,O=TEST,C=US');
    expect(member(issuer, Tag.CertificateIssuerDistinguishedName)).toBe('CN=Example Issuing CA,O=Example CA');
    expect(member(ident, Tag.Issuer)).toBe('CN=Example Issuing CA,O=Example CA');
  });

  test('multi-valued RDNs joined by "+", special characters escaped, types without an RFC 4514 name as OID=#DER', () => {
    const c = parseCertificate(certificate(ISSUER, SUBJECT));
    // surname (2.5.4.4) and emailAddress have no RFC 4514 short name: dotted OID and the value's DER in hex.
    const email = Buffer.from(ia5('keys@example.com').toBER(false)).toString('hex');
    const surname = Buffer.from(utf8('Doe').toBER(false)).toString('hex');
    expect(c.subjectText).toBe(
      `1.2.840.113549.1.9.1=#${email},CN=vault.example.com,2.5.4.4=#${surname},2.5.4.46=#${Buffer.from(printable('q1').toBER(false)).toString('hex')},` +
        `UID=jdoe,2.5.4.5=#${Buffer.from(printable('S-0001').toBER(false)).toString('hex')},2.5.4.12=#${Buffer.from(utf8('Custodian').toBER(false)).toString('hex')},` +
        'DC=example+DC=com,OU=Ops,OU=Keys,O=Example AG,L=München,ST=Bayern,C=DE',
    );
    const tricky = parseCertificate(certificate(ISSUER, name([[['2.5.4.3', utf8('Doe, John +1 <x>;"q"\\')]], [['2.5.4.11', utf8(' #lead and trail ')]]])));
    expect(tricky.subjectText).toBe('OU=\\ #lead and trail\\ ,CN=Doe\\, John \\+1 \\<x\\>\\;\\"q\\"\\\\');
  });

  test('X.509 Certificate Identifier: the serial number is the whole DER INTEGER, like the issuer Name beside it', () => {
    const der = certificate(ISSUER, SUBJECT);
    const ident = certificateAttributes(der).find((a) => a.name === 'X.509 Certificate Identifier')!.value;
    const member = (tag: number) => (ident.type === ItemType.Structure ? ident.value.find((c) => c.tag === tag)?.value : undefined);
    expect(Buffer.from(member(Tag.CertificateSerialNumber) as Uint8Array).toString('hex')).toBe('02021092'); // INTEGER 4242
    expect(Buffer.from(member(Tag.IssuerDistinguishedName) as Uint8Array).equals(Buffer.from(ISSUER.toBER(false)))).toBe(true);
  });

  test('dnStringForms: the forms Locate accepts for one DN string', () => {
    expect(dnStringForms('C=US, O=TEST, OU=OASIS, CN=KMIP')).toEqual(
      expect.arrayContaining(['C=US, O=TEST, OU=OASIS, CN=KMIP', 'CN=KMIP,OU=OASIS,O=TEST,C=US', 'CN=KMIP, OU=OASIS, O=TEST, C=US']),
    );
    expect(dnStringForms('CN=Doe\\, John,O=X')).toEqual(expect.arrayContaining(['O=X,CN=Doe\\, John']));
  });
});
