/**
 * What an administrator does to another identity's object is audited as such: the item's record
 * carries administratorOverride and the objects' owners. Over real TLS with the dev PKI's two
 * certificates (client.pem an ordinary identity, admin.pem the administrator), a real SQLite file
 * and a real SoftHSM2 token.
 */
import fs from 'node:fs';
import { attributeToV1 } from '../../../src/kmip/attributes';
import type { AuditRecord } from '../../../src/audit/audit-log';
import { Tag } from '../../../src/spec/generated/tags';
import { ObjectType, ResultStatus } from '../../../src/spec/generated/enums';
import { ttlv, type TtlvItem } from '../../../ttlv/types';
import { useTestListener } from '../../helpers/test-listener';
import { KmipTlsClient } from '../../helpers/tls-client';
import { Operation, V14, call, createAesPayload, getPayload, uidOf } from '../../helpers/fault-server';
import { attributesFor, find, textOf } from '../../helpers/kmip-client';
import type { BatchItemResponse } from '../../helpers/kmip-client';

const t = useTestListener({ adminIdentities: ['admin'] });

let client: KmipTlsClient;
let admin: KmipTlsClient;

beforeAll(async () => {
  const connect = (cert: string, key: string) =>
    KmipTlsClient.connect({ port: t.listener.address.port, ca: fs.readFileSync(t.pki.caPath), cert: fs.readFileSync(cert), key: fs.readFileSync(key) });
  client = await connect(t.pki.clientCertPath, t.pki.clientKeyPath);
  admin = await connect(t.pki.adminCertPath, t.pki.adminKeyPath);
});

afterAll(() => {
  client.close();
  admin.close();
});

/** Sends one item and returns its answer with the audit record it left (written before the answer). */
async function audited(c: KmipTlsClient, operation: number, payload: TtlvItem[]): Promise<{ item: BatchItemResponse; record: AuditRecord }> {
  const before = t.audit.records.length;
  const item = await call(c, operation, payload);
  const records = t.audit.records.slice(before).filter((r) => r.event === 'operation');
  expect(records).toHaveLength(1);
  return { item, record: records[0]! };
}

const named = (name: string) =>
  createAesPayload(V14, [
    { name: 'Name', value: ttlv.structure(Tag.Name, [ttlv.textString(Tag.NameValue, name), ttlv.enumeration(Tag.NameType, 1)]) },
  ]);
/** A 1.x Locate payload: the Attribute itself, no Template-Attribute around it. */
const byName = (name: string): TtlvItem[] => [
  attributeToV1({ name: 'Name', value: ttlv.structure(Tag.Name, [ttlv.textString(Tag.NameValue, name), ttlv.enumeration(Tag.NameType, 1)]) }),
];

test('the dev certificates are two identities: client.pem an ordinary one, admin.pem the administrator', async () => {
  const mine = await audited(client, Operation.Create, createAesPayload());
  expect(mine.record.client).toBe('client');
  const theirs = await audited(admin, Operation.Create, createAesPayload());
  expect(theirs.record.client).toBe('admin');
  // The ordinary identity cannot reach the administrator's key; the administrator can reach the client's.
  expect((await call(client, Operation.Get, getPayload(uidOf(theirs.item)))).status).toBe(ResultStatus.OperationFailed);
  expect((await call(admin, Operation.Get, getPayload(uidOf(mine.item)))).status).toBe(ResultStatus.Success);
});

test('Get, Destroy and Re-key of a key the client owns, by the administrator: each record says so and names the owner', async () => {
  const uid = uidOf(await call(client, Operation.Create, createAesPayload()));
  const got = await audited(admin, Operation.Get, getPayload(uid));
  expect(got.item.status).toBe(ResultStatus.Success);
  expect(got.record).toMatchObject({ client: 'admin', operation: 'Get', uniqueIdentifiers: [uid], administratorOverride: true, objectOwners: ['client'] });

  successful(await call(client, Operation.Activate, getPayload(uid)));
  const rekeyed = await audited(admin, Operation.ReKey, getPayload(uid));
  expect(rekeyed.item.status).toBe(ResultStatus.Success);
  expect(rekeyed.record).toMatchObject({ client: 'admin', operation: 'Re-key', administratorOverride: true, objectOwners: ['client'] });
  // The replacement stays the owner's, and its owner reaches it.
  const replacement = uidOf(rekeyed.item);
  expect((await t.embedded.store.get(replacement))?.owner).toBe('client');
  successful(await call(client, Operation.Get, getPayload(replacement)));

  const doomed = uidOf(await call(client, Operation.Create, createAesPayload()));
  const destroyed = await audited(admin, Operation.Destroy, getPayload(doomed));
  expect(destroyed.item.status).toBe(ResultStatus.Success);
  expect(destroyed.record).toMatchObject({ client: 'admin', operation: 'Destroy', uniqueIdentifiers: [doomed], administratorOverride: true, objectOwners: ['client'] });
});

test('Export of the client\'s key and a Locate that returns it are flagged; Export and Locate of the administrator\'s own are not', async () => {
  const theirs = uidOf(await call(client, Operation.Create, named('audit-theirs')));
  const own = uidOf(await call(admin, Operation.Create, named('audit-own')));

  const exported = await audited(admin, Operation.Export, getPayload(theirs));
  expect(exported.item.status).toBe(ResultStatus.Success);
  expect(exported.record).toMatchObject({ administratorOverride: true, objectOwners: ['client'] });
  const exportedOwn = await audited(admin, Operation.Export, getPayload(own));
  expect(exportedOwn.item.status).toBe(ResultStatus.Success);
  expect(exportedOwn.record.administratorOverride).toBeUndefined();
  expect(exportedOwn.record.objectOwners).toBeUndefined();

  const located = await audited(admin, Operation.Locate, byName('audit-theirs'));
  expect(textOf(located.item.payload!, Tag.UniqueIdentifier)).toBe(theirs);
  expect(located.record).toMatchObject({ administratorOverride: true, objectOwners: ['client'] });
  const locatedOwn = await audited(admin, Operation.Locate, byName('audit-own'));
  expect(textOf(locatedOwn.item.payload!, Tag.UniqueIdentifier)).toBe(own);
  expect(locatedOwn.record.administratorOverride).toBeUndefined();
});

test('Import over the client\'s object is flagged', async () => {
  const uid = uidOf(await call(client, Operation.Create, createAesPayload()));
  const exported = await call(admin, Operation.Export, getPayload(uid));
  const body = find(exported.payload!, Tag.SymmetricKey)!;
  const replaced = await audited(admin, Operation.Import, [
    ttlv.textString(Tag.UniqueIdentifier, uid),
    ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    ttlv.boolean(Tag.ReplaceExisting, true),
    attributesFor(V14, []),
    body,
  ]);
  expect(replaced.item.status).toBe(ResultStatus.Success);
  expect(replaced.record).toMatchObject({ operation: 'Import', administratorOverride: true, objectOwners: ['client'] });
  // Import keeps the object its owner's.
  expect((await t.embedded.store.get(uid))?.owner).toBe('client');
});

test('the administrator on its own key and the client on its own key: no flag', async () => {
  const own = uidOf(await call(admin, Operation.Create, createAesPayload()));
  const adminGet = await audited(admin, Operation.Get, getPayload(own));
  expect(adminGet.item.status).toBe(ResultStatus.Success);
  expect(adminGet.record.administratorOverride).toBeUndefined();
  expect(adminGet.record.objectOwners).toBeUndefined();
  const adminDestroy = await audited(admin, Operation.Destroy, getPayload(own));
  expect(adminDestroy.item.status).toBe(ResultStatus.Success);
  expect(adminDestroy.record.administratorOverride).toBeUndefined();

  const mine = uidOf(await call(client, Operation.Create, createAesPayload()));
  const clientGet = await audited(client, Operation.Get, getPayload(mine));
  expect(clientGet.item.status).toBe(ResultStatus.Success);
  expect(clientGet.record.administratorOverride).toBeUndefined();
  expect(clientGet.record.objectOwners).toBeUndefined();
  const clientLocate = await audited(client, Operation.Locate, []);
  expect(clientLocate.item.status).toBe(ResultStatus.Success);
  expect(clientLocate.record.administratorOverride).toBeUndefined();
  // Refused, the ordinary identity's attempt on another's key carries no flag either.
  const refused = await audited(client, Operation.Get, getPayload(own));
  expect(refused.item.status).toBe(ResultStatus.OperationFailed);
  expect(refused.record.administratorOverride).toBeUndefined();
});

function successful(item: BatchItemResponse): void {
  expect([item.status, item.message]).toEqual([ResultStatus.Success, undefined]);
}
