/**
 * Create Key Pair: an RSA, EC or EdDSA pair generated here, stored as two linked objects (Public
 * Key Link on the private key, Private Key Link on the public one) in one store write. Common
 * attributes go to both halves; the private- and public-specific ones override them per half.
 */
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { LinkType, ObjectType, Operation } from '../spec/generated/enums';
import type { KmipAttribute } from '../kmip/attributes';
import { child, opt, withTag } from '../kmip/tree';
import type { OpContext } from '../server/context';
import { KmipError, Reason } from '../server/errors';
import type { OperationHandler } from '../server/registry';
import { keyBlockIn } from '../crypto/asymmetric-keys';
import { keyPairSpec } from '../crypto/keygen';
import { wipe } from './create';
import { digestAttribute } from './key-block';
import { newUniqueIdentifier } from './managed-object';
import { checkClientAttributes, chooseProtectionStorage, prepareNewObject } from './new-object';
import { resolveRequestAttributes } from './templates';

const WHICH = {
  common: { v1: Tag.CommonTemplateAttribute, v2: Tag.CommonAttributes },
  private: { v1: Tag.PrivateKeyTemplateAttribute, v2: Tag.PrivateKeyAttributes },
  public: { v1: Tag.PublicKeyTemplateAttribute, v2: Tag.PublicKeyAttributes },
} as const;

/** `specific` replaces `common` attribute by attribute name. */
function merge(common: readonly KmipAttribute[], specific: readonly KmipAttribute[]): KmipAttribute[] {
  return [...common.filter((c) => !specific.some((s) => s.name === c.name)), ...specific];
}

function intOf(attrs: readonly KmipAttribute[], name: string): number | undefined {
  const v = attrs.find((a) => a.name === name)?.value;
  return v && (v.type === ItemType.Integer || v.type === ItemType.Enumeration) ? v.value : undefined;
}

function curveOf(attrs: readonly KmipAttribute[]): number | undefined {
  const v = attrs.find((a) => a.name === 'Cryptographic Domain Parameters')?.value;
  return v?.type === ItemType.Structure ? opt.enumeration(v, Tag.RecommendedCurve) : intOf(attrs, 'Recommended Curve');
}

function link(type: number, uid: string): KmipAttribute {
  return {
    name: 'Link',
    value: ttlv.structure(Tag.Link, [ttlv.enumeration(Tag.LinkType, type), ttlv.textString(Tag.LinkedObjectIdentifier, uid)]),
  };
}

/** The 2.x per-half Protection Storage Masks, checked like Create's. */
function storageFor(payload: TtlvStructure, tag: number, common: number): number {
  const masks = child(payload, tag);
  if (!masks) return common;
  return chooseProtectionStorage(ttlv.structure(Tag.RequestPayload, [withTag(masks, Tag.ProtectionStorageMasks)]));
}

function materialOf(body: TtlvStructure): Uint8Array | undefined {
  const block = opt.structure(body, Tag.KeyBlock);
  const kv = block ? opt.structure(block, Tag.KeyValue) : undefined;
  const m = kv ? child(kv, Tag.KeyMaterial) : undefined;
  return m?.type === ItemType.ByteString ? m.value : undefined;
}

export const createKeyPairHandler: OperationHandler = {
  operation: Operation.CreateKeyPair,
  async handle(payload, ctx: OpContext) {
    const common = await resolveRequestAttributes(payload, ctx, WHICH.common);
    const privAttrs = merge(common, await resolveRequestAttributes(payload, ctx, WHICH.private));
    const pubAttrs = merge(common, await resolveRequestAttributes(payload, ctx, WHICH.public));
    checkClientAttributes(privAttrs, ctx, ObjectType.PrivateKey);
    checkClientAttributes(pubAttrs, ctx, ObjectType.PublicKey);

    const algorithm = intOf(privAttrs, 'Cryptographic Algorithm') ?? intOf(pubAttrs, 'Cryptographic Algorithm');
    if (algorithm === undefined) throw new KmipError(Reason.MissingData, 'Cryptographic Algorithm is required');
    const pubAlgorithm = intOf(pubAttrs, 'Cryptographic Algorithm');
    if (pubAlgorithm !== undefined && pubAlgorithm !== algorithm) {
      throw new KmipError(Reason.InvalidField, 'the private and public keys must have the same Cryptographic Algorithm');
    }
    const spec = keyPairSpec(algorithm, intOf(privAttrs, 'Cryptographic Length') ?? intOf(pubAttrs, 'Cryptographic Length'), curveOf(privAttrs) ?? curveOf(pubAttrs));

    const commonStorage = storageFor(payload, Tag.CommonProtectionStorageMasks, chooseProtectionStorage(payload));
    const privStorage = storageFor(payload, Tag.PrivateProtectionStorageMasks, commonStorage);
    const pubStorage = storageFor(payload, Tag.PublicProtectionStorageMasks, commonStorage);

    const pair = await spec.run();
    const privUid = newUniqueIdentifier();
    const pubUid = newUniqueIdentifier();
    const privBody = ttlv.structure(Tag.PrivateKey, [keyBlockIn(pair.privateKey, 'private', spec.privateFormat, spec.algorithm, spec.length)]);
    const pubBody = ttlv.structure(Tag.PublicKey, [keyBlockIn(pair.publicKey, 'public', spec.publicFormat, spec.algorithm, spec.length)]);
    try {
      const derived = (body: TtlvStructure, format: number): KmipAttribute[] => {
        const out: KmipAttribute[] = [
          { name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, spec.algorithm) },
          { name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, spec.length) },
        ];
        const m = materialOf(body);
        if (m) out.push({ name: 'Digest', value: digestAttribute(m, format) });
        return out;
      };
      const priv = await prepareNewObject(ctx, {
        objectType: ObjectType.PrivateKey,
        body: privBody,
        clientAttributes: [...privAttrs, link(LinkType.PublicKeyLink, pubUid)],
        derived: derived(privBody, spec.privateFormat),
        originalCreation: true,
        generated: true,
        protectionStorage: privStorage,
        uid: privUid,
      });
      const pub = await prepareNewObject(ctx, {
        objectType: ObjectType.PublicKey,
        body: pubBody,
        clientAttributes: [...pubAttrs, link(LinkType.PrivateKeyLink, privUid)],
        derived: derived(pubBody, spec.publicFormat),
        originalCreation: true,
        generated: true,
        protectionStorage: pubStorage,
        uid: pubUid,
      });
      await ctx.store.writeBatch([{ insert: priv }, { insert: pub }]);
    } finally {
      wipe(privBody);
      wipe(pubBody);
    }
    // The ID Placeholder names the private key (spec: Create Key Pair).
    ctx.idPlaceholder = privUid;
    ctx.touched.push(privUid, pubUid);
    const out: TtlvItem[] = [ttlv.textString(Tag.PrivateKeyUniqueIdentifier, privUid), ttlv.textString(Tag.PublicKeyUniqueIdentifier, pubUid)];
    return out;
  },
};
