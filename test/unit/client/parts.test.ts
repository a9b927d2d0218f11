/** The client library's pure parts: server addresses, attribute values from the spec table, messages both ways. */
import { attribute, attributeValues, decodeResponse, encodeRequest, KmipProtocolError, KmipResultError, nameAttribute, parseServerAddress } from '../../../src/client';
import { decodeTtlv } from '../../../ttlv/decode';
import { encodeTtlv } from '../../../ttlv/encode';
import { ItemType, ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { CryptographicAlgorithm, Operation, ResultReason, ResultStatus } from '../../../src/spec/generated/enums';
import { encodeResponseItem, encodeResponseMessage, readRequestMessage } from '../../../src/kmip/message';

describe('parseServerAddress', () => {
  it.each([
    ['kms.example.net:5697', { host: 'kms.example.net', port: 5697 }],
    ['kms.example.net', { host: 'kms.example.net', port: 5696 }],
    ['[::1]:9000', { host: '::1', port: 9000 }],
    ['[::1]', { host: '::1', port: 5696 }],
  ])('reads %s', (text, address) => {
    expect(parseServerAddress(text)).toEqual(address);
  });

  it.each(['host:0', 'host:65536', 'host:x', 'a:b:c'])('refuses %s', (text) => {
    expect(() => parseServerAddress(text)).toThrow(text);
  });
});

describe('attribute', () => {
  it('takes the item type and tag from the spec table', () => {
    expect(attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES).value).toEqual(ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES));
    expect(attribute('Cryptographic Length', 256).value).toEqual(ttlv.integer(Tag.CryptographicLength, 256));
    expect(attribute('Activation Date', new Date(1_700_000_000_500)).value).toEqual(ttlv.dateTime(Tag.ActivationDate, 1_700_000_000n));
  });

  it('infers a custom attribute from its value, under Attribute Value', () => {
    expect(attribute('x-Owner', 'team').value).toEqual(ttlv.textString(Tag.AttributeValue, 'team'));
    expect(attribute('x-Count', 3).value).toEqual(ttlv.integer(Tag.AttributeValue, 3));
  });

  it('refuses a plain value for a structure', () => {
    expect(() => attribute('Name', 'x')).toThrow(/structure/);
  });

  it('reads values back plainly', () => {
    expect(attributeValues([nameAttribute('a'), attribute('Cryptographic Length', 128), nameAttribute('b')], 'Name')).toEqual([
      { NameValue: 'a', NameType: 1 },
      { NameValue: 'b', NameType: 1 },
    ]);
  });
});

describe('messages', () => {
  it('writes a Request Message the server reads, extra header fields and Time Stamp in place', () => {
    const bytes = encodeRequest({ major: 1, minor: 4 }, [{ operation: Operation.Query, payload: [] }], {
      header: [ttlv.integer(Tag.MaximumResponseSize, 4096)],
      timeStamp: 1_700_000_000n,
    });
    const m = readRequestMessage(decodeTtlv(bytes));
    expect(m.header.version).toEqual({ major: 1, minor: 4 });
    expect(m.header.maximumResponseSize).toBe(4096);
    expect(m.header.timeStamp).toBe(1_700_000_000n);
    expect(m.items.map((i) => i.operation)).toEqual([Operation.Query]);
  });

  it('reads a Response Message item by item', () => {
    const bytes = encodeTtlv(
      encodeResponseMessage({ version: { major: 2, minor: 1 }, timeStamp: 0n }, [
        encodeResponseItem({ operation: Operation.Get, status: ResultStatus.OperationFailed, reason: ResultReason.ObjectNotFound, message: 'gone' }),
      ]),
    );
    const r = decodeResponse(bytes);
    expect(r.version).toEqual({ major: 2, minor: 1 });
    expect(r.items[0]).toMatchObject({ operation: Operation.Get, status: ResultStatus.OperationFailed, reason: ResultReason.ObjectNotFound, message: 'gone' });
    expect(r.root.type).toBe(ItemType.Structure);
  });

  it('calls anything else a protocol error', () => {
    expect(() => decodeResponse(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'))).toThrow(KmipProtocolError);
    const request = encodeRequest({ major: 1, minor: 4 }, []);
    expect(() => decodeResponse(request)).toThrow(/not a Response Message/);
  });

  it('names the status and reason of a refusal', () => {
    const e = new KmipResultError(Operation.Destroy, ResultStatus.OperationFailed, ResultReason.PermissionDenied, 'not yours');
    expect(e.message).toBe('Destroy failed: OperationFailed (PermissionDenied): not yours');
    expect([e.statusName, e.reasonName]).toEqual(['OperationFailed', 'PermissionDenied']);
  });
});
