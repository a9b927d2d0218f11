/** The PKCS#11 key protector against a real SoftHSM2 token in a temp dir. */
import { randomBytes } from 'node:crypto';
import { renameSync } from 'node:fs';
import * as pkcs11js from 'pkcs11js';
import {
  KeyProtectorError,
  MECHANISM_AES_GCM,
  MECHANISM_AES_KWP,
  type ProtectedMaterial,
} from '../../../src/keys/key-protector';
import { type Pkcs11KeyProtectorConfig } from '../../../src/keys/pkcs11-config';
import { Pkcs11KeyProtector } from '../../../src/keys/pkcs11';
import { softHsmProtectorConfig } from '../../../src/keys/softhsm';
import { makeTestToken, type TestToken } from '../../helpers/softhsm';

let token: TestToken;
let base: Pkcs11KeyProtectorConfig;
const open: Pkcs11KeyProtector[] = [];

async function openProtector(overrides: Partial<Pkcs11KeyProtectorConfig> = {}): Promise<Pkcs11KeyProtector> {
  const protector = await Pkcs11KeyProtector.open({ ...base, ...overrides });
  open.push(protector);
  return protector;
}

async function closeAll(): Promise<void> {
  for (const p of open.splice(0)) await p.close();
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<KeyProtectorError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KeyProtectorError);
  expect((err as KeyProtectorError).code).toBe(code);
  return err as KeyProtectorError;
}

/** A second handle on the already-initialised library, as another part of the process would have. */
function withRawModule<T>(fn: (lib: pkcs11js.PKCS11, slot: pkcs11js.Handle) => T): T {
  const lib = new pkcs11js.PKCS11();
  lib.load(token.modulePath);
  try {
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trimEnd() === token.tokenLabel);
    if (slot === undefined) throw new Error('test token not found');
    return fn(lib, slot);
  } finally {
    lib.close();
  }
}

function tamper(blob: ProtectedMaterial, field: 'iv' | 'ciphertext', index: number): ProtectedMaterial {
  const bytes = Uint8Array.from(blob[field]);
  bytes[index] = (bytes[index] as number) ^ 0x01;
  return { ...blob, [field]: bytes };
}

beforeAll(() => {
  token = makeTestToken('kmip-test');
  base = softHsmProtectorConfig(token, 'kmip-kek', { reconnectIntervalMs: 0 });
});

afterEach(closeAll);

afterAll(() => token?.cleanup());

describe('AES-GCM protection (default mechanism on SoftHSM2)', () => {
  test('round trip; the mechanism is GCM and the kekId is hex of CKA_ID', async () => {
    const p = await openProtector();
    expect(p.mechanism).toBe(MECHANISM_AES_GCM);
    expect(p.kekId).toMatch(/^[0-9a-f]{32}$/);
    const key = randomBytes(32);
    const blob = await p.protect('uid-1', key);
    expect(blob.kekId).toBe(p.kekId);
    expect(blob.mechanism).toBe(MECHANISM_AES_GCM);
    expect(blob.iv).toHaveLength(12);
    expect(blob.ciphertext).toHaveLength(32 + 16);
    const back = await p.unprotect('uid-1', blob);
    expect(Buffer.from(back).equals(key)).toBe(true);
  });

  test('ciphertext differs from the plaintext and from a second protect of the same key', async () => {
    const p = await openProtector();
    const key = randomBytes(32);
    const a = await p.protect('uid-1', key);
    const b = await p.protect('uid-1', key);
    expect(Buffer.from(a.ciphertext).includes(key)).toBe(false);
    expect(Buffer.from(a.iv).equals(Buffer.from(b.iv))).toBe(false);
    expect(Buffer.from(a.ciphertext).equals(Buffer.from(b.ciphertext))).toBe(false);
  });

  test('a blob moved to another unique identifier fails with INTEGRITY', async () => {
    const p = await openProtector();
    const blob = await p.protect('uid-1', randomBytes(32));
    await expectCode(p.unprotect('uid-2', blob), 'INTEGRITY');
    // The session pool is still healthy afterwards.
    expect(await p.unprotect('uid-1', blob)).toHaveLength(32);
  });

  test('tampered ciphertext, tag or IV fails with INTEGRITY', async () => {
    const p = await openProtector();
    const blob = await p.protect('uid-1', randomBytes(32));
    await expectCode(p.unprotect('uid-1', tamper(blob, 'ciphertext', 0)), 'INTEGRITY');
    await expectCode(p.unprotect('uid-1', tamper(blob, 'ciphertext', 40)), 'INTEGRITY'); // in the tag
    await expectCode(p.unprotect('uid-1', tamper(blob, 'iv', 3)), 'INTEGRITY');
    await expectCode(p.unprotect('uid-1', { ...blob, ciphertext: blob.ciphertext.subarray(0, 40) }), 'INTEGRITY');
    await expectCode(p.unprotect('uid-1', { ...blob, iv: new Uint8Array(8) }), 'INTEGRITY');
  });

  test('unknown mechanism and unknown KEK are refused', async () => {
    const p = await openProtector();
    const blob = await p.protect('uid-1', randomBytes(32));
    await expectCode(p.unprotect('uid-1', { ...blob, mechanism: 'ROT13' }), 'UNSUPPORTED_MECHANISM');
    await expectCode(p.unprotect('uid-1', { ...blob, kekId: '00'.repeat(16) }), 'UNKNOWN_KEK');
  });

  test('the KEK is found again after reopening (same kekId) and old blobs still decrypt', async () => {
    const first = await openProtector();
    const key = randomBytes(32);
    const blob = await first.protect('uid-keep', key);
    const kekId = first.kekId;
    await closeAll();
    const second = await openProtector();
    expect(second.kekId).toBe(kekId);
    expect(Buffer.from(await second.unprotect('uid-keep', blob)).equals(key)).toBe(true);
  });

  test('the KEK is a sensitive, non-extractable AES-256 token key', async () => {
    const p = await openProtector();
    const kek = await p.describeKek();
    expect(kek).toMatchObject({
      kekId: p.kekId,
      label: 'kmip-kek',
      token: true,
      sensitive: true,
      extractable: false,
      alwaysSensitive: true,
      neverExtractable: true,
      valueLength: 32,
    });
    // Its value cannot be read, even by a logged-in session of this process.
    withRawModule((lib, slot) => {
      const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
      try {
        lib.C_FindObjectsInit(session, [
          { type: pkcs11js.CKA_LABEL, value: 'kmip-kek' },
          { type: pkcs11js.CKA_TOKEN, value: true }, // the protector also holds a session copy
        ]);
        const handles = lib.C_FindObjects(session, 4);
        lib.C_FindObjectsFinal(session);
        expect(handles).toHaveLength(1);
        expect(() => lib.C_GetAttributeValue(session, handles[0] as pkcs11js.Handle, [{ type: pkcs11js.CKA_VALUE }])).toThrow(
          /CKR_ATTRIBUTE_SENSITIVE/,
        );
        // The in-HSM session copy that unprotect uses keeps those properties.
        lib.C_FindObjectsInit(session, [
          { type: pkcs11js.CKA_LABEL, value: 'kmip-kek' },
          { type: pkcs11js.CKA_TOKEN, value: false },
        ]);
        const copies = lib.C_FindObjects(session, 4);
        lib.C_FindObjectsFinal(session);
        expect(copies).toHaveLength(1);
        expect(() => lib.C_GetAttributeValue(session, copies[0] as pkcs11js.Handle, [{ type: pkcs11js.CKA_VALUE }])).toThrow(
          /CKR_ATTRIBUTE_SENSITIVE/,
        );
      } finally {
        lib.C_CloseSession(session);
      }
    });
  });

  test('200 concurrent protects and unprotects all succeed', async () => {
    const p = await openProtector({ sessions: 4 });
    const keys = Array.from({ length: 200 }, () => randomBytes(32));
    const blobs = await Promise.all(keys.map((k, i) => p.protect(`uid-${i}`, k)));
    const backs = await Promise.all(blobs.map((b, i) => p.unprotect(`uid-${i}`, b)));
    backs.forEach((b, i) => expect(Buffer.from(b).equals(keys[i] as Buffer)).toBe(true));
  });

  test('sync call mode gives the same results', async () => {
    const p = await openProtector({ callMode: 'sync' });
    const key = randomBytes(48);
    const blob = await p.protect('uid-s', key);
    expect(Buffer.from(await p.unprotect('uid-s', blob)).equals(key)).toBe(true);
    await expectCode(p.unprotect('uid-t', blob), 'INTEGRITY');
  });

  test('a closed protector refuses work', async () => {
    const p = await openProtector();
    await p.close();
    await expectCode(p.protect('uid-1', randomBytes(32)), 'CLOSED');
  });
});

describe('RFC 5649 key wrap (forced, as on an HSM without GCM)', () => {
  test('round trip of odd lengths; identifier binding and tampering give INTEGRITY', async () => {
    const p = await openProtector({ kekLabel: 'kmip-kek-kwp', mechanism: MECHANISM_AES_KWP });
    expect(p.mechanism).toBe(MECHANISM_AES_KWP);
    for (const length of [16, 32, 33, 1]) {
      const key = randomBytes(length);
      const blob = await p.protect('uid-w', key);
      expect(blob.mechanism).toBe(MECHANISM_AES_KWP);
      expect(blob.iv).toHaveLength(0);
      expect(Buffer.from(await p.unprotect('uid-w', blob)).equals(key)).toBe(true);
    }
    const blob = await p.protect('uid-w', randomBytes(32));
    await expectCode(p.unprotect('uid-x', blob), 'INTEGRITY');
    await expectCode(p.unprotect('uid-w', tamper(blob, 'ciphertext', 5)), 'INTEGRITY');
    const kek = await p.describeKek();
    expect(kek).toMatchObject({ sensitive: true, extractable: false, valueLength: 32 });
  });
});

describe('open failures', () => {
  test('wrong PIN gives LOGIN_FAILED without echoing the PIN', async () => {
    const wrong = 'not-the-pin-123456';
    const err = await expectCode(Pkcs11KeyProtector.open({ ...base, pin: wrong }), 'LOGIN_FAILED');
    expect(err.message).not.toContain(wrong);
    expect(err.message).not.toContain(base.pin);
  });

  test('wrong PIN is refused even while another protector holds the login', async () => {
    await openProtector();
    await expectCode(Pkcs11KeyProtector.open({ ...base, pin: 'another-wrong-pin' }), 'LOGIN_FAILED');
    // The right PIN is still accepted alongside.
    const second = await openProtector();
    expect(await second.unprotect('u', await second.protect('u', randomBytes(32)))).toHaveLength(32);
  });

  test('missing token label gives TOKEN_NOT_FOUND', async () => {
    await expectCode(Pkcs11KeyProtector.open({ ...base, tokenLabel: 'no-such-token' }), 'TOKEN_NOT_FOUND');
  });

  test('bad module path gives MODULE_LOAD_FAILED', async () => {
    await expectCode(Pkcs11KeyProtector.open({ ...base, modulePath: '/nonexistent/libpkcs11.so' }), 'MODULE_LOAD_FAILED');
    await expectCode(Pkcs11KeyProtector.open({ ...base, modulePath: '/etc/hostname' }), 'MODULE_LOAD_FAILED');
  });

  test('a missing KEK is not created when creation is disabled', async () => {
    await expectCode(Pkcs11KeyProtector.open({ ...base, kekLabel: 'absent-kek', createKek: false }), 'UNKNOWN_KEK');
  });
});

describe('index key (blind indexes: indexMac)', () => {
  /** The token objects labelled `label`, through a raw session of this process. */
  function tokenObjects(label: string, fn?: (lib: pkcs11js.PKCS11, session: pkcs11js.Handle, handles: pkcs11js.Handle[]) => void): number {
    return withRawModule((lib, slot) => {
      const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      try {
        lib.C_FindObjectsInit(session, [
          { type: pkcs11js.CKA_LABEL, value: label },
          { type: pkcs11js.CKA_TOKEN, value: true },
        ]);
        const handles = lib.C_FindObjects(session, 4);
        lib.C_FindObjectsFinal(session);
        fn?.(lib, session, handles);
        return handles.length;
      } finally {
        lib.C_CloseSession(session);
      }
    });
  }

  test('made at open: a sensitive, non-extractable token key that signs and does nothing else; its value cannot be read', async () => {
    await openProtector();
    tokenObjects('kmip-digest-index', (lib, session, handles) => {
      expect(handles).toHaveLength(1);
      const key = handles[0] as pkcs11js.Handle;
      const attrs = lib.C_GetAttributeValue(session, key, [
        { type: pkcs11js.CKA_SENSITIVE },
        { type: pkcs11js.CKA_EXTRACTABLE },
        { type: pkcs11js.CKA_SIGN },
        { type: pkcs11js.CKA_ENCRYPT },
        { type: pkcs11js.CKA_WRAP },
        { type: pkcs11js.CKA_KEY_TYPE },
      ]);
      const flag = (i: number) => (attrs[i]!.value as Buffer)[0] === 1;
      expect([flag(0), flag(1), flag(2), flag(3), flag(4)]).toEqual([true, false, true, false, false]);
      expect((attrs[5]!.value as Buffer).readUInt32LE(0)).toBe(pkcs11js.CKK_GENERIC_SECRET);
      expect(() => lib.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_VALUE }])).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
    });
  });

  test('HMAC-SHA256 under that key: 32 bytes, the same for the same data across reopening, another for other data or another key', async () => {
    const p = await openProtector();
    const data = Buffer.from('kmip-index:Digest\0example');
    const mac = await p.indexMac(data);
    expect(mac).toHaveLength(32);
    expect((await p.indexMac(data)).equals(mac)).toBe(true);
    expect((await p.indexMac(Buffer.from('kmip-index:Digest\0examplf'))).equals(mac)).toBe(false);
    // Reopened without the right to create: the same key is found and gives the same MAC.
    const again = await openProtector({ createIndexKey: false });
    expect((await again.indexMac(data)).equals(mac)).toBe(true);
    // Keyed: another index key answers otherwise.
    const other = await openProtector({ indexKeyLabel: 'kmip-test-other-index' });
    expect((await other.indexMac(data)).equals(mac)).toBe(false);
  });

  test('a missing index key is not created when creation is disabled (a store that holds indexes needs the key they were made with)', async () => {
    await openProtector(); // keeps the module initialised for the raw look below
    const err = await expectCode(Pkcs11KeyProtector.open({ ...base, indexKeyLabel: 'absent-index', createIndexKey: false }), 'UNKNOWN_KEK');
    expect(err.message).toContain('"absent-index"');
    expect(tokenObjects('absent-index')).toBe(0);
  });

  test('the index key taken away while running: HSM_UNAVAILABLE, and no new key is made in its place', async () => {
    const p = await openProtector({ indexKeyLabel: 'kmip-test-doomed-index' });
    await p.indexMac(Buffer.from('x'));
    tokenObjects('kmip-test-doomed-index', (lib, session, handles) => lib.C_DestroyObject(session, handles[0] as pkcs11js.Handle));
    await expectCode(p.indexMac(Buffer.from('x')), 'HSM_UNAVAILABLE');
    expect(tokenObjects('kmip-test-doomed-index')).toBe(0);
    // Key material still works: only what needs the index key is refused.
    const key = randomBytes(32);
    expect(Buffer.from(await p.unprotect('uid-i', await p.protect('uid-i', key))).equals(key)).toBe(true);
  });
});

describe('recovery', () => {
  test('sessions closed under the protector are reopened transparently', async () => {
    const p = await openProtector();
    const key = randomBytes(32);
    const blob = await p.protect('uid-r', key);
    withRawModule((lib, slot) => lib.C_CloseAllSessions(slot));
    expect(Buffer.from(await p.unprotect('uid-r', blob)).equals(key)).toBe(true);
    expect(await p.protect('uid-r2', key)).toBeDefined();
  });

  test('token gone: HSM_UNAVAILABLE; token back: work resumes with the same KEK', async () => {
    const p = await openProtector();
    const key = randomBytes(32);
    const blob = await p.protect('uid-t', key);
    const away = `${token.tokenDir}.away`;
    renameSync(token.tokenDir, away);
    try {
      await expectCode(p.protect('uid-t2', key), 'HSM_UNAVAILABLE');
      await expectCode(p.unprotect('uid-t', blob), 'HSM_UNAVAILABLE');
    } finally {
      renameSync(away, token.tokenDir);
    }
    expect(Buffer.from(await p.unprotect('uid-t', blob)).equals(key)).toBe(true);
    const again = await p.protect('uid-t3', key);
    expect(again.kekId).toBe(blob.kekId);
  });
});
