/**
 * Debian's PyKMIP client registering the key material real clients have, against our server
 * started by its own command line over real mutual TLS: PKCS#1 and SEC1 private keys labelled
 * PKCS#8, a PKCS#8 key labelled Raw, SubjectPublicKeyInfo and PKCS#1 public keys labelled Raw (each
 * Get as registered, converted when a format is asked for, revoked and destroyed); garbage refused;
 * an HMAC-SHA1 key of 160 bits used for a MAC; a password derived from at once with PBKDF2 to a
 * 160-bit key; XOR split key parts registered with a threshold of 2 of 3.
 */
import { createHmac, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import path from 'node:path';
import { ok, runPyKmip, useServerProcess } from '../helpers/pykmip';

const SCRIPT = path.join(__dirname, 'pykmip_keyformats.py');
const server = useServerProcess();

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const der = (k: KeyObject, type: string): Buffer => k.export({ format: 'der', type } as never) as Buffer;
const hex = (k: KeyObject, type: string): string => der(k, type).toString('hex');
const rsaPublic = createPublicKey(rsa);
const hmac = randomBytes(20);
const shares = [randomBytes(16), randomBytes(16), randomBytes(16)];
const KEYS = {
  rsa_pkcs1: hex(rsa, 'pkcs1'),
  rsa_pkcs8: hex(rsa, 'pkcs8'),
  ec_sec1: hex(ec, 'sec1'),
  rsa_spki: hex(rsaPublic, 'spki'),
  rsa_public_pkcs1: hex(rsaPublic, 'pkcs1'),
  hmac: hmac.toString('hex'),
  shares: shares.map((s) => s.toString('hex')),
};

describe.each(['1.2', '1.4'])('PyKMIP client, KMIP %s, key formats', (version) => {
  test('mislabelled keys kept and converted, garbage refused, HMAC-SHA1 160, PBKDF2 160, XOR 2 of 3', async () => {
    const steps = await runPyKmip(SCRIPT, server(), [version, JSON.stringify(KEYS)]);

    expect(ok(steps, 'get_pkcs1_as_pkcs8')).toEqual({ format: 'PKCS_8', value: KEYS.rsa_pkcs1, algorithm: 'RSA', length: 2048 });
    expect(ok(steps, 'get_pkcs1_as_pkcs8_in_pkcs8')).toEqual({ format: 'PKCS_8', value: KEYS.rsa_pkcs8 });
    expect(ok(steps, 'get_pkcs1_as_pkcs8_in_pkcs1')).toEqual({ format: 'PKCS_1', value: KEYS.rsa_pkcs1 });
    ok(steps, 'destroy_pkcs1_as_pkcs8');

    expect(ok(steps, 'get_pkcs8_as_raw')).toEqual({ format: 'RAW', value: KEYS.rsa_pkcs8, algorithm: 'RSA', length: 2048 });
    expect(ok(steps, 'get_pkcs8_as_raw_in_pkcs1')).toEqual({ format: 'PKCS_1', value: KEYS.rsa_pkcs1 });
    ok(steps, 'destroy_pkcs8_as_raw');

    expect(ok(steps, 'get_sec1_as_pkcs8')).toEqual({ format: 'PKCS_8', value: KEYS.ec_sec1, algorithm: 'EC', length: 256 });
    expect(ok(steps, 'get_sec1_as_pkcs8_in_pkcs8')).toEqual({ format: 'PKCS_8', value: hex(ec, 'pkcs8') });
    ok(steps, 'destroy_sec1_as_pkcs8');

    expect(ok(steps, 'get_spki_as_raw')).toEqual({ format: 'RAW', value: KEYS.rsa_spki, algorithm: 'RSA', length: 2048 });
    expect(ok(steps, 'get_spki_as_raw_in_x509')).toEqual({ format: 'X_509', value: KEYS.rsa_spki });
    expect(ok(steps, 'get_public_pkcs1_as_raw')).toEqual({ format: 'RAW', value: KEYS.rsa_public_pkcs1, algorithm: 'RSA', length: 2048 });
    expect(ok(steps, 'get_public_pkcs1_as_raw_in_x509')).toEqual({ format: 'X_509', value: KEYS.rsa_spki });
    ok(steps, 'destroy_spki_as_raw');
    ok(steps, 'destroy_public_pkcs1_as_raw');

    const garbage = steps.get('register_garbage_private');
    expect(garbage?.ok).toBe(false);
    expect(garbage?.error).toMatch(/INVALID_FIELD - the Key Material \(labelled PKCS#8\) is not a private key: it is none of PKCS#8 PrivateKeyInfo, PKCS#8 EncryptedPrivateKeyInfo, PKCS#1 RSAPrivateKey or SEC1 ECPrivateKey/);

    expect(ok(steps, 'get_hmac_sha1_160')).toEqual({ format: 'RAW', value: KEYS.hmac, algorithm: 'HMAC_SHA1', length: 160 });
    expect(ok(steps, 'mac_hmac_sha1_160')).toBe(createHmac('sha1', hmac).update('interoperability').digest('hex'));
    ok(steps, 'destroy_hmac_sha1_160');

    // RFC 6070: PBKDF2-HMAC-SHA1("password", "salt", 4096, 20).
    ok(steps, 'derive_pbkdf2');
    expect(ok(steps, 'get_derived')).toBe('4b007901b765489abead49d926f721d065a429c1');
    expect(ok(steps, 'derived_length')).toBe(160);

    for (const i of [1, 2, 3]) ok(steps, `register_split_${i}`);
    expect(ok(steps, 'get_split_1')).toEqual({ threshold: 2, parts: 3, method: 'XOR', value: KEYS.shares[0] });
    ok(steps, 'destroy_split');
  });
});
