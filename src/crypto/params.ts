/**
 * Cryptographic Parameters: read once from the request (or the key's attribute) into a typed value
 * that the algorithm tables interpret. Reading checks item types only; what a combination means
 * is decided by the tables.
 */
import { ItemType, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { asStructure, child, opt } from '../kmip/tree';
import type { StoredAttribute } from '../store/object-store';
import type { CryptographicParameters } from '../kmip/cryptographic-parameters';

export type CryptoParams = CryptographicParameters;

export function readCryptoParams(s: TtlvStructure): CryptoParams {
  return {
    blockCipherMode: opt.enumeration(s, Tag.BlockCipherMode),
    paddingMethod: opt.enumeration(s, Tag.PaddingMethod),
    hashingAlgorithm: opt.enumeration(s, Tag.HashingAlgorithm),
    keyRoleType: opt.enumeration(s, Tag.KeyRoleType),
    digitalSignatureAlgorithm: opt.enumeration(s, Tag.DigitalSignatureAlgorithm),
    cryptographicAlgorithm: opt.enumeration(s, Tag.CryptographicAlgorithm),
    randomIV: opt.boolean(s, Tag.RandomIV),
    ivLength: opt.integer(s, Tag.IVLength),
    tagLength: opt.integer(s, Tag.TagLength),
    fixedFieldLength: opt.integer(s, Tag.FixedFieldLength),
    invocationFieldLength: opt.integer(s, Tag.InvocationFieldLength),
    counterLength: opt.integer(s, Tag.CounterLength),
    initialCounterValue: opt.integer(s, Tag.InitialCounterValue),
    saltLength: opt.integer(s, Tag.SaltLength),
    maskGenerator: opt.enumeration(s, Tag.MaskGenerator),
    maskGeneratorHashingAlgorithm: opt.enumeration(s, Tag.MaskGeneratorHashingAlgorithm),
    pSource: opt.bytes(s, Tag.PSource),
    trailerField: opt.integer(s, Tag.TrailerField),
  };
}

function firstStructure(attrs: readonly StoredAttribute[], name: string): TtlvStructure | undefined {
  const found = attrs.filter((a) => a.name === name).sort((a, b) => a.index - b.index)[0];
  return found && found.value.type === ItemType.Structure ? found.value : undefined;
}

/**
 * The parameters an operation runs with: those in the request when it carries a Cryptographic
 * Parameters structure, otherwise the key's own Cryptographic Parameters attribute (the first
 * instance; 1.x allows several). The request replaces the attribute as a whole rather than
 * field by field, so a request for GCM never inherits the key's CBC padding.
 */
export function effectiveParams(payload: TtlvStructure, keyAttributes: readonly StoredAttribute[]): CryptoParams {
  const item: TtlvItem | undefined = child(payload, Tag.CryptographicParameters);
  if (item !== undefined) return readCryptoParams(asStructure(item));
  const own = firstStructure(keyAttributes, 'Cryptographic Parameters');
  return own ? readCryptoParams(own) : {};
}
