/**
 * FortiGate / FortiOS 7.4-7.6 (KMIP 1.x; the exact minor version is not published, scripted in
 * 1.2): finds its IPsec encryption and authentication keys by Locate on Name only, expecting
 * exactly one match per name, then Gets them. A server that returned the same identifier for
 * every name broke IPsec.
 */
import { randomBytes } from 'node:crypto';
import { Tag } from '../../../src/spec/generated/tags';
import { find } from '../../helpers/kmip-client';
import { attr, bytesOf, CryptographicAlgorithm, CryptographicUsageMask, keyBlockOf, Operation, uidOf, uidsOf, type Persona } from './session';

const TUNNELS = ['tunnel-1-enc', 'tunnel-1-auth', 'tunnel-2-enc', 'tunnel-2-auth'];

/** An encryption key is AES-256; an authentication key HMAC-SHA256 (256 bits). */
function keyKind(tunnel: string): { usage: number; algorithm: number } {
  return tunnel.endsWith('-auth')
    ? { usage: CryptographicUsageMask.MACGenerate | CryptographicUsageMask.MACVerify, algorithm: CryptographicAlgorithm.HMAC_SHA256 }
    : { usage: CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt, algorithm: CryptographicAlgorithm.AES };
}

export const fortigate: Persona = {
  client: 'FortiGate',
  version: { major: 1, minor: 2 },
  source: 'real-clients.md: FortiGate / FortiOS 7.4-7.6',
  flows: [
    {
      name: 'IPsec keys registered under distinct names',
      async run({ s, state, runId }) {
        for (const t of TUNNELS) {
          const key = randomBytes(32);
          const kind = keyKind(t);
          const uid = uidOf(await s.call(Operation.Register, s.registerSymmetric(key, [attr.name(`fgt-${runId}-${t}`)], kind.usage, kind.algorithm)));
          await s.call(Operation.Activate, s.uidPayload(uid));
          state.set(t, uid);
          state.set(`${t}-hex`, key.toString('hex'));
        }
      },
    },
    {
      name: 'Locate by Name: exactly one match per name, distinct identifiers',
      async run({ s, state, runId }) {
        const seen = new Set<string>();
        for (const t of TUNNELS) {
          const found = uidsOf(await s.call(Operation.Locate, s.locate([attr.name(`fgt-${runId}-${t}`)])));
          expect({ name: t, found }).toEqual({ name: t, found: [state.get(t)] });
          seen.add(found[0]!);
        }
        expect(seen.size).toBe(TUNNELS.length);
      },
    },
    {
      name: 'Get each key',
      async run({ s, state }) {
        for (const t of TUNNELS) {
          const kb = keyBlockOf(await s.call(Operation.Get, s.get(state.get(t))), Tag.SymmetricKey);
          expect(bytesOf(kb.material).toString('hex')).toBe(state.get(`${t}-hex`));
          expect(find(kb.block, Tag.CryptographicAlgorithm)).toMatchObject({ value: keyKind(t).algorithm });
        }
      },
    },
  ],
};
