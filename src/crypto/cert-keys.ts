/**
 * Keys in certificates whatever their algorithm: a public key is its SubjectPublicKeyInfo DER (Node
 * KeyObjects cannot hold ML-DSA, SLH-DSA or ML-KEM keys on Node 20's OpenSSL), and a certificate
 * signer is an AlgorithmIdentifier plus a signing function.
 *
 * ML-DSA and SLH-DSA sign certificates as RFC 9881 and RFC 9909 say: the signature algorithm is the
 * key's own NIST OID with parameters absent, the pure variant, empty context. @noble/post-quantum
 * signs and verifies them; SLH-DSA signing goes to the post-quantum worker thread.
 */
import { X509Certificate, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import { KmipError, Reason } from '../kmip/errors';
import { pqcByOid, pqcPublicFromSecret, pqcVerify, type PqcAlgorithm } from './pqc';
import { pqcSpki, readPqcSpki } from './pqc-keys';
import { pqcSignOffThread } from './pqc-offload';
import { curveByNode } from './tables';
import { decodeBer } from './ber';

/** A request or certificate has a few dozen nodes; these bound hostile input well above that. */
const PARSE_LIMITS = { maxDepth: 32, maxNodes: 2048, maxContentLength: 64 * 1024 };

/** Signature algorithms we verify (requests, certificates): OID -> Node digest (null: the scheme hashes itself). */
const CLASSIC_SIGNATURES: Readonly<Record<string, string | null>> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '2.16.840.1.101.3.4.3.2': 'sha256',
  '1.3.101.112': null,
  '1.3.101.113': null,
};

export interface CertSigner {
  /** The AlgorithmIdentifier of the signatures it makes (a fresh node each call: asn1js nodes are not shared). */
  readonly algorithm: () => asn1js.Sequence;
  /** The signer's public key, SPKI DER. */
  readonly publicSpki: Buffer;
  readonly sign: (tbs: Buffer) => Promise<Buffer>;
}

function oidOnly(oid: string): () => asn1js.Sequence {
  return () => new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: oid })] });
}

function signFailed(): KmipError {
  return new KmipError(Reason.CryptographicFailure, 'the certificate could not be signed with this key');
}

/** The signer for a Node private key; RSA-PSS and others are refused. */
export function keyObjectSigner(key: KeyObject): CertSigner {
  let algorithm: () => asn1js.Sequence;
  let hash: string | null;
  switch (key.asymmetricKeyType) {
    case 'rsa':
      algorithm = () => new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.1.11' }), new asn1js.Null()] });
      hash = 'sha256';
      break;
    case 'ec': {
      const bits = curveByNode(key.asymmetricKeyDetails?.namedCurve ?? '')?.bits ?? 256;
      [algorithm, hash] = bits > 384 ? [oidOnly('1.2.840.10045.4.3.4'), 'sha512'] : bits > 256 ? [oidOnly('1.2.840.10045.4.3.3'), 'sha384'] : [oidOnly('1.2.840.10045.4.3.2'), 'sha256'];
      break;
    }
    case 'ed25519':
      [algorithm, hash] = [oidOnly('1.3.101.112'), null];
      break;
    case 'ed448':
      [algorithm, hash] = [oidOnly('1.3.101.113'), null];
      break;
    case 'dsa':
      [algorithm, hash] = [oidOnly('2.16.840.1.101.3.4.3.2'), 'sha256'];
      break;
    default:
      throw new KmipError(Reason.InvalidField, `a ${key.asymmetricKeyType ?? 'this'} key cannot sign certificates here`);
  }
  return {
    algorithm,
    publicSpki: createPublicKey(key).export({ type: 'spki', format: 'der' }),
    sign: (tbs) => {
      try {
        return Promise.resolve(sign(hash, tbs, { key, dsaEncoding: 'der' }));
      } catch {
        return Promise.reject(signFailed());
      }
    },
  };
}

/** The signer for an ML-DSA or SLH-DSA private key (expanded form); the caller wipes `secretKey` after signing. */
export function pqcCertSigner(alg: PqcAlgorithm, secretKey: Uint8Array): CertSigner {
  if (!alg.signer || !alg.oid) throw new KmipError(Reason.InvalidField, `a ${alg.name} key cannot sign certificates; ML-DSA and SLH-DSA keys can`);
  return {
    algorithm: oidOnly(alg.oid),
    publicSpki: pqcSpki(alg, pqcPublicFromSecret(alg, secretKey)),
    sign: async (tbs) => Buffer.from(await pqcSignOffThread(alg, secretKey, tbs, {})),
  };
}

function spkiOid(spki: Uint8Array): string | undefined {
  const r = decodeBer(spki, PARSE_LIMITS);
  const algId = r?.result instanceof asn1js.Sequence ? r.result.valueBlock.value[0] : undefined;
  const oid = algId instanceof asn1js.Sequence ? algId.valueBlock.value[0] : undefined;
  return oid instanceof asn1js.ObjectIdentifier ? oid.valueBlock.toString() : undefined;
}

/**
 * SPKI DER in one canonical form, so two encodings of one key compare equal (Node re-exports a
 * classic key; a PQC key is re-encoded from its raw bytes). Invalid Field when it is no key we read.
 */
export function canonicalSpki(spki: Uint8Array): Buffer {
  const oid = spkiOid(spki);
  const pqc = oid === undefined ? undefined : pqcByOid(oid);
  if (pqc) return pqcSpki(pqc, readPqcSpki(spki, pqc).bytes);
  try {
    return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' });
  } catch {
    throw new KmipError(Reason.InvalidField, 'the public key does not parse');
  }
}

/** Whether `signature` by the key `spki` over `data` verifies under signature algorithm `oid`; false for an algorithm not known here. */
export function verifyWithSpki(spki: Uint8Array, oid: string, data: Uint8Array, signature: Uint8Array): boolean {
  const pqc = pqcByOid(oid);
  if (pqc) {
    if (!pqc.signer || spkiOid(spki) !== oid) return false;
    try {
      return pqcVerify(pqc, readPqcSpki(spki, pqc).bytes, data, signature);
    } catch {
      return false;
    }
  }
  const hash = CLASSIC_SIGNATURES[oid];
  if (hash === undefined) return false;
  try {
    const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    return verify(hash, data, { key, dsaEncoding: 'der' }, signature);
  } catch {
    return false;
  }
}

/** Whether a signature algorithm OID is one verifyWithSpki knows. */
export function knownSignatureOid(oid: string): boolean {
  return CLASSIC_SIGNATURES[oid] !== undefined || pqcByOid(oid)?.signer !== undefined;
}

interface CertParts {
  readonly tbs: Uint8Array;
  readonly signatureOid: string;
  readonly signature: Uint8Array;
  readonly spki: Buffer;
}

function certParts(der: Uint8Array): CertParts {
  const bad = () => new KmipError(Reason.InvalidField, 'the certificate does not parse');
  const r = decodeBer(der, PARSE_LIMITS);
  if (r === undefined || !(r.result instanceof asn1js.Sequence)) throw bad();
  const [tbs, alg, sig] = r.result.valueBlock.value;
  if (!(tbs instanceof asn1js.Sequence) || !(alg instanceof asn1js.Sequence) || !(sig instanceof asn1js.BitString)) throw bad();
  const oid = alg.valueBlock.value[0];
  if (!(oid instanceof asn1js.ObjectIdentifier)) throw bad();
  const items = tbs.valueBlock.value;
  // [0] version is present in v3 certificates; the SubjectPublicKeyInfo is 6th after it.
  const shift = items[0]?.idBlock.tagClass === 3 ? 1 : 0;
  const spki = items[5 + shift];
  if (!(spki instanceof asn1js.Sequence)) throw bad();
  return {
    tbs: new Uint8Array(tbs.valueBeforeDecodeView),
    signatureOid: oid.valueBlock.toString(),
    signature: new Uint8Array(sig.valueBlock.valueHexView),
    spki: Buffer.from(spki.valueBeforeDecodeView),
  };
}

/** A certificate's subject public key, SPKI DER as it stands in the certificate. */
export function certificateSpki(der: Uint8Array): Buffer {
  return certParts(der).spki;
}

/**
 * Whether the certificate's signature verifies with the key `issuerSpki`. Post-quantum signatures
 * through @noble/post-quantum; the others through OpenSSL (which knows RSA-PSS and the rest).
 */
export function certificateSignedBy(der: Uint8Array, issuerSpki: Uint8Array): boolean {
  const parts = certParts(der);
  if (pqcByOid(parts.signatureOid)) return verifyWithSpki(issuerSpki, parts.signatureOid, parts.tbs, parts.signature);
  try {
    return new X509Certificate(Buffer.from(der)).verify(createPublicKey({ key: Buffer.from(issuerSpki), format: 'der', type: 'spki' }));
  } catch {
    return false;
  }
}
