/**
 * NetApp ONTAP NVE/NAE/NSE (version not published; scripted in 1.2): registers its authentication
 * and data keys on the primary server, reads them back; an optional username/password credential
 * travels in the request header. The server takes the identity from the client certificate and
 * does not (yet) check credentials or select a sub-identity by them (issue 13 item 3): the persona
 * asserts only that a request carrying the credential is served as the certificate's identity.
 */
import { randomBytes } from 'node:crypto';
import { Tag } from '../../../src/spec/generated/tags';
import { SecretDataType } from '../../../src/spec/generated/enums';
import { attr, bytesOf, keyBlockOf, Operation, uidOf, uidsOf, usernamePasswordAuthentication, type Persona } from './session';

export const netapp: Persona = {
  client: 'NetApp ONTAP',
  version: { major: 1, minor: 2 },
  source: 'real-clients.md: NetApp ONTAP NVE/NAE/NSE',
  flows: [
    {
      name: 'Register a data key and an authentication key',
      async run({ s, state, runId }) {
        const data = randomBytes(32);
        state.set('data', uidOf(await s.call(Operation.Register, s.registerSymmetric(data, [attr.name(`ontap-${runId}-data`)]))));
        state.set('dataHex', data.toString('hex'));
        const auth = randomBytes(32);
        state.set('auth', uidOf(await s.call(Operation.Register, s.registerSecret(auth, SecretDataType.Password, [attr.name(`ontap-${runId}-auth`)]))));
        state.set('authHex', auth.toString('hex'));
      },
    },
    {
      name: 'Get the keys back (and find them by Name)',
      async run({ s, state, runId }) {
        expect(bytesOf(keyBlockOf(await s.call(Operation.Get, s.get(state.get('data'))), Tag.SymmetricKey).material).toString('hex')).toBe(state.get('dataHex'));
        expect(bytesOf(keyBlockOf(await s.call(Operation.Get, s.get(state.get('auth'))), Tag.SecretData).material).toString('hex')).toBe(state.get('authHex'));
        expect(uidsOf(await s.call(Operation.Locate, s.locate([attr.name(`ontap-${runId}-data`)])))).toEqual([state.get('data')]);
      },
    },
    {
      name: 'a username/password credential in the header is accepted',
      async run({ s, state }) {
        const header = [usernamePasswordAuthentication('ontap-svm1', 'not-a-real-password')];
        const p = await s.call(Operation.Get, s.get(state.get('data')), header);
        expect(bytesOf(keyBlockOf(p, Tag.SymmetricKey).material).toString('hex')).toBe(state.get('dataHex'));
      },
    },
  ],
};
