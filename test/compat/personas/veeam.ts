/**
 * Veeam Backup & Replication 12, KMIP 1.4: Locate, Get (Public Key), Create Key Pair RSA-2048,
 * Activate, Get (Private Key), Destroy. Its parser rejects anything but Key Material inside a Key
 * Value ("Unexpected Tag"), so attributes must not travel there. It needs TLS session resumption.
 */
import tls from 'node:tls';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { ttlv, type TtlvItem } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { attributeToV1, type KmipAttribute } from '../../../src/kmip/attributes';
import { find, requestMessage } from '../../helpers/kmip-client';
import { attr, bytesOf, CryptographicAlgorithm, CryptographicUsageMask, keyBlockOf, KeyFormatType, ObjectType, Operation, State, stateOf, uidOf, uidsOf, type Persona, type PersonaSession } from './session';

function template(tag: number, attrs: readonly KmipAttribute[]): TtlvItem {
  return ttlv.structure(tag, attrs.map((a) => attributeToV1(a)));
}

function createKeyPair(name: string): TtlvItem[] {
  return [
    template(Tag.CommonTemplateAttribute, [attr.algorithm(CryptographicAlgorithm.RSA), attr.length(2048)]),
    template(Tag.PrivateKeyTemplateAttribute, [attr.name(`${name}-private`), attr.usage(CryptographicUsageMask.Decrypt | CryptographicUsageMask.Sign)]),
    template(Tag.PublicKeyTemplateAttribute, [attr.name(`${name}-public`), attr.usage(CryptographicUsageMask.Encrypt | CryptographicUsageMask.Verify)]),
  ];
}

function keyPairOf(p: { value: TtlvItem[] }): { priv: string; pub: string } {
  const priv = p.value.find((c) => c.tag === Tag.PrivateKeyUniqueIdentifier);
  const pub = p.value.find((c) => c.tag === Tag.PublicKeyUniqueIdentifier);
  if (priv?.value === undefined || pub?.value === undefined) throw new Error('Create Key Pair answered without both identifiers');
  return { priv: String(priv.value), pub: String(pub.value) };
}

/** Veeam's rule: a Key Value holds Key Material and nothing else. */
async function getKeyValueOnlyMaterial(s: PersonaSession, uid: string, objectTag: number): Promise<{ der: Buffer; format: number }> {
  const kb = keyBlockOf(await s.call(Operation.Get, s.get(uid)), objectTag);
  const kv = find(kb.block, Tag.KeyValue) as { value: TtlvItem[] };
  expect(kv.value.map((c) => c.tag)).toEqual([Tag.KeyMaterial]);
  expect([KeyFormatType.PKCS_1, KeyFormatType.PKCS_8, KeyFormatType.X_509]).toContain(kb.format);
  return { der: bytesOf(kb.material), format: kb.format };
}

function derFormat(format: number, kind: 'public' | 'private'): 'pkcs1' | 'pkcs8' | 'spki' {
  if (format === KeyFormatType.PKCS_1) return 'pkcs1';
  return kind === 'public' ? 'spki' : 'pkcs8';
}

export const veeam: Persona = {
  client: 'Veeam Backup & Replication',
  version: { major: 1, minor: 4 },
  source: 'real-clients.md: Veeam Backup & Replication 12',
  flows: [
    {
      name: 'Create Key Pair RSA-2048',
      async run({ s, state, runId }) {
        const name = `veeam-${runId}`;
        const pair = keyPairOf(await s.call(Operation.CreateKeyPair, createKeyPair(name)));
        expect(pair.priv).not.toBe(pair.pub);
        state.set('name', name);
        state.set('priv', pair.priv);
        state.set('pub', pair.pub);
      },
    },
    {
      name: 'Activate',
      async run({ s, state }) {
        for (const uid of [state.get('priv')!, state.get('pub')!]) {
          await s.call(Operation.Activate, s.uidPayload(uid));
          expect(stateOf(await s.attributesOf(uid, ['State']))).toBe(State.Active);
        }
      },
    },
    {
      name: 'Locate the public key, Get it: Key Value holds only Key Material',
      async run({ s, state }) {
        const found = uidsOf(await s.call(Operation.Locate, s.locate([attr.name(`${state.get('name')}-public`), attr.objectType(ObjectType.PublicKey)])));
        expect(found).toEqual([state.get('pub')]);
        const { der, format } = await getKeyValueOnlyMaterial(s, found[0]!, Tag.PublicKey);
        const key = createPublicKey({ key: der, format: 'der', type: derFormat(format, 'public') as 'pkcs1' | 'spki' });
        expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
      },
    },
    {
      name: 'Get the private key: Key Value holds only Key Material',
      async run({ s, state }) {
        const { der, format } = await getKeyValueOnlyMaterial(s, state.get('priv')!, Tag.PrivateKey);
        const key = createPrivateKey({ key: der, format: 'der', type: derFormat(format, 'private') as 'pkcs1' | 'pkcs8' });
        expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
      },
    },
    {
      name: 'Destroy an unused key pair',
      async run({ s, state }) {
        const spare = keyPairOf(await s.call(Operation.CreateKeyPair, createKeyPair(`${state.get('name')}-spare`)));
        for (const uid of [spare.priv, spare.pub]) {
          expect(uidOf(await s.call(Operation.Destroy, s.uidPayload(uid)))).toBe(uid);
          await s.refused(Operation.Get, s.get(uid));
        }
      },
    },
    {
      name: 'TLS session resumption (TLS 1.2 and 1.3)',
      async run({ tlsMaterial }) {
        const m = tlsMaterial();
        // Resolves once the handshake is done, a KMIP round trip has been made (TLS 1.3 tickets
        // follow the handshake and are read with the answer) and the session is in.
        const ping = requestMessage({ major: 1, minor: 4 }, [{ operation: Operation.DiscoverVersions, payload: [] }]);
        const connect = (maxVersion: tls.SecureVersion, session?: Buffer) =>
          new Promise<{ reused: boolean; session: Buffer | undefined }>((resolve, reject) => {
            const sock = tls.connect({ host: '127.0.0.1', port: m.port, servername: 'localhost', ca: m.ca, cert: m.cert, key: m.key, session, maxVersion });
            const timer = setTimeout(() => {
              sock.destroy();
              reject(new Error(`${maxVersion}: no session${session ? ' resumed' : ''} and answer within 30 s`));
            }, 30_000); // a bound on a hang, generous for a loaded machine
            let reused: boolean | undefined;
            let ticket: Buffer | undefined;
            let answered = false;
            const done = () => {
              // A resumed TLS 1.2 session brings no new session to keep; only a first one must.
              if (reused === undefined || (session === undefined && ticket === undefined) || !answered) return;
              clearTimeout(timer);
              sock.end();
              resolve({ reused, session: ticket });
            };
            sock.once('secureConnect', () => {
              reused = sock.isSessionReused();
              sock.write(ping);
              done();
            });
            sock.on('session', (t: Buffer) => {
              ticket ??= t;
              done();
            });
            sock.on('data', () => {
              answered = true;
              done();
            });
            sock.once('error', (e) => {
              clearTimeout(timer);
              reject(e);
            });
          });
        for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
          const first = await connect(version);
          expect(first.reused).toBe(false);
          const second = await connect(version, first.session!);
          expect({ version, reused: second.reused }).toEqual({ version, reused: true });
        }
      },
    },
  ],
};
