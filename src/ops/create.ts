/** Create: a new symmetric key (AES, 3DES, HMAC, ChaCha20...) or Secret Data, generated here. */
import { ItemType, ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { CryptographicAlgorithm, KeyFormatType, ObjectType, Operation, SecretDataType } from '../spec/generated/enums';
import type { KmipAttribute } from '../kmip/attributes';
import { req } from '../kmip/tree';
import type { OpContext } from '../objects/context';
import { KmipError, Reason } from '../kmip/errors';
import type { OperationHandler } from '../objects/context';
import { secureRandomBytes } from '../crypto/random-pool';
import { digestAttribute, keyBlock } from '../objects/key-block';
import { checkClientAttributes, chooseProtectionStorage, storeNewObject } from '../objects/new-object';
import { resolveRequestAttributes } from '../objects/templates';
import { checkSecretDataLength, Generated, generateSymmetricKey, wipe } from '../objects/key-block';
import { integerAttribute } from '../kmip/attributes';
import { checkCrypto, type CryptoPolicy } from '../crypto/policy';
function attrValue(attrs: readonly KmipAttribute[], name: string): TtlvItem | undefined {
  return attrs.find((a) => a.name === name)?.value;
}

function generateFromAttributes(attrs: readonly KmipAttribute[], policy: CryptoPolicy): Generated {
  const algorithm = integerAttribute(attrs, 'Cryptographic Algorithm');
  const length = integerAttribute(attrs, 'Cryptographic Length');
  if (algorithm === undefined) throw new KmipError(Reason.MissingData, 'Cryptographic Algorithm is required');
  if (length === undefined) throw new KmipError(Reason.MissingData, 'Cryptographic Length is required');
  checkCrypto(policy, 'Create', { algorithm, bits: length });
  return generateSymmetricKey(algorithm, length);
}

function generateSecretData(attrs: readonly KmipAttribute[]): Generated {
  const bits = integerAttribute(attrs, 'Cryptographic Length') ?? 256;
  checkSecretDataLength(bits);
  const material = secureRandomBytes(bits / 8);
  return {
    body: ttlv.structure(Tag.SecretData, [
      ttlv.enumeration(Tag.SecretDataType, SecretDataType.Seed),
      keyBlock(KeyFormatType.Opaque, material),
    ]),
    derived: [{ name: 'Digest', value: digestAttribute(material, KeyFormatType.Opaque) }],
  };
}

/**
 * Symmetric algorithms whose 256-bit keys keep 128-bit strength against a quantum adversary
 * (Grover halves the exponent); nothing shorter is quantum safe.
 */
const QUANTUM_SAFE_ALGORITHMS: ReadonlySet<number> = new Set([
  CryptographicAlgorithm.AES,
  CryptographicAlgorithm.ChaCha20,
  CryptographicAlgorithm.ChaCha20Poly1305,
  CryptographicAlgorithm.Camellia,
  CryptographicAlgorithm.ARIA,
  CryptographicAlgorithm.Twofish,
]);

/** A client asking for a Quantum Safe object gets one, or the request fails. */
function checkQuantumSafe(attrs: readonly KmipAttribute[], objectType: number): void {
  const q = attrValue(attrs, 'Quantum Safe');
  if (!q || q.type !== ItemType.Boolean || !q.value) return;
  const algorithm = integerAttribute(attrs, 'Cryptographic Algorithm');
  const length = integerAttribute(attrs, 'Cryptographic Length') ?? 0;
  const safe =
    objectType === ObjectType.SymmetricKey && algorithm !== undefined && QUANTUM_SAFE_ALGORITHMS.has(algorithm) && length >= 256;
  if (!safe) throw new KmipError(Reason.GeneralFailure, 'the requested object would not be quantum safe');
}

export const createHandler: OperationHandler = {
  operation: Operation.Create,
  async handle(payload, ctx: OpContext) {
    const objectType = req.enumeration(payload, Tag.ObjectType);
    const attrs = await resolveRequestAttributes(payload, ctx);
    checkClientAttributes(attrs, objectType);
    const protectionStorage = chooseProtectionStorage(payload);
    checkQuantumSafe(attrs, objectType);
    let generated: Generated;
    if (objectType === ObjectType.SymmetricKey) generated = generateFromAttributes(attrs, ctx.crypto);
    else if (objectType === ObjectType.SecretData) generated = generateSecretData(attrs);
    else throw new KmipError(Reason.InvalidObjectType, 'Create makes symmetric keys and secret data only');
    try {
      const { uid } = await storeNewObject(ctx, {
        objectType,
        body: generated.body,
        clientAttributes: attrs,
        derived: generated.derived,
        originalCreation: true,
        generated: true,
        protectionStorage,
      });
      return [ttlv.enumeration(Tag.ObjectType, objectType), ttlv.textString(Tag.UniqueIdentifier, uid)];
    } finally {
      wipe(generated.body);
    }
  },
};
