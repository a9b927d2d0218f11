/**
 * Debian's PyKMIP client through the cryptographic services, against our server started by its
 * own command line over real mutual TLS: Create Key Pair and Get of both halves, Sign and
 * Signature Verify, Encrypt and Decrypt with a server-chosen IV, MAC, and Register of a certificate.
 */
import { createHmac, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ok, runPyKmip, useServerProcess } from '../helpers/pykmip';

const SCRIPT = path.join(__dirname, 'pykmip_crypto.py');
const server = useServerProcess();

const run = (version: string, certHex: string) => runPyKmip(SCRIPT, server(), [version, certHex]);

describe.each(['1.2', '1.4'])('PyKMIP client, KMIP %s, cryptographic services', (version) => {
  test('key pair, sign/verify, encrypt/decrypt, MAC, certificate', async () => {
    // The server's own CA certificate is a real X.509 certificate to register.
    const certDer = new X509Certificate(fs.readFileSync(path.join(server().pkiDir, 'ca.pem'))).raw;
    const steps = await run(version, certDer.toString('hex'));
    const pair = ok(steps, 'create_key_pair') as string[];
    expect(pair).toHaveLength(2);
    expect(ok(steps, 'get_public')).toBe('PKCS_1');
    expect(ok(steps, 'get_private')).toBe('PKCS_1');
    ok(steps, 'activate');
    expect((ok(steps, 'sign') as string).length).toBe(512);
    expect(ok(steps, 'signature_verify')).toBe('VALID');
    expect(ok(steps, 'signature_verify_tampered')).toBe('INVALID');
    const [ciphertext, iv] = ok(steps, 'encrypt') as [string, string];
    expect(ciphertext.length).toBe(64);
    expect(iv.length).toBe(32);
    expect(ok(steps, 'decrypt')).toBe('interoperability');
    const mac = ok(steps, 'mac') as string;
    const key = Buffer.from(ok(steps, 'get_hmac_key') as string, 'hex');
    expect(mac).toBe(createHmac('sha256', key).update('interoperability').digest('hex'));
    ok(steps, 'register_certificate');
    expect(ok(steps, 'get_certificate')).toBe(certDer.toString('hex'));
  });
});
