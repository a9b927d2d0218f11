/**
 * Round trips of one post-quantum parameter set through a real TLS client: Create Key Pair, Get of
 * both halves in every format (checked against the library locally), Register of what Get gave,
 * and the set's operation (encapsulate/decapsulate, or sign/verify pure and pre-hash).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { KmipClient, attribute, keyObject } from '../../../src/client';
import { CryptographicUsageMask, HashingAlgorithm, KeyFormatType, ObjectType } from '../../../src/spec/generated/enums';
import { Tag } from '../../../src/spec/generated/tags';
import type { PqcAlgorithm } from '../../../src/crypto/pqc';
import type { TestListener } from '../../helpers/test-listener';

export function pqcClient(t: TestListener): KmipClient {
  return new KmipClient({
    servers: [`127.0.0.1:${t.listener.address.port}`],
    servername: 'localhost',
    ca: fs.readFileSync(t.pki.caPath),
    cert: fs.readFileSync(t.pki.clientCertPath),
    key: fs.readFileSync(t.pki.clientKeyPath),
    // An SLH-DSA "s" signature takes up to a minute or more on a busy machine.
    requestTimeoutMs: 600_000,
  });
}

export const bytes = (m: unknown): Buffer => {
  if (!(m instanceof Uint8Array)) throw new Error('no byte-string key material');
  return Buffer.from(m);
};

export async function createPair(c: KmipClient, alg: PqcAlgorithm): Promise<{ priv: string; pub: string }> {
  const kem = alg.kem !== undefined;
  const r = await c.createKeyPair({
    common: [attribute('Cryptographic Algorithm', alg.kmip)],
    privateKey: [attribute('Cryptographic Usage Mask', kem ? CryptographicUsageMask.Decrypt : CryptographicUsageMask.Sign)],
    publicKey: [attribute('Cryptographic Usage Mask', kem ? CryptographicUsageMask.Encrypt : CryptographicUsageMask.Verify)],
  });
  await c.activate(r.privateKeyUniqueIdentifier);
  await c.activate(r.publicKeyUniqueIdentifier);
  return { priv: r.privateKeyUniqueIdentifier, pub: r.publicKeyUniqueIdentifier };
}

export async function getMaterial(c: KmipClient, uid: string, format?: number): Promise<Buffer> {
  const g = await c.get(uid, format === undefined ? {} : { keyFormatType: format });
  if (format !== undefined) expect(g.keyBlock?.keyFormatType).toBe(format);
  return bytes(g.keyBlock?.keyMaterial);
}

/** The whole round of one set; without `extraSignatures`, one signature (an SLH-DSA "s" signature takes seconds to a minute). */
export async function roundTrip(c: KmipClient, alg: PqcAlgorithm, opts: { extraSignatures: boolean }): Promise<void> {
  const { priv, pub } = await createPair(c, alg);
  const g = await c.get(priv);
  expect(g.keyBlock?.cryptographicAlgorithm).toBe(alg.kmip);
  expect(g.keyBlock?.cryptographicLength).toBe(alg.publicKeyBytes * 8);
  const stored = alg.oid ? { priv: KeyFormatType.PKCS_8, pub: KeyFormatType.X_509 } : { priv: KeyFormatType.Raw, pub: KeyFormatType.Raw };
  expect(g.keyBlock?.keyFormatType).toBe(stored.priv);

  const rawPriv = await getMaterial(c, priv, KeyFormatType.Raw);
  const rawPub = await getMaterial(c, pub, KeyFormatType.Raw);
  expect(rawPriv.length).toBe(alg.secretKeyBytes);
  expect(rawPub.length).toBe(alg.publicKeyBytes);
  const derPub = alg.oid ? await getMaterial(c, pub, KeyFormatType.X_509) : undefined;
  const derPriv = alg.oid ? await getMaterial(c, priv, KeyFormatType.PKCS_8) : undefined;
  if (derPub) expect(derPub.subarray(derPub.length - alg.publicKeyBytes)).toEqual(rawPub);

  // What Get gave registers back as the same key (both DER and Raw).
  const regPub = await c.register(ObjectType.PublicKey, keyObject(Tag.PublicKey, derPub ? { format: KeyFormatType.X_509, material: derPub } : { format: KeyFormatType.Raw, material: rawPub, algorithm: alg.kmip }), [
    attribute('Cryptographic Usage Mask', alg.kem ? CryptographicUsageMask.Encrypt : CryptographicUsageMask.Verify),
  ]);
  const regPriv = await c.register(ObjectType.PrivateKey, keyObject(Tag.PrivateKey, { format: KeyFormatType.Raw, material: rawPriv, algorithm: alg.kmip }), [
    attribute('Cryptographic Usage Mask', alg.kem ? CryptographicUsageMask.Decrypt : CryptographicUsageMask.Sign),
  ]);
  await c.activate(regPub.uniqueIdentifier);
  await c.activate(regPriv.uniqueIdentifier);
  if (derPriv) {
    const again = await c.register(ObjectType.PrivateKey, keyObject(Tag.PrivateKey, { format: KeyFormatType.PKCS_8, material: derPriv }), [attribute('Cryptographic Usage Mask', CryptographicUsageMask.Sign)]);
    const attrs = await c.getAttributes(again.uniqueIdentifier, ['Cryptographic Algorithm']);
    expect(attrs.attributes.find((a) => a.name === 'Cryptographic Algorithm')?.value.value).toBe(alg.kmip);
    expect(await getMaterial(c, again.uniqueIdentifier, KeyFormatType.Raw)).toEqual(rawPriv);
  }

  if (alg.kem) {
    const e = await c.encapsulate(pub);
    expect(e.cipherText.length).toBe(alg.cipherTextBytes);
    const d = await c.decapsulate(priv, e.cipherText);
    expect(Buffer.from(d.data)).toEqual(Buffer.from(e.sharedSecret));
    // Locally, with the Raw key Get gave: the same secret.
    expect(Buffer.from(alg.kem.decapsulate(e.cipherText, rawPriv))).toEqual(Buffer.from(e.sharedSecret));
    // Through the registered copies, and a ciphertext made locally.
    const local = alg.kem.encapsulate(rawPub);
    expect(Buffer.from((await c.decapsulate(regPriv.uniqueIdentifier, local.cipherText)).data)).toEqual(Buffer.from(local.sharedSecret));
    const e2 = await c.encapsulate(regPub.uniqueIdentifier);
    expect(Buffer.from((await c.decapsulate(priv, e2.cipherText)).data)).toEqual(Buffer.from(e2.sharedSecret));
    return;
  }
  const signer = alg.signer!;
  const data = Buffer.from(`${alg.name} over KMIP`);
  const s = await c.sign(priv, data);
  expect((await c.signatureVerify(pub, data, s.signature)).valid).toBe(true);
  expect((await c.signatureVerify(regPub.uniqueIdentifier, data, s.signature)).valid).toBe(true);
  expect((await c.signatureVerify(pub, Buffer.from('other'), s.signature)).valid).toBe(false);
  // Pure signatures are the standard ones: the library checks them with the Raw public key.
  expect(signer.verify(s.signature, data, rawPub)).toBe(true);
  if (!opts.extraSignatures) return;
  // Pre-hash: signed over Data with SHA-256 named, verified over the client's digest.
  const params = { hashingAlgorithm: HashingAlgorithm.SHA_256 };
  const pre = await c.sign(regPriv.uniqueIdentifier, data, { parameters: params });
  const digest = createHash('sha256').update(data).digest();
  expect((await c.signatureVerify(pub, digest, pre.signature, { parameters: params, digested: true })).valid).toBe(true);
  expect((await c.signatureVerify(pub, data, pre.signature)).valid).toBe(false);
}
