/**
 * PKCS#12 (RFC 7292) containers for Key Format Type PKCS#12 (KMIP 1.4 on): read one a client
 * registers, write one Get hands out. pkijs does the PKCS#12 work (PFX, MAC key derivation,
 * PBES2, bags) over Node's WebCrypto; this file chooses parameters, bounds hostile input, and
 * turns failures into KMIP reasons.
 *
 * Reading: password integrity mode only (a MAC; the public-key mode needs keys we do not have),
 * password-encrypted or plain safe contents, shrouded or plain key bags, X.509 certificate bags.
 * Encryption must be PBES2 (PBKDF2 with AES-CBC), what OpenSSL 3, Java and current Windows write;
 * the legacy PKCS#12 PBE ciphers (RC2, 3DES) are refused with Invalid Field naming them. Iteration
 * counts are capped: they come from the client, and the PKCS#12 MAC key derivation runs in
 * JavaScript on the event loop.
 *
 * Writing: the private key in a PKCS8ShroudedKeyBag and the certificates in a password-encrypted
 * safe, both PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, and a MAC with HMAC-SHA256 (the
 * OpenSSL 3 defaults), key and leaf certificate tied by a Local Key ID.
 *
 * A wrong password is Bad Password (2.x; Invalid Field in 1.x, errors.ts): the MAC does not
 * verify, or, without a MAC, the contents do not decrypt.
 */
import { X509Certificate, createHash, createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { KmipError, Reason } from '../kmip/errors';
import { toArrayBuffer } from './key-encoding';

/** pkijs over Node's WebCrypto, passed to every call rather than set as a global engine. */
const ENGINE = new pkijs.CryptoEngine({ name: 'node-webcrypto', crypto: webcrypto as unknown as pkijs.CryptoEngineParameters['crypto'] });

const PKCS12_LIMITS = {
  /** A key and a chain of a few certificates are some kilobytes. */
  maxBytes: 256 * 1024,
  /**
   * PKCS#12 MAC key derivation runs in JavaScript on the event loop, about 10 ms per 1,000
   * iterations here: Java writes 10,000 (the most of the common tools), OpenSSL 2,048, Windows 2,000.
   */
  maxMacIterations: 10_000,
  /** PBKDF2 (native, off the event loop): generous for any tool's default. */
  maxPbkdf2Iterations: 2_000_000,
  maxBags: 64,
} as const;

/** What Get writes: OpenSSL 3's choice of algorithms, with more PBKDF2 iterations. */
const WRITE = { pbkdf2Iterations: 10_000, macIterations: 2048, hash: 'SHA-256', cipher: { name: 'AES-CBC', length: 256 } } as const;

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  envelopedData: '1.2.840.113549.1.7.3',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  shroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  aesCbc: ['2.16.840.1.101.3.4.1.2', '2.16.840.1.101.3.4.1.22', '2.16.840.1.101.3.4.1.42'],
  /** Legacy PKCS#12 PBE (RFC 7292 Appendix C), named in the refusal. */
  legacyPbe: {
    '1.2.840.113549.1.12.1.1': 'pbeWithSHAAnd128BitRC4',
    '1.2.840.113549.1.12.1.2': 'pbeWithSHAAnd40BitRC4',
    '1.2.840.113549.1.12.1.3': 'pbeWithSHAAnd3-KeyTripleDES-CBC',
    '1.2.840.113549.1.12.1.4': 'pbeWithSHAAnd2-KeyTripleDES-CBC',
    '1.2.840.113549.1.12.1.5': 'pbeWithSHAAnd128BitRC2-CBC',
    '1.2.840.113549.1.12.1.6': 'pbewithSHAAnd40BitRC2-CBC',
  } as Readonly<Record<string, string>>,
} as const;

export interface Pkcs12Contents {
  /** The private key as PKCS#8 PrivateKeyInfo DER; the caller wipes it. */
  readonly privateKey: Buffer;
  /** X.509 certificates (DER), the one for the private key first when there is one. */
  readonly certificates: Buffer[];
  /** Whether certificates[0] holds the private key's public key. */
  readonly leafFound: boolean;
  /** The key bag's friendlyName, if any. */
  readonly friendlyName?: string;
}

/** How the container names the password, for messages (the password itself never appears). */
export interface PasswordSource {
  readonly description: string;
}

function invalid(what: string): KmipError {
  return new KmipError(Reason.InvalidField, `the Key Material is not a usable PKCS#12: ${what}`);
}

function badPassword(source: PasswordSource, what: string): KmipError {
  return new KmipError(Reason.BadPassword, `the password in ${source.description} does not open this PKCS#12: ${what}`);
}

/** Runs a pkijs/asn1js parse step; any throw is Invalid Field with `what`. */
function parsed<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch {
    throw invalid(what);
  }
}

/**
 * asn1js reads an element whose stated length disagrees with what it holds; a PFX is parsed only
 * when every definite length matches its contents (the MAC covers the inner bytes, not these).
 */
function lengthsConsistent(node: asn1js.AsnType, depth: number): boolean {
  if (depth > 32) return false;
  const n = node as unknown as {
    idBlock: { isConstructed: boolean };
    lenBlock: { length: number; isIndefiniteForm: boolean };
    valueBlock: { blockLength: number; value?: unknown };
  };
  if (!n.lenBlock.isIndefiniteForm && n.valueBlock.blockLength !== n.lenBlock.length) return false;
  const children = n.valueBlock.value;
  return !n.idBlock.isConstructed || !Array.isArray(children) || children.every((c) => lengthsConsistent(c as asn1js.AsnType, depth + 1));
}

/** A PBES2 AlgorithmIdentifier we can decrypt, within the iteration cap; else Invalid Field. */
function checkEncryption(alg: pkijs.AlgorithmIdentifier, where: string): void {
  const legacy = OID.legacyPbe[alg.algorithmId];
  if (legacy !== undefined) throw invalid(`${where} uses ${legacy}; only PBES2 (PBKDF2 with AES-CBC) is supported`);
  if (alg.algorithmId !== OID.pbes2) throw invalid(`${where} uses encryption ${alg.algorithmId}; only PBES2 (PBKDF2 with AES-CBC) is supported`);
  const pbes2 = parsed(`${where} has malformed PBES2 parameters`, () => new pkijs.PBES2Params({ schema: alg.algorithmParams }));
  if (pbes2.keyDerivationFunc.algorithmId !== OID.pbkdf2) throw invalid(`${where}: key derivation ${pbes2.keyDerivationFunc.algorithmId} is not PBKDF2`);
  const kdf = parsed(`${where} has malformed PBKDF2 parameters`, () => new pkijs.PBKDF2Params({ schema: pbes2.keyDerivationFunc.algorithmParams }));
  if (!(kdf.salt instanceof asn1js.OctetString)) throw invalid(`${where}: PBKDF2 salt must be an OCTET STRING`);
  const iterations = kdf.iterationCount;
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > PKCS12_LIMITS.maxPbkdf2Iterations) {
    throw invalid(`${where}: PBKDF2 iteration count must be 1 to ${PKCS12_LIMITS.maxPbkdf2Iterations}`);
  }
  if (!(OID.aesCbc as readonly string[]).includes(pbes2.encryptionScheme.algorithmId)) {
    throw invalid(`${where}: cipher ${pbes2.encryptionScheme.algorithmId} is not AES-CBC`);
  }
  const iv = pbes2.encryptionScheme.algorithmParams as unknown;
  if (!(iv instanceof asn1js.OctetString) || iv.valueBlock.valueHexView.length !== 16) throw invalid(`${where}: the AES-CBC IV must be 16 bytes`);
}

async function decryptPbes2(alg: pkijs.AlgorithmIdentifier, content: asn1js.OctetString, password: ArrayBuffer, where: string): Promise<ArrayBuffer> {
  checkEncryption(alg, where);
  const encrypted = new pkijs.EncryptedData({
    encryptedContentInfo: new pkijs.EncryptedContentInfo({ contentType: OID.data, contentEncryptionAlgorithm: alg, encryptedContent: content }),
  });
  return encrypted.decrypt({ password }, ENGINE);
}

function bagAttribute(bag: pkijs.SafeBag, type: string): asn1js.AsnType | undefined {
  const attr = (bag.bagAttributes ?? []).find((a) => a.type === type);
  return attr?.values[0] as asn1js.AsnType | undefined;
}

function bytesOfOctets(v: asn1js.AsnType | undefined): Buffer | undefined {
  return v instanceof asn1js.OctetString ? Buffer.from(v.valueBlock.valueHexView) : undefined;
}

function friendlyNameOf(bag: pkijs.SafeBag): string | undefined {
  const v = bagAttribute(bag, OID.friendlyName);
  return v instanceof asn1js.BmpString ? v.valueBlock.value : undefined;
}

interface FoundKey {
  readonly pkcs8: Buffer;
  readonly localKeyId?: Buffer;
  readonly friendlyName?: string;
}

interface FoundCert {
  readonly der: Buffer;
  readonly localKeyId?: Buffer;
}

/**
 * The private key and certificates of a PFX, opened with `password` (the Secret Data's bytes,
 * UTF-8 text as RFC 7292 B.1 asks; pkijs forms the BMPString for the MAC). Malformed or
 * unsupported input is Invalid Field; a wrong password is Bad Password naming `source`.
 */
export async function readPkcs12(pfxBytes: Uint8Array, password: Uint8Array, source: PasswordSource): Promise<Pkcs12Contents> {
  if (pfxBytes.length === 0 || pfxBytes.length > PKCS12_LIMITS.maxBytes) throw invalid(`its size must be 1 to ${PKCS12_LIMITS.maxBytes} bytes`);
  const pw = toArrayBuffer(password);
  try {
    const pfx = parsed('it is not a DER PFX structure', () => {
      const asn1 = asn1js.fromBER(toArrayBuffer(pfxBytes));
      if (asn1.offset !== pfxBytes.length) throw new Error('trailing or missing bytes');
      if (!lengthsConsistent(asn1.result, 0)) throw new Error('inconsistent lengths');
      return new pkijs.PFX({ schema: asn1.result });
    });
    if (pfx.version !== 3) throw invalid(`PFX version ${pfx.version} is not 3`);
    if (pfx.authSafe.contentType !== OID.data) throw invalid('only password integrity (a MAC) is supported, not public-key integrity');
    const authSafeContent = parsed('its authenticated safe is not an OCTET STRING', () => {
      const c = pfx.authSafe.content as unknown;
      if (!(c instanceof asn1js.OctetString)) throw new Error('not octets');
      return c.getValue();
    });
    const mac = pfx.macData;
    if (mac) {
      const iterations = mac.iterations ?? 1;
      if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > PKCS12_LIMITS.maxMacIterations) {
        throw invalid(`MAC iteration count must be 1 to ${PKCS12_LIMITS.maxMacIterations}`);
      }
      const params = mac.mac.digestAlgorithm.algorithmParams as unknown;
      if (params !== undefined && !(params instanceof asn1js.Null)) throw invalid('the MAC digest algorithm has parameters');
      const hash = parsed(`MAC digest ${mac.mac.digestAlgorithm.algorithmId} is not supported`, () => {
        const a = ENGINE.getAlgorithmByOID(mac.mac.digestAlgorithm.algorithmId, true, 'digestAlgorithm');
        if (!['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512'].includes(a.name)) throw new Error('unsupported');
        return a.name;
      });
      const salt = mac.macSalt.valueBlock.valueHexView;
      if (salt.length === 0) throw invalid('the MAC salt is empty');
      const ok = await ENGINE.verifyDataStampedWithPassword({
        password: pw,
        hashAlgorithm: hash,
        salt: toArrayBuffer(salt),
        iterationCount: iterations,
        contentToVerify: authSafeContent,
        signatureToVerify: toArrayBuffer(mac.mac.digest.valueBlock.valueHexView),
      });
      if (!ok) throw badPassword(source, 'its MAC does not verify');
    }
    // With a verified MAC a decryption failure is damage; without one it is most likely the password.
    const decryptFailed = (where: string) => (mac ? invalid(`${where} does not decrypt with the password that verified its MAC`) : badPassword(source, `${where} does not decrypt`));

    const authSafe = parsed('its authenticated safe is malformed', () => pkijs.AuthenticatedSafe.fromBER(authSafeContent));
    const keys: FoundKey[] = [];
    const certs: FoundCert[] = [];
    let bagCount = 0;
    for (const [i, info] of authSafe.safeContents.entries()) {
      const where = `safe contents ${i + 1}`;
      let safeBytes: ArrayBuffer;
      if (info.contentType === OID.data) {
        safeBytes = parsed(`${where} is not an OCTET STRING`, () => {
          const c = info.content as unknown;
          if (!(c instanceof asn1js.OctetString)) throw new Error('not octets');
          return c.getValue();
        });
      } else if (info.contentType === OID.encryptedData) {
        const enc = parsed(`${where} is malformed EncryptedData`, () => new pkijs.EncryptedData({ schema: info.content }));
        const content = enc.encryptedContentInfo.encryptedContent;
        if (!content) throw invalid(`${where} has no encrypted content`);
        checkEncryption(enc.encryptedContentInfo.contentEncryptionAlgorithm, where);
        try {
          safeBytes = await enc.decrypt({ password: pw }, ENGINE);
        } catch {
          throw decryptFailed(where);
        }
      } else if (info.contentType === OID.envelopedData) {
        throw invalid(`${where} is encrypted to a certificate (public-key privacy), which is not supported`);
      } else {
        throw invalid(`${where} has content type ${info.contentType}`);
      }
      const safe = parsed(`${where} is not a SafeContents`, () => pkijs.SafeContents.fromBER(safeBytes));
      for (const bag of safe.safeBags) {
        if (++bagCount > PKCS12_LIMITS.maxBags) throw invalid(`it holds more than ${PKCS12_LIMITS.maxBags} bags`);
        const localKeyId = bytesOfOctets(bagAttribute(bag, OID.localKeyId));
        const friendlyName = friendlyNameOf(bag);
        if (bag.bagId === OID.shroudedKeyBag) {
          const shrouded = bag.bagValue as pkijs.PKCS8ShroudedKeyBag;
          let plain: ArrayBuffer;
          try {
            plain = await decryptPbes2(shrouded.encryptionAlgorithm, shrouded.encryptedData, pw, 'the shrouded key bag');
          } catch (e) {
            if (e instanceof KmipError) throw e;
            throw decryptFailed('the shrouded key bag');
          }
          keys.push({ pkcs8: Buffer.from(new Uint8Array(plain)), ...(localKeyId ? { localKeyId } : {}), ...(friendlyName !== undefined ? { friendlyName } : {}) });
          new Uint8Array(plain).fill(0);
        } else if (bag.bagId === OID.keyBag) {
          const info8 = bag.bagValue as pkijs.PrivateKeyInfo;
          const der = parsed('the key bag is malformed', () => Buffer.from(info8.toSchema().toBER(false)));
          keys.push({ pkcs8: der, ...(localKeyId ? { localKeyId } : {}), ...(friendlyName !== undefined ? { friendlyName } : {}) });
        } else if (bag.bagId === OID.certBag) {
          const cb = bag.bagValue as pkijs.CertBag;
          if (cb.certId !== OID.x509Certificate) continue; // SDSI and attribute certificates: not KMIP Certificates
          const der = bytesOfOctets(cb.certValue as asn1js.AsnType);
          if (!der) throw invalid('a certificate bag holds no X.509 DER');
          certs.push({ der, ...(localKeyId ? { localKeyId } : {}) });
        }
        // CRL, secret and nested safe-contents bags carry nothing a Private Key object holds.
      }
    }
    if (keys.length === 0) throw invalid('it holds no private key');
    if (keys.length > 1) throw invalid(`it holds ${keys.length} private keys; a Private Key object holds one`);
    const key = keys[0]!;
    let publicDer: Buffer;
    try {
      publicDer = createPublicKey(createPrivateKey({ key: key.pkcs8, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
    } catch {
      key.pkcs8.fill(0);
      throw mac ? invalid('its private key is not a valid PKCS#8 key') : badPassword(source, 'its private key does not decrypt to a PKCS#8 key');
    }
    const parsedCerts = certs.map((c) => {
      const spki = parsed('a certificate bag holds a malformed X.509 certificate', () =>
        new X509Certificate(c.der).publicKey.export({ format: 'der', type: 'spki' }),
      );
      return { ...c, spki };
    });
    // The key's certificate: its public key, and (when both carry one) the key's Local Key ID.
    const leafIndex = parsedCerts.findIndex((c) => c.spki.equals(publicDer) && (!key.localKeyId || !c.localKeyId || c.localKeyId.equals(key.localKeyId)));
    const ordered = leafIndex < 0 ? parsedCerts : [parsedCerts[leafIndex]!, ...parsedCerts.filter((_, i) => i !== leafIndex)];
    return {
      privateKey: key.pkcs8,
      certificates: ordered.map((c) => c.der),
      leafFound: leafIndex >= 0,
      ...(key.friendlyName !== undefined ? { friendlyName: key.friendlyName } : {}),
    };
  } finally {
    new Uint8Array(pw).fill(0);
  }
}

export interface Pkcs12Input {
  /** PKCS#8 PrivateKeyInfo DER. */
  readonly privateKey: Uint8Array;
  /** X.509 DER: the key's certificate first, then its issuers. */
  readonly certificates: readonly Uint8Array[];
  readonly friendlyName?: string;
}

function attribute(type: string, value: asn1js.AsnType): pkijs.Attribute {
  return new pkijs.Attribute({ type, values: [value] });
}

/** A PFX holding `input`, protected by `password` (see the file comment for the algorithms). */
export async function writePkcs12(input: Pkcs12Input, password: Uint8Array): Promise<Buffer> {
  const pw = toArrayBuffer(password);
  try {
    const encryption = { password: pw, contentEncryptionAlgorithm: WRITE.cipher, hmacHashAlgorithm: WRITE.hash, iterationCount: WRITE.pbkdf2Iterations };
    // Local Key ID as OpenSSL sets it: the SHA-1 of the key's certificate, or of the key when there is none.
    const first = input.certificates[0];
    const localKeyId = createHash('sha1')
      .update(first ?? input.privateKey)
      .digest();
    const idAttrs = [attribute(OID.localKeyId, new asn1js.OctetString({ valueHex: toArrayBuffer(localKeyId) }))];
    if (input.friendlyName !== undefined) idAttrs.push(attribute(OID.friendlyName, new asn1js.BmpString({ value: input.friendlyName })));

    const pkcs8 = toArrayBuffer(input.privateKey);
    const keyBag = new pkijs.PKCS8ShroudedKeyBag({ parsedValue: pkijs.PrivateKeyInfo.fromBER(pkcs8) });
    new Uint8Array(pkcs8).fill(0);
    await keyBag.makeInternalValues(encryption, ENGINE);
    const keySafe = new pkijs.SafeContents({ safeBags: [new pkijs.SafeBag({ bagId: OID.shroudedKeyBag, bagValue: keyBag, bagAttributes: idAttrs })] });

    const certBags = input.certificates.map(
      (der, i) =>
        new pkijs.SafeBag({
          bagId: OID.certBag,
          bagValue: new pkijs.CertBag({ parsedValue: pkijs.Certificate.fromBER(toArrayBuffer(der)) }),
          ...(i === 0 ? { bagAttributes: idAttrs } : {}),
        }),
    );
    const parts: { privacyMode: number; value: pkijs.SafeContents }[] = [{ privacyMode: 0, value: keySafe }];
    const params: object[] = [{}];
    if (certBags.length > 0) {
      // Certificates in an encrypted safe, as OpenSSL writes them.
      parts.push({ privacyMode: 1, value: new pkijs.SafeContents({ safeBags: certBags }) });
      params.push(encryption);
    }
    const authenticatedSafe = new pkijs.AuthenticatedSafe({ parsedValue: { safeContents: parts } });
    await authenticatedSafe.makeInternalValues({ safeContents: params }, ENGINE);
    const pfx = new pkijs.PFX({ parsedValue: { integrityMode: 0, authenticatedSafe } });
    await pfx.makeInternalValues({ password: pw, iterations: WRITE.macIterations, pbkdf2HashAlgorithm: WRITE.hash, hmacHashAlgorithm: WRITE.hash }, ENGINE);
    return Buffer.from(pfx.toSchema().toBER(false));
  } finally {
    new Uint8Array(pw).fill(0);
  }
}
