/**
 * The token's HMAC-SHA256 keys beside the KEK: the index key behind the store's blind indexes
 * (indexMac) and the audit key behind the audit trail's checkpoints. Both are generic secrets,
 * sensitive, non-extractable and sign-only, found by label, and created only where the caller
 * allows it.
 */
import { randomBytes } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import { KeyProtectorError } from './key-protector';
import { bool, findObjects, hmacSupported, secretKeyFacts, type Handle, type Lib } from './pkcs11-module';

/** The label of the HMAC key that authenticates the audit trail's checkpoints. */
export const AUDIT_KEY_LABEL = 'kmip-audit-mac';
/** The default label of the HMAC key behind the store's blind indexes (indexMac). */
export const INDEX_KEY_LABEL = 'kmip-digest-index';

/** The index key by label, if the token holds one. */
export function findIndexKey(lib: Lib, session: Handle, label: string): Handle | undefined {
  const found = findObjects(lib, session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_LABEL, value: label },
  ]);
  if (found.length > 1) throw new KeyProtectorError('KEK_AMBIGUOUS', `${found.length} keys are labelled ${JSON.stringify(label)}`);
  return found[0];
}

/** At open: finds the index key, or creates it when allowed; checks it; returns it and its CKA_ID (hex). */
export function openIndexKey(lib: Lib, session: Handle, slot: Handle, label: string, mayCreate: boolean, escrowable = false): { key: Handle; id: string } {
  let key = findIndexKey(lib, session, label);
  if (key === undefined) {
    if (!mayCreate) throw new KeyProtectorError('UNKNOWN_KEK', `no index key labelled ${JSON.stringify(label)} on the token and creation is disabled`);
    if (!hmacSupported(lib, slot)) {
      throw new KeyProtectorError('UNSUPPORTED_MECHANISM', 'the token does not offer CKM_SHA256_HMAC for signing (the blind index of Digests needs it)');
    }
    key = generateMacKey(lib, session, label, escrowable);
  }
  const attrs = secretKeyFacts(lib, session, key);
  if (!attrs.sensitive || (attrs.extractable && !escrowable) || !attrs.sign || attrs.valueLength < 32) {
    throw new KeyProtectorError('KEK_POLICY', `the index key (label ${JSON.stringify(label)}) must be a sensitive signing key of at least 256 bits, non-extractable unless keys are escrowable`);
  }
  if (attrs.id.length === 0) throw new KeyProtectorError('KEK_POLICY', `the index key (label ${JSON.stringify(label)}) has no CKA_ID`);
  return { key, id: attrs.id.toString('hex') };
}

/**
 * The audit key (AUDIT_KEY_LABEL), found on the token or, when `mayCreate`, created there; checked
 * to be sensitive and non-extractable.
 */
export function findAuditKey(lib: Lib, session: Handle, mayCreate: boolean, escrowable = false): Handle {
  const found = findObjects(lib, session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_LABEL, value: AUDIT_KEY_LABEL },
  ]);
  if (found.length > 1) throw new KeyProtectorError('KEK_AMBIGUOUS', `${found.length} keys are labelled ${JSON.stringify(AUDIT_KEY_LABEL)}`);
  let key = found[0];
  if (key === undefined) {
    if (!mayCreate) throw new KeyProtectorError('UNKNOWN_KEK', `the token holds no audit key (label ${JSON.stringify(AUDIT_KEY_LABEL)})`);
    key = generateMacKey(lib, session, AUDIT_KEY_LABEL, escrowable);
  }
  const attrs = lib.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_SENSITIVE }, { type: pkcs11js.CKA_EXTRACTABLE }]);
  const get = (type: number): Buffer | undefined => attrs.find((a) => a.type === type)?.value;
  if (!bool(get(pkcs11js.CKA_SENSITIVE)) || (bool(get(pkcs11js.CKA_EXTRACTABLE)) && !escrowable)) {
    throw new KeyProtectorError('KEK_POLICY', `the audit key (label ${JSON.stringify(AUDIT_KEY_LABEL)}) must be sensitive, and non-extractable unless keys are escrowable`);
  }
  return key;
}

/**
 * A token HMAC key (index key, audit key): sensitive, non-extractable (extractable only wrapped,
 * for escrow, when keys are escrowable), and a MAC key only: it can neither encrypt nor wrap, so
 * it can never carry key material out.
 */
function generateMacKey(lib: Lib, session: Handle, label: string, escrowable: boolean): Handle {
  return lib.C_GenerateKey(session, { mechanism: pkcs11js.CKM_GENERIC_SECRET_KEY_GEN }, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: escrowable },
    { type: pkcs11js.CKA_SIGN, value: true },
    { type: pkcs11js.CKA_VERIFY, value: true },
    { type: pkcs11js.CKA_ENCRYPT, value: false },
    { type: pkcs11js.CKA_DECRYPT, value: false },
    { type: pkcs11js.CKA_WRAP, value: false },
    { type: pkcs11js.CKA_UNWRAP, value: false },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: randomBytes(16) },
  ]);
}
