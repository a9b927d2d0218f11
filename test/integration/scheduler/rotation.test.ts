/**
 * Automatic key rotation end to end: a server started by `startServer` with a clock the test moves
 * and a rotation policy in its configuration, a real SoftHSM2 token, SQLite file and audit file,
 * clients of the client library in KMIP 2.1 (Rotate attributes) and 1.4 (the server's policy).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ItemType } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { CryptographicAlgorithm, CryptographicUsageMask, HashingAlgorithm, KeyFormatType, LinkType, PaddingMethod, NameType, ObjectType, State } from '../../../src/spec/generated/enums';
import { DEV_CLIENT_CN, ensureDevPki, issueServerCertificate } from '../../../src/pki/dev-pki';
import { Operation, PutFunction, ResultStatus } from '../../../src/spec/generated/enums';
import { TestEndpoint } from '../../helpers/kmip-endpoint';
import { find } from '../../helpers/kmip-client';
import { loadConfig, type ServerConfig } from '../../../src/config';
import { startServer, type RunningServer } from '../../../src/main';
import { KmipClient, KmipResultError, attribute, keyObject, nameAttribute, ttlv, type KmipAttribute, type ProtocolVersion } from '../../../src/client';
import type { AuditRecord } from '../../../src/audit/audit-log';
import { makeTestToken } from '../../helpers/hsm';
import { devClient } from '../../helpers/dev-client';

let dir: string;
let config: ServerConfig;
let server: RunningServer;
let v21: KmipClient;
let v14: KmipClient;
/** The owner's notification endpoint: a rotation is a replacement, told as Re-key's is. */
let endpoint: TestEndpoint;
let nowMs = Math.floor(Date.now() / 1000) * 1000;
const clock = { now: () => nowMs };
const nowSeconds = () => BigInt(nowMs / 1000);

function clientIn(version: ProtocolVersion): KmipClient {
  const pki = path.join(config.dataDir, 'pki');
  return devClient(server.listener.address.port, pki, { version });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-rotate-'));
  const dataDir = path.join(dir, 'data');
  const pki = ensureDevPki(path.join(dataDir, 'pki'));
  const ep = issueServerCertificate(pki.dir, path.join(dir, 'certs'), { fileBase: 'endpoint' });
  endpoint = await TestEndpoint.start({ key: Buffer.from(ep.keyPem), cert: Buffer.from(ep.certPem), ca: fs.readFileSync(pki.caPath) });
  const token = makeTestToken();
  const configFile = path.join(dir, 'config.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      listen: '127.0.0.1:0',
      dataDir,
      hsm: { module: token.modulePath, tokenLabel: token.tokenLabel, pinFile: token.pinFile, callMode: 'sync' },
      notifications: { endpoints: [{ identity: DEV_CLIENT_CN, address: `127.0.0.1:${endpoint.port}` }] },
      rotation: {
        policies: [
          { objectGroup: 'payments', interval: 'PT1000S', oldKey: 'deactivate', deactivateAfter: 100 },
          { objectGroup: 'signing', objectType: 'PrivateKey', interval: 'PT2000S', oldKey: 'deactivate', deactivateAfter: 50 },
        ],
      },
    }),
  );
  config = loadConfig({ configFile });
  server = await startServer(config, { clock, schedulerRecheckMs: 3_600_000 });
  v21 = clientIn({ major: 2, minor: 1 });
  v14 = clientIn({ major: 1, minor: 4 });
});

afterAll(async () => {
  v21?.close();
  v14?.close();
  await server?.stop();
  await endpoint?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const aes = (extra: KmipAttribute[]): KmipAttribute[] => [
  attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES),
  attribute('Cryptographic Length', 256),
  attribute('Cryptographic Usage Mask', CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
  ...extra,
];

async function attrs(c: KmipClient, uid: string): Promise<Map<string, unknown[]>> {
  const out = new Map<string, unknown[]>();
  for (const a of (await c.getAttributes(uid)).attributes) {
    const v = a.value;
    const plain = v.type === ItemType.Structure ? v.value.map((x) => x.value) : v.value;
    out.set(a.name, [...(out.get(a.name) ?? []), plain]);
  }
  return out;
}

async function advance(seconds: number): Promise<void> {
  nowMs += seconds * 1000;
  await server.scheduler!.wake();
}

async function rotationRecords(uid: string): Promise<AuditRecord[]> {
  await server.audit.durable();
  return fs
    .readFileSync(config.auditFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"scheduled"') && l.includes('automatic rotation'))
    .map((l) => JSON.parse(l) as AuditRecord)
    .filter((r) => r.uniqueIdentifiers?.[0] === uid);
}

describe('automatic rotation', () => {
  it('KMIP 2.1: Rotate Automatic with Rotate Interval and Offset re-keys at its time, chain after chain', async () => {
    const rotateName = ttlv.structure(Tag.RotateName, [ttlv.textString(Tag.RotateNameValue, 'chain-a'), ttlv.enumeration(Tag.RotateNameType, NameType.UninterpretedTextString)]);
    const created = nowSeconds();
    const { uniqueIdentifier: first } = await v21.create(
      ObjectType.SymmetricKey,
      aes([nameAttribute('rot-a'), attribute('Rotate Automatic', true), attribute('Rotate Interval', 3600), attribute('Rotate Offset', 60), attribute('Rotate Name', rotateName)]),
    );
    await v21.activate(first);

    // Not yet due: nothing happens.
    await advance(3599);
    expect((await v21.locate([nameAttribute('rot-a')])).uniqueIdentifiers).toEqual([first]);

    await advance(1);
    const [second] = (await v21.locate([nameAttribute('rot-a')])).uniqueIdentifiers;
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    const n = await attrs(v21, second!);
    expect(n.get('Rotate Generation')).toEqual([1]);
    expect(n.get('Rotate Latest')).toEqual([true]);
    expect(n.get('Rotate Date')).toEqual([created + 3600n]);
    expect(n.get('Rotate Automatic')).toEqual([true]);
    expect(n.get('Rotate Interval')).toEqual([3600]);
    expect(n.get('Rotate Name')).toEqual([['chain-a', NameType.UninterpretedTextString]]);
    // Re-key with Offset: the replacement activates Offset after the rotation.
    expect(n.get('Activation Date')).toEqual([created + 3600n + 60n]);
    expect(n.get('State')).toEqual([State.PreActive]);
    expect(n.get('Link')).toEqual([[LinkType.ReplacedObjectLink, first]]);
    const o = await attrs(v21, first);
    expect(o.get('Rotate Latest')).toEqual([false]);
    expect(o.get('Rotate Automatic')).toEqual([false]);
    expect(o.get('Name')).toBeUndefined();
    expect(o.get('Link')).toEqual([[LinkType.ReplacementObjectLink, second]]);
    // Re-key's rule: the old key keeps its State (no policy matches it).
    expect(o.get('State')).toEqual([State.Active]);
    const put = await endpoint.waitFor((m) => m.operation === Operation.Put && find(m.payload, Tag.UniqueIdentifier)?.value === second, 15_000);
    expect(find(put.payload, Tag.PutFunction)?.value).toBe(PutFunction.Replace);
    expect(find(put.payload, Tag.ReplacedUniqueIdentifier)?.value).toBe(first);

    // The replacement rotates in its turn; only the latest of the chain ever does.
    await advance(3600);
    const latest = await v21.locate([attribute('Rotate Name', rotateName), attribute('Rotate Latest', true)]);
    expect(latest.uniqueIdentifiers).toHaveLength(1);
    const third = latest.uniqueIdentifiers[0]!;
    expect((await attrs(v21, third)).get('Rotate Generation')).toEqual([2]);
    expect((await v21.locate([attribute('Rotate Name', rotateName)])).uniqueIdentifiers.sort()).toEqual([first, second!, third].sort());
    expect((await rotationRecords(first)).map((r) => [r.resultStatus, r.uniqueIdentifiers])).toEqual([['Success', [first, second]]]);
    expect((await rotationRecords(second!)).map((r) => r.reason)).toEqual(['Rotate Generation 2']);
  });

  it('KMIP 2.1: Rotate Name set at Register or by Add Attribute names the chain; Locate with Rotate Latest true answers its newest key', async () => {
    const chain = (value: string) => ttlv.structure(Tag.RotateName, [ttlv.textString(Tag.RotateNameValue, value), ttlv.enumeration(Tag.RotateNameType, NameType.UninterpretedTextString)]);
    const material = keyObject(Tag.SymmetricKey, { format: KeyFormatType.Raw, material: crypto.randomBytes(32), algorithm: CryptographicAlgorithm.AES, length: 256 });
    const { uniqueIdentifier: registered } = await v21.register(ObjectType.SymmetricKey, material, [
      attribute('Cryptographic Usage Mask', CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
      attribute('Rotate Name', chain('chain-registered')),
      attribute('Rotate Automatic', true),
      attribute('Rotate Interval', 500),
    ]);
    await v21.activate(registered);
    // A key made without one joins a chain by Add Attribute.
    const { uniqueIdentifier: added } = await v21.create(ObjectType.SymmetricKey, aes([attribute('Rotate Automatic', true), attribute('Rotate Interval', 500)]));
    await v21.addAttribute(added, attribute('Rotate Name', chain('chain-added')));
    // The spec table: one Rotate Name per object.
    await expect(v21.addAttribute(added, attribute('Rotate Name', chain('chain-other')))).rejects.toThrow(KmipResultError);
    expect((await v21.locate([attribute('Rotate Name', chain('chain-registered'))])).uniqueIdentifiers).toEqual([registered]);
    expect((await v21.locate([attribute('Rotate Name', chain('chain-added'))])).uniqueIdentifiers).toEqual([added]);
    // KMIP 1.4 has no Rotate attributes.
    await expect(v14.create(ObjectType.SymmetricKey, aes([attribute('Rotate Name', chain('chain-14'))]))).rejects.toThrow(KmipResultError);

    await advance(500);
    for (const [name, old] of [['chain-registered', registered], ['chain-added', added]] as const) {
      const latest = (await v21.locate([attribute('Rotate Name', chain(name)), attribute('Rotate Latest', true)])).uniqueIdentifiers;
      expect(latest).toHaveLength(1);
      expect(latest[0]).not.toBe(old);
      const n = await attrs(v21, latest[0]!);
      expect(n.get('Rotate Name')).toEqual([[name, NameType.UninterpretedTextString]]);
      expect(n.get('Link')).toEqual([[LinkType.ReplacedObjectLink, old]]);
      expect((await v21.locate([attribute('Rotate Name', chain(name)), attribute('Rotate Latest', false)])).uniqueIdentifiers).toEqual([old]);
    }
    // The two chains never mix: the next rotation moves each name to its own third key.
    await advance(500);
    const third = (await v21.locate([attribute('Rotate Name', chain('chain-added')), attribute('Rotate Latest', true)])).uniqueIdentifiers;
    expect(third).toHaveLength(1);
    expect((await attrs(v21, third[0]!)).get('Rotate Generation')).toEqual([2]);
    expect((await v21.locate([attribute('Rotate Name', chain('chain-added'))])).uniqueIdentifiers).toHaveLength(3);
  });

  it('KMIP 1.4: the server policy by Object Group rotates, and deactivates the old key when it says', async () => {
    const { uniqueIdentifier: old } = await v14.create(ObjectType.SymmetricKey, aes([nameAttribute('pay-1'), attribute('Object Group', 'payments')]));
    await v14.activate(old);
    const { uniqueIdentifier: other } = await v14.create(ObjectType.SymmetricKey, aes([nameAttribute('other-1')]));

    await advance(1000);
    const [replacement] = (await v14.locate([nameAttribute('pay-1')])).uniqueIdentifiers;
    expect(replacement).not.toBe(old);
    const r = await attrs(v14, replacement!);
    expect(r.get('Object Group')).toEqual(['payments']);
    // 1.4 has no Rotate attributes: the version filter keeps them from the 1.x client.
    expect(r.get('Rotate Generation')).toBeUndefined();
    expect((await attrs(v21, replacement!)).get('Rotate Generation')).toEqual([1]);
    const o = await attrs(v14, old);
    expect(o.get('Deactivation Date')).toEqual([nowSeconds() + 100n]);
    expect(o.get('State')).toEqual([State.Active]);
    // Objects no policy names stay as they are.
    expect((await v14.locate([nameAttribute('other-1')])).uniqueIdentifiers).toEqual([other]);

    // The old key's Deactivation Date takes effect at its time (the lifecycle scheduler).
    await advance(100);
    expect((await v14.locate([attribute('State', State.Deactivated), attribute('Object Group', 'payments')])).uniqueIdentifiers).toEqual([old]);
    const records = await rotationRecords(old);
    expect(records.map((x) => x.reason)).toEqual(['Rotate Generation 1; policy objectGroup=payments; the old key deactivates 100 s on']);
  });

  it('a key that cannot be re-keyed (archived) is audited as failed, and tried again an hour later, not at every sweep', async () => {
    const { uniqueIdentifier: uid } = await v21.create(ObjectType.SymmetricKey, aes([nameAttribute('archived'), attribute('Rotate Automatic', true), attribute('Rotate Interval', 100)]));
    const [archived] = await v21.send([{ operation: Operation.Archive, payload: [ttlv.textString(Tag.UniqueIdentifier, uid)] }]);
    expect(archived?.status).toBe(ResultStatus.Success);
    await advance(100);
    const failures = async () => (await rotationRecords(uid)).filter((r) => r.resultStatus === 'OperationFailed');
    expect((await failures()).map((r) => r.reason)).toEqual([`object ${uid} is archived; recover it first`]);
    await advance(60);
    await advance(60);
    expect(await failures()).toHaveLength(1);
    await advance(3600);
    expect(await failures()).toHaveLength(2);
    expect((await v21.locate([nameAttribute('archived')], { storageStatusMask: 3 })).uniqueIdentifiers).toEqual([uid]);
  });

  it('a 2.1 key with Rotate Automatic false is not rotated by a policy that matches it', async () => {
    const { uniqueIdentifier: uid } = await v21.create(ObjectType.SymmetricKey, aes([nameAttribute('pinned'), attribute('Object Group', 'payments'), attribute('Rotate Automatic', false)]));
    await advance(5000);
    expect((await v21.locate([nameAttribute('pinned')])).uniqueIdentifiers).toEqual([uid]);
    expect(await rotationRecords(uid)).toEqual([]);
  });
});

describe('automatic rotation of key pairs (Re-key Key Pair)', () => {
  const rsa = [attribute('Cryptographic Algorithm', CryptographicAlgorithm.RSA), attribute('Cryptographic Length', 2048)];
  const parameters = { paddingMethod: PaddingMethod.PKCS1V1_5, hashingAlgorithm: HashingAlgorithm.SHA_256, cryptographicAlgorithm: CryptographicAlgorithm.RSA };

  it('KMIP 2.1: a private key with Rotate Automatic and Rotate Interval is replaced with its public key, linked as Re-key Key Pair links', async () => {
    const rotateName = ttlv.structure(Tag.RotateName, [ttlv.textString(Tag.RotateNameValue, 'chain-pair'), ttlv.enumeration(Tag.RotateNameType, NameType.UninterpretedTextString)]);
    const rotatedAt = nowSeconds() + 700n;
    const pair = await v21.createKeyPair({
      // Both halves carry Rotate Automatic: the private key's chain replaces the public key with it.
      common: [...rsa, attribute('Rotate Automatic', true), attribute('Rotate Interval', 700)],
      privateKey: [nameAttribute('pair-priv'), attribute('Cryptographic Usage Mask', CryptographicUsageMask.Sign), attribute('Rotate Name', rotateName)],
      publicKey: [nameAttribute('pair-pub'), attribute('Cryptographic Usage Mask', CryptographicUsageMask.Verify)],
    });
    const [oldPriv, oldPub] = [pair.privateKeyUniqueIdentifier, pair.publicKeyUniqueIdentifier];
    await v21.activate(oldPriv);
    await v21.activate(oldPub);

    await advance(699);
    expect((await v21.locate([nameAttribute('pair-priv')])).uniqueIdentifiers).toEqual([oldPriv]);
    await advance(1);
    const [newPriv] = (await v21.locate([nameAttribute('pair-priv')])).uniqueIdentifiers;
    const [newPub] = (await v21.locate([nameAttribute('pair-pub')])).uniqueIdentifiers;
    expect(newPriv).not.toBe(oldPriv);
    expect(newPub).not.toBe(oldPub);
    const p = await attrs(v21, newPriv!);
    expect(p.get('Object Type')).toEqual([ObjectType.PrivateKey]);
    expect(p.get('Rotate Generation')).toEqual([1]);
    expect(p.get('Rotate Latest')).toEqual([true]);
    expect(p.get('Rotate Date')).toEqual([rotatedAt]);
    expect(p.get('Rotate Name')).toEqual([['chain-pair', NameType.UninterpretedTextString]]);
    expect(new Set(p.get('Link'))).toEqual(new Set([[LinkType.PublicKeyLink, newPub], [LinkType.ReplacedObjectLink, oldPriv]]));
    const q = await attrs(v21, newPub!);
    expect(new Set(q.get('Link'))).toEqual(new Set([[LinkType.PrivateKeyLink, newPriv], [LinkType.ReplacedObjectLink, oldPub]]));
    // The chain is the private key's: the new public key carries no rotation of its own.
    expect(q.get('Rotate Generation')).toBeUndefined();
    expect(q.get('Rotate Latest')).toBeUndefined();
    const o = await attrs(v21, oldPriv);
    expect(o.get('Rotate Latest')).toEqual([false]);
    expect(o.get('Rotate Automatic')).toEqual([false]);
    expect(o.get('State')).toEqual([State.Active]);
    expect(o.get('Link')).toContainEqual([LinkType.ReplacementObjectLink, newPriv]);
    const op = await attrs(v21, oldPub);
    expect(op.get('Link')).toContainEqual([LinkType.ReplacementObjectLink, newPub]);
    expect(op.get('Rotate Automatic')).toEqual([false]);
    expect((await v21.locate([attribute('Rotate Name', rotateName), attribute('Rotate Latest', true)])).uniqueIdentifiers).toEqual([newPriv]);

    // A real new pair: the new private key signs what the new public key verifies, and the old one does not.
    expect(p.get('State')).toEqual([State.Active]);
    const data = Buffer.from('signed after the rotation');
    const { signature } = await v21.sign(newPriv!, data, { parameters });
    expect((await v21.signatureVerify(newPub!, data, signature, { parameters })).valid).toBe(true);
    expect((await v21.signatureVerify(oldPub, data, signature, { parameters })).valid).toBe(false);

    const put = await endpoint.waitFor((m) => m.operation === Operation.Put && find(m.payload, Tag.UniqueIdentifier)?.value === newPriv, 15_000);
    expect(find(put.payload, Tag.ReplacedUniqueIdentifier)?.value).toBe(oldPriv);
    const records = await rotationRecords(oldPriv);
    expect(records.map((r) => [r.operation, r.resultStatus, r.uniqueIdentifiers])).toEqual([['Re-key Key Pair (automatic rotation)', 'Success', [oldPriv, newPriv, newPub]]]);

    // The new private key rotates in its turn.
    await advance(700);
    const latest = (await v21.locate([attribute('Rotate Name', rotateName), attribute('Rotate Latest', true)])).uniqueIdentifiers;
    expect(latest).toHaveLength(1);
    expect(latest[0]).not.toBe(newPriv);
    expect((await attrs(v21, latest[0]!)).get('Rotate Generation')).toEqual([2]);
    // Public keys are never rotated on their own, whatever their Rotate attributes say.
    expect(await rotationRecords(newPub!)).toEqual([]);
    expect((await rotationRecords(newPriv!)).map((r) => r.uniqueIdentifiers?.[1])).toEqual([latest[0]]);
  });

  it('KMIP 1.4: a policy with objectType "PrivateKey" rotates key pairs and deactivates both old halves; a policy by group alone does not', async () => {
    const signing = await v14.createKeyPair({
      common: [...rsa, attribute('Object Group', 'signing')],
      privateKey: [nameAttribute('sign-priv'), attribute('Cryptographic Usage Mask', CryptographicUsageMask.Sign)],
      publicKey: [nameAttribute('sign-pub'), attribute('Cryptographic Usage Mask', CryptographicUsageMask.Verify)],
    });
    await v14.activate(signing.privateKeyUniqueIdentifier);
    await v14.activate(signing.publicKeyUniqueIdentifier);
    // The payments policy names no objectType: symmetric keys only.
    const payments = await v14.createKeyPair({
      common: [...rsa, attribute('Object Group', 'payments')],
      privateKey: [nameAttribute('pay-priv'), attribute('Cryptographic Usage Mask', CryptographicUsageMask.Sign)],
      publicKey: [attribute('Cryptographic Usage Mask', CryptographicUsageMask.Verify)],
    });
    // The signing policy names private keys: a symmetric key of the group stays.
    const { uniqueIdentifier: symmetric } = await v14.create(ObjectType.SymmetricKey, aes([nameAttribute('sign-aes'), attribute('Object Group', 'signing')]));

    await advance(2000);
    const [newPriv] = (await v14.locate([nameAttribute('sign-priv')])).uniqueIdentifiers;
    const [newPub] = (await v14.locate([nameAttribute('sign-pub')])).uniqueIdentifiers;
    expect(newPriv).not.toBe(signing.privateKeyUniqueIdentifier);
    expect(newPub).not.toBe(signing.publicKeyUniqueIdentifier);
    expect((await attrs(v14, newPriv!)).get('Object Group')).toEqual(['signing']);
    expect((await attrs(v21, newPriv!)).get('Rotate Generation')).toEqual([1]);
    for (const old of [signing.privateKeyUniqueIdentifier, signing.publicKeyUniqueIdentifier]) {
      expect((await attrs(v14, old)).get('Deactivation Date')).toEqual([nowSeconds() + 50n]);
    }
    expect((await v14.locate([nameAttribute('pay-priv')])).uniqueIdentifiers).toEqual([payments.privateKeyUniqueIdentifier]);
    expect((await v14.locate([nameAttribute('sign-aes')])).uniqueIdentifiers).toEqual([symmetric]);
    expect(await rotationRecords(payments.privateKeyUniqueIdentifier)).toEqual([]);
    expect((await rotationRecords(signing.privateKeyUniqueIdentifier)).map((r) => r.reason)).toEqual([
      'Rotate Generation 1; policy objectGroup=signing,objectType=PrivateKey; the old key deactivates 50 s on',
    ]);

    await advance(50);
    const deactivated = (await v14.locate([attribute('State', State.Deactivated), attribute('Object Group', 'signing')])).uniqueIdentifiers;
    expect(deactivated.sort()).toEqual([signing.privateKeyUniqueIdentifier, signing.publicKeyUniqueIdentifier].sort());
  });
});
