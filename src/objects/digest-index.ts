/**
 * The Digest of secret material is not kept in the store. A Digest is an unsalted SHA-256 of the
 * Key Material: stored in the clear, the Digest of a registered password would let anyone who can
 * read the store file test guesses offline, at billions a second. So for every object whose
 * material is secret (all but public keys, certificates and certificate requests), the store keeps
 * instead the Digest's HMAC under the HSM's index key (KeyProtector.indexMac, non-extractable):
 * without the HSM it tells nothing and cannot be tested. Get Attributes computes the Digest from the
 * unwrapped material when it is asked for (one unwrap); Locate by Digest computes the HMAC of the
 * Digest it is given and matches it against the stored ones.
 *
 * A destroyed object keeps its attributes, Digest included (the OASIS SKLC-O-1 and AKLC-O-1 cases
 * read it after Destroy), but not the material to compute it from: Destroy seals the Digest under
 * the KEK first, as the material was (bound to the identifier, never interchangeable with a
 * material blob). Sealing it at creation instead would cost every Create one more HSM call.
 */
import { decodeTtlv } from '../../ttlv/decode';
import { encodeTtlv } from '../../ttlv/encode';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { ObjectType } from '../spec/generated/enums';
import { opt } from '../kmip/tree';
import { KeyProtectorError, type KeyProtector, type ProtectedMaterial } from '../keys/key-protector';
import type { DigestSealing, ManagedObjectRecord, ObjectUpdate, StoredAttribute } from '../store/object-store';
import type { OpContext } from './context';
import { KmipError, Reason } from '../kmip/errors';
import { digestAttribute, digestInput, keyBlockOf } from './key-block';
import { readBody, unprotectBody, type DigestAfterDestroy } from './managed-object';

/** Object types whose material is public: a Digest of it reveals nothing and stays in the clear. */
const PUBLIC_MATERIAL: ReadonlySet<number> = new Set([ObjectType.Certificate, ObjectType.PublicKey, ObjectType.CertificateRequest]);

/**
 * Whether the store withholds this object type's Digest. Every type but the public ones: keys and
 * secret data, split keys (shares of a secret), PGP keys (which may hold a private key) and opaque
 * objects (whose content the server cannot judge).
 */
function withholdsDigest(objectType: number): boolean {
  return !PUBLIC_MATERIAL.has(objectType);
}

/**
 * The Digest of a stored body as the server reports it: SHA-256 over the Key Material
 * (key-block.ts digestInput) with the block's Key Format Type; undefined without key material (a
 * metadata-only or wrapped key, an opaque object).
 */
function digestOfBody(body: TtlvStructure): TtlvStructure | undefined {
  const block = keyBlockOf(body);
  if (block === undefined) return undefined;
  const format = opt.enumeration(block, Tag.KeyFormatType);
  const material = digestInput(block);
  return format !== undefined && material !== undefined ? digestAttribute(material, format) : undefined;
}

/** Keeps the index key's MACs of Digests apart from any other use of that key. */
const DIGEST_INDEX_DOMAIN = Buffer.from('kmip-index:Digest\0', 'utf8');

/**
 * The index MAC of a Digest value. Over the encoding of its fields without the outer tag, which is
 * what Locate compared in the clear (store/attribute-rows.ts attributeSearchKey): a 1.x Attribute
 * Value and a 2.x Digest structure match alike, fields in the order given.
 */
export function digestIndexMac(keys: KeyProtector, digest: TtlvItem): Promise<Buffer> {
  const fields = digest.type === ItemType.Structure ? digest.value : [digest];
  return keys.indexMac(Buffer.concat([DIGEST_INDEX_DOMAIN, ...fields.map((f) => encodeTtlv(f))]));
}

/**
 * A new object's attributes and Digest index: for secret material, every Digest leaves the
 * attributes and the index MAC of the one computed from the body stands in for them.
 */
export async function withholdDigest(
  keys: KeyProtector,
  objectType: number,
  body: TtlvStructure,
  attributes: readonly StoredAttribute[],
): Promise<{ attributes: readonly StoredAttribute[]; digestMac: Buffer | null }> {
  if (!withholdsDigest(objectType)) return { attributes, digestMac: null };
  const digest = digestOfBody(body);
  return {
    attributes: attributes.filter((a) => a.name !== 'Digest'),
    digestMac: digest === undefined ? null : await digestIndexMac(keys, digest),
  };
}

/** Whether the object has a withheld Digest: its material to compute it from, or the sealed Digest. */
function hasWithheldDigest(rec: ManagedObjectRecord): boolean {
  return rec.digestMac !== null && (rec.protectedMaterial !== null || rec.sealedDigest !== null);
}

/** What a sealed Digest is bound to: not the identifier alone, so it can never pass for material. */
export function sealBinding(uid: string): string {
  return `${uid}\u0000Digest`;
}

function seal(keys: KeyProtector, uid: string, digest: TtlvStructure): Promise<ProtectedMaterial> {
  return keys.protect(sealBinding(uid), encodeTtlv(digest));
}

async function openSealed(ctx: OpContext, uid: string, sealed: ProtectedMaterial): Promise<TtlvStructure> {
  const plain = await ctx.keys.unprotect(sealBinding(uid), sealed);
  try {
    const digest = decodeTtlv(plain);
    if (digest.type !== ItemType.Structure || digest.tag !== Tag.Digest) throw new KmipError(Reason.GeneralFailure, 'stored Digest is damaged');
    return digest;
  } finally {
    plain.fill(0);
  }
}

/**
 * Before Destroy drops the material: its withheld Digest sealed, so a destroyed object still
 * answers it, with its index. If the HSM cannot compute or seal it now, the Digest goes with the
 * material (both null) rather than Destroy waiting for the HSM: destroying a key must always work.
 */
export async function sealWithheldDigest(ctx: OpContext, rec: ManagedObjectRecord): Promise<DigestAfterDestroy> {
  if (rec.digestMac === null || rec.protectedMaterial === null) return { sealedDigest: rec.sealedDigest, digestMac: rec.digestMac };
  try {
    const digest = digestOfBody(await readBody(ctx, rec));
    if (digest === undefined) return { sealedDigest: null, digestMac: null };
    return { sealedDigest: await seal(ctx.keys, rec.uid, digest), digestMac: rec.digestMac };
  } catch (e) {
    if (e instanceof KeyProtectorError) return { sealedDigest: null, digestMac: null };
    throw e;
  }
}

/** `attrs` with `digest` at its place by name, where the store's blob order would put it. */
function withDigestAttribute(attrs: readonly StoredAttribute[], digest: TtlvItem): StoredAttribute[] {
  const at = attrs.findIndex((a) => a.name > 'Digest');
  const entry: StoredAttribute = { name: 'Digest', index: 0, value: digest };
  return at < 0 ? [...attrs, entry] : [...attrs.slice(0, at), entry, ...attrs.slice(at)];
}

/**
 * The object's attributes as clients see them, its withheld Digest computed from the material, or
 * opened from its seal once the material is destroyed. That costs one HSM call, unless the caller
 * passes the stored body it already read.
 */
export async function attributesWithDigest(ctx: OpContext, rec: ManagedObjectRecord, body?: TtlvStructure): Promise<readonly StoredAttribute[]> {
  if (!hasWithheldDigest(rec)) return rec.attributes;
  const digest =
    rec.protectedMaterial !== null ? digestOfBody(body ?? (await readBody(ctx, rec))) : await openSealed(ctx, rec.uid, rec.sealedDigest!);
  return digest === undefined ? rec.attributes : withDigestAttribute(rec.attributes, digest);
}

/**
 * The names of the object's attributes need no unwrap: a withheld Digest is listed from its index
 * (the value here is a placeholder, never sent).
 */
export function attributesForListing(rec: ManagedObjectRecord): readonly StoredAttribute[] {
  return hasWithheldDigest(rec) ? withDigestAttribute(rec.attributes, ttlv.structure(Tag.Digest, [])) : rec.attributes;
}

/** Records read per transaction while sealing: bounded memory, and each object whole in one. */
const SEAL_BATCH = 500;

/**
 * Schema 5's conversion of a store written before it, at start, before anything is served: every
 * secret object's clear Digest leaves its attributes, and the index MAC of the Digest computed
 * from its material takes its place; a destroyed object's clear Digest is sealed, with the index
 * MAC of it. Each batch of objects is one transaction, so an object is
 * never half converted; a crash between batches leaves the flag set and the next start carries on
 * (converted objects have no clear Digest left to move). Then the file is rewritten so that no
 * old page keeps a clear Digest. Returns how many objects were converted.
 *
 * An object whose material no longer authenticates (INTEGRITY) loses its clear Digest without an
 * index: nothing could compute it again. Any other HSM error stops the conversion (and the start).
 */
export async function sealClearDigests(store: DigestSealing, keys: KeyProtector): Promise<number> {
  if (!store.needsDigestSealing()) return 0;
  let sealed = 0;
  for (let after = 0; ; ) {
    const records = await store.recordsAfter(after, SEAL_BATCH);
    if (records.length === 0) break;
    after = records[records.length - 1]!.seq;
    const updates: { uid: string; update: ObjectUpdate }[] = [];
    for (const rec of records) {
      const clear = rec.attributes.find((a) => a.name === 'Digest')?.value;
      if (!withholdsDigest(rec.objectType) || clear === undefined) continue;
      const attributes = rec.attributes.filter((a) => a.name !== 'Digest');
      const withheld =
        rec.protectedMaterial !== null
          ? { digestMac: await storedDigestMac(keys, rec) }
          : clear.type === ItemType.Structure
            ? { digestMac: await digestIndexMac(keys, clear), sealedDigest: await seal(keys, rec.uid, ttlv.structure(Tag.Digest, clear.value)) }
            : { digestMac: null };
      updates.push({ uid: rec.uid, update: { attributes, ...withheld, expectedRevision: rec.revision } });
    }
    if (updates.length > 0) await store.writeBatch(updates);
    sealed += updates.length;
  }
  await store.finishDigestSealing();
  return sealed;
}

/** The index MAC of the Digest of a record's material, unwrapped for the moment it takes. */
async function storedDigestMac(keys: KeyProtector, rec: ManagedObjectRecord): Promise<Buffer | null> {
  if (rec.protectedMaterial === null) return null;
  const secrets: Uint8Array[] = [];
  try {
    const digest = digestOfBody(await unprotectBody(keys, rec, secrets));
    return digest === undefined ? null : await digestIndexMac(keys, digest);
  } catch (e) {
    // Material that does not open or decode has no Digest to index.
    if ((e instanceof KeyProtectorError && e.code === 'INTEGRITY') || e instanceof KmipError) return null;
    throw e;
  } finally {
    for (const s of secrets) s.fill(0);
  }
}
