/**
 * Create Key Pair: an RSA, EC or EdDSA pair generated here, stored as two linked objects (Public
 * Key Link on the private key, Private Key Link on the public one) in one store write. Common
 * attributes go to both halves; the private- and public-specific ones override them per half.
 */
import { ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import type { OpContext } from '../objects/context';
import { KmipError, Reason } from '../kmip/errors';
import type { OperationHandler } from '../objects/context';
import { keyPairSpec } from '../crypto/keygen';
import { curveOf, prepareKeyPair, pairRequestAttributes, pairStorage } from '../objects/key-pair';

import { integerAttribute } from '../kmip/attributes';
export const createKeyPairHandler: OperationHandler = {
  operation: Operation.CreateKeyPair,
  async handle(payload, ctx: OpContext) {
    const attrs = await pairRequestAttributes(payload, ctx);
    const algorithm = integerAttribute(attrs.priv, 'Cryptographic Algorithm') ?? integerAttribute(attrs.pub, 'Cryptographic Algorithm');
    if (algorithm === undefined) throw new KmipError(Reason.MissingData, 'Cryptographic Algorithm is required');
    const pubAlgorithm = integerAttribute(attrs.pub, 'Cryptographic Algorithm');
    if (pubAlgorithm !== undefined && pubAlgorithm !== algorithm) {
      throw new KmipError(Reason.InvalidField, 'the private and public keys must have the same Cryptographic Algorithm');
    }
    const spec = keyPairSpec(
      algorithm,
      integerAttribute(attrs.priv, 'Cryptographic Length') ?? integerAttribute(attrs.pub, 'Cryptographic Length'),
      curveOf(attrs.priv) ?? curveOf(attrs.pub),
      ctx.crypto,
    );
    const storage = pairStorage(payload);
    const { priv, pub } = await prepareKeyPair(ctx, spec, { attributes: attrs.priv, storage: storage.priv }, { attributes: attrs.pub, storage: storage.pub });
    await ctx.store.writeBatch([{ insert: priv }, { insert: pub }]);
    // The ID Placeholder names the private key (spec: Create Key Pair).
    ctx.idPlaceholder = priv.uid;
    ctx.touched.push(priv.uid, pub.uid);
    const out: TtlvItem[] = [ttlv.textString(Tag.PrivateKeyUniqueIdentifier, priv.uid), ttlv.textString(Tag.PublicKeyUniqueIdentifier, pub.uid)];
    return out;
  },
};
