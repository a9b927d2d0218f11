/**
 * Key agreement for Derive Key with Derivation Method Asymmetric Key (KMIP 1.4 on): ECDH on a
 * named curve, X25519 or X448, between a managed private key and the other party's public key.
 * The shared secret Z (SP 800-56A: the x-coordinate, RFC 7748: the u-coordinate) is what the
 * method gives; Derive Key takes its leftmost bytes. A client wanting a KDF over Z chains a
 * HASH, HMAC or HKDF derivation on the result, as the KMIP usage guide's truncation rule allows.
 *
 * The peer's public key is read leniently (any encoding a client sends for it), but it must be a
 * key of the same kind and curve as the private key.
 */
import { createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';
import { KmipError, Reason } from '../kmip/errors';
import { spkiFromPoint } from './asymmetric-keys';
import { curveByNode } from './tables';

/** Node key types that agree keys. */
const AGREEING_TYPES: readonly string[] = ['ec', 'x25519', 'x448'];

/** Raw public key sizes (RFC 7748) for the Montgomery curves. */
const MONTGOMERY_BYTES: Readonly<Record<string, number>> = { x25519: 32, x448: 56 };

function describe(key: KeyObject): string {
  const t = key.asymmetricKeyType ?? '?';
  return t === 'ec' ? `EC ${key.asymmetricKeyDetails?.namedCurve ?? '?'}` : t.toUpperCase();
}

/** Refuses private keys that cannot agree a key: RSA, EdDSA, DSA. */
export function checkAgreementKey(privateKey: KeyObject): void {
  const t = privateKey.asymmetricKeyType;
  if (t === undefined || !AGREEING_TYPES.includes(t)) {
    throw new KmipError(Reason.InvalidField, `Asymmetric Key derivation needs an EC, X25519 or X448 private key, not ${describe(privateKey)}`);
  }
  if (t === 'ec' && !curveByNode(privateKey.asymmetricKeyDetails?.namedCurve ?? '')) {
    throw new KmipError(Reason.InvalidField, `the private key's curve ${privateKey.asymmetricKeyDetails?.namedCurve ?? '?'} is not supported`);
  }
}

function trySpki(bytes: Uint8Array): KeyObject | undefined {
  try {
    return createPublicKey({ key: Buffer.from(bytes), format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
}

/**
 * The peer public key given as bytes (Derivation Data): X.509 SubjectPublicKeyInfo; for EC also
 * the SEC1 point alone (uncompressed or compressed) on the private key's curve; for X25519/X448
 * also the raw RFC 7748 public key.
 */
export function peerKeyFromBytes(bytes: Uint8Array, privateKey: KeyObject): KeyObject {
  const spki = trySpki(bytes);
  if (spki) return spki;
  const t = privateKey.asymmetricKeyType ?? '';
  if (t === 'ec') {
    const curve = curveByNode(privateKey.asymmetricKeyDetails?.namedCurve ?? '');
    const point = curve && (bytes[0] === 0x02 || bytes[0] === 0x03 || bytes[0] === 0x04) ? trySpki(spkiFromPoint(curve, bytes)) : undefined;
    if (point) return point;
  }
  const size = MONTGOMERY_BYTES[t];
  if (size !== undefined && bytes.length === size) {
    try {
      return createPublicKey({ key: { kty: 'OKP', crv: t === 'x25519' ? 'X25519' : 'X448', x: Buffer.from(bytes).toString('base64url') }, format: 'jwk' });
    } catch {
      // fall through to the refusal naming the forms tried
    }
  }
  throw new KmipError(
    Reason.InvalidField,
    `the Derivation Data is not a public key for ${describe(privateKey)}: tried X.509 SubjectPublicKeyInfo${t === 'ec' ? ', an EC point on the curve' : ''}${size !== undefined ? `, a raw ${size}-byte ${t.toUpperCase()} key` : ''}`,
  );
}

/** Z, the shared secret of `privateKey` and `peer`; Invalid Field when they are not of one kind and curve. */
export function agree(privateKey: KeyObject, peer: KeyObject): Buffer {
  checkAgreementKey(privateKey);
  const same =
    peer.asymmetricKeyType === privateKey.asymmetricKeyType &&
    (privateKey.asymmetricKeyType !== 'ec' ||
      curveByNode(peer.asymmetricKeyDetails?.namedCurve ?? '')?.node === curveByNode(privateKey.asymmetricKeyDetails?.namedCurve ?? '')?.node);
  if (!same) throw new KmipError(Reason.InvalidField, `the public key (${describe(peer)}) does not match the private key (${describe(privateKey)})`);
  try {
    return diffieHellman({ privateKey, publicKey: peer });
  } catch {
    // OpenSSL refuses a point not on the curve or a low-order X25519 point.
    throw new KmipError(Reason.CryptographicFailure, 'the key agreement failed: the public key is not a valid point for this curve');
  }
}
