/**
 * Percona Server for MongoDB, KMIP 1.0. real-clients.md: Create (unless a key id is configured)
 * or Get; polls State with Get Attributes; master-key rotation. A server that sent Fresh (a 1.1
 * attribute) to it broke it (Cosmian KMS issue 687): nothing newer than 1.0 may reach it.
 *
 * As its source builds the requests (percona-server-mongodb, src/mongo/db/encryption/
 * kmip_exchange.cpp, on libkmip): the master key is generated locally and *Registered* (Raw, AES,
 * template: algorithm, length, Encrypt|Decrypt), then Activated; each session (register+activate,
 * get+state, state) is one new TLS connection; every header carries Maximum Response Size and a
 * Time Stamp; it checks that each answer names its operation, that Activate echoes the
 * identifier, that Get returns Raw key material without Key Wrapping Data, and that Get Attributes
 * (State) answers with State as its attribute. Item Not Found on Get or Get Attributes means "no
 * such key" to it, any other failure is an error.
 */
import { randomBytes } from 'node:crypto';
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { ResultReason, ResultStatus } from '../../../src/spec/generated/enums';
import { allOf, find } from '../../helpers/kmip-client';
import { bytesOf, keyBlockOf, KeyFormatType, Operation, State, stateOf, uidOf, type Persona, type PersonaSession } from './session';

async function registerMasterKey(s: PersonaSession): Promise<{ uid: string; key: Buffer }> {
  const key = randomBytes(32);
  const uid = uidOf(await s.call(Operation.Register, s.registerSymmetric(key)));
  expect(uidOf(await s.call(Operation.Activate, s.uidPayload(uid)))).toBe(uid);
  return { uid, key };
}

async function getMasterKey(s: PersonaSession, uid: string): Promise<Buffer> {
  const p = await s.call(Operation.Get, s.get(uid));
  expect(uidOf(p)).toBe(uid);
  const kb = keyBlockOf(p, Tag.SymmetricKey);
  expect(kb.format).toBe(KeyFormatType.Raw);
  expect(find(kb.block, Tag.KeyWrappingData)).toBeUndefined();
  return bytesOf(kb.material);
}

async function keyState(s: PersonaSession, uid: string): Promise<number> {
  const p = await s.call(Operation.GetAttributes, s.getAttributes(uid, ['State']));
  expect(uidOf(p)).toBe(uid);
  const attrs = allOf(p, Tag.Attribute);
  expect(attrs).toHaveLength(1);
  return stateOf(s.readAttributes(p));
}

export const perconaMongodb: Persona = {
  client: 'Percona Server for MongoDB',
  version: { major: 1, minor: 0 },
  source: 'real-clients.md and percona-server-mongodb kmip_exchange.cpp',
  connectionPerRequest: true,
  header: () => [ttlv.integer(Tag.MaximumResponseSize, 8192), ttlv.dateTime(Tag.TimeStamp, BigInt(Math.floor(Date.now() / 1000)))],
  flows: [
    {
      name: 'Register and Activate the master key',
      async run({ s, state }) {
        const { uid, key } = await registerMasterKey(s);
        state.set('master', uid);
        state.set('masterHex', key.toString('hex'));
      },
    },
    {
      name: 'Get the configured key id at start-up, then its State',
      async run({ s, state }) {
        const uid = state.get('master')!;
        expect((await getMasterKey(s, uid)).toString('hex')).toBe(state.get('masterHex'));
        expect(await keyState(s, uid)).toBe(State.Active);
      },
    },
    {
      name: 'poll State with Get Attributes: no Fresh',
      async run({ s, state }) {
        const uid = state.get('master')!;
        for (let i = 0; i < 3; i++) expect(await keyState(s, uid)).toBe(State.Active);
        // All attributes, as a 1.0 client would read them: none it does not know (the session
        // checks every answer for tags and values newer than 1.0).
        expect((await s.attributesOf(uid)).map((a) => a.name)).not.toContain('Fresh');
      },
    },
    {
      name: 'an unknown key id: Item Not Found on Get and Get Attributes',
      async run({ s }) {
        for (const [op, payload] of [
          [Operation.Get, s.get('no-such-key')],
          [Operation.GetAttributes, s.getAttributes('no-such-key', ['State'])],
        ] as const) {
          const item = await s.refused(op, payload);
          expect({ op, status: item.status, reason: item.reason }).toEqual({ op, status: ResultStatus.OperationFailed, reason: ResultReason.ItemNotFound });
        }
      },
    },
    {
      name: 'master-key rotation: a new key, the old one still readable',
      async run({ s, state }) {
        const next = await registerMasterKey(s);
        expect(next.uid).not.toBe(state.get('master'));
        expect((await getMasterKey(s, next.uid)).equals(next.key)).toBe(true);
        expect((await getMasterKey(s, state.get('master')!)).toString('hex')).toBe(state.get('masterHex'));
      },
    },
  ],
};
