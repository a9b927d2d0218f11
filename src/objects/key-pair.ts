/** Building a key pair's two halves (Create Key Pair, Re-key Key Pair). */
import { ItemType, ttlv, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { LinkType, ObjectType } from '../spec/generated/enums';
import type { KmipAttribute } from '../kmip/attributes';
import { child, opt, withTag } from '../kmip/tree';
import type { OpContext } from './context';
import { keyBlockIn } from '../crypto/asymmetric-keys';
import { type KeyPairSpec } from '../crypto/keygen';
import type { NewObject, StoredAttribute } from '../store/object-store';
import { wipe } from './key-block';
import { digestAttribute, digestInput } from './key-block';
import { newUniqueIdentifier } from './managed-object';
import { checkClientAttributes, chooseProtectionStorage, prepareNewObject } from './new-object';
import { resolveRequestAttributes } from './templates';

import { integerAttribute, linkAttribute } from '../kmip/attributes';
const WHICH = {
  common: { template: Tag.CommonTemplateAttribute, attributes: Tag.CommonAttributes },
  private: { template: Tag.PrivateKeyTemplateAttribute, attributes: Tag.PrivateKeyAttributes },
  public: { template: Tag.PublicKeyTemplateAttribute, attributes: Tag.PublicKeyAttributes },
} as const;

/** `specific` replaces `common` attribute by attribute name. */
function merge(common: readonly KmipAttribute[], specific: readonly KmipAttribute[]): KmipAttribute[] {
  return [...common.filter((c) => !specific.some((s) => s.name === c.name)), ...specific];
}

export function curveOf(attrs: readonly KmipAttribute[]): number | undefined {
  const v = attrs.find((a) => a.name === 'Cryptographic Domain Parameters')?.value;
  return v?.type === ItemType.Structure ? opt.enumeration(v, Tag.RecommendedCurve) : integerAttribute(attrs, 'Recommended Curve');
}

/** The 2.x per-half Protection Storage Masks, checked like Create's. */
function storageFor(payload: TtlvStructure, tag: number, common: number): number {
  const masks = child(payload, tag);
  if (!masks) return common;
  return chooseProtectionStorage(ttlv.structure(Tag.RequestPayload, [withTag(masks, Tag.ProtectionStorageMasks)]));
}

function materialOf(body: TtlvStructure): Uint8Array | undefined {
  const block = opt.structure(body, Tag.KeyBlock);
  return block ? digestInput(block) : undefined;
}

export interface PairHalfInput {
  readonly attributes: readonly KmipAttribute[];
  readonly storage: number;
  /** Attributes carried over from a replaced key (Re-key Key Pair). */
  readonly inherited?: readonly StoredAttribute[];
  /** The replaced key's owner (Re-key Key Pair): the new half stays theirs. */
  readonly owner?: string;
}

async function nodeBlocks(spec: KeyPairSpec): Promise<{ privateBlock: TtlvStructure; publicBlock: TtlvStructure }> {
  const pair = await spec.run();
  return {
    privateBlock: keyBlockIn(pair.privateKey, 'private', spec.privateFormat, spec.algorithm, spec.length),
    publicBlock: keyBlockIn(pair.publicKey, 'public', spec.publicFormat, spec.algorithm, spec.length),
  };
}

/**
 * Generates a pair per `spec` and builds both records (material protected by the HSM, not yet
 * stored), each linked to the other. The caller stores them, with any other writes, in one batch.
 */
export async function prepareKeyPair(
  ctx: OpContext,
  spec: KeyPairSpec,
  priv: PairHalfInput,
  pub: PairHalfInput,
): Promise<{ priv: NewObject; pub: NewObject }> {
  const blocks = spec.blocks ? await spec.blocks() : await nodeBlocks(spec);
  const privUid = newUniqueIdentifier();
  const pubUid = newUniqueIdentifier();
  const privBody = ttlv.structure(Tag.PrivateKey, [blocks.privateBlock]);
  const pubBody = ttlv.structure(Tag.PublicKey, [blocks.publicBlock]);
  const derived = (body: TtlvStructure, format: number): KmipAttribute[] => {
    const out: KmipAttribute[] = [
      { name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, spec.algorithm) },
      { name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, spec.length) },
    ];
    const m = materialOf(body);
    if (m) out.push({ name: 'Digest', value: digestAttribute(m, format) });
    return out;
  };
  try {
    const privRecord = await prepareNewObject(ctx, {
      objectType: ObjectType.PrivateKey,
      body: privBody,
      clientAttributes: [...priv.attributes, linkAttribute(LinkType.PublicKeyLink, pubUid)],
      derived: derived(privBody, spec.privateFormat),
      inherited: priv.inherited,
      originalCreation: true,
      generated: true,
      protectionStorage: priv.storage,
      uid: privUid,
      owner: priv.owner,
    });
    const pubRecord = await prepareNewObject(ctx, {
      objectType: ObjectType.PublicKey,
      body: pubBody,
      clientAttributes: [...pub.attributes, linkAttribute(LinkType.PrivateKeyLink, privUid)],
      derived: derived(pubBody, spec.publicFormat),
      inherited: pub.inherited,
      originalCreation: true,
      generated: true,
      protectionStorage: pub.storage,
      uid: pubUid,
      owner: pub.owner,
    });
    return { priv: privRecord, pub: pubRecord };
  } finally {
    wipe(privBody);
    wipe(pubBody);
  }
}

/** The three attribute sets of a Create Key Pair or Re-key Key Pair request, merged per half. */
export async function pairRequestAttributes(payload: TtlvStructure, ctx: OpContext): Promise<{ priv: KmipAttribute[]; pub: KmipAttribute[] }> {
  const common = await resolveRequestAttributes(payload, ctx, WHICH.common);
  const priv = merge(common, await resolveRequestAttributes(payload, ctx, WHICH.private));
  const pub = merge(common, await resolveRequestAttributes(payload, ctx, WHICH.public));
  checkClientAttributes(priv, ObjectType.PrivateKey);
  checkClientAttributes(pub, ObjectType.PublicKey);
  return { priv, pub };
}

/** Protection storage for each half: the per-half masks, else the common ones. */
export function pairStorage(payload: TtlvStructure): { priv: number; pub: number } {
  const common = storageFor(payload, Tag.CommonProtectionStorageMasks, chooseProtectionStorage(payload));
  return { priv: storageFor(payload, Tag.PrivateProtectionStorageMasks, common), pub: storageFor(payload, Tag.PublicProtectionStorageMasks, common) };
}

