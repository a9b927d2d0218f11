/**
 * Key Format Type PKCS#12 (KMIP 1.4 on) for Register and Get of a Private Key.
 *
 * The password: the Secret Data named by the object's (Get) or the request's (Register) PKCS#12
 * Password Link. Bad Password (2.x) when "missing or multiple PKCS#12 Password Links, or not
 * Secret Data, or not Active" (Result Reason table); in 1.x, which lacks that reason, Invalid
 * Field, and Permission Denied for the lifecycle case, as 1.x reports lifecycle refusals. We
 * also ask for Secret Data Type Password, the type that says what the bytes are.
 *
 * Register: the PFX is opened, the private key stored as PKCS#8 (algorithm and length from the
 * key), and its certificates registered as Certificate objects in the same store write: the
 * key's PKCS#12 Certificate Link names its certificate, each certificate's Certificate Link
 * names its issuer's (the 1.x meaning of that link on a certificate: the parent in a chain).
 * The key bag's friendlyName becomes PKCS#12 Friendly Name unless the client sets one.
 *
 * Get: a PFX of the key and its chain, under the linked password (2.x Get: "using the private
 * key's Public Key link to get the corresponding public key (where relevant), and then using
 * that public key's PKCS#12 Certificate Link to get the base certificate, and then using each
 * certificate's Certificate Link to build the certificate chain. It is an error if there is more
 * than one valid certificate chain"). "Where relevant" we read as: the key's own PKCS#12
 * Certificate Link (what Register sets) first; else the public key's PKCS#12 Certificate Link or
 * Certificate Link (what Certify sets). Valid means: live, X.509, the private key's public key
 * for the base certificate, and for each issuer a certificate whose key verifies the one below.
 */
import { X509Certificate, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { CertificateType, KeyFormatType, LinkType, ObjectType, SecretDataType, State } from '../spec/generated/enums';
import type { KmipAttribute } from '../kmip/attributes';
import { child, opt, req } from '../kmip/tree';
import { isAllowed, type StateValue } from '../lifecycle/state-machine';
import type { OpContext } from './context';
import { KmipError, Reason } from '../kmip/errors';
import type { ManagedObjectRecord } from '../store/object-store';
import { describeKey, keyObjectFromBlock } from '../crypto/asymmetric-keys';
import { readPkcs12, writePkcs12, type PasswordSource } from '../crypto/pkcs12';
import { keyBlockOf, rawKeyMaterial } from './key-block';
import { getAttribute, isDestroyed, loadObject, newUniqueIdentifier, readBody } from './managed-object';
import { linkAttribute } from '../kmip/attributes';
import { checkClientAttributes, chooseProtectionStorage, prepareNewObject } from './new-object';
import { readRegisteredObject } from './registered-object';
import { resolveRequestAttributes } from './templates';

type Attr = { readonly name: string; readonly value: TtlvItem };

/** Every Link target of `type` among attribute values. */
function linkTargets(attrs: readonly Attr[], type: number): string[] {
  const out: string[] = [];
  for (const a of attrs) {
    if (a.name !== 'Link' || a.value.type !== ItemType.Structure) continue;
    if (opt.enumeration(a.value, Tag.LinkType) !== type) continue;
    const uid = opt.text(a.value, Tag.LinkedObjectIdentifier);
    if (uid !== undefined && !out.includes(uid)) out.push(uid);
  }
  return out;
}

async function loadOrUndefined(ctx: OpContext, uid: string): Promise<ManagedObjectRecord | undefined> {
  try {
    return await loadObject(ctx, uid);
  } catch (e) {
    if (e instanceof KmipError) return undefined;
    throw e;
  }
}

/** The password bytes (UTF-8 text) the PKCS#12 Password Link names; added to ctx.secrets. */
async function linkedPassword(ctx: OpContext, attrs: readonly Attr[], whose: string): Promise<{ password: Uint8Array; source: PasswordSource }> {
  const bad = (what: string) => new KmipError(Reason.BadPassword, `Key Format Type PKCS#12: ${whose} ${what}`);
  const targets = linkTargets(attrs, LinkType.PKCS_12PasswordLink);
  if (targets.length === 0) throw bad('has no PKCS#12 Password Link naming the Secret Data that holds the password');
  if (targets.length > 1) throw bad(`has ${targets.length} PKCS#12 Password Links; exactly one must name the password`);
  const uid = targets[0]!;
  const rec = await loadOrUndefined(ctx, uid);
  if (!rec || isDestroyed(rec.state)) throw bad(`has a PKCS#12 Password Link to ${uid}, which is not found`);
  if (rec.objectType !== ObjectType.SecretData) throw bad(`has a PKCS#12 Password Link to ${uid}, which is not Secret Data`);
  if (rec.state !== State.Active) {
    throw new KmipError(Reason.BadPassword, `Key Format Type PKCS#12: the Secret Data ${uid} named by the PKCS#12 Password Link of ${whose} is not Active`, undefined, Reason.PermissionDenied);
  }
  const body = await readBody(ctx, rec);
  if (opt.enumeration(body, Tag.SecretDataType) !== SecretDataType.Password) {
    throw bad(`has a PKCS#12 Password Link to Secret Data ${uid}, whose Secret Data Type is not Password`);
  }
  const block = keyBlockOf(body);
  const material = block && !child(block, Tag.KeyWrappingData) ? rawKeyMaterial(block) : undefined;
  if (!material) throw bad(`has a PKCS#12 Password Link to Secret Data ${uid}, whose value is not available in plain form`);
  return { password: material, source: { description: `the Secret Data ${uid} named by the PKCS#12 Password Link` } };
}

// ---------------------------------------------------------------------------------------------
// Register

/** A Register payload whose Private Key is given as PKCS#12. */
export function isPkcs12Register(payload: TtlvStructure, objectType: number): boolean {
  if (objectType !== ObjectType.PrivateKey) return false;
  const body = opt.structure(payload, Tag.PrivateKey);
  const block = body ? keyBlockOf(body) : undefined;
  return block !== undefined && opt.enumeration(block, Tag.KeyFormatType) === KeyFormatType.PKCS_12;
}

function certificateBody(der: Uint8Array): TtlvStructure {
  return ttlv.structure(Tag.Certificate, [ttlv.enumeration(Tag.CertificateType, CertificateType.X_509), ttlv.byteString(Tag.CertificateValue, der)]);
}

/** Whether `issuer` issued and signed `cert`. */
function issued(issuer: X509Certificate, cert: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** Register of a PKCS#12 Private Key: returns the private key's Unique Identifier. */
export async function registerPkcs12(payload: TtlvStructure, ctx: OpContext): Promise<string> {
  const given = req.structure(payload, Tag.PrivateKey);
  const block = keyBlockOf(given);
  if (!block || !child(block, Tag.KeyValue)) throw new KmipError(Reason.KeyValueNotPresent, 'the key block has no Key Value');
  if (child(block, Tag.KeyWrappingData)) throw new KmipError(Reason.InvalidField, 'a PKCS#12 Key Block is protected by its password and cannot also be wrapped');
  const pfx = rawKeyMaterial(block);
  if (!pfx) throw new KmipError(Reason.InvalidField, 'PKCS#12 Key Material must be a Byte String');
  const attrs = await resolveRequestAttributes(payload, ctx);
  checkClientAttributes(attrs, ObjectType.PrivateKey);
  const protectionStorage = chooseProtectionStorage(payload);

  const { password, source } = await linkedPassword(ctx, attrs, 'the request');
  const contents = await readPkcs12(pfx, password, source);
  ctx.secrets.push(contents.privateKey);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: contents.privateKey, format: 'der', type: 'pkcs8' });
  } catch {
    throw new KmipError(Reason.InvalidField, 'the PKCS#12 private key is not a valid PKCS#8 key');
  }
  const { algorithm, length } = describeKey(key);
  // The key as PKCS#8, with the client's Key Value attributes (1.x) kept.
  const kv = opt.structure(block, Tag.KeyValue);
  const keyValue = ttlv.structure(Tag.KeyValue, [
    ttlv.byteString(Tag.KeyMaterial, contents.privateKey),
    ...(kv ? kv.value.filter((c) => c.tag !== Tag.KeyMaterial) : []),
  ]);
  const keyBody = ttlv.structure(Tag.PrivateKey, [
    ttlv.structure(Tag.KeyBlock, [
      ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.PKCS_8),
      keyValue,
      ttlv.enumeration(Tag.CryptographicAlgorithm, algorithm),
      ttlv.integer(Tag.CryptographicLength, length),
    ]),
  ]);
  const keyPayload = ttlv.structure(payload.tag, payload.value.map((c) => (c.tag === Tag.PrivateKey ? keyBody : c)));
  const { body, own } = readRegisteredObject(keyPayload, ObjectType.PrivateKey, ctx);

  // Certificates: one new object each, linked to its issuer when the issuer is in the PFX.
  const x509 = contents.certificates.map((der) => new X509Certificate(der));
  const certUids = x509.map(() => newUniqueIdentifier());
  const writes: Parameters<typeof ctx.store.writeBatch>[0][number][] = [];
  for (const [i, cert] of x509.entries()) {
    const issuerIndex = x509.findIndex((other, j) => j !== i && issued(other, cert));
    const links: KmipAttribute[] = issuerIndex >= 0 ? [linkAttribute(LinkType.CertificateLink, certUids[issuerIndex]!)] : [];
    const certPayload = ttlv.structure(Tag.RequestPayload, [ttlv.enumeration(Tag.ObjectType, ObjectType.Certificate), certificateBody(contents.certificates[i]!)]);
    const registered = readRegisteredObject(certPayload, ObjectType.Certificate, ctx);
    writes.push({
      insert: await prepareNewObject(ctx, {
        objectType: ObjectType.Certificate,
        body: registered.body,
        clientAttributes: links,
        derived: registered.own,
        originalCreation: false,
        protectionStorage,
        uid: certUids[i]!,
      }),
    });
  }
  const keyLinks: KmipAttribute[] = contents.leafFound ? [linkAttribute(LinkType.PKCS_12CertificateLink, certUids[0]!)] : [];
  const friendly: KmipAttribute[] =
    contents.friendlyName !== undefined ? [{ name: 'PKCS#12 Friendly Name', value: ttlv.textString(Tag.PKCS_12FriendlyName, contents.friendlyName) }] : [];
  const clientAttributes = [...attrs, ...keyLinks];
  const keyRecord = await prepareNewObject(ctx, {
    objectType: ObjectType.PrivateKey,
    body,
    clientAttributes,
    derived: [...own, ...friendly].filter((d) => !clientAttributes.some((a) => a.name === d.name)),
    originalCreation: false,
    protectionStorage,
  });
  writes.push({ insert: keyRecord });
  await ctx.store.writeBatch(writes);
  ctx.idPlaceholder = keyRecord.uid;
  ctx.touched.push(...certUids, keyRecord.uid);
  return keyRecord.uid;
}

// ---------------------------------------------------------------------------------------------
// Get

const MAX_CHAIN = 10;

interface LiveCertificate {
  readonly rec: ManagedObjectRecord;
  readonly der: Buffer;
  readonly x509: X509Certificate;
}

/** A certificate the caller may Get, or undefined. */
async function liveCertificate(ctx: OpContext, uid: string): Promise<LiveCertificate | undefined> {
  const rec = await loadOrUndefined(ctx, uid);
  if (!rec || rec.objectType !== ObjectType.Certificate || isDestroyed(rec.state) || !isAllowed(rec.state as StateValue, 'get')) return undefined;
  const body = await readBody(ctx, rec);
  const value = opt.bytes(body, Tag.CertificateValue);
  if (opt.enumeration(body, Tag.CertificateType) !== CertificateType.X_509 || !value) return undefined;
  try {
    return { rec, der: Buffer.from(value), x509: new X509Certificate(value) };
  } catch {
    return undefined;
  }
}

function moreThanOneChain(what: string, uids: readonly string[]): KmipError {
  return new KmipError(Reason.InvalidField, `Key Format Type PKCS#12: more than one valid certificate chain (${what}: ${uids.join(', ')})`);
}

/** The key's certificate chain, base certificate first; empty when the key has none. */
async function certificateChain(ctx: OpContext, rec: ManagedObjectRecord, key: KeyObject): Promise<Buffer[]> {
  const publicDer = createPublicKey(key).export({ format: 'der', type: 'spki' });
  let baseUids = linkTargets(rec.attributes, LinkType.PKCS_12CertificateLink);
  if (baseUids.length === 0) {
    const pubUid = linkTargets(rec.attributes, LinkType.PublicKeyLink)[0];
    const pub = pubUid === undefined ? undefined : await loadOrUndefined(ctx, pubUid);
    if (pub && pub.objectType === ObjectType.PublicKey) {
      baseUids = linkTargets(pub.attributes, LinkType.PKCS_12CertificateLink);
      if (baseUids.length === 0) baseUids = linkTargets(pub.attributes, LinkType.CertificateLink);
    }
  }
  const bases: LiveCertificate[] = [];
  for (const uid of baseUids) {
    const c = await liveCertificate(ctx, uid);
    if (c && c.x509.publicKey.export({ format: 'der', type: 'spki' }).equals(publicDer)) bases.push(c);
  }
  if (bases.length === 0) return [];
  if (bases.length > 1) throw moreThanOneChain('certificates for the key', bases.map((b) => b.rec.uid));
  const chain = [bases[0]!];
  const seen = new Set([bases[0]!.rec.uid]);
  while (chain.length < MAX_CHAIN) {
    const cur = chain[chain.length - 1]!;
    if (issued(cur.x509, cur.x509)) break; // self-signed: the root
    const issuers: LiveCertificate[] = [];
    for (const uid of linkTargets(cur.rec.attributes, LinkType.CertificateLink)) {
      if (seen.has(uid)) continue;
      const c = await liveCertificate(ctx, uid);
      if (c && issued(c.x509, cur.x509)) issuers.push(c);
    }
    if (issuers.length === 0) break;
    if (issuers.length > 1) throw moreThanOneChain(`issuers of ${cur.rec.uid}`, issuers.map((c) => c.rec.uid));
    seen.add(issuers[0]!.rec.uid);
    chain.push(issuers[0]!);
  }
  return chain.map((c) => c.der);
}

/**
 * The Key Block of a Private Key as PKCS#12: the stored block's algorithm, length and Key Value
 * attributes, with a PFX as Key Material.
 */
export async function pkcs12KeyBlock(ctx: OpContext, rec: ManagedObjectRecord, block: TtlvStructure): Promise<TtlvStructure> {
  if (rec.objectType !== ObjectType.PrivateKey) {
    throw new KmipError(Reason.KeyFormatTypeNotSupported, 'Key Format Type PKCS#12 is offered for private keys');
  }
  const { password } = await linkedPassword(ctx, rec.attributes, `object ${rec.uid}`);
  const key = keyObjectFromBlock(block, 'private');
  const pkcs8 = key.export({ format: 'der', type: 'pkcs8' });
  ctx.secrets.push(pkcs8);
  const certificates = await certificateChain(ctx, rec, key);
  const name = getAttribute(rec.attributes, 'PKCS#12 Friendly Name');
  const pfx = await writePkcs12({ privateKey: pkcs8, certificates, ...(name?.type === ItemType.TextString ? { friendlyName: name.value } : {}) }, password);
  const out: TtlvItem[] = [];
  for (const c of block.value) {
    if (c.tag === Tag.KeyFormatType) out.push(ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.PKCS_12));
    else if (c.tag === Tag.KeyValue && c.type === ItemType.Structure) {
      out.push(ttlv.structure(Tag.KeyValue, c.value.map((k) => (k.tag === Tag.KeyMaterial ? ttlv.byteString(Tag.KeyMaterial, pfx) : k))));
    } else out.push(c);
  }
  return ttlv.structure(Tag.KeyBlock, out);
}
