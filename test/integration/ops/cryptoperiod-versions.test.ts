/**
 * The cryptoperiod policy in every protocol version, through handleMessage on a real core (SQLite
 * file, SoftHSM2 token): the 2.1 Rotate attributes it stores never reach an older client, in Get
 * Attributes, Get Attribute List, Re-key or Query Defaults Information; each response is checked
 * against the version invariant (nothing newer than the client's version).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { asStructure, children, opt } from '../../../src/kmip/tree';
import { Tag } from '../../../src/spec/generated/tags';
import { ENUM_INFO, ObjectType, Operation, QueryFunction } from '../../../src/spec/generated/enums';
import { createEmbeddedCore, type EmbeddedCore } from '../../../src/embedded';
import { handleMessage, type ServerCore } from '../../../src/server/handle-message';
import { findNewerThan } from '../../../src/kmip/version-filter';
import { SUPPORTED_VERSIONS } from '../../../src/kmip/message';
import { enumValueInVersion } from '../../../src/spec/registry';
import { versionString, type ProtocolVersion } from '../../../src/spec/versions';
import { parseCryptoperiods } from '../../../src/objects/cryptoperiod';
import { openTestProtector } from '../../helpers/hsm';
import { attributesFor, find, parseResponse, requestMessage, successPayload, textOf } from '../../helpers/kmip-client';
import { aesTemplate, alice, ENCRYPT_DECRYPT } from '../../helpers/ops-harness';

jest.setTimeout(120_000);

const DAY = 86400;
let dir: string;
let embedded: EmbeddedCore;
let core: ServerCore;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-cryptoperiod-versions-'));
  const cryptoperiods = parseCryptoperiods([{ match: { objectType: 'Symmetric Key' }, deactivateAfter: 'P1Y', rotateInterval: 'P90D' }], (key, message) => {
    throw new Error(`${key}: ${message}`);
  });
  embedded = await createEmbeddedCore(dir, { keys: await openTestProtector(), cryptoperiods });
  core = embedded.core;
});

afterAll(async () => {
  await embedded?.close();
  await embedded?.core.keys.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function send(v: ProtocolVersion, operation: number, payload: TtlvItem[]) {
  const r = parseResponse(await handleMessage(requestMessage(v, [{ operation, payload }]), { client: alice }, core));
  expect(findNewerThan(r.root, v)).toEqual([]);
  return successPayload(r);
}

/** What a Get Attributes (all) answer holds: 1.x Attribute Names, 2.x the attributes' tags as text. */
function namesIn(payload: TtlvStructure, v: ProtocolVersion): string[] {
  if (v.major < 2) return children(payload, Tag.Attribute).map((c) => textOf(asStructure(c), Tag.AttributeName)!);
  return (opt.structure(payload, Tag.Attributes)?.value ?? []).map((c) => String(c.tag));
}

describe.each(SUPPORTED_VERSIONS.map((v) => [versionString(v), v] as const))('KMIP %s', (_label, v) => {
  const has21 = v.major > 2 || (v.major === 2 && v.minor >= 1);

  it('creates and re-keys under the policy, and shows the Rotate attributes only where the version has them', async () => {
    const created = await send(v, Operation.Create, [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), attributesFor(v, aesTemplate(undefined, ENCRYPT_DECRYPT))]);
    const uid = textOf(created, Tag.UniqueIdentifier)!;
    const all = namesIn(await send(v, Operation.GetAttributes, [ttlv.textString(Tag.UniqueIdentifier, uid)]), v);
    const rotate = v.major < 2 ? all.filter((n) => n.startsWith('Rotate')) : all.filter((n) => n === String(Tag.RotateInterval) || n === String(Tag.RotateAutomatic));
    expect(rotate).toHaveLength(has21 ? 2 : 0);
    expect(all).toContain(v.major < 2 ? 'Deactivation Date' : String(Tag.DeactivationDate));
    const list = await send(v, Operation.GetAttributeList, [ttlv.textString(Tag.UniqueIdentifier, uid)]);
    expect(list.value.length).toBeGreaterThan(0);
    await send(v, Operation.ReKey, [ttlv.textString(Tag.UniqueIdentifier, uid)]);
    // Stored whatever the version, for the scheduler to read.
    const stored = await embedded.store.get(uid);
    expect(stored!.attributes.find((a) => a.name === 'Rotate Interval')?.value.value).toBe(90 * DAY);
  });

  it('answers every Query function the version has', async () => {
    const functions = ENUM_INFO.QueryFunction.values.filter((f) => enumValueInVersion(Tag.QueryFunction, f.value, v)).map((f) => ttlv.enumeration(Tag.QueryFunction, f.value));
    const payload = await send(v, Operation.Query, functions);
    const asked = functions.some((f) => f.value === QueryFunction.QueryDefaultsInformation);
    expect(find(payload, Tag.DefaultsInformation) !== undefined).toBe(asked && has21);
  });
});
