/**
 * The client library against the real listener (mutual TLS on 127.0.0.1:0, a real SQLite file, a
 * real SoftHSM2 token): version negotiation, each typed call read back through another, and the
 * server's refusals as KmipResultError.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { KmipClient, KmipResultError, attribute, attributeValues, nameAttribute, keyObject, type ProtocolVersion } from '../../../src/client';
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  HashingAlgorithm,
  KeyFormatType,
  ObjectType,
  Operation,
  PaddingMethod,
  ResultReason,
  ResultStatus,
  State,
} from '../../../src/spec/generated/enums';
import { Tag } from '../../../src/spec/generated/tags';
import { useTestListener, type TestListener } from '../../helpers/test-listener';

const t: TestListener = useTestListener();

function client(opts: { version?: ProtocolVersion; maxConnections?: number } = {}): KmipClient {
  return new KmipClient({
    servers: [`127.0.0.1:${t.listener.address.port}`],
    servername: 'localhost',
    ca: fs.readFileSync(t.pki.caPath),
    cert: fs.readFileSync(t.pki.clientCertPath),
    key: fs.readFileSync(t.pki.clientKeyPath),
    ...opts,
  });
}

const AES_USAGE = CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt;

function aesAttributes(name: string) {
  return [
    attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES),
    attribute('Cryptographic Length', 256),
    attribute('Cryptographic Usage Mask', AES_USAGE),
    nameAttribute(name),
  ];
}

describe('version negotiation', () => {
  it('settles on the highest version both sides speak (2.1) with Discover Versions', async () => {
    const c = client();
    try {
      expect(await c.version()).toEqual({ major: 2, minor: 1 });
      const offered = await c.discoverVersions();
      expect(offered[0]).toEqual({ major: 2, minor: 1 });
      expect(offered).toContainEqual({ major: 1, minor: 0 });
      // Asked for two, the server answers those it has.
      expect(await c.discoverVersions([{ major: 1, minor: 4 }, { major: 9, minor: 9 }])).toEqual([{ major: 1, minor: 4 }]);
    } finally {
      c.close();
    }
  });

  it('speaks a pinned version without asking, and the server answers in it', async () => {
    const c = client({ version: { major: 1, minor: 2 } });
    try {
      const [item] = await c.send([{ operation: Operation.Query, payload: [] }], { idempotent: true });
      expect(item!.status).toBe(ResultStatus.Success);
      expect(await c.version()).toEqual({ major: 1, minor: 2 });
    } finally {
      c.close();
    }
  });
});

describe.each([
  ['1.4', { major: 1, minor: 4 }],
  ['2.1', { major: 2, minor: 1 }],
] as const)('the typed calls in KMIP %s', (_label, version) => {
  let c: KmipClient;
  beforeAll(() => {
    c = client({ version });
  });
  afterAll(() => c.close());

  it('creates, locates, reads attributes, gets, encrypts and decrypts, and ends the key\'s life', async () => {
    const name = `client-aes-${version.major}${version.minor}-${crypto.randomUUID()}`;
    const created = await c.create(ObjectType.SymmetricKey, aesAttributes(name));
    expect(created.objectType).toBe(ObjectType.SymmetricKey);
    const id = created.uniqueIdentifier;

    expect((await c.locate([nameAttribute(name)])).uniqueIdentifiers).toEqual([id]);

    const attrs = await c.getAttributes(id, ['Cryptographic Length', 'State', 'Name']);
    expect(attributeValues(attrs.attributes, 'Cryptographic Length')).toEqual([256]);
    expect(attributeValues(attrs.attributes, 'State')).toEqual([State.PreActive]);
    expect(attributeValues(attrs.attributes, 'Name')).toEqual([{ NameValue: name, NameType: 1 }]);
    const list = await c.getAttributeList(id);
    expect(list.names).toEqual(expect.arrayContaining(['Cryptographic Algorithm', 'State', 'Name']));

    const got = await c.get(id);
    expect(got.objectType).toBe(ObjectType.SymmetricKey);
    expect(got.keyBlock?.keyFormatType).toBe(KeyFormatType.Raw);
    expect((got.keyBlock?.keyMaterial as Uint8Array).length).toBe(32);

    await c.activate(id);
    const plain = Buffer.from('the client library round trip');
    const parameters = { blockCipherMode: BlockCipherMode.CBC, paddingMethod: PaddingMethod.PKCS5, cryptographicAlgorithm: CryptographicAlgorithm.AES };
    const iv = crypto.randomBytes(16);
    const enc = await c.encrypt(id, plain, { parameters, ivCounterNonce: iv });
    // The key the server holds is the key Get returned: check the ciphertext with Node's own AES.
    const local = crypto.createCipheriv('aes-256-cbc', got.keyBlock!.keyMaterial as Uint8Array, iv);
    expect(Buffer.from(enc.data)).toEqual(Buffer.concat([local.update(plain), local.final()]));
    const dec = await c.decrypt(id, enc.data, { parameters, ivCounterNonce: iv });
    expect(Buffer.from(dec.data)).toEqual(plain);

    const mac = await c.create(ObjectType.SymmetricKey, [
      attribute('Cryptographic Algorithm', CryptographicAlgorithm.HMAC_SHA256),
      attribute('Cryptographic Length', 256),
      attribute('Cryptographic Usage Mask', CryptographicUsageMask.MACGenerate),
    ]);
    await c.activate(mac.uniqueIdentifier);
    const macKey = (await c.get(mac.uniqueIdentifier)).keyBlock!.keyMaterial as Uint8Array;
    const tagged = await c.mac(mac.uniqueIdentifier, plain, { parameters: { cryptographicAlgorithm: CryptographicAlgorithm.HMAC_SHA256 } });
    expect(Buffer.from(tagged.macData)).toEqual(crypto.createHmac('sha256', macKey).update(plain).digest());

    const rekeyed = await c.rekey(id);
    expect(rekeyed.uniqueIdentifier).not.toBe(id);

    await c.revoke(id);
    await c.destroy(id);
    await expect(c.get(id)).rejects.toBeInstanceOf(KmipResultError);
  });

  it('adds, modifies and deletes a custom attribute', async () => {
    const { uniqueIdentifier: id } = await c.create(ObjectType.SymmetricKey, aesAttributes(`attr-${crypto.randomUUID()}`));
    await c.addAttribute(id, attribute('x-Owner', 'team-a'));
    expect(attributeValues((await c.getAttributes(id, ['x-Owner'])).attributes, 'x-Owner')).toEqual(['team-a']);
    await c.modifyAttribute(id, attribute('x-Owner', 'team-b'));
    expect(attributeValues((await c.getAttributes(id, ['x-Owner'])).attributes, 'x-Owner')).toEqual(['team-b']);
    await c.deleteAttribute(id, 'x-Owner', version.major >= 2 ? { current: attribute('x-Owner', 'team-b') } : { index: 0 });
    expect((await c.getAttributes(id, ['x-Owner'])).attributes).toEqual([]);
  });

  it('registers a key and gets the same bytes back', async () => {
    const material = crypto.randomBytes(16);
    const reg = await c.register(
      ObjectType.SymmetricKey,
      keyObject(Tag.SymmetricKey, { format: KeyFormatType.Raw, material, algorithm: CryptographicAlgorithm.AES, length: 128 }),
      [attribute('Cryptographic Usage Mask', AES_USAGE)],
    );
    expect(Buffer.from((await c.get(reg.uniqueIdentifier)).keyBlock!.keyMaterial as Uint8Array)).toEqual(material);
  });

  it('creates an RSA key pair, signs and verifies', async () => {
    const pair = await c.createKeyPair({
      common: [attribute('Cryptographic Algorithm', CryptographicAlgorithm.RSA), attribute('Cryptographic Length', 2048)],
      privateKey: [attribute('Cryptographic Usage Mask', CryptographicUsageMask.Sign)],
      publicKey: [attribute('Cryptographic Usage Mask', CryptographicUsageMask.Verify)],
    });
    await c.activate(pair.privateKeyUniqueIdentifier);
    await c.activate(pair.publicKeyUniqueIdentifier);
    const parameters = { paddingMethod: PaddingMethod.PKCS1V1_5, hashingAlgorithm: HashingAlgorithm.SHA_256, cryptographicAlgorithm: CryptographicAlgorithm.RSA };
    const data = Buffer.from('signed by the client');
    const { signature } = await c.sign(pair.privateKeyUniqueIdentifier, data, { parameters });
    expect((await c.signatureVerify(pair.publicKeyUniqueIdentifier, data, signature, { parameters })).valid).toBe(true);
    expect((await c.signatureVerify(pair.publicKeyUniqueIdentifier, Buffer.from('not what was signed'), signature, { parameters })).valid).toBe(false);
  });

  it('reads Query', async () => {
    const q = await c.query();
    expect(q.operations).toEqual(expect.arrayContaining([Operation.Create, Operation.Get, Operation.Locate]));
    expect(q.objectTypes).toContain(ObjectType.SymmetricKey);
  });
});

describe('errors', () => {
  it('throws the Result Status, Reason and Message of a refusal', async () => {
    const c = client();
    try {
      const err = await c.get('no-such-object').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KmipResultError);
      const r = err as KmipResultError;
      expect(r.operation).toBe(Operation.Get);
      expect(r.status).toBe(ResultStatus.OperationFailed);
      expect(r.reason).toBe(ResultReason.ObjectNotFound);
      expect(r.reasonName).toBe('ObjectNotFound');
      expect(r.message).toMatch(/^Get failed: OperationFailed \(ObjectNotFound\)/);
    } finally {
      c.close();
    }
  });

  it('answers a batch item by item through send, failures included', async () => {
    const c = client();
    try {
      const items = await c.send([
        { operation: Operation.Query, payload: [] },
        { operation: Operation.Get, payload: [{ tag: Tag.UniqueIdentifier, type: 7, value: 'missing' }] },
      ]);
      expect(items.map((i) => i.status)).toEqual([ResultStatus.Success, ResultStatus.OperationFailed]);
    } finally {
      c.close();
    }
  });
});
