/** PKCS#10 certificate requests built at test time (the Certify and Certificate Request tests). */
import { sign, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';

/** A PKCS#10 request for `cn` signed by `key` (ECDSA with SHA-256); `tamper` breaks its signature. */
export function csr(cn: string, key: { privateKey: KeyObject; publicKey: KeyObject }, tamper = false): Buffer {
  const name = new asn1js.Sequence({
    value: [new asn1js.Set({ value: [new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: '2.5.4.3' }), new asn1js.Utf8String({ value: cn })] })] })],
  });
  const spki = asn1js.fromBER(key.publicKey.export({ type: 'spki', format: 'der' })).result;
  const info = new asn1js.Sequence({ value: [new asn1js.Integer({ value: 0 }), name, spki, new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [] })] });
  const signature = sign('sha256', Buffer.from(info.toBER(false)), { key: key.privateKey, dsaEncoding: 'der' });
  if (tamper) signature[signature.length - 1] = (signature[signature.length - 1] as number) ^ 1;
  const der = new asn1js.Sequence({
    value: [info, new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: '1.2.840.10045.4.3.2' })] }), new asn1js.BitString({ valueHex: signature, unusedBits: 0 })],
  });
  return Buffer.from(der.toBER(false));
}
