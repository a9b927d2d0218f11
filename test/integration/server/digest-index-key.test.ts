/**
 * The index key behind the store's Digest indexes (ops/digest-index.ts) is made once, with the KEK
 * or when an older store is converted; a store with objects refuses to start with a token that
 * lacks it, rather than make a new one under which no stored index would match. Through the
 * composition root (prepareDataDir) with a configured PKCS#11 module: a real SoftHSM2 token and a
 * real SQLite file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as pkcs11js from 'pkcs11js';
import { ttlv } from '../../../ttlv/types';
import { encodeTtlv } from '../../../ttlv/encode';
import { Tag } from '../../../src/spec/generated/tags';
import { KeyFormatType, ObjectType, SecretDataType, State } from '../../../src/spec/generated/enums';
import { loadConfig, type ServerConfig } from '../../../src/config';
import { prepareDataDir } from '../../../src/main';
import { KEK_LABEL } from '../../../src/embedded';
import { readPin } from '../../../src/keys/pin';
import { INDEX_KEY_LABEL } from '../../../src/keys/pkcs11-mac-keys';
import { Pkcs11KeyProtector } from '../../../src/keys/pkcs11';
import { SqliteObjectStore } from '../../../src/store/sqlite';
import { withholdDigest } from '../../../src/objects/digest-index';
import { makeTestToken } from '../../helpers/hsm';
import { softHsmProtectorConfig, type SoftHsmToken } from '../../../src/keys/softhsm';
import type { KeyProtectorError } from '../../../src/keys/key-protector';

let dir: string;
let token: SoftHsmToken;
let config: ServerConfig;

beforeAll(async () => {
  token = makeTestToken();
  // A fresh token has no index key, and a protector not allowed to make one refuses to open. It
  // also sets the token's SOFTHSM2_CONF in the process environment, where the configured module
  // below (which names no environment) reads it, whatever another test file left there.
  const err = await Pkcs11KeyProtector.open({ ...softHsmProtectorConfig(token, KEK_LABEL), createIndexKey: false }).then(
    (p) => p.close().then(() => undefined),
    (e: unknown) => e as KeyProtectorError,
  );
  expect(err?.code).toBe('UNKNOWN_KEK');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-index-key-'));
  const configFile = path.join(dir, 'config.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({ listen: '127.0.0.1:0', dataDir: path.join(dir, 'data'), hsm: { module: token.modulePath, tokenLabel: token.tokenLabel, pinFile: token.pinFile, callMode: 'sync' } }),
  );
  config = loadConfig({ configFile });
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Token objects labelled `label`, through a session of our own (no protector is open then); `destroy` removes them. */
function indexKeys(destroy: boolean): number {
  const lib = new pkcs11js.PKCS11();
  lib.load(token.modulePath);
  lib.C_Initialize();
  try {
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trimEnd() === token.tokenLabel);
    if (slot === undefined) throw new Error('test token not found');
    const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    lib.C_Login(session, pkcs11js.CKU_USER, readPin({ file: token.pinFile }));
    lib.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_LABEL, value: INDEX_KEY_LABEL },
      { type: pkcs11js.CKA_TOKEN, value: true },
    ]);
    const found = lib.C_FindObjects(session, 4);
    lib.C_FindObjectsFinal(session);
    if (destroy) for (const h of found) lib.C_DestroyObject(session, h);
    lib.C_Logout(session);
    lib.C_CloseSession(session);
    return found.length;
  } finally {
    lib.C_Finalize();
    lib.close();
  }
}

test('made for a new store; a store with objects and a token without it refuses to start, naming it, and none is made', async () => {
  await prepareDataDir(config);
  expect(indexKeys(false)).toBe(1);

  // One secret object, as Register stores it: its Digest withheld, its index MAC beside it.
  const keys = await Pkcs11KeyProtector.open({ modulePath: token.modulePath, tokenLabel: token.tokenLabel, pin: readPin({ file: token.pinFile }), kekLabel: KEK_LABEL, createIndexKey: false });
  const store = new SqliteObjectStore({ path: config.storePath });
  try {
    const body = ttlv.structure(Tag.SecretData, [
      ttlv.enumeration(Tag.SecretDataType, SecretDataType.Password),
      ttlv.structure(Tag.KeyBlock, [ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Opaque), ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, Buffer.from('s3cret'))])]),
    ]);
    const withheld = await withholdDigest(keys, ObjectType.SecretData, body, []);
    expect(withheld.digestMac).toHaveLength(32);
    await store.insert({ uid: 'pw', objectType: ObjectType.SecretData, state: State.Active, owner: 'alice', ...withheld, protectedMaterial: await keys.protect('pw', encodeTtlv(body)) });
  } finally {
    store.close();
    await keys.close();
  }
  await prepareDataDir(config); // the key is there: starts

  expect(indexKeys(true)).toBe(1);
  const refused = await prepareDataDir(config).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(refused?.message).toContain('the HSM key labelled "kmip-digest-index"');
  expect(refused?.message).toContain(`which token "${token.tokenLabel}" of ${token.modulePath} does not hold`);
  expect(refused?.message.split('\n')).toHaveLength(1);
  expect(indexKeys(false)).toBe(0);
});
