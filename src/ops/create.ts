/** Create: a new symmetric key (AES, 3DES, HMAC, ChaCha20...) or Secret Data, generated here. */
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { CryptographicAlgorithm, KeyFormatType, ObjectType, Operation, SecretDataType } from '../spec/generated/enums';
import type { KmipAttribute } from '../kmip/attributes';
import { req } from '../kmip/tree';
import type { OpContext } from '../server/context';
import { KmipError, Reason } from '../server/errors';
import type { OperationHandler } from '../server/registry';
import { secureRandomBytes } from '../crypto/random-pool';
import { checkSymmetricLength, derivedKeyBytes, digestAttribute, keyBlock, symmetricKeyBytes } from './key-block';
import { checkClientAttributes, chooseProtectionStorage, storeNewObject } from './new-object';
import { resolveRequestAttributes } from './templates';

function attrValue(attrs: readonly KmipAttribute[], name: string): TtlvItem | undefined {
  return attrs.find((a) => a.name === name)?.value;
}

function intAttr(attrs: readonly KmipAttribute[], name: string): number | undefined {
  const v = attrValue(attrs, name);
  return v && (v.type === ItemType.Integer || v.type === ItemType.Enumeration) ? v.value : undefined;
}

export interface Generated {
  readonly body: TtlvStructure;
  readonly derived: KmipAttribute[];
}

/** Fresh key material of `algorithm` and `length` bits, as a Raw Symmetric Key. */
/**
 * `replacing` (Re-key): the length repeats an existing key's, which Register or Derive Key may have
 * set outside the algorithm's own sizes (a 160-bit key labelled AES): any whole number of bytes.
 */
export function generateSymmetricKey(algorithm: number, length: number, opts: { replacing?: boolean } = {}): Generated {
  let bytes: number;
  if (opts.replacing) bytes = derivedKeyBytes(algorithm, length);
  else {
    checkSymmetricLength(algorithm, length);
    bytes = symmetricKeyBytes(algorithm, length);
  }
  const material = secureRandomBytes(bytes);
  return {
    body: ttlv.structure(Tag.SymmetricKey, [keyBlock(KeyFormatType.Raw, material, algorithm, length)]),
    derived: [{ name: 'Digest', value: digestAttribute(material, KeyFormatType.Raw) }],
  };
}

function generateFromAttributes(attrs: readonly KmipAttribute[]): Generated {
  const algorithm = intAttr(attrs, 'Cryptographic Algorithm');
  const length = intAttr(attrs, 'Cryptographic Length');
  if (algorithm === undefined) throw new KmipError(Reason.MissingData, 'Cryptographic Algorithm is required');
  if (length === undefined) throw new KmipError(Reason.MissingData, 'Cryptographic Length is required');
  return generateSymmetricKey(algorithm, length);
}

function generateSecretData(attrs: readonly KmipAttribute[]): Generated {
  const bits = intAttr(attrs, 'Cryptographic Length') ?? 256;
  if (bits <= 0 || bits % 8 !== 0 || bits > 8192) {
    throw new KmipError(Reason.InvalidField, 'secret data length must be a positive multiple of 8 bits');
  }
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
  const algorithm = intAttr(attrs, 'Cryptographic Algorithm');
  const length = intAttr(attrs, 'Cryptographic Length') ?? 0;
  const safe =
    objectType === ObjectType.SymmetricKey && algorithm !== undefined && QUANTUM_SAFE_ALGORITHMS.has(algorithm) && length >= 256;
  if (!safe) throw new KmipError(Reason.GeneralFailure, 'the requested object would not be quantum safe');
}

export const createHandler: OperationHandler = {
  operation: Operation.Create,
  async handle(payload, ctx: OpContext) {
    const objectType = req.enumeration(payload, Tag.ObjectType);
    const attrs = await resolveRequestAttributes(payload, ctx);
    checkClientAttributes(attrs, ctx, objectType);
    const protectionStorage = chooseProtectionStorage(payload);
    checkQuantumSafe(attrs, objectType);
    let generated: Generated;
    if (objectType === ObjectType.SymmetricKey) generated = generateFromAttributes(attrs);
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

/** Zeroes every Byte String of a tree that held fresh key material. */
export function wipe(item: TtlvItem): void {
  if (item.type === ItemType.ByteString) item.value.fill(0);
  else if (item.type === ItemType.Structure) for (const c of item.value) wipe(c);
}
