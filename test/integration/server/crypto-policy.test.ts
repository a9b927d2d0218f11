/**
 * The cryptographic policy (config `cryptoPolicy`) through real server processes and the client
 * library over TLS: the default profile refuses RSA-1024 key pairs, 3DES keys, ECB encryption,
 * SHA-1 signatures and signing with a registered RSA-1024 key, each naming its rule, while still
 * decrypting ECB and verifying SHA-1 signatures (SP 800-131A's legacy use); a custom profile
 * allows what it lists; Query's Query Cryptographic Policy function reports either; and a bad
 * policy stops the server with one line naming its key.
 */
import { createCipheriv, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KmipClient, KmipResultError, attribute, keyObject, type KmipAttribute, type ProtocolVersion, type TtlvStructure } from '../../../src/client';
import { BlockCipherMode, CryptographicAlgorithm, CryptographicUsageMask, HashingAlgorithm, ItemType, KeyFormatType, ObjectType, PaddingMethod, QueryFunction, ResultReason, ValidityIndicator } from '../../../src/spec/generated/enums';
import { Tag } from '../../../src/spec/generated/tags';
import { VENDOR_TAGS, VendorQueryFunction, VendorTag } from '../../../src/spec/vendor-extensions';
import { asEnumeration, asStructure, asText, children, opt } from '../../../src/kmip/tree';
import { startServerProcess, type ServerProcess } from '../../helpers/server-process';
import { runCli } from '../../helpers/custody';

jest.setTimeout(180_000);

const CUSTOM = {
  profile: 'custom',
  operations: {
    Create: { algorithms: { AES: { bits: [128, 256] }, '3DES': { bits: [168] } } },
    CreateKeyPair: { algorithms: { RSA: { minBits: 1024 }, EC: 'any' } },
    Encrypt: { modes: ['ECB', 'CBC'] },
    Sign: { hashes: ['SHA-1', 'SHA-256'], algorithms: { RSA: { minBits: 1024 } } },
  },
};

let root: string;
let strict: ServerProcess;
let custom: ServerProcess;
const clients: KmipClient[] = [];

function clientOf(server: ServerProcess, version: ProtocolVersion = { major: 2, minor: 1 }): KmipClient {
  const pki = path.join(server.dataDir, 'pki');
  const c = new KmipClient({
    servers: [`127.0.0.1:${server.port}`],
    servername: 'localhost',
    ca: fs.readFileSync(path.join(pki, 'ca.pem')),
    cert: fs.readFileSync(path.join(pki, 'client.pem')),
    key: fs.readFileSync(path.join(pki, 'client-key.pem')),
    version,
  });
  clients.push(c);
  return c;
}

function configFile(name: string, cryptoPolicy: unknown): string {
  const file = path.join(root, name);
  fs.writeFileSync(file, JSON.stringify({ cryptoPolicy }), { mode: 0o600 });
  return file;
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-crypto-policy-'));
  strict = await startServerProcess({ dataDir: path.join(root, 'strict') });
  custom = await startServerProcess({ dataDir: path.join(root, 'custom'), extraArgs: ['--config', configFile('custom.json', CUSTOM)] });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await strict?.stop();
  await custom?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

const usage = (m: number) => attribute('Cryptographic Usage Mask', m);
const rsaPair = (bits: number): { common: KmipAttribute[]; privateKey: KmipAttribute[]; publicKey: KmipAttribute[] } => ({
  common: [attribute('Cryptographic Algorithm', CryptographicAlgorithm.RSA), attribute('Cryptographic Length', bits)],
  privateKey: [usage(CryptographicUsageMask.Sign)],
  publicKey: [usage(CryptographicUsageMask.Verify)],
});

async function refusal(p: Promise<unknown>): Promise<KmipResultError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(KmipResultError);
  return e as KmipResultError;
}

async function activeAes(c: KmipClient, key: Buffer): Promise<string> {
  const { uniqueIdentifier } = await c.register(ObjectType.SymmetricKey, keyObject(Tag.SymmetricKey, { format: KeyFormatType.Raw, material: key, algorithm: CryptographicAlgorithm.AES, length: key.length * 8 }), [
    usage(CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
  ]);
  await c.activate(uniqueIdentifier);
  return uniqueIdentifier;
}

async function activeRsa(c: KmipClient, bits: number): Promise<{ uid: string; pair: ReturnType<typeof generateKeyPairSync> }> {
  const pair = generateKeyPairSync('rsa', { modulusLength: bits });
  const der = pair.privateKey.export({ format: 'der', type: 'pkcs1' });
  const { uniqueIdentifier } = await c.register(ObjectType.PrivateKey, keyObject(Tag.PrivateKey, { format: KeyFormatType.PKCS_1, material: der, algorithm: CryptographicAlgorithm.RSA, length: bits }), [
    usage(CryptographicUsageMask.Sign),
  ]);
  await c.activate(uniqueIdentifier);
  return { uid: uniqueIdentifier, pair };
}

/** The Policy Rule of `op` in a Query Cryptographic Policy answer. */
function ruleOf(policy: TtlvStructure, op: string): TtlvStructure {
  const rule = children(policy, VendorTag.PolicyRule)
    .map(asStructure)
    .find((r) => opt.text(r, VendorTag.PolicyOperation) === op);
  if (!rule) throw new Error(`no rule for ${op}`);
  return rule;
}

const enums = (s: TtlvStructure, tag: number): number[] => children(s, tag).map(asEnumeration);

async function queryPolicy(c: KmipClient): Promise<TtlvStructure> {
  const { payload } = await c.query([VendorQueryFunction.QueryCryptographicPolicy]);
  const policy = opt.structure(payload, VendorTag.CryptographicPolicy);
  if (!policy) throw new Error('no Cryptographic Policy in the Query answer');
  return policy;
}

describe('default profile', () => {
  it('refuses an RSA-1024 key pair and a 3DES key as Invalid Field naming the rule; makes RSA-2048', async () => {
    const c = clientOf(strict);
    const pair = await refusal(c.createKeyPair(rsaPair(1024)));
    expect(pair.reason).toBe(ResultReason.InvalidField);
    expect(pair.resultMessage).toContain('rule cryptoPolicy CreateKeyPair.algorithms.RSA: at least 2048 bits');
    await c.createKeyPair(rsaPair(2048));
    const tdes = await refusal(c.create(ObjectType.SymmetricKey, [attribute('Cryptographic Algorithm', CryptographicAlgorithm.DES3), attribute('Cryptographic Length', 168)]));
    expect(tdes.reason).toBe(ResultReason.InvalidField);
    expect(tdes.resultMessage).toMatch(/does not allow Cryptographic Algorithm 3DES for Create \(rule cryptoPolicy Create\.algorithms\)/);
  });

  it('registers an existing 3DES key but does not re-make it on Re-key', async () => {
    const c = clientOf(strict);
    const { uniqueIdentifier } = await c.register(
      ObjectType.SymmetricKey,
      keyObject(Tag.SymmetricKey, { format: KeyFormatType.Raw, material: randomBytes(24), algorithm: CryptographicAlgorithm.DES3, length: 168 }),
      [usage(CryptographicUsageMask.Decrypt)],
    );
    const e = await refusal(c.rekey(uniqueIdentifier));
    expect(e.reason).toBe(ResultReason.InvalidField);
    expect(e.resultMessage).toContain('Cryptographic Algorithm 3DES for Create (rule cryptoPolicy Create.algorithms)');
  });

  it('refuses ECB for Encrypt, encrypts with CBC, and still decrypts ECB (legacy use)', async () => {
    const c = clientOf(strict);
    const key = randomBytes(16);
    const uid = await activeAes(c, key);
    const ecb = { blockCipherMode: BlockCipherMode.ECB, paddingMethod: PaddingMethod.None };
    const e = await refusal(c.encrypt(uid, Buffer.alloc(16, 1), { parameters: ecb }));
    expect(e.reason).toBe(ResultReason.InvalidField);
    expect(e.resultMessage).toContain('Block Cipher Mode ECB for Encrypt (rule cryptoPolicy Encrypt.modes)');
    await c.encrypt(uid, Buffer.alloc(16, 1), { parameters: { blockCipherMode: BlockCipherMode.CBC, paddingMethod: PaddingMethod.PKCS5 } });
    const plain = Buffer.alloc(16, 7);
    const cipher = createCipheriv('aes-128-ecb', key, null).setAutoPadding(false);
    const old = Buffer.concat([cipher.update(plain), cipher.final()]);
    expect(Buffer.from((await c.decrypt(uid, old, { parameters: ecb })).data)).toEqual(plain);
  });

  it('refuses SHA-1 signatures and signing with a registered RSA-1024 key; verifies a SHA-1 signature (legacy use)', async () => {
    const c = clientOf(strict);
    const data = Buffer.from('policy');
    const { uid, pair } = await activeRsa(c, 2048);
    const sha1 = await refusal(c.sign(uid, data, { parameters: { hashingAlgorithm: HashingAlgorithm.SHA_1, paddingMethod: PaddingMethod.PKCS1V1_5 } }));
    expect(sha1.reason).toBe(ResultReason.InvalidField);
    expect(sha1.resultMessage).toContain('Hashing Algorithm SHA-1 for Sign (rule cryptoPolicy Sign.hashes)');
    await c.sign(uid, data, { parameters: { hashingAlgorithm: HashingAlgorithm.SHA_256, paddingMethod: PaddingMethod.PKCS1V1_5 } });

    const der = pair.publicKey.export({ format: 'der', type: 'pkcs1' });
    const { uniqueIdentifier: pub } = await c.register(ObjectType.PublicKey, keyObject(Tag.PublicKey, { format: KeyFormatType.PKCS_1, material: der, algorithm: CryptographicAlgorithm.RSA, length: 2048 }), [
      usage(CryptographicUsageMask.Verify),
    ]);
    await c.activate(pub);
    const old = sign('sha1', data, pair.privateKey);
    expect((await c.signatureVerify(pub, data, old, { parameters: { hashingAlgorithm: HashingAlgorithm.SHA_1, paddingMethod: PaddingMethod.PKCS1V1_5 } })).valid).toBe(true);

    const small = await activeRsa(c, 1024);
    const e = await refusal(c.sign(small.uid, data));
    expect(e.reason).toBe(ResultReason.CryptographicFailure);
    expect(e.resultMessage).toContain('RSA keys of 1024 bits for Sign (rule cryptoPolicy Sign.algorithms.RSA: at least 2048 bits)');
  });

  it('reports itself through Query Cryptographic Policy', async () => {
    const policy = await queryPolicy(clientOf(strict));
    expect(opt.text(policy, VendorTag.PolicyProfile)).toBe('default');
    const signRule = ruleOf(policy, 'Sign');
    expect(enums(signRule, Tag.HashingAlgorithm)).toContain(HashingAlgorithm.SHA_256);
    expect(enums(signRule, Tag.HashingAlgorithm)).not.toContain(HashingAlgorithm.SHA_1);
    const rsa = children(signRule, VendorTag.PolicyAlgorithm)
      .map(asStructure)
      .find((a) => opt.enumeration(a, Tag.CryptographicAlgorithm) === CryptographicAlgorithm.RSA);
    expect(rsa && opt.integer(rsa, VendorTag.PolicyMinimumLength)).toBe(2048);
    expect(enums(ruleOf(policy, 'Encrypt'), Tag.BlockCipherMode)).not.toContain(BlockCipherMode.ECB);
    expect(enums(ruleOf(policy, 'Decrypt'), Tag.BlockCipherMode)).toContain(BlockCipherMode.ECB);
    expect(children(ruleOf(policy, 'Register'), VendorTag.PolicyUnrestricted).map(asText)).toContain('algorithms');
  });
  it('names its extension tags in Query Extension List and Map (Extension Type an Integer before 2.0)', async () => {
    for (const [version, typeOf] of [
      [{ major: 2, minor: 1 }, ItemType.Enumeration],
      [{ major: 1, minor: 4 }, ItemType.Integer],
    ] as const) {
      const c = clientOf(strict, version);
      const { payload: list } = await c.query([QueryFunction.QueryExtensionList]);
      const named = children(list, Tag.ExtensionInformation).map(asStructure);
      expect(named.map((e) => opt.text(e, Tag.ExtensionName))).toEqual(VENDOR_TAGS.map((t) => t.name));
      expect(named.every((e) => e.value.length === 1)).toBe(true);
      const { payload: map } = await c.query([QueryFunction.QueryExtensionMap]);
      const policy = children(map, Tag.ExtensionInformation)
        .map(asStructure)
        .find((e) => opt.text(e, Tag.ExtensionName) === 'Cryptographic Policy')!;
      expect(opt.integer(policy, Tag.ExtensionTag)).toBe(VendorTag.CryptographicPolicy);
      const type = policy.value.find((i) => i.tag === Tag.ExtensionType);
      expect(type?.type).toBe(typeOf);
      expect(type?.value).toBe(ItemType.Structure);
    }
  });
});

describe('custom profile', () => {
  it('allows what it lists: RSA-1024 pairs, 3DES keys, ECB encryption, SHA-1 signatures', async () => {
    const c = clientOf(custom);
    await c.createKeyPair(rsaPair(1024));
    await c.create(ObjectType.SymmetricKey, [attribute('Cryptographic Algorithm', CryptographicAlgorithm.DES3), attribute('Cryptographic Length', 168)]);
    const uid = await activeAes(c, randomBytes(16));
    await c.encrypt(uid, Buffer.alloc(16, 1), { parameters: { blockCipherMode: BlockCipherMode.ECB, paddingMethod: PaddingMethod.None } });
    const rsa = await activeRsa(c, 1024);
    await c.sign(rsa.uid, Buffer.from('x'), { parameters: { hashingAlgorithm: HashingAlgorithm.SHA_1, paddingMethod: PaddingMethod.PKCS1V1_5 } });
    // Categories it does not name keep the default's rules.
    const e = await refusal(c.create(ObjectType.SymmetricKey, [attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES), attribute('Cryptographic Length', 192)]));
    expect(e.resultMessage).toContain('rule cryptoPolicy Create.algorithms.AES: 128, 256 bits');
  });

  it('rules on post-quantum keys like any other: ML-DSA and ML-KEM pairs it does not list are refused naming the rule, the default makes and uses them', async () => {
    const pqPair = (algorithm: number, priv: number = CryptographicUsageMask.Sign, pub: number = CryptographicUsageMask.Verify) => ({
      common: [attribute('Cryptographic Algorithm', algorithm)],
      privateKey: [attribute('Cryptographic Usage Mask', priv)],
      publicKey: [attribute('Cryptographic Usage Mask', pub)],
    });
    for (const algorithm of [CryptographicAlgorithm.ML_DSA_44, CryptographicAlgorithm.ML_KEM_512]) {
      const e = await refusal(clientOf(custom).createKeyPair(pqPair(algorithm)));
      expect(e.reason).toBe(ResultReason.InvalidField);
      expect(e.resultMessage).toContain('rule cryptoPolicy CreateKeyPair.algorithms');
    }
    const c = clientOf(strict);
    const dsa = await c.createKeyPair(pqPair(CryptographicAlgorithm.ML_DSA_44));
    await c.activate(dsa.privateKeyUniqueIdentifier);
    await c.activate(dsa.publicKeyUniqueIdentifier);
    const signed = await c.sign(dsa.privateKeyUniqueIdentifier, Buffer.from('policy'));
    expect((await c.signatureVerify(dsa.publicKeyUniqueIdentifier, Buffer.from('policy'), signed.signature)).validityIndicator).toBe(ValidityIndicator.Valid);
    const kem = await c.createKeyPair(pqPair(CryptographicAlgorithm.ML_KEM_512, CryptographicUsageMask.Decrypt, CryptographicUsageMask.Encrypt));
    await c.activate(kem.publicKeyUniqueIdentifier);
    expect((await c.encapsulate(kem.publicKeyUniqueIdentifier)).sharedSecret.length).toBe(32);
  });

  it('reports its rules through Query Cryptographic Policy', async () => {
    const policy = await queryPolicy(clientOf(custom));
    expect(opt.text(policy, VendorTag.PolicyProfile)).toBe('custom');
    expect(enums(ruleOf(policy, 'Sign'), Tag.HashingAlgorithm)).toEqual([HashingAlgorithm.SHA_1, HashingAlgorithm.SHA_256]);
    expect(enums(ruleOf(policy, 'Encrypt'), Tag.BlockCipherMode)).toEqual([BlockCipherMode.CBC, BlockCipherMode.ECB]);
  });
});

it('stops at start on a bad policy with one line naming its key', async () => {
  const bad = configFile('bad.json', { profile: 'custom', operations: { Sign: { hashes: ['SHA-256', 'SHA-999'] } } });
  const r = await runCli(['start', '--listen', '127.0.0.1:0', '--data-dir', path.join(root, 'bad'), '--config', bad]);
  expect(r.code).not.toBe(0);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toContain('cryptoPolicy.operations.Sign.hashes[1]');
  expect(fs.existsSync(path.join(root, 'bad', 'kmip.sqlite'))).toBe(false);
});
