/**
 * Signatures over a client's digest inside the HSM: the key enters as a short-lived session
 * object, and the mechanism (ECDSA, RSA-PSS) is built from the request.
 */
import * as pkcs11js from 'pkcs11js';
import { KeyProtectorError, type DigestSignatureMechanism, type DigestSigningKey } from './key-protector';

/** A session object (CKA_TOKEN false) that can only sign or verify, gone with its session at the latest. */
export function digestKeyTemplate(key: DigestSigningKey, kind: 'private' | 'public'): pkcs11js.Template {
  const common: pkcs11js.Template = [
    { type: pkcs11js.CKA_CLASS, value: kind === 'private' ? pkcs11js.CKO_PRIVATE_KEY : pkcs11js.CKO_PUBLIC_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: key.type === 'rsa' ? pkcs11js.CKK_RSA : pkcs11js.CKK_EC },
    { type: pkcs11js.CKA_TOKEN, value: false },
    kind === 'private' ? { type: pkcs11js.CKA_SIGN, value: true } : { type: pkcs11js.CKA_VERIFY, value: true },
  ];
  if (kind === 'private') {
    common.push({ type: pkcs11js.CKA_PRIVATE, value: true }, { type: pkcs11js.CKA_SENSITIVE, value: true }, { type: pkcs11js.CKA_EXTRACTABLE, value: false });
  }
  if (key.type === 'rsa') {
    const parts: pkcs11js.Template = [
      { type: pkcs11js.CKA_MODULUS, value: key.modulus },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: key.publicExponent },
    ];
    if (kind === 'private') {
      const p = key.private;
      if (!p) throw new KeyProtectorError('CONFIG', 'signing needs the private key');
      parts.push(
        { type: pkcs11js.CKA_PRIVATE_EXPONENT, value: p.d },
        { type: pkcs11js.CKA_PRIME_1, value: p.p },
        { type: pkcs11js.CKA_PRIME_2, value: p.q },
        { type: pkcs11js.CKA_EXPONENT_1, value: p.dp },
        { type: pkcs11js.CKA_EXPONENT_2, value: p.dq },
        { type: pkcs11js.CKA_COEFFICIENT, value: p.qi },
      );
    }
    return [...common, ...parts];
  }
  if (kind === 'private') {
    if (!key.d) throw new KeyProtectorError('CONFIG', 'signing needs the private key');
    return [...common, { type: pkcs11js.CKA_EC_PARAMS, value: key.params }, { type: pkcs11js.CKA_VALUE, value: key.d }];
  }
  if (!key.point) throw new KeyProtectorError('CONFIG', 'verifying needs the public point');
  // CKA_EC_POINT is the DER OCTET STRING holding the point (PKCS#11 2.40 §2.3.3).
  return [...common, { type: pkcs11js.CKA_EC_PARAMS, value: key.params }, { type: pkcs11js.CKA_EC_POINT, value: derOctetString(key.point) }];
}

function derOctetString(content: Buffer): Buffer {
  const n = content.length;
  const length = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([0x04]), length, content]);
}

const PSS_HASHES = {
  sha1: { hash: pkcs11js.CKM_SHA_1, mgf: pkcs11js.CKG_MGF1_SHA1 },
  sha224: { hash: pkcs11js.CKM_SHA224, mgf: pkcs11js.CKG_MGF1_SHA224 },
  sha256: { hash: pkcs11js.CKM_SHA256, mgf: pkcs11js.CKG_MGF1_SHA256 },
  sha384: { hash: pkcs11js.CKM_SHA384, mgf: pkcs11js.CKG_MGF1_SHA384 },
  sha512: { hash: pkcs11js.CKM_SHA512, mgf: pkcs11js.CKG_MGF1_SHA512 },
} as const;

export function digestMechanism(m: DigestSignatureMechanism): pkcs11js.Mechanism {
  if (m.kind === 'ecdsa') return { mechanism: pkcs11js.CKM_ECDSA };
  const h = PSS_HASHES[m.hash];
  const params: pkcs11js.RsaPSS = { type: pkcs11js.CK_PARAMS_RSA_PSS, hashAlg: h.hash, mgf: h.mgf, saltLen: m.saltLength };
  return { mechanism: pkcs11js.CKM_RSA_PKCS_PSS, parameter: params };
}

/** Room for the signature: the modulus for RSA; r || s for ECDSA (at most 2 x 66 bytes, P-521). */
export function signatureBytes(key: DigestSigningKey): number {
  return key.type === 'rsa' ? key.modulus.length : 2 * 66;
}
