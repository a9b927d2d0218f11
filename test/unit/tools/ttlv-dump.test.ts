/**
 * `ttlv dump` on real encodings of the project's own codec: each input format, format detection and
 * its refusals, concatenated captures, messages that do not decode, and the redaction of every
 * secret-bearing field (the key bytes must not appear in the output in any form).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { encodeTtlv } from '../../../ttlv/encode';
import { ttlv } from '../../../ttlv/types';
import { TAG_INFO, Tag } from '../../../src/spec/generated/tags';
import { CredentialType, Operation } from '../../../src/spec/generated/enums';
import { registerAesPayload, requestMessage } from '../../helpers/kmip-client';
import {
  SECRET_FIELDS,
  readStdin,
  readTtlvInput,
  runTtlvDump,
  splitTtlvMessages,
  ttlvDumpCommand,
} from '../../../src/ttlv-dump';

const V14 = { major: 1, minor: 4 } as const;
const KEY = Buffer.from('00112233445566778899aabbccddeeff102132435465768798a9bacbdcedfe0f', 'hex');
const PASSWORD = 'correct horse battery staple';

/** A Register of an AES key with a username/password credential in the header. */
function registerWithCredential(): Uint8Array {
  const credential = ttlv.structure(Tag.Authentication, [
    ttlv.structure(Tag.Credential, [
      ttlv.enumeration(Tag.CredentialType, CredentialType.UsernameAndPassword),
      ttlv.structure(Tag.CredentialValue, [ttlv.textString(Tag.Username, 'alice'), ttlv.textString(Tag.Password, PASSWORD)]),
    ]),
  ]);
  return requestMessage(V14, [{ operation: Operation.Register, payload: registerAesPayload(KEY) }], [credential]);
}

function queryRequest(): Uint8Array {
  return requestMessage(V14, [{ operation: Operation.Query, payload: [] }]);
}

/** Every way the key could leak into text: hex either case, base64, raw latin1. */
function leaks(out: string, secret: Buffer): boolean {
  const forms = [secret.toString('hex'), secret.toString('hex').toUpperCase(), secret.toString('base64'), secret.subarray(0, 12).toString('hex').toUpperCase()];
  return forms.some((f) => out.includes(f));
}

describe('runTtlvDump', () => {
  test('hex input (spaces, newlines, colons, 0x prefixes) prints the named tree, key material and password redacted', () => {
    const msg = registerWithCredential();
    const hex = Buffer.from(msg).toString('hex');
    const pasted = hex.replace(/(..)/g, '$1 ').replace(/((?:.. ){16})/g, '$1\n');
    for (const input of [hex, pasted, hex.toUpperCase().replace(/(..)(?!$)/g, '$1:'), hex.replace(/(..)/g, '0x$1 ')]) {
      const out = runTtlvDump({ input: Buffer.from(input), redact: true });
      expect(out.split('\n')[0]).toBe(`# hex, ${msg.length} bytes, 1 message; secret fields redacted (--no-redact shows them)`);
      expect(out).toContain('# message 1: Request Message, offset 0');
      expect(out).toMatch(/^\s+Operation \(Enumeration\) = Register$/m);
      expect(out).toMatch(/^\s+CryptographicAlgorithm \(Enumeration\) = AES$/m);
      expect(out).toMatch(/^\s+Username \(TextString\) = "alice"$/m);
      expect(out).toMatch(/^\s+KeyMaterial \(ByteString\) = <redacted 32 bytes>$/m);
      expect(out).toMatch(new RegExp(`^\\s+Password \\(TextString\\) = <redacted ${PASSWORD.length} bytes>$`, 'm'));
      expect(out).not.toContain(PASSWORD);
      expect(leaks(out, KEY)).toBe(false);
    }
  });

  test('--no-redact shows the secrets and says so on the first line', () => {
    const out = runTtlvDump({ input: registerWithCredential(), redact: false });
    expect(out.split('\n')[0]).toContain('NOT redacted');
    expect(out).toContain(`KeyMaterial (ByteString) = ${KEY.toString('hex').toUpperCase()}`);
    expect(out).toContain(JSON.stringify(PASSWORD));
  });

  test('base64 (standard, wrapped, and URL-safe) is detected', () => {
    const msg = queryRequest();
    for (const input of [
      Buffer.from(msg).toString('base64'),
      Buffer.from(msg).toString('base64').replace(/(.{20})/g, '$1\n'),
      Buffer.from(msg).toString('base64url'),
    ]) {
      const out = runTtlvDump({ input: Buffer.from(input), redact: true });
      expect(out.split('\n')[0]).toMatch(/^# base64, \d+ bytes, 1 message;/);
      expect(out).toMatch(/^\s+Operation \(Enumeration\) = Query$/m);
    }
  });

  test('a capture file of concatenated binary messages is split and dumped in order; a cut-off tail is shown raw, redacted', () => {
    const reg = registerWithCredential();
    const query = queryRequest();
    const capture = Buffer.concat([query, reg, reg.subarray(0, 150)]);
    const out = runTtlvDump({ input: capture, redact: true });
    expect(out.split('\n')[0]).toBe(`# binary TTLV, ${capture.length} bytes, 3 messages; secret fields redacted (--no-redact shows them)`);
    expect(out).toContain(`# message 1: Request Message, offset 0, ${query.length} bytes`);
    expect(out).toContain(`# message 2: Request Message, offset ${query.length}, ${reg.length} bytes`);
    expect(out).toContain(`# message 3: Request Message, offset ${query.length + reg.length}, 150 bytes`);
    expect(out).toMatch(/!! cut short: \d+ more bytes were declared than the input holds/);
    expect(out.indexOf('= Query')).toBeLessThan(out.indexOf('= Register'));
    expect(out).not.toContain(PASSWORD);
    expect(leaks(out, KEY)).toBe(false);
  });

  test('a message that does not decode says why and is shown as its raw layout, secrets still redacted', () => {
    const bad = Buffer.from(registerWithCredential());
    // Corrupt the item type of the Batch Count (an Integer) into 0x0F, which no item type has.
    const batchCount = bad.indexOf(Buffer.from([0x42, 0x00, 0x0d, 0x02]));
    bad[batchCount + 3] = 0x0f;
    const out = runTtlvDump({ input: Buffer.from(bad.toString('hex')), redact: true });
    expect(out).toMatch(/!! does not decode: /);
    expect(out).toMatch(/420043 \| 08 \| 00000020 \| <redacted 32 bytes>/);
    expect(leaks(out, KEY)).toBe(false);
    expect(out).not.toContain(Buffer.from(PASSWORD).toString('hex').toUpperCase());
  });

  test('each secret-bearing field is redacted wherever it appears, and the table names only real tags', () => {
    expect(SECRET_FIELDS.size).toBeGreaterThanOrEqual(5);
    for (const [tag, why] of SECRET_FIELDS) {
      expect(why.length).toBeGreaterThan(5);
      expect(TAG_INFO.has(tag)).toBe(true);
      const marker = Buffer.from('5EC2E75EC2E75EC2E75EC2E7', 'hex');
      const item = tag === Tag.Password ? ttlv.textString(tag, 'pw-5ec2e7') : ttlv.byteString(tag, marker);
      const msg = encodeTtlv(ttlv.structure(Tag.ResponseMessage, [ttlv.structure(Tag.BatchItem, [item])]));
      const out = runTtlvDump({ input: msg, redact: true });
      expect(out).toMatch(/<redacted \d+ bytes>/);
      expect(out).not.toMatch(/5EC2E7|pw-5ec2e7/i);
      expect(runTtlvDump({ input: msg, redact: false })).toMatch(/5EC2E7|pw-5ec2e7/i);
    }
  });

  test('IVs, nonces and salts stay visible: they are not secret and are what one debugs', () => {
    const iv = Buffer.from('0102030405060708090A0B0C', 'hex');
    const msg = encodeTtlv(
      ttlv.structure(Tag.RequestMessage, [ttlv.byteString(Tag.IVCounterNonce, iv), ttlv.byteString(Tag.Salt, iv), ttlv.byteString(Tag.NonceValue, iv)]),
    );
    const out = runTtlvDump({ input: msg, redact: true });
    expect(out.match(/0102030405060708090A0B0C/g)).toHaveLength(3);
  });
});

describe('input refusals: one line saying what the input is not', () => {
  const refuse = (input: string | Uint8Array, format?: 'hex' | 'base64' | 'binary') => {
    try {
      runTtlvDump({ input: typeof input === 'string' ? Buffer.from(input) : input, format, redact: true });
    } catch (e) {
      const message = (e as Error).message;
      expect(message.split('\n')).toHaveLength(1);
      return message;
    }
    throw new Error('accepted');
  };

  test.each([
    ['', 'input is empty'],
    ['<RequestMessage><ProtocolVersion/></RequestMessage>', 'input is not TTLV: it looks like KMIP XML'],
    ['{"tag":"RequestMessage","value":[]}', 'input is not TTLV: it looks like KMIP JSON'],
    ['POST /kmip HTTP/1.1\r\nHost: x\r\n\r\n', 'input is not TTLV: it looks like HTTP'],
    ['hello, world!', 'input is not binary TTLV, hex or base64'],
    ['4200780100000', 'input is not hex: an odd number of digits (13)'],
    ['42007801', 'hex input is not TTLV: 4 bytes, shorter than one item header (8)'],
    ['deadbeefdeadbeef', 'hex input is not TTLV: no TTLV item header (first bytes DEADBEEFDEADBEEF)'],
    ['aGVsbG8gd29ybGQgaGVsbG8=', 'base64 input is not TTLV: no TTLV item header'],
  ])('%j', (input, expected) => {
    expect(refuse(input)).toContain(expected);
  });

  test('binary that is not TTLV: a pcap file and a TLS record are named', () => {
    const pcap = Buffer.concat([Buffer.from('d4c3b2a1', 'hex'), Buffer.alloc(20)]);
    expect(refuse(pcap)).toContain('input is not TTLV: it looks like a pcap capture');
    expect(refuse(pcap, 'binary')).toContain('it looks like a pcap capture');
    expect(refuse(Buffer.from('160303005a0200005603', 'hex'), 'binary')).toContain('it looks like a TLS record');
  });

  test('a format forced by the caller is held to: base64 text read as hex is refused', () => {
    expect(refuse(Buffer.from(queryRequest()).toString('base64'), 'hex')).toMatch(/^input is not hex: "Q" is not a hex digit$/);
    expect(refuse('QgB4!!', 'base64')).toBe('input is not base64: it has characters outside the base64 alphabet');
  });
});

describe('readers and the command entry', () => {
  test('readTtlvInput and splitTtlvMessages agree with the encoder on sizes', () => {
    const a = queryRequest();
    const b = registerWithCredential();
    const { bytes, format } = readTtlvInput(Buffer.concat([a, b]));
    expect(format).toBe('binary');
    expect(splitTtlvMessages(bytes).map((s) => [s.offset, s.bytes.length, s.truncatedBy])).toEqual([
      [0, a.length, undefined],
      [a.length, b.length, undefined],
    ]);
  });

  test('ttlvDumpCommand reads a file; a missing file is one line naming it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ttlv-dump-'));
    try {
      const file = path.join(dir, 'capture.bin');
      fs.writeFileSync(file, Buffer.concat([queryRequest(), queryRequest()]));
      const out = await ttlvDumpCommand(file, { redact: true });
      expect(out.split('\n')[0]).toMatch(/^# binary TTLV, \d+ bytes, 2 messages;/);
      const hexFile = path.join(dir, 'msg.hex');
      fs.writeFileSync(hexFile, `${Buffer.from(queryRequest()).toString('hex')}\n`);
      expect(await ttlvDumpCommand(hexFile, { format: 'hex', redact: false })).toMatch(/= Query$/m);
      await expect(ttlvDumpCommand(path.join(dir, 'nope.bin'), { redact: true })).rejects.toThrow(`cannot read ${path.join(dir, 'nope.bin')}: no such file`);
      await expect(ttlvDumpCommand(dir, { redact: true })).rejects.toThrow(/is a directory/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('readStdin gathers every chunk', async () => {
    const msg = Buffer.from(registerWithCredential());
    const stream = Readable.from([msg.subarray(0, 10), msg.subarray(10, 99), msg.subarray(99)]);
    expect(Buffer.from(await readStdin(stream)).equals(msg)).toBe(true);
  });
});
