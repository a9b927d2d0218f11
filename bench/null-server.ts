/**
 * Calibration: a "server" that answers every framed KMIP request over the same mTLS set-up as our
 * listener with one canned success response (one Unique Identifier, a 32-byte key block) and does
 * nothing else. Driven by bench/load.ts, it shows what TLS, loopback and the load generator alone
 * allow on this machine: the ceiling any real server's figures sit under.
 *
 *   node -r ./scripts/register-ts.js bench/null-server.ts --data-dir DIR    (uses DIR/pki, made if absent)
 */
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { TtlvFramer } from '../ttlv/framer';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../ttlv/decode';
import { encodeTtlv } from '../ttlv/encode';
import { ttlv } from '../ttlv/types';
import { Tag } from '../src/spec/generated/tags';
import { CryptographicAlgorithm, KeyFormatType, ObjectType, Operation, ResultStatus } from '../src/spec/generated/enums';
import { ensureDevPki } from '../src/pki/dev-pki';

function cannedResponse(): Uint8Array {
  return encodeTtlv(
    ttlv.structure(Tag.ResponseMessage, [
      ttlv.structure(Tag.ResponseHeader, [
        ttlv.structure(Tag.ProtocolVersion, [ttlv.integer(Tag.ProtocolVersionMajor, 1), ttlv.integer(Tag.ProtocolVersionMinor, 4)]),
        ttlv.dateTime(Tag.TimeStamp, BigInt(Math.floor(Date.now() / 1000))),
        ttlv.integer(Tag.BatchCount, 1),
      ]),
      ttlv.structure(Tag.BatchItem, [
        ttlv.enumeration(Tag.Operation, Operation.Get),
        ttlv.enumeration(Tag.ResultStatus, ResultStatus.Success),
        ttlv.structure(Tag.ResponsePayload, [
          ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
          ttlv.textString(Tag.UniqueIdentifier, '00000000-0000-4000-8000-000000000000'),
          ttlv.structure(Tag.SymmetricKey, [
            ttlv.structure(Tag.KeyBlock, [
              ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
              ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, randomBytes(32))]),
              ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
              ttlv.integer(Tag.CryptographicLength, 256),
            ]),
          ]),
        ]),
      ]),
    ]),
  );
}

function main(): void {
  const i = process.argv.indexOf('--data-dir');
  const dataDir = path.resolve(i > 0 ? process.argv[i + 1]! : './data');
  const pki = ensureDevPki(path.join(dataDir, 'pki'));
  const response = cannedResponse();
  const server = tls.createServer({
    key: fs.readFileSync(pki.serverKeyPath),
    cert: fs.readFileSync(pki.serverCertPath),
    ca: fs.readFileSync(pki.caPath),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  });
  server.on('secureConnection', (socket) => {
    const framer = new TtlvFramer({ maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES, expectTag: Tag.RequestMessage });
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      const frames = framer.push(chunk).length;
      for (let k = 0; k < frames; k++) socket.write(response);
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const port = (server.address() as { port: number }).port;
    console.log(JSON.stringify({ msg: 'listening', port }));
  });
  process.on('SIGTERM', () => process.exit(0));
}

main();
