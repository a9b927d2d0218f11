/**
 * The HSM goes away under a running server (real SoftHSM2 token in a temp dir, real SQLite file,
 * real mTLS): requests that need it answer Cryptographic Failure with a clear message, nothing is
 * written to the store, requests that do not need it are still served, and once the token is back
 * the server carries on without a restart (sessions reopened, login redone, the same KEK found).
 * Start-up faults (wrong module, missing token, wrong PIN) are in cli.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as pkcs11js from 'pkcs11js';
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { Pkcs11KeyProtector } from '../../../src/keys/pkcs11';
import { ensureSoftHsmToken, softHsmProtectorConfig } from '../../../src/keys/softhsm';
import { KEK_LABEL } from '../../../src/embedded';
import { ResultReason, ResultStatus } from '../../../src/spec/generated/enums';
import { makeTestToken, type TestToken } from '../../helpers/softhsm';
import type { KmipTlsClient } from '../../helpers/tls-client';
import type { BatchItemResponse } from '../../helpers/kmip-client';
import {
  Operation,
  call,
  createAesPayload,
  getPayload,
  inspectStore,
  keyMaterialOf,
  startFaultServer,
  uidOf,
  type FaultServer,
} from '../../helpers/fault-server';
import { waitFor } from '../../helpers/wait';

let dir: string;
let token: TestToken;
let pin: string;
let keys: Pkcs11KeyProtector;
let server: FaultServer;
let client: KmipTlsClient;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-hsm-faults-'));
  token = makeTestToken('kmip-hsm-faults');
  // No delay between reconnection attempts: every request made while the token is away or replaced
  // really tries it (the interval itself is pkcs11.test.ts's matter), and recovery needs no waiting.
  const config = softHsmProtectorConfig(token, KEK_LABEL, { reconnectIntervalMs: 0 });
  pin = config.pin;
  keys = await Pkcs11KeyProtector.open(config);
  server = await startFaultServer({ pkiDir: path.join(dir, 'pki'), dataDir: path.join(dir, 'data'), keys });
  client = await server.connect();
});

afterAll(async () => {
  client?.close();
  await server?.close();
  await keys?.close();
  token?.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function create(): Promise<BatchItemResponse> {
  return call(client, Operation.Create, createAesPayload());
}

async function createKey(): Promise<{ uid: string; material: Buffer }> {
  const uid = uidOf(await create());
  const material = keyMaterialOf(await call(client, Operation.Get, getPayload(uid)));
  // The first Get clears Fresh after its answer (a deferred write): let it land before the store is compared.
  await server.embedded.store.settled();
  return { uid, material };
}

/** Answers to everything that needs the HSM, while it is away: each must be a clear refusal. */
async function expectHsmRefusals(existing: string): Promise<void> {
  const answers = [
    await create(),
    await call(client, Operation.Get, getPayload(existing)),
    await call(client, Operation.ReKey, getPayload(existing)),
  ];
  for (const a of answers) {
    expect(a.status).toBe(ResultStatus.OperationFailed);
    expect(a.reason).toBe(ResultReason.CryptographicFailure);
    expect(a.message).toMatch(/HSM is unavailable/);
    expect(a.message).not.toContain(pin);
  }
}

/** Polls with Create until the server uses the HSM again (no restart). */
async function recovered(): Promise<string> {
  return waitFor('the server to use the HSM again', async () => {
    const a = await create();
    if (a.status !== ResultStatus.Success) throw new Error(`not recovered: ${a.reason} ${a.message}`);
    return uidOf(a);
  });
}

test('token taken away while running: Cryptographic Failure, nothing written, other requests served; back: carries on', async () => {
  const before = await createKey();
  const snapshot = inspectStore(server.dbPath).rows;
  const auditFrom = server.audit.records.length;

  const away = `${token.tokenDir}.away`;
  fs.renameSync(token.tokenDir, away);
  try {
    await expectHsmRefusals(before.uid);
    // What needs no key material is still served. (A secret object's Digest is computed from its
    // material, so Get Attributes asking for it, or for all, needs the HSM: ops/digest-index.ts.)
    const located = await call(client, Operation.Locate, []);
    expect(located.status).toBe(ResultStatus.Success);
    const attrs = await call(client, Operation.GetAttributes, [...getPayload(before.uid), ttlv.textString(Tag.AttributeName, 'State')]);
    expect(attrs.status).toBe(ResultStatus.Success);
    const names = await call(client, Operation.GetAttributeList, getPayload(before.uid));
    expect(names.status).toBe(ResultStatus.Success);
  } finally {
    fs.renameSync(away, token.tokenDir);
  }
  // Nothing was half-written: the file holds exactly what it held before.
  const during = inspectStore(server.dbPath);
  expect(during.integrity).toBe('ok');
  expect(during.rows).toBe(snapshot);
  // The refusals are audited; the detail (CKR code) went to the operator log under the id.
  const refused = server.audit.records.slice(auditFrom).filter((r) => r.resultReason === String(ResultReason.CryptographicFailure));
  expect(refused.map((r) => r.operation)).toEqual(['Create', 'Get', 'Re-key']);
  expect(server.audit.errors.length).toBeGreaterThanOrEqual(3);
  for (const e of server.audit.errors) expect(String(e.error)).not.toContain(pin);

  // Back: same connection, same server, same KEK; the old key still decrypts to the same bytes.
  const after = await recovered();
  expect(keyMaterialOf(await call(client, Operation.Get, getPayload(before.uid)))).toEqual(before.material);
  expect(keyMaterialOf(await call(client, Operation.Get, getPayload(after))).length).toBe(32);
  expect(inspectStore(server.dbPath).uids).toEqual([...during.uids, after]);
});

test('token reinitialised under the server (same label and PIN, no KEK): refused, no new KEK made; original back: carries on', async () => {
  const before = await createKey();
  const snapshot = inspectStore(server.dbPath).rows;
  const kekId = keys.kekId;

  // A fresh token with the same label and PIN, as `softhsm2-util --init-token` would leave it.
  const other = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-hsm-reinit-'));
  fs.copyFileSync(token.pinFile, path.join(other, 'user-pin'));
  fs.copyFileSync(token.soPinFile, path.join(other, 'so-pin'));
  fs.chmodSync(path.join(other, 'user-pin'), 0o600);
  fs.chmodSync(path.join(other, 'so-pin'), 0o600);
  const fresh = ensureSoftHsmToken(other, { label: token.tokenLabel, setProcessEnv: false });
  const original = `${token.tokenDir}.original`;
  fs.renameSync(token.tokenDir, original);
  fs.renameSync(fresh.tokenDir, token.tokenDir);
  try {
    await expectHsmRefusals(before.uid);
    // The server did not make itself a new KEK on the stranger token.
    expect(countSecretKeys(fresh.modulePath, token.tokenLabel)).toBe(0);
  } finally {
    fs.rmSync(token.tokenDir, { recursive: true, force: true });
    fs.renameSync(original, token.tokenDir);
    fs.rmSync(other, { recursive: true, force: true });
  }
  expect(inspectStore(server.dbPath).rows).toBe(snapshot);

  await recovered();
  expect(keys.kekId).toBe(kekId);
  expect(keyMaterialOf(await call(client, Operation.Get, getPayload(before.uid)))).toEqual(before.material);
});

test('the library finalised behind the server’s back: the next requests are served transparently', async () => {
  const before = await createKey();
  const lib = new pkcs11js.PKCS11();
  lib.load(token.modulePath);
  try {
    lib.C_Finalize();
  } finally {
    lib.close();
  }
  // Several at once: every one must succeed (sessions re-opened once, login redone).
  const answers = await Promise.all([
    call(client, Operation.Get, getPayload(before.uid)),
    (async () => {
      const c = await server.connect();
      try {
        return await call(c, Operation.Create, createAesPayload());
      } finally {
        c.close();
      }
    })(),
  ]);
  for (const a of answers) expect({ status: a.status, message: a.message }).toEqual({ status: ResultStatus.Success, message: undefined });
  expect(keyMaterialOf(answers[0]!)).toEqual(before.material);
  expect(inspectStore(server.dbPath).integrity).toBe('ok');
});

/** Secret keys on a token, counted by logging in with the test PIN through a handle of our own. */
function countSecretKeys(modulePath: string, label: string): number {
  const lib = new pkcs11js.PKCS11();
  lib.load(modulePath);
  try {
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trimEnd() === label);
    if (slot === undefined) throw new Error('token not found');
    const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    try {
      try {
        lib.C_Login(session, pkcs11js.CKU_USER, pin);
      } catch (e) {
        if (!/ALREADY_LOGGED_IN/.test(String(e))) throw e;
      }
      lib.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }]);
      const found = lib.C_FindObjects(session, 16);
      lib.C_FindObjectsFinal(session);
      return found.length;
    } finally {
      lib.C_CloseSession(session);
    }
  } finally {
    lib.close();
  }
}
