/** The object as a client receives it (Get, Export, Notify and Put): format conversion, key wrapping, served marks. */
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { KeyFormatType, KeyWrapType, ObjectType } from '../spec/generated/enums';
import { child, opt, withTag } from '../kmip/tree';
import { isAllowed, type StateValue } from '../lifecycle/state-machine';
import { KmipError, Reason } from '../kmip/errors';
import { convertKeyBlock } from '../crypto/asymmetric-keys';
import { convertPqcKeyBlock, pqcOfBlock } from '../crypto/pqc-keys';
import { OBJECT_BODY_TAG, keyBlockOf, rawKeyMaterial, requireKeyValue } from './key-block';
import type { ManagedObjectRecord, ObjectStore, StoredAttribute } from '../store/object-store';
import type { KeyProtector } from '../keys/key-protector';
import type { ProtocolVersion } from '../spec/versions';
import { DEFAULT_CRYPTO_POLICY } from '../crypto/policy-profiles';
import { COMPAT_PROFILES } from '../compat/profiles';
import type { Clock, OpContext, ServerInfo } from './context';
import { getAttribute, isDestroyed, readBody, requireOnline } from './managed-object';
import { unwrapKeyBlock, wrapKeyBlock } from './key-wrap';
import { pkcs12KeyBlock } from './pkcs12';
import { attributesWithDigest } from './digest-index';

/** Re-expresses a symmetric key block in another format (Raw <-> Transparent Symmetric Key). */
function convertSymmetric(block: TtlvStructure, to: number): TtlvStructure {
  const from = opt.enumeration(block, Tag.KeyFormatType);
  if (from === to) return block;
  const material = rawKeyMaterial(block);
  if (!material) throw new KmipError(Reason.KeyFormatTypeNotSupported, 'this key cannot be converted');
  let keyMaterial: TtlvItem;
  if (to === KeyFormatType.Raw) keyMaterial = ttlv.byteString(Tag.KeyMaterial, material);
  else if (to === KeyFormatType.TransparentSymmetricKey) {
    keyMaterial = ttlv.structure(Tag.KeyMaterial, [ttlv.byteString(Tag.Key, material)]);
  } else throw new KmipError(Reason.KeyFormatTypeNotSupported, 'requested Key Format Type is not supported for this key');
  const out: TtlvItem[] = [];
  for (const c of block.value) {
    if (c.tag === Tag.KeyFormatType) out.push(ttlv.enumeration(Tag.KeyFormatType, to));
    else if (c.tag === Tag.KeyValue && c.type === ItemType.Structure) {
      out.push(ttlv.structure(Tag.KeyValue, c.value.map((k) => (k.tag === Tag.KeyMaterial ? keyMaterial : k))));
    } else out.push(c);
  }
  return ttlv.structure(Tag.KeyBlock, out);
}

/**
 * The object's body as the client asked for it: in the requested Key Format Type, wrapped when
 * a Key Wrapping Specification is given. Sensitive objects leave only wrapped; non-extractable
 * ones not at all. Shared by Get and Export.
 */
export async function bodyForClient(ctx: OpContext, rec: ManagedObjectRecord, payload: TtlvStructure): Promise<TtlvStructure> {
  if (isDestroyed(rec.state)) throw new KmipError(Reason.ObjectDestroyed, `object ${rec.uid} is destroyed`);
  requireOnline(rec);
  if (!isAllowed(rec.state as StateValue, 'get')) {
    throw new KmipError(Reason.WrongKeyLifecycleState, `object ${rec.uid} cannot be retrieved in its state`);
  }
  const kws = opt.structure(payload, Tag.KeyWrappingSpecification);
  if (flag(rec, 'Extractable') === false) {
    throw new KmipError(Reason.NotExtractable, `object ${rec.uid} is not extractable`);
  }
  if (flag(rec, 'Sensitive') === true && !kws) {
    throw new KmipError(Reason.Sensitive, `object ${rec.uid} is sensitive: it can only be retrieved wrapped`);
  }
  const format = opt.enumeration(payload, Tag.KeyFormatType);
  if (opt.enumeration(payload, Tag.KeyCompressionType) !== undefined) {
    throw new KmipError(Reason.KeyCompressionTypeNotSupported, 'key compression is not supported');
  }
  const stored = await readBody(ctx, rec);
  let body = stored;
  const wrapType = opt.enumeration(payload, Tag.KeyWrapType);
  if (wrapType !== undefined) checkKeyWrapType(wrapType, kws !== undefined);
  const storedBlock = keyBlockOf(stored);
  if (wrapType === KeyWrapType.NotWrapped && storedBlock && child(storedBlock, Tag.KeyWrappingData)) {
    body = replaceBlock(body, await unwrapKeyBlock(ctx, storedBlock));
  }
  const block = keyBlockOf(body);
  requireKeyValue(block, rec.uid);
  if (format !== undefined) {
    if (!block) throw new KmipError(Reason.KeyFormatTypeNotSupported, 'this object has no key block');
    const pairHalf = rec.objectType === ObjectType.PublicKey || rec.objectType === ObjectType.PrivateKey;
    if (!pairHalf && rec.objectType !== ObjectType.SymmetricKey && opt.enumeration(block, Tag.KeyFormatType) !== format) {
      throw new KmipError(Reason.KeyFormatTypeNotSupported, 'format conversion is offered for keys only');
    }
    if (format === KeyFormatType.PKCS_12) body = replaceBlock(body, await pkcs12KeyBlock(ctx, rec, block));
    else body = replaceBlock(body, pairHalf ? convertPairHalf(ctx, rec, block, format) : convertSymmetric(block, format));
  }
  if (kws) {
    const current = keyBlockOf(body);
    if (!current) throw new KmipError(Reason.IllegalObjectType, 'only objects with a key block can be wrapped');
    // Attributes bound to the wrapped key may name the Digest, which the store withholds.
    body = replaceBlock(body, await wrapKeyBlock(ctx, current, kws, await attributesWithDigest(ctx, rec, stored)));
  }
  return withTag(body, OBJECT_BODY_TAG[rec.objectType] ?? body.tag) as TtlvStructure;
}

/**
 * Key Wrap Type (1.4 on) says in what wrapping the client wants the Key Value back. As Registered:
 * as it is stored, which is always what the client registered. Not Wrapped: plaintext; a key the
 * client registered wrapped is unwrapped when its wrapping key is the caller's on this server, and
 * refused (Key Wrap Type Not Supported) otherwise (key-wrap.ts unwrapKeyBlock). Either way the
 * answer is never silently something else.
 */
function checkKeyWrapType(wrapType: number, wrapRequested: boolean): void {
  if (wrapType === KeyWrapType.AsRegistered) return;
  if (wrapType !== KeyWrapType.NotWrapped) {
    throw new KmipError(Reason.KeyWrapTypeNotSupported, 'Key Wrap Type must be Not Wrapped or As Registered');
  }
  if (wrapRequested) {
    throw new KmipError(Reason.InvalidField, 'Key Wrap Type Not Wrapped contradicts the Key Wrapping Specification in the same request');
  }
}

function replaceBlock(body: TtlvStructure, block: TtlvStructure): TtlvStructure {
  return ttlv.structure(body.tag, body.value.map((c) => (c.tag === Tag.KeyBlock ? block : c)));
}

function flag(rec: ManagedObjectRecord, name: string): boolean | undefined {
  const v = getAttribute(rec.attributes, name);
  return v?.type === ItemType.Boolean ? v.value : undefined;
}

/**
 * Once served, an object is no longer Fresh (spec: Fresh). The response does not wait for this
 * write to be committed or synced: a key's first Get is the whole workload of a storage array or
 * hypervisor fetching its keys at boot. Nothing the client receives depends on the write being
 * durable: if a crash loses it, the object reads as Fresh once more, the state it had before the
 * Get and the one a crash a moment earlier would have left, which is the conservative direction.
 * The store merges it with concurrent changes instead of conflicting with them, and shows it to
 * reads at once (ObjectStore.deferAttribute).
 */
export function markServed(ctx: OpContext, rec: ManagedObjectRecord): void {
  if (flag(rec, 'Fresh') !== true) return;
  ctx.store.deferAttribute(rec.uid, { name: 'Fresh', value: ttlv.boolean(Tag.Fresh, false) });
}

/** An object as its owner's notification endpoint receives it in a Put; zero `secrets` once sent. */
export interface ServedToOwner {
  readonly body: TtlvStructure;
  readonly attributes: readonly StoredAttribute[];
  readonly secrets: Uint8Array[];
}

export interface OwnerReadDeps {
  readonly store: ObjectStore;
  readonly keys: KeyProtector;
  readonly clock: Clock;
  readonly server: ServerInfo;
}

/**
 * The object as Get returns it by default to its owner (same state, sensitivity and extractability
 * rules), with its attributes, in `version`: what a Put carries. Undefined once the object is gone.
 */
export async function serveToOwner(deps: OwnerReadDeps, uid: string, version: ProtocolVersion): Promise<ServedToOwner | undefined> {
  const rec = await deps.store.get(uid);
  if (rec === undefined) return undefined;
  const ctx: OpContext = {
    version,
    client: { name: rec.owner, isAdmin: false },
    store: deps.store,
    keys: deps.keys,
    clock: deps.clock,
    server: deps.server,
    // Put only reads objects: nothing is generated under a policy here.
    crypto: DEFAULT_CRYPTO_POLICY,
    // Profiles shape what new objects get; a Put only reads an object as Get would.
    compat: COMPAT_PROFILES.none,
    idPlaceholder: undefined,
    touched: [],
    auditDetail: {},
    secrets: [],
  };
  try {
    const body = await bodyForClient(ctx, rec, ttlv.structure(Tag.RequestPayload, []));
    return { body, attributes: await attributesWithDigest(ctx, rec), secrets: ctx.secrets };
  } catch (e) {
    for (const s of ctx.secrets) s.fill(0);
    throw e;
  }
}

/** A public or private key block in another Key Format Type: post-quantum keys by their own codecs. */
function convertPairHalf(ctx: OpContext, rec: ManagedObjectRecord, block: TtlvStructure, format: number): TtlvStructure {
  const alg = getAttribute(rec.attributes, 'Cryptographic Algorithm');
  const pqc = pqcOfBlock(block, alg?.type === ItemType.Enumeration ? alg.value : undefined);
  return pqc ? convertPqcKeyBlock(block, rec.objectType, format, pqc, ctx.secrets) : convertKeyBlock(block, rec.objectType, format, ctx.secrets);
}
