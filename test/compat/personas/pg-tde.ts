/**
 * Percona libkmip, as Percona Server for MySQL and PostgreSQL pg_tde use it: KMIP 1.4 by default.
 * Create AES, Register a key or a secret, Get, Get Attribute List, Get Attributes, Locate by Name
 * or Object Group with Offset Items / Maximum Items paging (it enumerates every key into a
 * cache), Activate, Revoke, Destroy, Discover Versions, Query; two-item Get + Get Attributes
 * batches; Destroy of a Pre-Active key without Revoke. It assumes exactly one object per Name.
 *
 * Encodings as Percona's libkmip (kmipcore) builds them: Locate always carries Object Type plus
 * Name or Object Group, and Maximum Items / Offset Items only when non-zero; a secret is
 * registered with usage mask Derive Key | Export (also in 2.0, where Export is reserved); in 2.0
 * Get Attributes names each attribute as an Attribute Reference *Structure* wrapping the
 * Attribute Reference enumeration (or an Attribute Name for others), and Get Attribute List is
 * read as Attribute References.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { ItemType } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { CryptographicUsageMask, QueryFunction, ResultStatus, SecretDataType } from '../../../src/spec/generated/enums';
import { ttlv, type TtlvItem } from '../../../ttlv/types';
import { allOf, find } from '../../helpers/kmip-client';
import { attr, bytesOf, CryptographicAlgorithm, keyBlockOf, KeyFormatType, namesOf, ObjectType, Operation, State, stateOf, uidOf, uidsOf, type Persona } from './session';

const V1_4 = { major: 1, minor: 4 };
const V2_0 = { major: 2, minor: 0 };
const V1_0 = { major: 1, minor: 0 };
const PAGE = 3;
const SECRET_MASK = CryptographicUsageMask.DeriveKey | CryptographicUsageMask.Export;

/** libkmip's 2.0 Get Attributes selector: a Structure around the Attribute Reference enumeration. */
function wrappedReference(tag: number): TtlvItem {
  return ttlv.structure(Tag.AttributeReference, [ttlv.enumeration(Tag.AttributeReference, tag)]);
}

export const pgTde: Persona = {
  client: 'Percona pg_tde (libkmip)',
  version: V1_4,
  source: 'real-clients.md: Percona Server for MySQL, PostgreSQL pg_tde (Percona libkmip)',
  flows: [
    {
      name: 'Discover Versions and Query',
      async run({ s }) {
        const dv = await s.call(Operation.DiscoverVersions, s.discoverVersions([V1_4]));
        expect(allOf(dv, Tag.ProtocolVersion)).toHaveLength(1);
        const q = await s.call(Operation.Query, [
          ttlv.enumeration(Tag.QueryFunction, QueryFunction.QueryOperations),
          ttlv.enumeration(Tag.QueryFunction, QueryFunction.QueryObjects),
        ]);
        const ops = allOf(q, Tag.Operation).map((o) => (o as { value: number }).value);
        for (const op of [Operation.Create, Operation.Register, Operation.Get, Operation.GetAttributes, Operation.GetAttributeList, Operation.Locate, Operation.Activate, Operation.Revoke, Operation.Destroy]) {
          expect(ops).toContain(op);
        }
        const objects = allOf(q, Tag.ObjectType).map((o) => (o as { value: number }).value);
        expect(objects).toEqual(expect.arrayContaining([ObjectType.SymmetricKey, ObjectType.SecretData]));
      },
    },
    {
      name: 'Create AES-256 principal key with Name and Object Group',
      async run({ s, state, runId }) {
        const group = `pg_tde-${runId}`;
        const name = `${group}-principal`;
        const uid = uidOf(await s.call(Operation.Create, s.createSymmetric(256, [attr.name(name), attr.objectGroup(group)])));
        state.set('group', group);
        state.set('principal', uid);
        state.set('principalName', name);
      },
    },
    {
      name: 'Register a key and a secret',
      async run({ s, state }) {
        const group = state.get('group')!;
        const key = randomBytes(32);
        const keyUid = uidOf(await s.call(Operation.Register, s.registerSymmetric(key, [attr.name(`${group}-registered`), attr.objectGroup(group)])));
        const secret = randomBytes(32);
        const secretUid = uidOf(await s.call(Operation.Register, s.registerSecret(secret, SecretDataType.Password, [attr.name(`${group}-secret`), attr.objectGroup(group)], SECRET_MASK)));
        state.set('registered', keyUid);
        state.set('registeredHex', key.toString('hex'));
        state.set('secret', secretUid);
      },
    },
    {
      name: 'Register an RSA key pair (PKCS#8 private key, X.509 public key), Get them back',
      async run({ s, state }) {
        // libkmip's RegisterKeyRequest labels a private key PKCS#8 and a public key X.509
        // (SubjectPublicKeyInfo DER), with Name, Object Group, algorithm and length.
        const group = state.get('group')!;
        const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
        const pairs = [
          { tag: Tag.PrivateKey, type: ObjectType.PrivateKey, format: KeyFormatType.PKCS_8, der: privateKey.export({ type: 'pkcs8', format: 'der' }) },
          { tag: Tag.PublicKey, type: ObjectType.PublicKey, format: KeyFormatType.X_509, der: publicKey.export({ type: 'spki', format: 'der' }) },
        ];
        for (const k of pairs) {
          const uid = uidOf(
            await s.call(Operation.Register, [
              ttlv.enumeration(Tag.ObjectType, k.type),
              s.attributes([attr.name(`${group}-rsa-${k.type}`), attr.objectGroup(group), attr.algorithm(CryptographicAlgorithm.RSA), attr.length(2048)]),
              ttlv.structure(k.tag, [
                ttlv.structure(Tag.KeyBlock, [
                  ttlv.enumeration(Tag.KeyFormatType, k.format),
                  ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, k.der)]),
                  ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.RSA),
                  ttlv.integer(Tag.CryptographicLength, 2048),
                ]),
              ]),
            ]),
          );
          const kb = keyBlockOf(await s.call(Operation.Get, s.get(uid)), k.tag);
          expect(kb.format).toBe(k.format);
          expect(bytesOf(kb.material).equals(k.der)).toBe(true);
        }
      },
    },
    {
      name: 'Locate by Name: exactly one',
      async run({ s, state }) {
        const found = uidsOf(await s.call(Operation.Locate, s.locate([attr.objectType(ObjectType.SymmetricKey), attr.name(state.get('principalName')!)])));
        expect(found).toEqual([state.get('principal')]);
        const secret = uidsOf(await s.call(Operation.Locate, s.locate([attr.objectType(ObjectType.SecretData), attr.name(`${state.get('group')}-secret`)])));
        expect(secret).toEqual([state.get('secret')]);
      },
    },
    {
      name: 'Locate by Object Group, paged with Offset Items / Maximum Items',
      async run({ s, state }) {
        const group = state.get('group')!;
        for (let i = 0; i < 4; i++) await s.call(Operation.Create, s.createSymmetric(256, [attr.name(`${group}-extra-${i}`), attr.objectGroup(group)]));
        const total = 6; // symmetric keys: principal, registered, four extra (the secret is another Object Type)
        const seen: string[] = [];
        for (let offset = 0; ; offset += PAGE) {
          // libkmip leaves Offset Items out when it is 0.
          const paging = offset === 0 ? { maximum: PAGE } : { maximum: PAGE, offset };
          const p = await s.call(Operation.Locate, s.locate([attr.objectType(ObjectType.SymmetricKey), attr.objectGroup(group)], paging));
          // 1.3 on: Located Items gives the whole count, so the client knows when its cache is full.
          expect(find(p, Tag.LocatedItems)).toMatchObject({ type: ItemType.Integer, value: total });
          const page = uidsOf(p);
          expect(page.length).toBe(Math.min(PAGE, Math.max(0, total - offset)));
          if (page.length === 0) break;
          seen.push(...page);
        }
        expect(new Set(seen).size).toBe(total);
        expect(seen).toEqual(expect.arrayContaining([state.get('principal'), state.get('registered')]));
        expect(seen).not.toContain(state.get('secret'));
      },
    },
    {
      name: 'enumerate every key into the cache: Locate by Object Type, paged',
      async run({ s, state }) {
        const seen: string[] = [];
        let total = -1;
        for (let offset = 0; offset <= 1000; offset += PAGE) {
          const p = await s.call(Operation.Locate, s.locate([attr.objectType(ObjectType.SymmetricKey)], offset === 0 ? { maximum: PAGE } : { maximum: PAGE, offset }));
          const count = find(p, Tag.LocatedItems);
          if (count?.type !== ItemType.Integer) throw new Error('Locate answered without Located Items');
          if (total === -1) total = count.value;
          expect(count.value).toBe(total);
          const page = uidsOf(p);
          if (page.length === 0) break;
          seen.push(...page);
        }
        expect(seen).toHaveLength(total);
        expect(new Set(seen).size).toBe(total);
        expect(seen).toEqual(expect.arrayContaining([state.get('principal'), state.get('registered')]));
      },
    },
    {
      name: "kmip_bio_locate's Locate: a 1.0 header with Maximum Items and Offset Items",
      version: V1_0,
      async run({ session, state }) {
        // libkmip's kmip_bio_locate always speaks 1.0, yet pages with Offset Items (a 1.3 field);
        // pg_tde's key lookup takes the first page and refuses more than one match per name, and
        // kmippp's loop pages on until it has Located Items ids, or an empty page when a 1.0
        // answer (rightly) carries no Located Items.
        const s10 = session(V1_0);
        const byName = uidsOf(await s10.call(Operation.Locate, s10.locate([attr.objectType(ObjectType.SymmetricKey), attr.name(state.get('principalName')!)], { maximum: 16, offset: 0 })));
        expect(byName).toEqual([state.get('principal')]);
        const group = state.get('group')!;
        const ids: string[] = [];
        let all = 1;
        for (let upto = 0, pages = 0; upto < all && pages < 100; pages++) {
          const p = await s10.call(Operation.Locate, s10.locate([attr.objectType(ObjectType.SymmetricKey), attr.objectGroup(group)], { maximum: 2, offset: upto }));
          const page = uidsOf(p);
          const located = find(p, Tag.LocatedItems);
          if (located?.type === ItemType.Integer && located.value !== 0) all = located.value;
          else all += page.length - (page.length === 0 ? 1 : 0);
          ids.push(...page);
          upto += page.length;
        }
        expect(new Set(ids).size).toBe(ids.length);
        expect(ids).toEqual(expect.arrayContaining([state.get('principal'), state.get('registered')]));
        expect(ids).toHaveLength(6);
      },
    },
    {
      name: 'two-item batch: Get + Get Attributes',
      async run({ s, state }) {
        const uid = state.get('registered')!;
        const r = await s.send([
          { operation: Operation.Get, payload: s.get(uid) },
          { operation: Operation.GetAttributes, payload: s.getAttributes(uid, ['Name', 'State', 'Object Group']) },
        ]);
        expect(r.items.map((i) => [i.operation, i.status])).toEqual([
          [Operation.Get, ResultStatus.Success],
          [Operation.GetAttributes, ResultStatus.Success],
        ]);
        expect(bytesOf(keyBlockOf(r.items[0]!.payload!, Tag.SymmetricKey).material).toString('hex')).toBe(state.get('registeredHex'));
        const attrs = s.readAttributes(r.items[1]!.payload!);
        expect(namesOf(attrs)).toEqual([`${state.get('group')}-registered`]);
        expect(stateOf(attrs)).toBe(State.PreActive);
      },
    },
    {
      name: 'Get Attribute List',
      async run({ s, state }) {
        const p = await s.call(Operation.GetAttributeList, s.uidPayload(state.get('principal')!));
        expect(uidOf(p)).toBe(state.get('principal'));
        const names = allOf(p, Tag.AttributeName).map((n) => (n as { value: string }).value);
        expect(names).toEqual(expect.arrayContaining(['Unique Identifier', 'Name', 'Object Group', 'State', 'Cryptographic Algorithm', 'Cryptographic Length']));
      },
    },
    {
      name: 'Activate, Revoke, Destroy',
      async run({ s, state }) {
        const uid = state.get('principal')!;
        await s.call(Operation.Activate, s.uidPayload(uid));
        expect(stateOf(await s.attributesOf(uid, ['State']))).toBe(State.Active);
        await s.call(Operation.Revoke, s.revoke(uid));
        expect(uidOf(await s.call(Operation.Destroy, s.uidPayload(uid)))).toBe(uid);
        await s.refused(Operation.Get, s.get(uid));
      },
    },
    {
      name: 'Destroy a Pre-Active key without Revoke',
      async run({ s, state }) {
        const uid = state.get('registered')!;
        expect(stateOf(await s.attributesOf(uid, ['State']))).toBe(State.PreActive);
        expect(uidOf(await s.call(Operation.Destroy, s.uidPayload(uid)))).toBe(uid);
        await s.refused(Operation.Get, s.get(uid));
      },
    },
    {
      name: 'KMIP 2.0 mode: Create, Register a secret, Locate',
      version: V2_0,
      async run({ session, state }) {
        const s2 = session(V2_0);
        const group = state.get('group')!;
        const uid = uidOf(await s2.call(Operation.Create, s2.createSymmetric(256, [attr.name(`${group}-v2`), attr.objectGroup(group)])));
        const secret = uidOf(await s2.call(Operation.Register, s2.registerSecret(randomBytes(32), SecretDataType.Password, [attr.name(`${group}-v2-secret`), attr.objectGroup(group)], SECRET_MASK)));
        expect(uidsOf(await s2.call(Operation.Locate, s2.locate([attr.objectType(ObjectType.SymmetricKey), attr.name(`${group}-v2`)])))).toEqual([uid]);
        expect(uidsOf(await s2.call(Operation.Locate, s2.locate([attr.objectType(ObjectType.SecretData), attr.name(`${group}-v2-secret`)])))).toEqual([secret]);
        state.set('v2', uid);
      },
    },
    {
      name: 'KMIP 2.0 mode: Get Attribute List as Attribute References',
      version: V2_0,
      async run({ session, state }) {
        const s2 = session(V2_0);
        const uid = state.get('v2')!;
        const p = await s2.call(Operation.GetAttributeList, s2.uidPayload(uid));
        expect(uidOf(p)).toBe(uid);
        const refs = p.value.filter((c) => c.tag !== Tag.UniqueIdentifier);
        expect(refs.every((c) => c.tag === Tag.AttributeReference)).toBe(true);
        const tags = refs.filter((c) => c.type === ItemType.Enumeration).map((c) => c.value as number);
        expect(tags).toEqual(expect.arrayContaining([Tag.Name, Tag.ObjectGroup, Tag.State, Tag.CryptographicAlgorithm, Tag.CryptographicLength]));
      },
    },
    {
      name: 'KMIP 2.0 mode: Get Attributes with wrapped Attribute References',
      version: V2_0,
      async run({ session, state }) {
        const s2 = session(V2_0);
        const uid = state.get('v2')!;
        const p = await s2.call(Operation.GetAttributes, [
          ttlv.textString(Tag.UniqueIdentifier, uid),
          wrappedReference(Tag.Name),
          wrappedReference(Tag.State),
          wrappedReference(Tag.ObjectGroup),
        ]);
        const attrs = s2.readAttributes(p);
        expect(attrs.map((a) => a.name).sort()).toEqual(['Name', 'Object Group', 'State']);
        expect(namesOf(attrs)).toEqual([`${state.get('group')}-v2`]);
        expect(stateOf(attrs)).toBe(State.PreActive);
      },
    },
  ],
};
