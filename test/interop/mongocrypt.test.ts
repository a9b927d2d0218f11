/**
 * MongoDB's KMIP traffic through libmongocrypt's own message library (kms_message, Debian's
 * libmongocrypt-dev 1.7.2) against our server started by its own command line, over real mutual
 * TLS. A small C driver (test/interop/mongocrypt/kmip_driver.c), compiled here with cc and linked
 * against libkms_message and OpenSSL, plays the MongoDB driver: a new TLS connection per request,
 * the server's certificate and address checked against the CA.
 *
 * Flow A, KMIP 1.0 header: Register of a 96-byte Secret Data, Activate, Get; every request built
 * and every answer read by kms_message 1.7.2 itself. Newer libmongocrypt registers in a slightly
 * different form; that Register is built with our codec and read back with kms_message's Get.
 *
 * Flow B, the "delegated" path (KMIP 1.2 header): Create AES-256 (Encrypt|Decrypt), Activate,
 * Encrypt of a 96-byte data key with a server-chosen IV, Decrypt with that IV. kms_message 1.7.2
 * has no Create/Encrypt/Decrypt builders (they came in libmongocrypt 1.10.0), so those three requests
 * are built here with the project's codec, item for item as libmongocrypt's
 * kms-message/src/kms_kmip_request.c (kms_kmip_request_create_new, kms_kmip_request_encrypt_new,
 * kms_kmip_request_decrypt_new) writes them; the driver still carries them, frames each answer
 * with kms_message's parser and checks its Result Status with kms_message. Activate is
 * kms_message's own (libmongocrypt sends it, with a 1.0 header, between Create and Encrypt).
 */
import { createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ok, runStepProgram, useServerProcess, type Step } from '../helpers/pykmip';
import { connectClient } from '../helpers/server-process';
import { find, parseResponse, requestMessage, successPayload, symmetricKeyMaterial } from '../helpers/kmip-client';
import { compatTest } from '../helpers/compat-results';
import { compileMongocryptDriver } from '../helpers/mongocrypt-driver';
import { attributeToV1 } from '../../src/kmip/attributes';
import { Tag, TAG_INFO } from '../../src/spec/generated/tags';
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  KeyFormatType,
  ObjectType,
  Operation,
  PaddingMethod,
  SecretDataType,
} from '../../src/spec/generated/enums';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';

const MONGOCRYPT = 'libmongocrypt 1.7';
const server = useServerProcess();

let buildDir = '';
let driver = '';

beforeAll(() => {
  buildDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-mongocrypt-'));
  driver = compileMongocryptDriver(buildDir);
}, 180_000);

afterAll(() => {
  if (buildDir) fs.rmSync(buildDir, { recursive: true, force: true });
});

/** Runs the driver in `mode` against the server with the dev PKI's ordinary client certificate. */
function runDriver(mode: string, arg?: string, ca?: string): Promise<Map<string, Step>> {
  const pki = server().pkiDir;
  const args = ['127.0.0.1', String(server().port), ca ?? path.join(pki, 'ca.pem'), path.join(pki, 'client.pem'), path.join(pki, 'client-key.pem'), mode];
  if (arg !== undefined) args.push(arg);
  return runStepProgram(driver, args, 'libmongocrypt driver');
}

/** Sends request bytes through the driver; returns the answer's payload, decoded with our codec. */
async function send(request: Uint8Array): Promise<{ version: string; payload: TtlvStructure; root: TtlvStructure }> {
  const steps = await runDriver('send', Buffer.from(request).toString('hex'));
  const answer = parseResponse(Buffer.from(ok(steps, 'send') as string, 'hex'));
  return { version: `${answer.version.major}.${answer.version.minor}`, payload: successPayload(answer), root: answer.root };
}

/** Names of the tags in an answer that the client's version does not define yet (it may choke on them). */
function tagsNewerThan(version: '1.0' | '1.2', item: TtlvItem): string[] {
  const info = TAG_INFO.get(item.tag);
  // Version strings of one digit each ("1.0" to "2.1") compare as text.
  const own = !info || info.firstVersion > version ? [info?.name ?? `0x${item.tag.toString(16)}`] : [];
  return item.type === ItemType.Structure ? [...own, ...item.value.flatMap((c) => tagsNewerThan(version, c))] : own;
}

const V1_0 = { major: 1, minor: 0 };
const V1_2 = { major: 1, minor: 2 };

const attribute = (name: string, value: TtlvItem) => attributeToV1({ name, value });

/** kms_kmip_request_create_new: AES-256, usage mask Encrypt|Decrypt, KMIP 1.2 header. */
function mongoCreate(): Uint8Array {
  return requestMessage(V1_2, [
    {
      operation: Operation.Create,
      payload: [
        ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
        ttlv.structure(Tag.TemplateAttribute, [
          attribute('Cryptographic Algorithm', ttlv.enumeration(Tag.AttributeValue, CryptographicAlgorithm.AES)),
          attribute('Cryptographic Length', ttlv.integer(Tag.AttributeValue, 256)),
          attribute('Cryptographic Usage Mask', ttlv.integer(Tag.AttributeValue, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt)),
        ]),
      ],
    },
  ]);
}

/** kms_kmip_request_encrypt_new / _decrypt_new: AES-CBC with PKCS#5 padding; Encrypt asks for a random IV, Decrypt sends it. */
function mongoCipher(operation: number, uid: string, data: Uint8Array, iv?: Uint8Array): Uint8Array {
  const params: TtlvItem[] = [
    ttlv.enumeration(Tag.BlockCipherMode, BlockCipherMode.CBC),
    ttlv.enumeration(Tag.PaddingMethod, PaddingMethod.PKCS5),
    ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
  ];
  if (!iv) params.push(ttlv.boolean(Tag.RandomIV, true));
  const payload: TtlvItem[] = [ttlv.textString(Tag.UniqueIdentifier, uid), ttlv.structure(Tag.CryptographicParameters, params), ttlv.byteString(Tag.Data, data)];
  if (iv) payload.push(ttlv.byteString(Tag.IVCounterNonce, iv));
  return requestMessage(V1_2, [{ operation, payload }]);
}

/**
 * libmongocrypt 1.7.3 and later register differently from Debian's 1.7.2 (an empty template,
 * Key Format Type Raw): a Cryptographic Usage Mask of 0 in the template (one server refused
 * Register without one) and Key Format Type Opaque, as kms_kmip_request_register_secretdata_new
 * writes it since then.
 */
function mongoRegisterSince173(secret: Uint8Array): Uint8Array {
  return requestMessage(V1_0, [
    {
      operation: Operation.Register,
      payload: [
        ttlv.enumeration(Tag.ObjectType, ObjectType.SecretData),
        ttlv.structure(Tag.TemplateAttribute, [attribute('Cryptographic Usage Mask', ttlv.integer(Tag.AttributeValue, 0))]),
        ttlv.structure(Tag.SecretData, [
          ttlv.enumeration(Tag.SecretDataType, SecretDataType.Seed),
          ttlv.structure(Tag.KeyBlock, [
            ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Opaque),
            ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, secret)]),
          ]),
        ]),
      ],
    },
  ]);
}

function bytesOf(payload: TtlvStructure, tag: number): Buffer {
  const item = find(payload, tag);
  if (!item || !(item.value instanceof Uint8Array)) throw new Error(`answer has no byte string with tag 0x${tag.toString(16)}`);
  return Buffer.from(item.value);
}

function textOfPayload(payload: TtlvStructure, tag: number): string {
  const item = find(payload, tag);
  if (!item || typeof item.value !== 'string') throw new Error(`answer has no text string with tag 0x${tag.toString(16)}`);
  return item.value;
}

describe('libmongocrypt (kms_message 1.7.2), KMIP 1.0: Register, Activate, Get of a Secret Data', () => {
  compatTest(MONGOCRYPT, '1.0', "libmongocrypt's own requests: the 96 bytes come back unchanged", async () => {
    const steps = await runDriver('flow-a');
    const uid = ok(steps, 'register') as string;
    expect(uid.length).toBeGreaterThan(0);
    expect(ok(steps, 'activate')).toBe(uid);
    expect((ok(steps, 'get') as string).length).toBe(192);
    ok(steps, 'compare');
  });

  compatTest(MONGOCRYPT, '1.0', "libmongocrypt 1.7.3+'s Register form (usage mask 0, Seed, Opaque), read back by kms_message's Get", async () => {
    const secret = randomBytes(96);
    const registered = await send(mongoRegisterSince173(secret));
    expect(registered.version).toBe('1.0');
    const uid = textOfPayload(registered.payload, Tag.UniqueIdentifier);
    expect(ok(await runDriver('activate', uid), 'activate')).toBe(uid);
    expect(ok(await runDriver('get', uid), 'get')).toBe(secret.toString('hex'));

    // The same Get as kms_kmip_request_get_new, answered in KMIP 1.0's own terms only.
    const got = await send(requestMessage(V1_0, [{ operation: Operation.Get, payload: [ttlv.textString(Tag.UniqueIdentifier, uid)] }]));
    expect(got.version).toBe('1.0');
    expect(tagsNewerThan('1.0', registered.root)).toEqual([]);
    expect(tagsNewerThan('1.0', got.root)).toEqual([]);
  });

  compatTest(MONGOCRYPT, '1.0', 'the driver checks the server certificate: a CA that did not issue it is refused', async () => {
    // The client certificate is not the issuer of the server's: the handshake must fail.
    const steps = await runDriver('flow-a', undefined, path.join(server().pkiDir, 'client.pem'));
    const register = steps.get('register');
    expect(register?.ok).toBe(false);
    expect(register?.error).toMatch(/certificate verify failed/);
  });
});

describe('libmongocrypt delegated path, KMIP 1.2: Create, Activate, Encrypt, Decrypt', () => {
  compatTest(MONGOCRYPT, '1.2', 'a 96-byte data key encrypted with a server IV decrypts to itself', async () => {
    const created = await send(mongoCreate());
    expect(created.version).toBe('1.2');
    const uid = textOfPayload(created.payload, Tag.UniqueIdentifier);

    expect(ok(await runDriver('activate', uid), 'activate')).toBe(uid);

    const dataKey = randomBytes(96);
    const encrypted = await send(mongoCipher(Operation.Encrypt, uid, dataKey));
    expect(encrypted.version).toBe('1.2');
    const ciphertext = bytesOf(encrypted.payload, Tag.Data);
    const iv = bytesOf(encrypted.payload, Tag.IVCounterNonce);
    // libmongocrypt refuses an IV of any other length; PKCS#5 pads 96 bytes to 112.
    expect(iv.length).toBe(16);
    expect(ciphertext.length).toBe(112);

    const decrypted = await send(mongoCipher(Operation.Decrypt, uid, ciphertext, iv));
    expect(bytesOf(decrypted.payload, Tag.Data).equals(dataKey)).toBe(true);
    for (const answer of [created, encrypted, decrypted]) expect(tagsNewerThan('1.2', answer.root)).toEqual([]);

    // The ciphertext is real AES-256-CBC under the created key, not something only we can read.
    // Read by the key's owner, the identity the driver connects as (client.pem).
    const owner = await connectClient(server());
    try {
      const got = successPayload(
        parseResponse(await owner.request(requestMessage(V1_2, [{ operation: Operation.Get, payload: [ttlv.textString(Tag.UniqueIdentifier, uid)] }]))),
      );
      const key = symmetricKeyMaterial(got);
      expect(key.length).toBe(32);
      const decipher = createDecipheriv('aes-256-cbc', key, iv);
      expect(Buffer.concat([decipher.update(ciphertext), decipher.final()]).equals(dataKey)).toBe(true);
    } finally {
      owner.close();
    }
  });
});
