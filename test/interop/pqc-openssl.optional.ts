/**
 * Post-quantum keys against an independent implementation: pyca/cryptography on OpenSSL 3.5+
 * (test/interop/pqc_openssl.py). Keys made there are registered here (PKCS#8 seed form and
 * SubjectPublicKeyInfo) and used; keys made here load there; signatures and encapsulations cross
 * in both directions, all through a real TLS client. Certificates an ML-DSA CA key issued through
 * Certify are read by pyca's X.509 parser and their signatures checked by its OpenSSL.
 *
 * Not part of `npm test`: neither Debian 12 nor the npm registry offers a pyca/cryptography on
 * OpenSSL 3.5, so CI cannot install what it needs. Run it where one exists: `npm run test:pqc-openssl`.
 * The NIST known-answer tests (test/unit/crypto/pqc.test.ts) are the check every run makes.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { KmipClient, attribute, keyObject } from '../../src/client';
import { CryptographicAlgorithm, CryptographicUsageMask, KeyFormatType, LinkType, ObjectType, Operation, ResultStatus } from '../../src/spec/generated/enums';
import { newObjectAttributes, nameAttribute, ttlv } from '../../src/client';
import { Tag } from '../../src/spec/generated/tags';
import { pqcAlgorithm } from '../../src/crypto/pqc';
import { probeError, requireEnvironment } from '../helpers/environment';
import { useTestListener, type TestListener } from '../helpers/test-listener';
import { createPair, getMaterial, pqcClient } from '../integration/crypto/pqc-helpers';

const SCRIPT = path.join(__dirname, 'pqc_openssl.py');
const PY = 'python3';
const need = requireEnvironment(
  'python3 with pyca/cryptography built on OpenSSL 3.5 or later (ML-DSA, ML-KEM)',
  probeError(() => execFileSync(PY, ['-c', 'from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem'], { stdio: 'pipe' })),
);

function py(job: Record<string, string>): Record<string, string | boolean> {
  return JSON.parse(execFileSync(PY, [SCRIPT], { input: JSON.stringify(job), timeout: 60_000 }).toString('utf8')) as Record<string, string | boolean>;
}
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

need.describe('post-quantum interop with OpenSSL (pyca/cryptography)', () => {
  const t: TestListener = useTestListener();
  let c: KmipClient;
  beforeAll(() => {
    c = pqcClient(t);
  });
  afterAll(() => c.close());

  const register = async (objectType: number, der: string, mask: number): Promise<string> => {
    const format = objectType === ObjectType.PrivateKey ? KeyFormatType.PKCS_8 : KeyFormatType.X_509;
    const tag = objectType === ObjectType.PrivateKey ? Tag.PrivateKey : Tag.PublicKey;
    const r = await c.register(objectType, keyObject(tag, { format, material: Buffer.from(der, 'hex') }), [attribute('Cryptographic Usage Mask', mask)]);
    await c.activate(r.uniqueIdentifier);
    return r.uniqueIdentifier;
  };

  it.each(['ML-DSA-44', 'ML-DSA-65', 'ML-DSA-87'])('%s: keys made by OpenSSL sign and verify here; keys made here load and verify there', async (name) => {
    const data = Buffer.from(`interop ${name}`);
    const theirs = py({ op: 'generate', alg: name });
    const priv = await register(ObjectType.PrivateKey, String(theirs['pkcs8']), CryptographicUsageMask.Sign);
    const pub = await register(ObjectType.PublicKey, String(theirs['spki']), CryptographicUsageMask.Verify);
    const attrs = await c.getAttributes(priv, ['Cryptographic Algorithm']);
    expect(attrs.attributes[0]?.value.value).toBe(CryptographicAlgorithm[name.replace(/-/g, '_') as 'ML_DSA_44']);
    // Our signature with their key, checked by them; theirs checked by us.
    const ours = await c.sign(priv, data);
    expect(py({ op: 'verify', spki: String(theirs['spki']), data: hex(data), signature: hex(ours.signature) })['valid']).toBe(true);
    const sig = String(py({ op: 'sign', pkcs8: String(theirs['pkcs8']), data: hex(data) })['signature']);
    expect((await c.signatureVerify(pub, data, Buffer.from(sig, 'hex'))).valid).toBe(true);

    // A pair made here: its PKCS#8 ("both" form) and SubjectPublicKeyInfo load in OpenSSL, and agree.
    const mine = await createPair(c, pqcAlgorithm(CryptographicAlgorithm[name.replace(/-/g, '_') as 'ML_DSA_44'])!);
    const myPkcs8 = hex(await getMaterial(c, mine.priv, KeyFormatType.PKCS_8));
    const mySpki = hex(await getMaterial(c, mine.pub, KeyFormatType.X_509));
    expect(py({ op: 'public', pkcs8: myPkcs8 })['spki']).toBe(mySpki);
    const theirSig = String(py({ op: 'sign', pkcs8: myPkcs8, data: hex(data) })['signature']);
    expect((await c.signatureVerify(mine.pub, data, Buffer.from(theirSig, 'hex'))).valid).toBe(true);
    const mySig = await c.sign(mine.priv, data);
    expect(py({ op: 'verify', spki: mySpki, data: hex(data), signature: hex(mySig.signature) })['valid']).toBe(true);
  });

  it.each(['ML-KEM-768', 'ML-KEM-1024'])('%s: encapsulations cross both ways', async (name) => {
    const alg = pqcAlgorithm(CryptographicAlgorithm[name.replace(/-/g, '_') as 'ML_KEM_768'])!;
    const mine = await createPair(c, alg);
    const mySpki = hex(await getMaterial(c, mine.pub, KeyFormatType.X_509));
    const myPkcs8 = hex(await getMaterial(c, mine.priv, KeyFormatType.PKCS_8));
    expect(py({ op: 'public', pkcs8: myPkcs8 })['spki']).toBe(mySpki);
    const e = py({ op: 'encapsulate', spki: mySpki });
    expect(hex((await c.decapsulate(mine.priv, Buffer.from(String(e['ciphertext']), 'hex'))).data)).toBe(e['secret']);

    const theirs = py({ op: 'generate', alg: name });
    const pub = await register(ObjectType.PublicKey, String(theirs['spki']), CryptographicUsageMask.Encrypt);
    const priv = await register(ObjectType.PrivateKey, String(theirs['pkcs8']), CryptographicUsageMask.Decrypt);
    const ours = await c.encapsulate(pub);
    expect(py({ op: 'decapsulate', pkcs8: String(theirs['pkcs8']), ciphertext: hex(ours.cipherText) })['secret']).toBe(hex(ours.sharedSecret));
    const e2 = py({ op: 'encapsulate', spki: String(theirs['spki']) });
    expect(hex((await c.decapsulate(priv, Buffer.from(String(e2['ciphertext']), 'hex'))).data)).toBe(e2['secret']);
  });

  it('certificates an ML-DSA-65 CA key issued (self-signed, and for an ML-DSA-44 key) parse and verify in OpenSSL', async () => {
    const V21 = { major: 2, minor: 1 } as const;
    const certify = async (pub: string, attrs: ReturnType<typeof attribute>[]): Promise<Buffer> => {
      const [r] = await c.send([{ operation: Operation.Certify, payload: [ttlv.textString(Tag.UniqueIdentifier, pub), newObjectAttributes(V21, attrs)] }], { version: V21 });
      expect(r?.status).toBe(ResultStatus.Success);
      const uid = String(r?.payload?.find((i) => i.tag === Tag.UniqueIdentifier)?.value);
      await c.activate(uid);
      return Buffer.from((await c.get(uid)).value ?? []);
    };
    const M = CryptographicUsageMask;
    const ca = await c.createKeyPair({
      common: [attribute('Cryptographic Algorithm', CryptographicAlgorithm.ML_DSA_65)],
      privateKey: [attribute('Cryptographic Usage Mask', M.Sign | M.CertificateSign)],
      publicKey: [attribute('Cryptographic Usage Mask', M.Verify | M.CertificateSign)],
    });
    await c.activate(ca.privateKeyUniqueIdentifier);
    const root = await certify(ca.publicKeyUniqueIdentifier, [nameAttribute('interop root')]);
    const rootUid = (await c.locate([nameAttribute('interop root')])).uniqueIdentifiers[0]!;
    const leafKeys = await createPair(c, pqcAlgorithm(CryptographicAlgorithm.ML_DSA_44)!);
    const link = attribute('Link', ttlv.structure(Tag.Link, [ttlv.enumeration(Tag.LinkType, LinkType.CertificateLink), ttlv.textString(Tag.LinkedObjectIdentifier, rootUid)]));
    const leaf = await certify(leafKeys.pub, [nameAttribute('interop leaf'), link]);
    for (const [cert, subjectKey] of [[root, ca.publicKeyUniqueIdentifier], [leaf, leafKeys.pub]] as const) {
      const seen = py({ op: 'certificate', certificate: hex(cert), issuer: hex(root) });
      expect(seen).toEqual({ valid: true, issuerMatches: true, signatureOid: pqcAlgorithm(CryptographicAlgorithm.ML_DSA_65)!.oid, spki: hex(await getMaterial(c, subjectKey, KeyFormatType.X_509)) });
    }
    // A certificate altered after signing does not verify there.
    const bent = Buffer.from(leaf);
    bent[bent.length - 40] = (bent[bent.length - 40] as number) ^ 1;
    expect(py({ op: 'certificate', certificate: hex(bent), issuer: hex(root) })['valid']).toBe(false);
  });
});
