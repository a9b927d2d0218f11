/**
 * The cryptoperiod policy (config `cryptoperiods`) through a real server process and the client
 * library: new objects get the rule's Deactivation Date and KMIP 2.1 Rotate Interval / Rotate
 * Automatic, a client's own value wins unless the rule is a maximum (which also bounds a later
 * Modify Attribute), 1.x clients are answered
 * without the 2.1 attributes, Query Defaults Information shows the rotation defaults, and a bad
 * rule stops the server with one line naming its key.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KmipClient, KmipResultError, attribute, attributeValues, keyObject, nameAttribute, type KmipAttribute, type ProtocolVersion, type TtlvStructure } from '../../../src/client';
import { CryptographicAlgorithm, CryptographicUsageMask, KeyFormatType, ObjectType, QueryFunction, ResultReason } from '../../../src/spec/generated/enums';
import { Tag } from '../../../src/spec/generated/tags';
import { asEnumeration, asStructure, children, opt } from '../../../src/kmip/tree';
import { startServerProcess, type ServerProcess } from '../../helpers/server-process';
import { devClient } from '../../helpers/dev-client';
import { runCli } from '../../helpers/custody';

jest.setTimeout(180_000);

const DAY = 86400;
const POLICY = [
  { match: { objectGroup: 'payments', algorithm: 'AES' }, deactivateAfter: 'P30D', rotateInterval: 'P7D', max: true },
  { match: { objectType: 'Symmetric Key' }, deactivateAfter: 'P1Y', rotateInterval: 'P90D' },
  { match: { objectType: 'Private Key' }, deactivateAfter: 'P2Y' },
];

let root: string;
let server: ServerProcess;
const clients: KmipClient[] = [];

function client(version: ProtocolVersion): KmipClient {
  const pki = path.join(server.dataDir, 'pki');
  const c = devClient(server.port, pki, { version });
  clients.push(c);
  return c;
}

function configFile(name: string, cryptoperiods: unknown): string {
  const file = path.join(root, name);
  fs.writeFileSync(file, JSON.stringify({ cryptoperiods }));
  return file;
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-cryptoperiods-'));
  server = await startServerProcess({ dataDir: path.join(root, 'data'), extraArgs: ['--config', configFile('policy.json', POLICY)] });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

const V21 = { major: 2, minor: 1 } as const;
const aes = (extra: KmipAttribute[] = []): KmipAttribute[] => [
  attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES),
  attribute('Cryptographic Length', 256),
  attribute('Cryptographic Usage Mask', CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
  nameAttribute(`cp-${crypto.randomUUID()}`),
  ...extra,
];
const nowSeconds = () => BigInt(Math.floor(Date.now() / 1000));

/** The one value of `name` on the object, as the client of `c` reads it (undefined: not there). */
async function valueOf(c: KmipClient, uid: string, name: string): Promise<unknown> {
  const { attributes } = await c.getAttributes(uid);
  const values = attributeValues(attributes, name);
  expect(values.length).toBeLessThanOrEqual(1);
  return values[0];
}

/** A Date-Time within the seconds the request could have run in, `span` after. */
function expectAfter(value: unknown, before: bigint, after: bigint, span: number): void {
  expect(typeof value).toBe('bigint');
  expect(value as bigint).toBeGreaterThanOrEqual(before + BigInt(span));
  expect(value as bigint).toBeLessThanOrEqual(after + BigInt(span));
}

describe('applied at creation', () => {
  it('gives a new key the rule\'s Deactivation Date, Rotate Interval and Rotate Automatic', async () => {
    const c = client(V21);
    const before = nowSeconds();
    const { uniqueIdentifier: uid } = await c.create(ObjectType.SymmetricKey, aes());
    const after = nowSeconds();
    expectAfter(await valueOf(c, uid, 'Deactivation Date'), before, after, 365 * DAY);
    expect(await valueOf(c, uid, 'Rotate Interval')).toBe(90 * DAY);
    expect(await valueOf(c, uid, 'Rotate Automatic')).toBe(true);
  });

  it('counts the cryptoperiod from the Activation Date the client gives', async () => {
    const c = client(V21);
    const activation = nowSeconds() + BigInt(10 * DAY);
    const { uniqueIdentifier: uid } = await c.create(ObjectType.SymmetricKey, aes([attribute('Activation Date', activation)]));
    expect(await valueOf(c, uid, 'Deactivation Date')).toBe(activation + BigInt(365 * DAY));
  });

  it('lets the client\'s own values win under a rule that is not a maximum', async () => {
    const c = client(V21);
    const own = nowSeconds() + BigInt(1000 * DAY);
    const { uniqueIdentifier: uid } = await c.create(
      ObjectType.SymmetricKey,
      aes([attribute('Deactivation Date', own), attribute('Rotate Interval', 400 * DAY), attribute('Rotate Automatic', false)]),
    );
    expect(await valueOf(c, uid, 'Deactivation Date')).toBe(own);
    expect(await valueOf(c, uid, 'Rotate Interval')).toBe(400 * DAY);
    expect(await valueOf(c, uid, 'Rotate Automatic')).toBe(false);
  });

  it('cuts a client\'s longer values to a maximum rule (the first rule that matches), and keeps shorter ones', async () => {
    const c = client(V21);
    const before = nowSeconds();
    const long = await c.create(
      ObjectType.SymmetricKey,
      aes([attribute('Object Group', 'payments'), attribute('Deactivation Date', before + BigInt(400 * DAY)), attribute('Rotate Interval', 60 * DAY), attribute('Rotate Automatic', false)]),
    );
    const after = nowSeconds();
    expectAfter(await valueOf(c, long.uniqueIdentifier, 'Deactivation Date'), before, after, 30 * DAY);
    expect(await valueOf(c, long.uniqueIdentifier, 'Rotate Interval')).toBe(7 * DAY);
    expect(await valueOf(c, long.uniqueIdentifier, 'Rotate Automatic')).toBe(true);
    const shortDate = nowSeconds() + BigInt(5 * DAY);
    const short = await c.create(ObjectType.SymmetricKey, aes([attribute('Object Group', 'payments'), attribute('Deactivation Date', shortDate), attribute('Rotate Interval', DAY)]));
    expect(await valueOf(c, short.uniqueIdentifier, 'Deactivation Date')).toBe(shortDate);
    expect(await valueOf(c, short.uniqueIdentifier, 'Rotate Interval')).toBe(DAY);
  });

  it('applies to Register and to each half of a key pair by its own object type; an object no rule matches gets nothing', async () => {
    const c = client(V21);
    const before = nowSeconds();
    const registered = await c.register(
      ObjectType.SymmetricKey,
      keyObject(Tag.SymmetricKey, { format: KeyFormatType.Raw, material: crypto.randomBytes(32), algorithm: CryptographicAlgorithm.AES, length: 256 }),
      [attribute('Cryptographic Usage Mask', CryptographicUsageMask.Encrypt), nameAttribute(`cp-${crypto.randomUUID()}`)],
    );
    const pair = await c.createKeyPair({
      common: [attribute('Cryptographic Algorithm', CryptographicAlgorithm.RSA), attribute('Cryptographic Length', 2048)],
      privateKey: [attribute('Cryptographic Usage Mask', CryptographicUsageMask.Sign), nameAttribute(`cp-priv-${crypto.randomUUID()}`)],
      publicKey: [attribute('Cryptographic Usage Mask', CryptographicUsageMask.Verify), nameAttribute(`cp-pub-${crypto.randomUUID()}`)],
    });
    const after = nowSeconds();
    expectAfter(await valueOf(c, registered.uniqueIdentifier, 'Deactivation Date'), before, after, 365 * DAY);
    expect(await valueOf(c, registered.uniqueIdentifier, 'Rotate Interval')).toBe(90 * DAY);
    expectAfter(await valueOf(c, pair.privateKeyUniqueIdentifier, 'Deactivation Date'), before, after, 730 * DAY);
    expect(await valueOf(c, pair.privateKeyUniqueIdentifier, 'Rotate Interval')).toBeUndefined();
    expect(await valueOf(c, pair.publicKeyUniqueIdentifier, 'Deactivation Date')).toBeUndefined();
    const secret = await c.register(ObjectType.SecretData, ttlvSecret(), [attribute('Cryptographic Usage Mask', CryptographicUsageMask.DeriveKey)]);
    expect(await valueOf(c, secret.uniqueIdentifier, 'Deactivation Date')).toBeUndefined();
    expect(await valueOf(c, secret.uniqueIdentifier, 'Rotate Interval')).toBeUndefined();
  });

  it('stores the Rotate attributes for a 1.4 client\'s key too, answering that client without them', async () => {
    const old = client({ major: 1, minor: 4 });
    const before = nowSeconds();
    const { uniqueIdentifier: uid } = await old.create(ObjectType.SymmetricKey, aes());
    const after = nowSeconds();
    const seen = (await old.getAttributes(uid)).attributes.map((a) => a.name);
    expect(seen).toContain('Deactivation Date');
    expect(seen).not.toContain('Rotate Interval');
    expect(seen).not.toContain('Rotate Automatic');
    expectAfter(await valueOf(old, uid, 'Deactivation Date'), before, after, 365 * DAY);
    // The scheduler reads what is stored, whatever version created the object.
    expect(await valueOf(client(V21), uid, 'Rotate Interval')).toBe(90 * DAY);
  });
});

describe('a maximum holds after creation', () => {
  it('refuses a Modify Attribute that moves the Deactivation Date past the rule\'s limit, in 2.1 and 1.4, and allows an earlier one', async () => {
    for (const version of [V21, { major: 1, minor: 4 }] as const) {
      const c = client(version);
      const { uniqueIdentifier: uid } = await c.create(ObjectType.SymmetricKey, aes([attribute('Object Group', 'payments')]));
      const limit = (await valueOf(c, uid, 'Deactivation Date')) as bigint;
      const refused = await c.modifyAttribute(uid, attribute('Deactivation Date', limit + 1n)).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(KmipResultError);
      // 1.4 lacks Invalid Attribute Value: the nearest reason it has is Invalid Field.
      expect((refused as KmipResultError).reason).toBe(version.major >= 2 ? ResultReason.InvalidAttributeValue : ResultReason.InvalidField);
      expect((refused as KmipResultError).resultMessage).toContain('cryptoperiod policy');
      expect(await valueOf(c, uid, 'Deactivation Date')).toBe(limit);
      await c.modifyAttribute(uid, attribute('Deactivation Date', limit - BigInt(DAY)));
      expect(await valueOf(c, uid, 'Deactivation Date')).toBe(limit - BigInt(DAY));
      // Other attributes change freely.
      await c.addAttribute(uid, nameAttribute(`cp-more-${crypto.randomUUID()}`));
    }
  });

  it('lets a key under a rule that is not a maximum have its Deactivation Date moved later', async () => {
    const c = client(V21);
    const { uniqueIdentifier: uid } = await c.create(ObjectType.SymmetricKey, aes());
    const date = (await valueOf(c, uid, 'Deactivation Date')) as bigint;
    await c.modifyAttribute(uid, attribute('Deactivation Date', date + BigInt(100 * DAY)));
    expect(await valueOf(c, uid, 'Deactivation Date')).toBe(date + BigInt(100 * DAY));
  });
});

function ttlvSecret() {
  return keyObject(Tag.SecretData, { format: KeyFormatType.Opaque, material: crypto.randomBytes(16) });
}

describe('shown by Query Defaults Information', () => {
  /** Object Type -> the tags of its Object Defaults' attributes, from a Query response payload. */
  function objectDefaults(payload: TtlvStructure): Map<number, number[]> {
    const info = opt.structure(payload, Tag.DefaultsInformation);
    const out = new Map<number, number[]>();
    for (const d of info ? children(info, Tag.ObjectDefaults).map(asStructure) : []) {
      out.set(asEnumeration(children(d, Tag.ObjectType)[0]!), opt.structure(d, Tag.Attributes)!.value.map((a) => a.tag));
    }
    return out;
  }

  it('answers a 2.1 client with the Rotate Interval per object type of the rules keyed by type alone', async () => {
    const { payload } = await client(V21).query([QueryFunction.QueryDefaultsInformation]);
    // The payments rule is narrowed by group and algorithm, and the Private Key rule sets no interval: no Object Defaults for them.
    expect(objectDefaults(payload)).toEqual(new Map([[ObjectType.SymmetricKey, [Tag.RotateInterval, Tag.RotateAutomatic]]]));
    const defaults = asStructure(children(opt.structure(payload, Tag.DefaultsInformation)!, Tag.ObjectDefaults)[0]!);
    expect(opt.structure(defaults, Tag.Attributes)!.value.find((a) => a.tag === Tag.RotateInterval)?.value).toBe(90 * DAY);
  });

  it('answers a 2.0 client, whose version has Defaults Information but not the Rotate attributes, with none', async () => {
    const { payload } = await client({ major: 2, minor: 0 }).query([QueryFunction.QueryDefaultsInformation]);
    expect(opt.structure(payload, Tag.DefaultsInformation)).toBeUndefined();
  });
});

// Each refusal's wording is tested against loadConfig in test/unit/objects/cryptoperiod.test.ts; here, that the server stops on one.
it('refuses a bad rule at start with one line naming its key', async () => {
  const rules = [{ deactivateAfter: 'P1Y' }, { match: { objectType: 'Symmetric Key' }, rotateInterval: '90 days' }];
  const r = await runCli(['start', '--listen', '127.0.0.1:0', '--data-dir', path.join(root, 'bad'), '--config', configFile('bad.json', rules)]);
  expect(r.code).not.toBe(0);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toContain('config: cryptoperiods[1].rotateInterval: ');
  expect(fs.existsSync(path.join(root, 'bad', 'kmip.sqlite'))).toBe(false);
});
