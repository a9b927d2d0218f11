/**
 * The grants port on both store engines: grant, merge, revoke some or all, found by identity or
 * group, seen at once by another connection to the same store (the server while `kmip-server grant`
 * writes, or another node), and Locate's reach (own objects, granted identifiers, Object Groups,
 * Operation Policy Names) as one query.
 */
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { requireEnvironment } from '../../helpers/environment';
import { STORE_ENGINES, stopTestPostgres, type Engine, type EngineStore } from '../../helpers/store-engines';

afterAll(() => stopTestPostgres());

for (const [label, make, missing] of STORE_ENGINES) {
  requireEnvironment(label, missing).describe(`grants on ${label}`, () => {
    let engine: Engine;
    let a: EngineStore;
    let b: EngineStore;
    beforeEach(async () => {
      engine = await make();
      a = await engine.open();
      b = await engine.open();
    });
    afterEach(async () => engine.cleanup());

    test('grants merge, revoke in part or whole, and another connection sees each change at its next read', async () => {
      const target = { objectUid: 'u1' };
      const to = { identity: 'app' };
      expect(await a.grants().grantsTo('app', [])).toEqual([]);
      await b.grants().grant({ target, to, operations: ['Get'], by: 'op' });
      const merged = await b.grants().grant({ target, to, operations: ['Locate', 'Get'], by: 'op' });
      expect(merged.operations).toEqual(['Get', 'Locate']);
      expect((await a.grants().grantsTo('app', [])).map((g) => g.operations)).toEqual([['Get', 'Locate']]);
      expect((await b.grants().revoke({ target, to, operations: ['Get'], by: 'op' }))?.operations).toEqual(['Locate']);
      expect((await a.grants().grantsTo('app', [])).map((g) => g.operations)).toEqual([['Locate']]);
      expect(await b.grants().revoke({ target, to, operations: [], by: 'op' })).toBeUndefined();
      expect(await a.grants().grantsTo('app', [])).toEqual([]);
      expect(await b.grants().list()).toEqual([]);
    });

    test('grants to a group reach its members only; one row per target and grantee', async () => {
      await b.grants().grant({ target: { objectGroup: 'ledger' }, to: { group: 'db' }, operations: ['Get'], by: 'op' });
      await b.grants().grant({ target: { objectGroup: 'ledger' }, to: { identity: 'db' }, operations: ['Destroy'], by: 'op' });
      expect((await a.grants().grantsTo('x', ['db'])).map((g) => [g.to, g.operations])).toEqual([[{ group: 'db' }, ['Get']]]);
      expect((await a.grants().grantsTo('db', [])).map((g) => [g.to, g.operations])).toEqual([[{ identity: 'db' }, ['Destroy']]]);
      expect(await b.grants().list()).toHaveLength(2);
    });

    test("Locate's reach: own objects, granted identifiers, Object Groups and Operation Policy Names, nothing else", async () => {
      const object = (uid: string, owner: string, attrs: { name: string; value: ReturnType<typeof ttlv.textString> }[] = []) =>
        a.insert({ uid, objectType: 2, state: 1, owner, attributes: attrs.map((a) => ({ ...a, index: 0 })), protectedMaterial: null });
      await object('mine', 'me');
      await object('theirs', 'them');
      await object('granted', 'them');
      await object('grouped', 'them', [{ name: 'Object Group', value: ttlv.textString(Tag.ObjectGroup, 'ledger') }]);
      await object('policied', 'them', [{ name: 'Operation Policy Name', value: ttlv.textString(Tag.OperationPolicyName, 'shared') }]);
      const reach = { owner: 'me', uids: ['granted'], objectGroups: ['ledger'], policyNames: ['shared'] };
      expect((await a.locate({ conditions: [], reach, order: 'oldest' }))).toEqual(['mine', 'granted', 'grouped', 'policied']);
      expect(await a.locate({ conditions: [], reach: { owner: 'me', uids: [], objectGroups: [], policyNames: [] } })).toEqual(['mine']);
    });
  });
}
