/**
 * Shared by Create, Register, Re-key and Import: validate the client's attributes against the
 * attribute policy, add the attributes the server sets, protect the body, store, set the ID
 * Placeholder.
 */
import { createHash } from 'node:crypto';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { CryptographicAlgorithm, DRBGAlgorithm, KeyFormatType, ObjectType, ProtectionStorageMask, RNGAlgorithm, State } from '../spec/generated/enums';
import type { KmipAttribute } from '../kmip/attributes';
import { asInteger, children, opt } from '../kmip/tree';
import { effectiveState } from '../lifecycle/effective-state';
import type { NewObject, StoredAttribute } from '../store/object-store';
import type { OpContext } from './context';
import { compareVersions, type ProtocolVersion } from '../spec/versions';
import { KmipError, Reason } from '../kmip/errors';
import { checkNewObjectAttributes } from './attribute-policy';
import { defaultOperationPolicyName } from '../compat/profiles';
import { keyBlockOf } from './key-block';
import { initialUsageLimitsIn } from './usage-limits';
import { withholdDigest } from './digest-index';
import { applyCryptoperiod } from './cryptoperiod';
import { newUniqueIdentifier, nowSeconds, protectBody, sameValue, setAttribute, toStoredAttributes, withState } from './managed-object';

/** The lease this server grants on its objects (Lease Time attribute; Check compares against it). */
export const LEASE_TIME_SECONDS = 3600;

/**
 * Where key material lives while in use: in this process's memory, encrypted at rest under the
 * HSM's key-encryption key. Software is the truthful Protection Storage Mask for that.
 */
export const PROTECTION_STORAGE = ProtectionStorageMask.Software;

/**
 * KMIP 1.1 and 1.2 (§3.33 Object Group): "default is a reserved Text String for Object Group" (1.1
 * also brought Locate's Object Group Member, whose Group Member Default asks for a group's default
 * object). Object Group is "initially set by client or server" and implicitly set by Create,
 * Register, Re-key ...; the name clients may not use for a group of their own is the server's, so
 * an object a 1.1 or 1.2 client creates without naming a group goes into the group "default".
 * KMIP 1.0 reserves no name, and 1.3 dropped the sentence (there "default" is an ordinary group
 * name a client may use), so for those clients the server assigns no group.
 */
const DEFAULT_OBJECT_GROUP = { name: 'default', first: { major: 1, minor: 1 }, last: { major: 1, minor: 2 } } as const;

function reservesDefaultGroup(v: ProtocolVersion): boolean {
  return compareVersions(v, DEFAULT_OBJECT_GROUP.first) >= 0 && compareVersions(v, DEFAULT_OBJECT_GROUP.last) <= 0;
}

/** Node's randomBytes is OpenSSL 3's default generator: a CTR_DRBG over AES-256 (SP 800-90A). */
export function randomNumberGenerator(): TtlvStructure {
  return ttlv.structure(Tag.RandomNumberGenerator, [
    ttlv.enumeration(Tag.RNGAlgorithm, RNGAlgorithm.DRBG),
    ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
    ttlv.integer(Tag.CryptographicLength, 256),
    ttlv.enumeration(Tag.DRBGAlgorithm, DRBGAlgorithm.CTR),
  ]);
}

export function checkClientAttributes(attrs: readonly KmipAttribute[], objectType: number): void {
  // Attributes outside the client's version were refused by the request adapter.
  checkNewObjectAttributes(attrs, undefined, objectType);
}

/**
 * 2.x Protection Storage Masks: the client lists the storage it accepts; the object goes where
 * one of them allows ours, or the request fails.
 */
export function chooseProtectionStorage(payload: TtlvStructure): number {
  const masks = opt.structure(payload, Tag.ProtectionStorageMasks);
  if (!masks) return PROTECTION_STORAGE;
  const accepted = children(masks, Tag.ProtectionStorageMask).map(asInteger);
  if (accepted.length > 0 && !accepted.some((m) => (m & PROTECTION_STORAGE) !== 0)) {
    throw new KmipError(Reason.ProtectionStorageUnavailable, 'this server keeps key material in software storage only');
  }
  return PROTECTION_STORAGE;
}

export interface NewObjectInput {
  readonly objectType: number;
  readonly body: TtlvStructure;
  readonly clientAttributes: readonly KmipAttribute[];
  /** Attributes derived from the body (algorithm, length, digest...). */
  readonly derived: readonly KmipAttribute[];
  /** Create-style operations set Original Creation Date; Register does not. */
  readonly originalCreation: boolean;
  /** The server generated the key material (Create, Re-key): it records its generator. */
  readonly generated?: boolean;
  readonly protectionStorage?: number;
  /** Import names the identifier; every other operation gets a new one. */
  readonly uid?: string;
  /** Attributes copied from another object (Re-key): applied before the client's. */
  readonly inherited?: readonly StoredAttribute[];
  /** Who owns the new object: the caller, or the replaced object's owner (an administrator's Re-key leaves the key its owner's). */
  readonly owner?: string;
}

function boolAttr(attrs: readonly StoredAttribute[], name: string): boolean | undefined {
  const v = attrs.find((a) => a.name === name)?.value;
  return v?.type === ItemType.Boolean ? v.value : undefined;
}

function has(attrs: readonly StoredAttribute[], name: string): boolean {
  return attrs.some((a) => a.name === name);
}

/** The attributes every managed cryptographic object gets from the server unless the client set them. */
function serverDefaults(attrs: StoredAttribute[], input: NewObjectInput, ctx: OpContext): StoredAttribute[] {
  // Not data: the defaults a version implies are stored with the object, and yield to a template's,
  // an inherited or the client's own value, which only this merge knows (no adapter can add them).
  const v = ctx.version;
  let out = attrs;
  const put = (name: string, value: TtlvItem) => {
    if (!has(out, name)) out = setAttribute(out, name, value);
  };
  put('Fresh', ttlv.boolean(Tag.Fresh, true));
  put('Sensitive', ttlv.boolean(Tag.Sensitive, false));
  put('Extractable', ttlv.boolean(Tag.Extractable, true));
  // Always Sensitive / Never Extractable follow the two flags from the start (spec: server-set).
  out = setAttribute(out, 'Always Sensitive', ttlv.boolean(Tag.AlwaysSensitive, boolAttr(out, 'Sensitive') === true));
  out = setAttribute(out, 'Never Extractable', ttlv.boolean(Tag.NeverExtractable, boolAttr(out, 'Extractable') === false));
  put('Lease Time', ttlv.interval(Tag.LeaseTime, LEASE_TIME_SECONDS));
  if (reservesDefaultGroup(v)) put('Object Group', ttlv.textString(Tag.ObjectGroup, DEFAULT_OBJECT_GROUP.name));
  if (input.generated) put('Random Number Generator', randomNumberGenerator());
  // A compatibility profile may name the policy of objects whose client named none (pykmip: "default").
  const policyName = defaultOperationPolicyName(ctx.compat, v);
  if (policyName !== undefined) put('Operation Policy Name', ttlv.textString(Tag.OperationPolicyName, policyName));
  const block = keyBlockOf(input.body);
  // 2.x Key Format Type "applies to all objects"; a certificate's default is X.509 (2.0 4.26).
  const format = block ? opt.enumeration(block, Tag.KeyFormatType) : input.objectType === ObjectType.Certificate ? KeyFormatType.X_509 : undefined;
  if (format !== undefined) out = setAttribute(out, 'Key Format Type', ttlv.enumeration(Tag.KeyFormatType, format));
  out = setAttribute(out, 'Protection Storage Mask', ttlv.integer(Tag.ProtectionStorageMask, input.protectionStorage ?? PROTECTION_STORAGE));
  return out;
}

/** The Short Unique Identifier (2.x): the SHA-256 of the Unique Identifier. */
function shortUniqueIdentifier(uid: string): TtlvItem {
  return ttlv.byteString(Tag.ShortUniqueIdentifier, createHash('sha256').update(uid, 'utf8').digest());
}

/**
 * Builds the new object's record, its material protected by the HSM, without storing it: the
 * caller stores it alone (storeNewObject) or with other writes (Re-key).
 */
export async function prepareNewObject(ctx: OpContext, input: NewObjectInput): Promise<NewObject> {
  const uid = input.uid ?? newUniqueIdentifier();
  const now = nowSeconds(ctx);
  // Names are not checked for uniqueness here: clients such as PyKMIP give every new object a
  // default Name ("Symmetric Key"), and refusing the second one would break them. A Name added
  // or changed later must be unique (managed-object.ts, checkNameUnique).
  const clientAttrs = input.clientAttributes.filter((a) => a.name !== 'Object Type');
  // Inherited first, then derived from the body, then the client's: the later one wins. Except
  // Names: a replacement (Re-key, Re-key Key Pair, Re-certify) keeps the existing object's Names
  // and adds the request's (1.x 4.4 / 2.0 6.1.42: "Set to the name(s) of the existing key").
  let attributes = toStoredAttributes([
    ...(input.inherited ?? []).filter((a) =>
      a.name === 'Name' ? !clientAttrs.some((c) => c.name === 'Name' && sameValue(c.value, a.value)) : !clientAttrs.some((c) => c.name === a.name),
    ),
    ...input.derived,
    ...clientAttrs,
  ]);
  attributes = initialUsageLimitsIn(attributes);
  attributes = setAttribute(attributes, 'Unique Identifier', ttlv.textString(Tag.UniqueIdentifier, uid));
  attributes = setAttribute(attributes, 'Short Unique Identifier', shortUniqueIdentifier(uid));
  attributes = setAttribute(attributes, 'Object Type', ttlv.enumeration(Tag.ObjectType, input.objectType));
  attributes = setAttribute(attributes, 'Initial Date', ttlv.dateTime(Tag.InitialDate, now));
  attributes = setAttribute(attributes, 'Last Change Date', ttlv.dateTime(Tag.LastChangeDate, now));
  if (input.originalCreation) {
    attributes = setAttribute(attributes, 'Original Creation Date', ttlv.dateTime(Tag.OriginalCreationDate, now));
  }
  if (input.objectType !== ObjectType.Template) attributes = serverDefaults(attributes, input, ctx);
  // The operator's cryptoperiods, once the group is known (Import stores its object as it comes, not through here).
  if (ctx.cryptoperiods && input.objectType !== ObjectType.Template) {
    attributes = applyCryptoperiod(ctx.cryptoperiods, input.objectType, attributes, now);
  }
  // Every object has a State attribute; the dates it was given may already have moved it on.
  const initial = withState(attributes, effectiveState(State.PreActive, attributes, ctx.clock.now()));
  const state = initial.state;
  // The Digest of secret material is not stored, its index MAC is (digest-index.ts).
  const withheld = await withholdDigest(ctx.keys, input.objectType, input.body, initial.attributes);
  const protectedMaterial = await protectBody(ctx, uid, input.body);
  return { uid, objectType: input.objectType, state, owner: input.owner ?? ctx.client.name, ...withheld, protectedMaterial };
}

export async function storeNewObject(ctx: OpContext, input: NewObjectInput): Promise<{ uid: string; attributes: readonly StoredAttribute[] }> {
  const record = await prepareNewObject(ctx, input);
  await ctx.store.insert(record);
  ctx.idPlaceholder = record.uid;
  ctx.touched.push(record.uid);
  return { uid: record.uid, attributes: record.attributes };
}
