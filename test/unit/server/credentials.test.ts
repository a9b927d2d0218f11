/**
 * CredentialVerifier: which identity a request runs as, given its certificate identity and the
 * Authentication structure of its header (real scrypt hashes, made here).
 */
import { ttlv, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { CredentialType } from '../../../src/spec/generated/enums';
import { CredentialVerifier, hashPassword, parsePasswordHash, type CredentialsConfig, type PasswordHash } from '../../../src/server/credentials';
import { KmipError, Reason } from '../../../src/kmip/errors';
import type { ClientIdentity } from '../../../src/objects/context';

const vcenter: ClientIdentity = { name: 'vcenter', certificateFingerprint: 'ab', peer: '127.0.0.1:1', isAdmin: false };
let config: CredentialsConfig;

async function hash(password: string): Promise<PasswordHash> {
  const h = parsePasswordHash(await hashPassword(password));
  if (typeof h === 'string') throw new Error(h);
  return h;
}

beforeAll(async () => {
  config = new Map([
    ['vcenter', { users: new Map([['alice', await hash('pa')], ['ops', await hash('po')]]), devices: new Map([['SN1', await hash('pd')]]), requireCredential: false }],
    ['netapp', { users: new Map([['n1', await hash('pn')]]), devices: new Map(), requireCredential: true }],
  ]);
});

function auth(...credentials: TtlvStructure[]): TtlvStructure {
  return ttlv.structure(Tag.Authentication, credentials);
}

function userPass(user: string, password?: string): TtlvStructure {
  const value = [ttlv.textString(Tag.Username, user), ...(password === undefined ? [] : [ttlv.textString(Tag.Password, password)])];
  return ttlv.structure(Tag.Credential, [ttlv.enumeration(Tag.CredentialType, CredentialType.UsernameAndPassword), ttlv.structure(Tag.CredentialValue, value)]);
}

async function reasonOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(KmipError);
    return (e as KmipError).reason;
  }
  throw new Error('expected a refusal');
}

test('a certificate identity not configured runs as itself, credential or not', async () => {
  const v = new CredentialVerifier(config, []);
  const other: ClientIdentity = { name: 'other', isAdmin: false };
  expect(await v.resolve(other, auth(userPass('alice', 'pa')))).toBe(other);
});

test('a certificate identity shaped like a sub-identity of a configured one is refused', async () => {
  const v = new CredentialVerifier(config, []);
  expect(await reasonOf(v.resolve({ name: 'vcenter/alice', isAdmin: false }, undefined))).toBe(Reason.AuthenticationNotSuccessful);
  expect(await reasonOf(v.resolve({ name: 'vcenter/device/SN1', isAdmin: false }, undefined))).toBe(Reason.AuthenticationNotSuccessful);
  const lookalike: ClientIdentity = { name: 'vcenterx/alice', isAdmin: false };
  expect(await v.resolve(lookalike, undefined)).toBe(lookalike);
});

test('right password: the sub-identity, keeping the certificate fingerprint; an admin only if listed by its full name', async () => {
  const v = new CredentialVerifier(config, ['vcenter/ops']);
  expect(await v.resolve(vcenter, auth(userPass('alice', 'pa')))).toEqual({ ...vcenter, name: 'vcenter/alice', isAdmin: false });
  expect(await v.resolve(vcenter, auth(userPass('ops', 'po')))).toEqual({ ...vcenter, name: 'vcenter/ops', isAdmin: true });
  // Checked again from the cache: the same answer.
  expect((await v.resolve(vcenter, auth(userPass('alice', 'pa')))).name).toBe('vcenter/alice');
});

test('wrong password, unknown user, or no password: Authentication Not Successful, even after a success', async () => {
  const v = new CredentialVerifier(config, []);
  await v.resolve(vcenter, auth(userPass('alice', 'pa')));
  expect(await reasonOf(v.resolve(vcenter, auth(userPass('alice', 'pb'))))).toBe(Reason.AuthenticationNotSuccessful);
  expect(await reasonOf(v.resolve(vcenter, auth(userPass('eve', 'pa'))))).toBe(Reason.AuthenticationNotSuccessful);
  expect(await reasonOf(v.resolve(vcenter, auth(userPass('alice'))))).toBe(Reason.AuthenticationNotSuccessful);
});

test('no credential: the certificate identity, unless the configuration requires one', async () => {
  const v = new CredentialVerifier(config, []);
  expect(await v.resolve(vcenter, undefined)).toBe(vcenter);
  expect(await reasonOf(v.resolve({ name: 'netapp', isAdmin: false }, undefined))).toBe(Reason.AuthenticationNotSuccessful);
  expect((await v.resolve({ name: 'netapp', isAdmin: false }, auth(userPass('n1', 'pn')))).name).toBe('netapp/n1');
});

test('a Device credential by serial number, or by Device Identifier when there is no serial', async () => {
  const v = new CredentialVerifier(config, []);
  const device = (fields: [number, string][]) =>
    ttlv.structure(Tag.Credential, [
      ttlv.enumeration(Tag.CredentialType, CredentialType.Device),
      ttlv.structure(Tag.CredentialValue, fields.map(([tag, s]) => ttlv.textString(tag, s))),
    ]);
  expect((await v.resolve(vcenter, auth(device([[Tag.DeviceSerialNumber, 'SN1'], [Tag.Password, 'pd']])))).name).toBe('vcenter/device/SN1');
  expect((await v.resolve(vcenter, auth(device([[Tag.DeviceIdentifier, 'SN1'], [Tag.Password, 'pd']])))).name).toBe('vcenter/device/SN1');
  expect(await reasonOf(v.resolve(vcenter, auth(device([[Tag.DeviceSerialNumber, 'SN1'], [Tag.Password, 'pa']]))))).toBe(Reason.AuthenticationNotSuccessful);
  expect(await reasonOf(v.resolve(vcenter, auth(device([[Tag.Password, 'pd']]))))).toBe(Reason.InvalidField);
});

test('2.x: several credentials, the first Username and Password or Device one counts', async () => {
  const v = new CredentialVerifier(config, []);
  const ticket = ttlv.structure(Tag.Credential, [
    ttlv.enumeration(Tag.CredentialType, CredentialType.Ticket),
    ttlv.structure(Tag.CredentialValue, [ttlv.byteString(Tag.TicketValue, Buffer.from('t'))]),
  ]);
  expect((await v.resolve(vcenter, auth(ticket, userPass('alice', 'pa')))).name).toBe('vcenter/alice');
});

test.each([
  ['plaintext', 'must be'],
  ['scrypt$1000$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==', 'power of two'],
  ['scrypt$1048576$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==', 'MiB'],
  ['scrypt$16384$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA==', 'salt'],
])('hash %s is refused: %s', (text, reason) => {
  expect(parsePasswordHash(text)).toEqual(expect.stringContaining(reason));
});
