/**
 * Key Format Type PKCS#12 through handleMessage (real SQLite, real SoftHSM2), in KMIP 1.4 and
 * 2.1. PFX files are made at test time by the OpenSSL CLI from a CA and a leaf key generated
 * here. Register opens them with the Secret Data the PKCS#12 Password Link names, stores the key
 * as PKCS#8 and the certificates as linked Certificate objects; Get gives the key back as PKCS#8
 * and as a PKCS#12 that OpenSSL opens with the password, holding the same key and the chain.
 * Refusals: wrong password, no link, a link to a non-Active or non-Secret-Data object, a
 * damaged PFX (Invalid Field, never a crash).
 */
import { X509Certificate, createPrivateKey, sign, verify, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import {
  CryptographicAlgorithm,
  CryptographicUsageMask,
  KeyFormatType,
  LinkType,
  ObjectType,
  Operation,
  ResultReason,
  RevocationReasonCode,
  SecretDataType,
} from '../../../src/spec/generated/enums';
import type { KmipAttribute } from '../../../src/kmip/attributes';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { attributesFor, find, successPayload, textOf } from '../../helpers/kmip-client';
import { VERSIONS, attributeValues, bytesOf, failure, keyBlockOf, newAttribute, openHarness, uidItem, type Harness } from '../../helpers/ops-harness';

let h: Harness;
let dir: string;
beforeAll(async () => {
  h = await openHarness('pkcs12');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-pkcs12-files-'));
});
afterAll(async () => {
  await h.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const PASSWORD = 'correct horse ßattery';

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
}

interface Fixture {
  readonly pfx: Buffer;
  readonly leaf: X509Certificate;
  readonly ca: X509Certificate;
  readonly publicKey: KeyObject;
}

/** A CA, a leaf key and certificate it signs, and a PFX of the leaf key with both certificates. */
function makeFixture(name: string, keyArgs: string[], password = PASSWORD): Fixture {
  const f = (n: string) => path.join(dir, `${name}-${n}`);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-subj', `/CN=${name} CA`, '-days', '2',
    '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign']);
  openssl(['req', '-new', ...keyArgs, '-nodes', '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', `/CN=${name} leaf`]);
  openssl(['x509', '-req', '-in', f('leaf.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('leaf.pem'), '-days', '2']);
  openssl(['pkcs12', '-export', '-in', f('leaf.pem'), '-inkey', f('leaf.key'), '-certfile', f('ca.pem'), '-name', `${name} key`, '-out', f('p12'), '-passout', `pass:${password}`]);
  const leaf = new X509Certificate(fs.readFileSync(f('leaf.pem')));
  return { pfx: fs.readFileSync(f('p12')), leaf, ca: new X509Certificate(fs.readFileSync(f('ca.pem'))), publicKey: leaf.publicKey };
}

let ec: Fixture;
let rsa: Fixture;
beforeAll(() => {
  ec = makeFixture('ec', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384']);
  rsa = makeFixture('rsa', ['-newkey', 'rsa:2048']);
});

const now = () => BigInt(Math.floor(Date.now() / 1000));
const active = (): KmipAttribute => ({ name: 'Activation Date', value: ttlv.dateTime(Tag.ActivationDate, now() - 60n) });
const signMask: KmipAttribute = { name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Sign) };
const link = (type: number, uid: string): KmipAttribute => ({
  name: 'Link',
  value: ttlv.structure(Tag.Link, [ttlv.enumeration(Tag.LinkType, type), ttlv.textString(Tag.LinkedObjectIdentifier, uid)]),
});

async function registerPassword(v: ProtocolVersion, password: string, extra: KmipAttribute[] = [active()], type: number = SecretDataType.Password): Promise<string> {
  const r = await h.send(v, Operation.Register, [
    ttlv.enumeration(Tag.ObjectType, ObjectType.SecretData),
    attributesFor(v, [{ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.DeriveKey) }, ...extra]),
    ttlv.structure(Tag.SecretData, [
      ttlv.enumeration(Tag.SecretDataType, type),
      ttlv.structure(Tag.KeyBlock, [
        ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Opaque),
        ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, Buffer.from(password, 'utf8'))]),
      ]),
    ]),
  ]);
  return textOf(successPayload(r), Tag.UniqueIdentifier)!;
}

function registerPfxPayload(v: ProtocolVersion, pfx: Uint8Array, attrs: KmipAttribute[]): TtlvItem[] {
  return [
    ttlv.enumeration(Tag.ObjectType, ObjectType.PrivateKey),
    attributesFor(v, attrs),
    ttlv.structure(Tag.PrivateKey, [
      ttlv.structure(Tag.KeyBlock, [ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.PKCS_12), ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, pfx)])]),
    ]),
  ];
}

async function registerPfx(v: ProtocolVersion, pfx: Uint8Array, passwordUid: string): Promise<string> {
  const r = await h.send(v, Operation.Register, registerPfxPayload(v, pfx, [signMask, active(), link(LinkType.PKCS_12PasswordLink, passwordUid)]));
  return textOf(successPayload(r), Tag.UniqueIdentifier)!;
}

async function getAs(v: ProtocolVersion, uid: string, format: number): Promise<TtlvStructure> {
  return keyBlockOf(successPayload(await h.send(v, Operation.Get, [uidItem(uid), ttlv.enumeration(Tag.KeyFormatType, format)])), Tag.PrivateKey);
}

function materialOf(block: TtlvStructure): Buffer {
  return bytesOf(find(find(block, Tag.KeyValue) as TtlvStructure, Tag.KeyMaterial));
}

/** The private key signs, and the certificate's public key verifies the signature. */
function sameKeyAs(privateKey: KeyObject, publicKey: KeyObject): boolean {
  const data = Buffer.from('pkcs12 round trip');
  return verify('sha256', data, publicKey, sign('sha256', data, privateKey));
}

async function linksOf(v: ProtocolVersion, uid: string): Promise<{ type: unknown; uid: unknown }[]> {
  return (await attributeValues(h, v, uid, 'Link', Tag.Link)).map((l) => ({
    type: find(l as TtlvStructure, Tag.LinkType)?.value,
    uid: find(l as TtlvStructure, Tag.LinkedObjectIdentifier)?.value,
  }));
}

async function certificateDer(v: ProtocolVersion, uid: string): Promise<Buffer> {
  const p = successPayload(await h.send(v, Operation.Get, [uidItem(uid)]));
  return bytesOf(find(find(p, Tag.Certificate) as TtlvStructure, Tag.CertificateValue));
}

function message(r: Awaited<ReturnType<Harness['send']>>): string {
  return r.items[0]!.message ?? '';
}

/** A private key registered as plain PKCS#8, with no PKCS#12 link. */
async function registerPkcs8(v: ProtocolVersion, material: Uint8Array, algorithm: number, length: number): Promise<string> {
  const block = ttlv.structure(Tag.KeyBlock, [
    ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.PKCS_8),
    ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, material)]),
    ttlv.enumeration(Tag.CryptographicAlgorithm, algorithm),
    ttlv.integer(Tag.CryptographicLength, length),
  ]);
  const r = await h.send(v, Operation.Register, [
    ttlv.enumeration(Tag.ObjectType, ObjectType.PrivateKey),
    attributesFor(v, [signMask]),
    ttlv.structure(Tag.PrivateKey, [block]),
  ]);
  return textOf(successPayload(r), Tag.UniqueIdentifier)!;
}

describe.each(VERSIONS)('KMIP %s', (label, v) => {
  const badPassword = v.major >= 2 ? ResultReason.BadPassword : ResultReason.InvalidField;

  test.each([
    ['EC P-384', () => ec, CryptographicAlgorithm.EC, 384],
    ['RSA 2048', () => rsa, CryptographicAlgorithm.RSA, 2048],
  ])('%s: Register opens the PFX; Get gives the same key as PKCS#8 and as a PKCS#12 OpenSSL opens, with the chain', async (_n, fixture, algorithm, length) => {
    const fx = fixture();
    const pw = await registerPassword(v, PASSWORD);
    const uid = await registerPfx(v, fx.pfx, pw);

    // Stored as PKCS#8 with the key's own algorithm and length.
    const pkcs8Block = await getAs(v, uid, KeyFormatType.PKCS_8);
    expect(find(pkcs8Block, Tag.KeyFormatType)?.value).toBe(KeyFormatType.PKCS_8);
    expect(find(pkcs8Block, Tag.CryptographicAlgorithm)?.value).toBe(algorithm);
    expect(find(pkcs8Block, Tag.CryptographicLength)?.value).toBe(length);
    const asPkcs8 = createPrivateKey({ key: materialOf(pkcs8Block), format: 'der', type: 'pkcs8' });
    expect(sameKeyAs(asPkcs8, fx.publicKey)).toBe(true);
    expect((await attributeValues(h, v, uid, 'Cryptographic Length', Tag.CryptographicLength))[0]?.value).toBe(length);
    expect((await attributeValues(h, v, uid, 'PKCS#12 Friendly Name', Tag.PKCS_12FriendlyName))[0]?.value).toBe(`${fx === ec ? 'ec' : 'rsa'} key`);

    // The certificates became Certificate objects: key -> leaf (PKCS#12 Certificate Link) -> CA (Certificate Link).
    const keyLinks = await linksOf(v, uid);
    const leafUid = keyLinks.find((l) => l.type === LinkType.PKCS_12CertificateLink)?.uid as string;
    expect(keyLinks).toContainEqual({ type: LinkType.PKCS_12PasswordLink, uid: pw });
    expect(Buffer.from(await certificateDer(v, leafUid)).equals(fx.leaf.raw)).toBe(true);
    const caUid = (await linksOf(v, leafUid)).find((l) => l.type === LinkType.CertificateLink)?.uid as string;
    expect(Buffer.from(await certificateDer(v, caUid)).equals(fx.ca.raw)).toBe(true);

    // PKCS#12 out: OpenSSL opens it with the password; it holds the key, the leaf and the CA.
    const p12Block = await getAs(v, uid, KeyFormatType.PKCS_12);
    expect(find(p12Block, Tag.KeyFormatType)?.value).toBe(KeyFormatType.PKCS_12);
    expect(find(p12Block, Tag.CryptographicAlgorithm)?.value).toBe(algorithm);
    const file = path.join(dir, `out-${label}-${length}.p12`);
    fs.writeFileSync(file, materialOf(p12Block));
    const info = execFileSync('openssl', ['pkcs12', '-info', '-in', file, '-passin', `pass:${PASSWORD}`, '-nokeys'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    const infoErr = execFileSync('sh', ['-c', `openssl pkcs12 -info -in '${file}' -passin 'pass:${PASSWORD}' -nokeys 2>&1 >/dev/null`], { encoding: 'utf8', timeout: 30_000 });
    expect(infoErr).toMatch(/MAC: sha256/);
    expect(infoErr).toMatch(/PBES2, PBKDF2, AES-256-CBC, Iteration \d+, PRF hmacWithSHA256/);
    const pems = info.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
    expect(pems.map((p) => new X509Certificate(p).fingerprint256).sort()).toEqual([fx.leaf.fingerprint256, fx.ca.fingerprint256].sort());
    const keyPem = execFileSync('openssl', ['pkcs12', '-in', file, '-passin', `pass:${PASSWORD}`, '-nocerts', '-nodes'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    expect(sameKeyAs(createPrivateKey(keyPem), fx.publicKey)).toBe(true);
    // Another password does not open it.
    expect(() => execFileSync('openssl', ['pkcs12', '-info', '-in', file, '-passin', 'pass:wrong', '-nokeys'], { stdio: 'ignore', timeout: 30_000 })).toThrow();

    // And what Get gave registers again (the server reads its own output).
    const again = await registerPfx(v, materialOf(p12Block), pw);
    expect(sameKeyAs(createPrivateKey({ key: materialOf(await getAs(v, again, KeyFormatType.PKCS_8)), format: 'der', type: 'pkcs8' }), fx.publicKey)).toBe(true);
  });

  test('Register with the wrong password: Bad Password (Invalid Field in 1.x), naming the link; nothing stored', async () => {
    const pw = await registerPassword(v, 'not the password');
    const before = (await h.embedded.core.store.locate({ conditions: [] })).length;
    const r = await h.send(v, Operation.Register, registerPfxPayload(v, ec.pfx, [signMask, link(LinkType.PKCS_12PasswordLink, pw)]));
    expect(failure(r)).toBe(badPassword);
    expect(message(r)).toMatch(/PKCS#12 Password Link/);
    expect(message(r)).not.toMatch(/not the password/);
    expect((await h.embedded.core.store.locate({ conditions: [] })).length).toBe(before);
  });

  test('Register without a PKCS#12 Password Link, or with two: Bad Password (Invalid Field in 1.x)', async () => {
    const none = await h.send(v, Operation.Register, registerPfxPayload(v, ec.pfx, [signMask]));
    expect(failure(none)).toBe(badPassword);
    expect(message(none)).toMatch(/no PKCS#12 Password Link/);
    const a = await registerPassword(v, PASSWORD);
    const b = await registerPassword(v, PASSWORD);
    const two = await h.send(v, Operation.Register, registerPfxPayload(v, ec.pfx, [signMask, link(LinkType.PKCS_12PasswordLink, a), link(LinkType.PKCS_12PasswordLink, b)]));
    expect(failure(two)).toBe(badPassword);
  });

  test('a password link to Secret Data that is not Active: Bad Password (2.x), Permission Denied (1.x)', async () => {
    const preActive = await registerPassword(v, PASSWORD, []);
    const r = await h.send(v, Operation.Register, registerPfxPayload(v, ec.pfx, [signMask, link(LinkType.PKCS_12PasswordLink, preActive)]));
    expect(failure(r)).toBe(v.major >= 2 ? ResultReason.BadPassword : ResultReason.PermissionDenied);
    expect(message(r)).toMatch(/not Active/);
  });

  test('a password link to something other than Password Secret Data: Bad Password (Invalid Field in 1.x)', async () => {
    const seed = await registerPassword(v, PASSWORD, [active()], SecretDataType.Seed);
    const r = await h.send(v, Operation.Register, registerPfxPayload(v, ec.pfx, [signMask, link(LinkType.PKCS_12PasswordLink, seed)]));
    expect(failure(r)).toBe(badPassword);
    expect(message(r)).toMatch(/Secret Data Type is not Password/);
  });

  test('Get as PKCS#12 of a key without a password link, or whose password is no longer Active: refused', async () => {
    const pw = await registerPassword(v, PASSWORD);
    const uid = await registerPfx(v, ec.pfx, pw);
    // A key Register stored as PKCS#8 without any link.
    const plain = await registerPkcs8(v, materialOf(await getAs(v, uid, KeyFormatType.PKCS_8)), CryptographicAlgorithm.EC, 384);
    const r = await h.send(v, Operation.Get, [uidItem(plain), ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.PKCS_12)]);
    expect(failure(r)).toBe(badPassword);
    expect(message(r)).toMatch(/no PKCS#12 Password Link/);

    // Revoke the password (Deactivated): the PFX is no longer given out.
    successPayload(
      await h.send(v, Operation.Revoke, [uidItem(pw), ttlv.structure(Tag.RevocationReason, [ttlv.enumeration(Tag.RevocationReasonCode, RevocationReasonCode.CessationOfOperation)])]),
    );
    const denied = await h.send(v, Operation.Get, [uidItem(uid), ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.PKCS_12)]);
    expect(failure(denied)).toBe(v.major >= 2 ? ResultReason.BadPassword : ResultReason.PermissionDenied);
  });

  test('Get as PKCS#12 of a key made here: Add Attribute of the password link; the PFX holds the key only', async () => {
    const pw = await registerPassword(v, PASSWORD);
    const uid = await registerPfx(v, rsa.pfx, pw);
    const plainKey = materialOf(await getAs(v, uid, KeyFormatType.PKCS_8));
    const other = await registerPkcs8(v, plainKey, CryptographicAlgorithm.RSA, 2048);
    successPayload(await h.send(v, Operation.AddAttribute, [uidItem(other), newAttribute(v, link(LinkType.PKCS_12PasswordLink, pw))]));
    const file = path.join(dir, `keyonly-${label}.p12`);
    fs.writeFileSync(file, materialOf(await getAs(v, other, KeyFormatType.PKCS_12)));
    const certs = openssl(['pkcs12', '-in', file, '-passin', `pass:${PASSWORD}`, '-nokeys']);
    expect(certs).not.toMatch(/BEGIN CERTIFICATE/);
    const keyPem = openssl(['pkcs12', '-in', file, '-passin', `pass:${PASSWORD}`, '-nocerts', '-nodes']);
    expect(sameKeyAs(createPrivateKey(keyPem), rsa.publicKey)).toBe(true);
  });

  test('a damaged PFX answers Invalid Field (or Bad Password when only its MAC fails, 2.x), never a crash', async () => {
    const pw = await registerPassword(v, PASSWORD);
    const cases: Buffer[] = [Buffer.alloc(0), Buffer.from('not a pfx'), ec.pfx.subarray(0, ec.pfx.length >> 1), Buffer.concat([ec.pfx, Buffer.from([0])])];
    for (let at = 0; at < ec.pfx.length; at += 97) {
      const b = Buffer.from(ec.pfx);
      b[at]! ^= 0x5a;
      cases.push(b);
    }
    for (const input of cases) {
      const r = await h.send(v, Operation.Register, registerPfxPayload(v, input, [signMask, link(LinkType.PKCS_12PasswordLink, pw)]));
      const reason = failure(r);
      expect(v.major >= 2 ? [ResultReason.InvalidField, ResultReason.BadPassword] : [ResultReason.InvalidField]).toContain(reason);
    }
  });

  test('a chain the server issued: private key -> Public Key Link -> the public key\'s certificate -> Certificate Link -> CA', async () => {
    const pair = async (privMask: number, pubMask: number) => {
      const wrap = (t1: number, t2: number, a: KmipAttribute[]) => ttlv.structure(v.major >= 2 ? t2 : t1, (attributesFor(v, a) as TtlvStructure).value);
      const mask = (m: number): KmipAttribute => ({ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, m) });
      const p = successPayload(
        await h.send(v, Operation.CreateKeyPair, [
          wrap(Tag.CommonTemplateAttribute, Tag.CommonAttributes, [
            { name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.EC) },
            { name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, 256) },
            active(),
          ]),
          wrap(Tag.PrivateKeyTemplateAttribute, Tag.PrivateKeyAttributes, [mask(privMask)]),
          wrap(Tag.PublicKeyTemplateAttribute, Tag.PublicKeyAttributes, [mask(pubMask)]),
        ]),
      );
      return { priv: textOf(p, Tag.PrivateKeyUniqueIdentifier)!, pub: textOf(p, Tag.PublicKeyUniqueIdentifier)! };
    };
    const certify = async (pub: string, extra: KmipAttribute[]) =>
      textOf(successPayload(await h.send(v, Operation.Certify, [uidItem(pub), attributesFor(v, [active(), ...extra])])), Tag.UniqueIdentifier)!;
    const caPair = await pair(CryptographicUsageMask.Sign | CryptographicUsageMask.CertificateSign, CryptographicUsageMask.Verify | CryptographicUsageMask.CertificateSign);
    const caCert = await certify(caPair.pub, []);
    const leafPair = await pair(CryptographicUsageMask.Sign, CryptographicUsageMask.Verify);
    const leafCert = await certify(leafPair.pub, [link(LinkType.CertificateLink, caCert)]);
    const pw = await registerPassword(v, PASSWORD);
    successPayload(await h.send(v, Operation.AddAttribute, [uidItem(leafPair.priv), newAttribute(v, link(LinkType.PKCS_12PasswordLink, pw))]));

    const file = path.join(dir, `issued-${label}.p12`);
    fs.writeFileSync(file, materialOf(await getAs(v, leafPair.priv, KeyFormatType.PKCS_12)));
    const pems = openssl(['pkcs12', '-in', file, '-passin', `pass:${PASSWORD}`, '-nokeys']).match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
    const expected = [await certificateDer(v, leafCert), await certificateDer(v, caCert)].map((d) => new X509Certificate(d).fingerprint256);
    expect(pems.map((p) => new X509Certificate(p).fingerprint256)).toEqual(expected);
    const keyPem = openssl(['pkcs12', '-in', file, '-passin', `pass:${PASSWORD}`, '-nocerts', '-nodes']);
    expect(sameKeyAs(createPrivateKey(keyPem), new X509Certificate(await certificateDer(v, leafCert)).publicKey)).toBe(true);
  });

  test('Get as PKCS#12 of a public key: Key Format Type Not Supported', async () => {
    const pw = await registerPassword(v, PASSWORD);
    const p = successPayload(
      await h.send(v, Operation.Register, [
        ttlv.enumeration(Tag.ObjectType, ObjectType.PublicKey),
        attributesFor(v, [{ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Verify) }, link(LinkType.PKCS_12PasswordLink, pw)]),
        ttlv.structure(Tag.PublicKey, [
          ttlv.structure(Tag.KeyBlock, [
            ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.X_509),
            ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, ec.publicKey.export({ format: 'der', type: 'spki' }))]),
            ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.EC),
            ttlv.integer(Tag.CryptographicLength, 384),
          ]),
        ]),
      ]),
    );
    const r = await h.send(v, Operation.Get, [uidItem(textOf(p, Tag.UniqueIdentifier)!), ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.PKCS_12)]);
    expect(failure(r)).toBe(ResultReason.KeyFormatTypeNotSupported);
  });
});
