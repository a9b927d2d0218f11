/**
 * The conformance runner's own logic on small hand-written trees: placeholder binding and
 * substitution, masks, attribute lists, exact Result Status / Reason, failure paths; then case
 * discovery, the project files, the CLI options, and a replay of the whole corpus.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseKmipXml, readXml } from '../../ttlv/xml';
import { ItemType } from '../../ttlv/types';
import type { TtlvItem } from '../../ttlv/types';
import { encodeTtlv } from '../../ttlv/encode';
import { kmipDictionary } from '../../src/spec/dictionary';
import { Tag } from '../../src/spec/generated/tags';
import { CaseState, ServerState, compareResponse, finishRequest, observeResponse, resolveRequestPlaceholder } from '../../conformance/compare';
import type { Mismatch } from '../../conformance/compare';
import { expectedFromXml, requestFromElement } from '../../conformance/expected';
import { DEFAULT_VERSIONS, discoverCases, groupOf } from '../../conformance/cases';
import type { CaseInfo } from '../../conformance/cases';
import { groupCases, runConformance, selectCases, skipReason } from '../../conformance/runner';
import type { CaseResult } from '../../conformance/runner';
import { caseLine, findRegressions, loadExpectedPassing, loadSkipList, renderTable, summarize, updateExpectedPassing } from '../../conformance/report';
import { DEFAULT_EXPECTED, DEFAULT_SKIP_LIST, main, parseCli } from '../../conformance/main';
import { replayTarget } from '../../conformance/replay';
import { withConformanceDir } from '../helpers/conformance';

// ---------------------------------------------------------------------------------------------
// Helpers: messages written as KMIP XML

const V14 = `<ProtocolVersion><ProtocolVersionMajor type="Integer" value="1"/><ProtocolVersionMinor type="Integer" value="4"/></ProtocolVersion>`;

function requestXml(items: string): string {
  const n = (items.match(/<BatchItem>/g) ?? []).length;
  return `<RequestMessage><RequestHeader>${V14}<BatchCount type="Integer" value="${n}"/></RequestHeader>${items}</RequestMessage>`;
}

function responseXml(items: string, time = '$NOW'): string {
  const n = (items.match(/<BatchItem>/g) ?? []).length;
  return `<ResponseMessage><ResponseHeader>${V14}<TimeStamp type="DateTime" value="${time}"/><BatchCount type="Integer" value="${n}"/></ResponseHeader>${items}</ResponseMessage>`;
}

function item(op: string, payload: string, status = 'Success', extra = ''): string {
  return `<BatchItem><Operation type="Enumeration" value="${op}"/><ResultStatus type="Enumeration" value="${status}"/>${extra}${payload}</BatchItem>`;
}

function reqItem(op: string, payload: string): string {
  return `<BatchItem><Operation type="Enumeration" value="${op}"/><RequestPayload>${payload}</RequestPayload></BatchItem>`;
}

function actual(xml: string): TtlvItem {
  return parseKmipXml(xml, kmipDictionary);
}

const NOW_ISO = (): string => new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace('.000Z', '+00:00');

/** Builds the request as the runner would (placeholders resolved, recorded as sent). */
function build(xml: string, state: CaseState): TtlvItem {
  const now = Date.now();
  return finishRequest(
    requestFromElement(readXml(xml), (info) => resolveRequestPlaceholder(info, state, now)),
    state,
  );
}

/** One step: build the request, compare the given actual response, observe it. */
function step(state: CaseState, req: string, expected: string, act: string): Mismatch | undefined {
  const request = build(req, state);
  const response = actual(act);
  const m = compareResponse(expectedFromXml(expected), response, request, state);
  observeResponse(request, response, state);
  return m;
}

function newState(): CaseState {
  return new CaseState(new ServerState(Date.now() - 1000), 60);
}

function textAt(tree: TtlvItem, ...tags: number[]): string | undefined {
  let cur: TtlvItem | undefined = tree;
  for (const t of tags) cur = cur?.type === ItemType.Structure ? cur.value.find((c) => c.tag === t) : undefined;
  return cur?.type === ItemType.TextString ? cur.value : undefined;
}

function bytesAt(tree: TtlvItem, ...tags: number[]): string | undefined {
  let cur: TtlvItem | undefined = tree;
  for (const t of tags) cur = cur?.type === ItemType.Structure ? cur.value.find((c) => c.tag === t) : undefined;
  return cur?.type === ItemType.ByteString ? Buffer.from(cur.value).toString('hex') : undefined;
}

const CREATE_REQ = requestXml(reqItem('Create', `<ObjectType type="Enumeration" value="SymmetricKey"/>`));
const CREATE_EXP = responseXml(item('Create', `<ResponsePayload><ObjectType type="Enumeration" value="SymmetricKey"/><UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/></ResponsePayload>`));
const createAct = (id: string, time = NOW_ISO()): string =>
  responseXml(item('Create', `<ResponsePayload><ObjectType type="Enumeration" value="SymmetricKey"/><UniqueIdentifier type="TextString" value="${id}"/></ResponsePayload>`), time);

// ---------------------------------------------------------------------------------------------
// Placeholders

describe('placeholders', () => {
  test('$UNIQUE_IDENTIFIER_n binds to the returned identifier and is substituted into later requests', () => {
    const s = newState();
    expect(step(s, CREATE_REQ, CREATE_EXP, createAct('key-17'))).toBeUndefined();
    const get = build(requestXml(reqItem('Get', `<UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/>`)), s);
    expect(textAt(get, Tag.BatchItem, Tag.RequestPayload, Tag.UniqueIdentifier)).toBe('key-17');
  });

  test('a bound identifier that comes back different fails, with the path', () => {
    const s = newState();
    expect(step(s, CREATE_REQ, CREATE_EXP, createAct('key-17'))).toBeUndefined();
    const m = step(s, CREATE_REQ, CREATE_EXP, createAct('key-18'));
    expect(m?.path).toBe('ResponseMessage/BatchItem/ResponsePayload/UniqueIdentifier');
    expect(m?.expected).toContain('key-17');
    expect(m?.actual).toContain('key-18');
  });

  test('two identifier placeholders may not bind to the same object', () => {
    const s = newState();
    expect(step(s, CREATE_REQ, CREATE_EXP, createAct('key-1'))).toBeUndefined();
    const m = step(s, CREATE_REQ, CREATE_EXP.replace('$UNIQUE_IDENTIFIER_0', '$UNIQUE_IDENTIFIER_1'), createAct('key-1'));
    expect(m?.expected).toContain('a new identifier for $UNIQUE_IDENTIFIER_1');
  });

  test('an identifier used before any response names it gets a fresh value (an object the server lacks)', () => {
    const s = newState();
    const req = build(requestXml(reqItem('Get', `<UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_3"/>`)), s);
    const id = textAt(req, Tag.BatchItem, Tag.RequestPayload, Tag.UniqueIdentifier);
    expect(id).toMatch(/^conformance-/);
    expect(s.bindings.get('$UNIQUE_IDENTIFIER_3')).toBeDefined();
  });

  test('$NOW-n in a request is the current time moved by n seconds', () => {
    const s = newState();
    const before = Math.floor(Date.now() / 1000);
    const req = build(
      requestXml(reqItem('Activate', `<UniqueIdentifier type="TextString" value="x"/><ActivationDate type="DateTime" value="$NOW-3600"/>`)),
      s,
    );
    const after = Math.ceil(Date.now() / 1000);
    const bi = req.type === ItemType.Structure ? req.value.find((c) => c.tag === Tag.BatchItem) : undefined;
    const payload = bi?.type === ItemType.Structure ? bi.value.find((c) => c.tag === Tag.RequestPayload) : undefined;
    const date = payload?.type === ItemType.Structure ? payload.value.find((c) => c.tag === Tag.ActivationDate) : undefined;
    expect(date?.type).toBe(ItemType.DateTime);
    const seconds = date?.type === ItemType.DateTime ? Number(date.value) : 0;
    expect(seconds).toBeGreaterThanOrEqual(before - 3600);
    expect(seconds).toBeLessThanOrEqual(after - 3600);
  });

  test('$NOW in a response is a window around the run; a time far outside fails', () => {
    const s = newState();
    expect(step(s, CREATE_REQ, CREATE_EXP, createAct('a'))).toBeUndefined();
    const getAttrs = requestXml(reqItem('GetAttributes', `<UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/>`));
    const exp = responseXml(
      item('GetAttributes', `<ResponsePayload><UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/><Attribute><AttributeName type="TextString" value="Initial Date"/><AttributeValue type="DateTime" value="$NOW"/></Attribute></ResponsePayload>`),
    );
    const act = (date: string): string =>
      responseXml(
        item('GetAttributes', `<ResponsePayload><UniqueIdentifier type="TextString" value="a"/><Attribute><AttributeName type="TextString" value="Initial Date"/><AttributeValue type="DateTime" value="${date}"/></Attribute></ResponsePayload>`),
        NOW_ISO(),
      );
    expect(step(s, getAttrs, exp, act(NOW_ISO()))).toBeUndefined();
    const m = step(s, getAttrs, exp, act('2000-01-01T00:00:00+00:00'));
    expect(m?.path).toBe('ResponseMessage/BatchItem/ResponsePayload/Attribute[Initial Date]/AttributeValue');
    expect(m?.expected).toContain('$NOW');
  });

  test('an unbound placeholder first seen in a request is the last value the server returned under that tag', () => {
    const s = newState();
    const macReq = requestXml(reqItem('MAC', `<UniqueIdentifier type="TextString" value="k"/><Data type="ByteString" value="0102"/>`));
    const macExp = responseXml(item('MAC', `<ResponsePayload><UniqueIdentifier type="TextString" value="k"/><MACData type="ByteString" value="aabbccdd"/></ResponsePayload>`));
    // The key is unknown to the client here, so the MAC is masked.
    expect(step(s, macReq, macExp, macExp.replace('aabbccdd', '11223344').replace('$NOW', NOW_ISO()))).toBeUndefined();
    const verify = build(
      requestXml(reqItem('MACVerify', `<UniqueIdentifier type="TextString" value="k"/><Data type="ByteString" value="0102"/><MACData type="ByteString" value="$MAC_DATA"/>`)),
      s,
    );
    expect(bytesAt(verify, Tag.BatchItem, Tag.RequestPayload, Tag.MACData)).toBe('11223344');
  });

  test('other placeholders in a response bind to whatever comes back and feed later requests', () => {
    const s = newState();
    const encReq = requestXml(reqItem('Encrypt', `<UniqueIdentifier type="TextString" value="k"/><Data type="ByteString" value="00"/>`));
    const encExp = responseXml(
      item('Encrypt', `<ResponsePayload><UniqueIdentifier type="TextString" value="k"/><Data type="ByteString" value="$DATA_0"/><IVCounterNonce type="ByteString" value="$IV_COUNTER_NONCE"/></ResponsePayload>`),
    );
    const encAct = responseXml(
      item('Encrypt', `<ResponsePayload><UniqueIdentifier type="TextString" value="k"/><Data type="ByteString" value="c1c2c3c4"/><IVCounterNonce type="ByteString" value="0a0b"/></ResponsePayload>`),
      NOW_ISO(),
    );
    expect(step(s, encReq, encExp, encAct)).toBeUndefined();
    const dec = build(
      requestXml(reqItem('Decrypt', `<UniqueIdentifier type="TextString" value="k"/><Data type="ByteString" value="$DATA_0"/><IVCounterNonce type="ByteString" value="$IV_COUNTER_NONCE"/>`)),
      s,
    );
    expect(bytesAt(dec, Tag.BatchItem, Tag.RequestPayload, Tag.Data)).toBe('c1c2c3c4');
    expect(bytesAt(dec, Tag.BatchItem, Tag.RequestPayload, Tag.IVCounterNonce)).toBe('0a0b');
  });
});

// ---------------------------------------------------------------------------------------------
// Masks and lists

describe('masks', () => {
  test('time stamp, Result Message text and digests may differ', () => {
    const s = newState();
    expect(step(s, CREATE_REQ, CREATE_EXP, createAct('a'))).toBeUndefined();
    const req = requestXml(reqItem('GetAttributes', `<UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/>`));
    const digest = (v: string): string =>
      `<Attribute><AttributeName type="TextString" value="Digest"/><AttributeValue><HashingAlgorithm type="Enumeration" value="SHA_256"/><DigestValue type="ByteString" value="${v}"/><KeyFormatType type="Enumeration" value="Raw"/></AttributeValue></Attribute>`;
    const exp = responseXml(
      item('GetAttributes', `<ResponsePayload><UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/>${digest('bc12')}</ResponsePayload>`, 'Success', ''),
    );
    const act = responseXml(
      item('GetAttributes', `<ResponsePayload><UniqueIdentifier type="TextString" value="a"/>${digest('9999')}</ResponsePayload>`, 'Success', '<ResultMessage type="TextString" value="fine"/>'),
      '2001-02-03T04:05:06+00:00',
    );
    expect(step(s, req, exp, act)).toBeUndefined();
  });

  test('key material of a generated key is masked; of a registered key it must match', () => {
    const get = (payload: string): string => responseXml(item('Get', `<ResponsePayload><ObjectType type="Enumeration" value="SymmetricKey"/>${payload}</ResponsePayload>`));
    const key = (id: string, material: string): string =>
      `<UniqueIdentifier type="TextString" value="${id}"/><SymmetricKey><KeyBlock><KeyFormatType type="Enumeration" value="Raw"/><KeyValue><KeyMaterial type="ByteString" value="${material}"/></KeyValue></KeyBlock></SymmetricKey>`;
    const getReq = requestXml(reqItem('Get', `<UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/>`));

    const generated = newState();
    expect(step(generated, CREATE_REQ, CREATE_EXP, createAct('g'))).toBeUndefined();
    expect(step(generated, getReq, get(key('$UNIQUE_IDENTIFIER_0', '2a2a2a2a')), get(key('g', '5b5b5b5b')).replace('$NOW', NOW_ISO()))).toBeUndefined();

    const registered = newState();
    const regReq = requestXml(
      reqItem('Register', `<ObjectType type="Enumeration" value="SymmetricKey"/>` + key('ignored', '0123456789abcdef').replace(/<UniqueIdentifier[^>]*>/, '')),
    );
    const regExp = responseXml(item('Register', `<ResponsePayload><UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/></ResponsePayload>`));
    expect(step(registered, regReq, regExp, regExp.replace('$UNIQUE_IDENTIFIER_0', 'r').replace('$NOW', NOW_ISO()))).toBeUndefined();
    const m = step(registered, getReq, get(key('$UNIQUE_IDENTIFIER_0', '0123456789abcdef')), get(key('r', '0123456789abcdee')).replace('$NOW', NOW_ISO()));
    expect(m?.path).toBe('ResponseMessage/BatchItem/ResponsePayload/SymmetricKey/KeyBlock/KeyValue/KeyMaterial');
  });

  test('a masked value the case quotes later is replaced by what the server returned', () => {
    const s = newState();
    expect(step(s, CREATE_REQ, CREATE_EXP, createAct('g'))).toBeUndefined();
    const encReq = requestXml(reqItem('Encrypt', `<UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/><Data type="ByteString" value="01020304"/>`));
    const enc = (id: string, data: string): string => responseXml(item('Encrypt', `<ResponsePayload><UniqueIdentifier type="TextString" value="${id}"/><Data type="ByteString" value="${data}"/></ResponsePayload>`));
    // The key was generated by the server, so its ciphertext cannot be the case's.
    expect(step(s, encReq, enc('$UNIQUE_IDENTIFIER_0', 'fd912d102dbb482f'), enc('g', '0000111122223333').replace('$NOW', NOW_ISO()))).toBeUndefined();
    const dec = build(requestXml(reqItem('Decrypt', `<UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/><Data type="ByteString" value="fd912d102dbb482f"/>`)), s);
    expect(bytesAt(dec, Tag.BatchItem, Tag.RequestPayload, Tag.Data)).toBe('0000111122223333');
  });

  describe('Decrypt with a key the server generated', () => {
    const decReq = (data: string): string =>
      requestXml(reqItem('Decrypt', `<UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/><Data type="ByteString" value="${data}"/>`));
    const dec = (id: string, data: string): string =>
      responseXml(item('Decrypt', `<ResponsePayload><UniqueIdentifier type="TextString" value="${id}"/><Data type="ByteString" value="${data}"/></ResponsePayload>`));
    const encReq = requestXml(reqItem('Encrypt', `<UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/><Data type="ByteString" value="01020304"/>`));
    const enc = (id: string, data: string): string =>
      responseXml(item('Encrypt', `<ResponsePayload><UniqueIdentifier type="TextString" value="${id}"/><Data type="ByteString" value="${data}"/></ResponsePayload>`));

    test('of a ciphertext the case brings (made under another server\'s key): the plaintext may differ', () => {
      const s = newState();
      expect(step(s, CREATE_REQ, CREATE_EXP, createAct('g'))).toBeUndefined();
      expect(step(s, decReq('fd912d102dbb482f'), dec('$UNIQUE_IDENTIFIER_0', '01020304'), dec('g', '771c0812').replace('$NOW', NOW_ISO()))).toBeUndefined();
      // Still a byte string, and still the bound identifier.
      expect(step(s, decReq('fd912d102dbb482f'), dec('$UNIQUE_IDENTIFIER_0', '01020304'), dec('other', '771c0812').replace('$NOW', NOW_ISO()))?.path).toBe(
        'ResponseMessage/BatchItem/ResponsePayload/UniqueIdentifier',
      );
    });

    test('of a ciphertext this server returned: the plaintext must be the case\'s', () => {
      const s = newState();
      expect(step(s, CREATE_REQ, CREATE_EXP, createAct('g'))).toBeUndefined();
      expect(step(s, encReq, enc('$UNIQUE_IDENTIFIER_0', 'fd912d102dbb482f'), enc('g', '0000111122223333').replace('$NOW', NOW_ISO()))).toBeUndefined();
      // The case quotes its own ciphertext; the runner sends the server's, so the round trip is held exactly.
      expect(step(s, decReq('fd912d102dbb482f'), dec('$UNIQUE_IDENTIFIER_0', '01020304'), dec('g', '01020304').replace('$NOW', NOW_ISO()))).toBeUndefined();
      const m = step(s, decReq('fd912d102dbb482f'), dec('$UNIQUE_IDENTIFIER_0', '01020304'), dec('g', '01020305').replace('$NOW', NOW_ISO()));
      expect(m?.path).toBe('ResponseMessage/BatchItem/ResponsePayload/Data');
    });

    test('with a key the client registered, the plaintext must be the case\'s whatever the ciphertext', () => {
      const s = newState();
      const regReq = requestXml(
        reqItem(
          'Register',
          `<ObjectType type="Enumeration" value="SymmetricKey"/><SymmetricKey><KeyBlock><KeyFormatType type="Enumeration" value="Raw"/><KeyValue><KeyMaterial type="ByteString" value="0123456789abcdef0123456789abcdef"/></KeyValue></KeyBlock></SymmetricKey>`,
        ),
      );
      const regExp = responseXml(item('Register', `<ResponsePayload><UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/></ResponsePayload>`));
      expect(step(s, regReq, regExp, regExp.replace('$UNIQUE_IDENTIFIER_0', 'r').replace('$NOW', NOW_ISO()))).toBeUndefined();
      const m = step(s, decReq('fd912d102dbb482f'), dec('$UNIQUE_IDENTIFIER_0', '01020304'), dec('r', '771c0812').replace('$NOW', NOW_ISO()));
      expect(m?.path).toBe('ResponseMessage/BatchItem/ResponsePayload/Data');
    });
  });
});

describe('attribute lists and result codes', () => {
  const attr = (name: string, type: string, value: string): string =>
    `<Attribute><AttributeName type="TextString" value="${name}"/><AttributeValue type="${type}" value="${value}"/></Attribute>`;
  const req = requestXml(reqItem('GetAttributes', `<UniqueIdentifier type="TextString" value="x"/>`));
  const getAttrs = (attrs: string, id = 'x'): string =>
    responseXml(item('GetAttributes', `<ResponsePayload><UniqueIdentifier type="TextString" value="${id}"/>${attrs}</ResponsePayload>`));
  const act = (attrs: string): string => getAttrs(attrs).replace('$NOW', NOW_ISO());

  test('1.x: extra attributes and any order are allowed', () => {
    const exp = getAttrs(attr('State', 'Enumeration', 'PreActive') + attr('Cryptographic Length', 'Integer', '256'));
    const got = act(attr('Object Type', 'Enumeration', 'SymmetricKey') + attr('Cryptographic Length', 'Integer', '256') + attr('State', 'Enumeration', 'PreActive'));
    expect(step(newState(), req, exp, got)).toBeUndefined();
  });

  test('1.x: a missing attribute fails', () => {
    const exp = getAttrs(attr('State', 'Enumeration', 'PreActive') + attr('Cryptographic Length', 'Integer', '256'));
    const m = step(newState(), req, exp, act(attr('State', 'Enumeration', 'PreActive')));
    expect(m?.path).toBe('ResponseMessage/BatchItem/ResponsePayload/Attribute[Cryptographic Length]');
    expect(m?.actual).toBe('missing');
  });

  test('a differing enumeration value fails at its path, with both names', () => {
    const exp = getAttrs(attr('State', 'Enumeration', 'PreActive'));
    const m = step(newState(), req, exp, act(attr('State', 'Enumeration', 'Active')));
    expect(m).toEqual({ path: 'ResponseMessage/BatchItem/ResponsePayload/Attribute[State]/AttributeValue', expected: 'PreActive', actual: 'Active' });
  });

  test('masks compare by bits, whatever the order of the names', () => {
    const exp = getAttrs(attr('Cryptographic Usage Mask', 'Integer', 'Decrypt Encrypt'));
    expect(step(newState(), req, exp, act(attr('Cryptographic Usage Mask', 'Integer', 'Encrypt Decrypt')))).toBeUndefined();
  });

  test('2.x: the Attributes structure may hold more, in any order', () => {
    const exp = getAttrs(
      `<Attributes><CryptographicAlgorithm type="Enumeration" value="AES"/><State type="Enumeration" value="Active"/></Attributes>`,
    );
    const got = act(
      `<Attributes><State type="Enumeration" value="Active"/><Fresh type="Boolean" value="true"/><CryptographicAlgorithm type="Enumeration" value="AES"/></Attributes>`,
    );
    expect(step(newState(), req, exp, got)).toBeUndefined();
    const wrong = act(`<Attributes><State type="Enumeration" value="Active"/><CryptographicAlgorithm type="Enumeration" value="RSA"/></Attributes>`);
    const m = step(newState(), req, exp, wrong);
    expect(m).toEqual({ path: 'ResponseMessage/BatchItem/ResponsePayload/Attributes/CryptographicAlgorithm', expected: 'AES', actual: 'RSA' });
  });

  test('a wrong Result Reason fails, and says what the server answered', () => {
    const exp = responseXml(item('Get', '', 'OperationFailed', `<ResultReason type="Enumeration" value="ItemNotFound"/><ResultMessage type="TextString" value="not found"/>`));
    const got = exp
      .replace('ItemNotFound', 'PermissionDenied')
      .replace('value="not found"', 'value="no"')
      .replace('$NOW', NOW_ISO());
    const m = step(newState(), requestXml(reqItem('Get', `<UniqueIdentifier type="TextString" value="x"/>`)), exp, got);
    expect(m?.path).toBe('ResponseMessage/BatchItem/ResultReason');
    expect(m?.expected).toBe('ItemNotFound');
    expect(m?.actual).toContain('PermissionDenied');
  });

  test('a wrong Result Status fails even when the payload would match', () => {
    const exp = responseXml(item('Activate', `<ResponsePayload><UniqueIdentifier type="TextString" value="x"/></ResponsePayload>`));
    const got = responseXml(
      item('Activate', '', 'OperationFailed', `<ResultReason type="Enumeration" value="OperationNotSupported"/><ResultMessage type="TextString" value="no Activate here"/>`),
      NOW_ISO(),
    );
    const m = step(newState(), requestXml(reqItem('Activate', `<UniqueIdentifier type="TextString" value="x"/>`)), exp, got);
    expect(m?.path).toBe('ResponseMessage/BatchItem/ResultStatus');
    expect(m?.actual).toContain('OperationNotSupported');
    expect(m?.actual).toContain('no Activate here');
  });

  test('Query: a superset is fine, vendor identification is masked; a missing operation fails', () => {
    const ops = (names: string[]): string => names.map((n) => `<Operation type="Enumeration" value="${n}"/>`).join('');
    const q = requestXml(reqItem('Query', `<QueryFunction type="Enumeration" value="QueryOperations"/>`));
    const exp = responseXml(item('Query', `<ResponsePayload>${ops(['Create', 'Get'])}<VendorIdentification type="TextString" value="ACME"/></ResponsePayload>`));
    const got = (names: string[]): string =>
      responseXml(item('Query', `<ResponsePayload>${ops(names)}<VendorIdentification type="TextString" value="us"/></ResponsePayload>`), NOW_ISO());
    expect(step(newState(), q, exp, got(['Get', 'Locate', 'Create']))).toBeUndefined();
    const m = step(newState(), q, exp, got(['Get']));
    expect(m?.expected).toContain('Create');
  });

  test('Locate: identifiers in any order, but no others', () => {
    const s = newState();
    const ids = (xs: string[]): string => xs.map((x) => `<UniqueIdentifier type="TextString" value="${x}"/>`).join('');
    const loc = requestXml(reqItem('Locate', ''));
    const exp = responseXml(item('Locate', `<ResponsePayload>${ids(['$UNIQUE_IDENTIFIER_0', '$UNIQUE_IDENTIFIER_1'])}</ResponsePayload>`));
    expect(step(s, loc, exp, responseXml(item('Locate', `<ResponsePayload>${ids(['b', 'a'])}</ResponsePayload>`), NOW_ISO()))).toBeUndefined();
    const again = responseXml(item('Locate', `<ResponsePayload>${ids(['a', 'b', 'c'])}</ResponsePayload>`), NOW_ISO());
    expect(step(s, loc, exp, again)?.actual).toContain('"c"');
  });

  test('Discover Versions: more versions are fine, in the expected order', () => {
    const pv = (maj: number, min: number): string =>
      `<ProtocolVersion><ProtocolVersionMajor type="Integer" value="${maj}"/><ProtocolVersionMinor type="Integer" value="${min}"/></ProtocolVersion>`;
    const dv = requestXml(reqItem('DiscoverVersions', ''));
    const exp = responseXml(item('DiscoverVersions', `<ResponsePayload>${pv(1, 2)}${pv(1, 0)}</ResponsePayload>`));
    const got = (vs: Array<[number, number]>): string =>
      responseXml(item('DiscoverVersions', `<ResponsePayload>${vs.map(([a, b]) => pv(a, b)).join('')}</ResponsePayload>`), NOW_ISO());
    expect(step(newState(), dv, exp, got([[2, 1], [1, 4], [1, 2], [1, 1], [1, 0]]))).toBeUndefined();
    expect(step(newState(), dv, exp, got([[1, 0], [1, 2]]))).toBeDefined();
  });

  test('RNG Retrieve: random data of the requested length', () => {
    const rng = requestXml(reqItem('RNGRetrieve', `<DataLength type="Integer" value="4"/>`));
    const exp = responseXml(item('RNGRetrieve', `<ResponsePayload><Data type="ByteString" value="01020304"/></ResponsePayload>`));
    const got = (hex: string): string => responseXml(item('RNGRetrieve', `<ResponsePayload><Data type="ByteString" value="${hex}"/></ResponsePayload>`), NOW_ISO());
    expect(step(newState(), rng, exp, got('9f8e7d6c'))).toBeUndefined();
    expect(step(newState(), rng, exp, got('9f8e7d'))).toEqual({ path: 'ResponseMessage/BatchItem/ResponsePayload/Data', expected: '4 bytes', actual: '3 bytes' });
  });

  test('an unexpected field in a payload fails', () => {
    const exp = responseXml(item('Activate', `<ResponsePayload><UniqueIdentifier type="TextString" value="x"/></ResponsePayload>`));
    const got = responseXml(item('Activate', `<ResponsePayload><UniqueIdentifier type="TextString" value="x"/><ObjectType type="Enumeration" value="SymmetricKey"/></ResponsePayload>`), NOW_ISO());
    const m = step(newState(), requestXml(reqItem('Activate', `<UniqueIdentifier type="TextString" value="x"/>`)), exp, got);
    expect(m?.path).toBe('ResponseMessage/BatchItem/ResponsePayload/ObjectType');
  });
});

// ---------------------------------------------------------------------------------------------
// Cases, files, CLI

function info(id: string): CaseInfo {
  const [v, name] = id.split('/') as [string, string];
  return { id, version: v.slice(1), name, base: name.replace(/-\d{2}$/, ''), group: groupOf(name), kind: name.includes('-O-') ? 'optional' : 'mandatory', file: '' };
}

describe('cases and runs', () => {
  test('profile groups come from the file name', () => {
    expect(groupOf('CS-BC-M-GCM-1-14')).toBe('CS-BC');
    expect(groupOf('SUITEB_128-M-1-14')).toBe('SUITEB');
    expect(groupOf('MSGENC-HTTPS-M-1-21')).toBe('MSGENC');
    expect(groupOf('CS-BC-M-4-12-3DES-13')).toBe('CS-BC');
    expect(groupOf('SKLC-O-1-10')).toBe('SKLC');
  });

  test('a filter brings the earlier cases of a chain along, and chains share one group', () => {
    const all = ['v1.4/SASED-M-1-14', 'v1.4/SASED-M-2-14', 'v1.4/SASED-M-3-14', 'v1.4/SKLC-M-1-14', 'v2.1/SASED-M-3-21'].map(info);
    expect(selectCases(all, /SASED-M-3-14/i).map((c) => c.id)).toEqual(['v1.4/SASED-M-2-14', 'v1.4/SASED-M-3-14']);
    const groups = groupCases(all).map((g) => g.map((c) => c.name));
    expect(groups).toEqual([['SASED-M-1-14'], ['SASED-M-2-14', 'SASED-M-3-14'], ['SKLC-M-1-14'], ['SASED-M-3-21']]);
  });

  test('the project skip list gives every skip a reason, covers v3.0, and runs the MSGENC cases of 1.3, 1.4 and 2.1 (HTTPS is served, Certificate Request objects are stored)', () => {
    const skips = loadSkipList(DEFAULT_SKIP_LIST);
    expect(skips.length).toBeGreaterThan(0);
    for (const c of ['HTTPS', 'JSON', 'XML']) {
      expect(skipReason(info(`v1.4/MSGENC-${c}-M-1-14`), skips)).toBeUndefined();
      expect(skipReason(info(`v1.3/MSGENC-${c}-M-1-13`), skips)).toBeUndefined();
      expect(skipReason(info(`v2.1/MSGENC-${c}-M-1-21`), skips)).toBeUndefined();
    }
    expect(skipReason(info('v3.0/SKLC-M-1-30'), skips)).toBeDefined();
    expect(skipReason(info('v1.4/SKLC-M-1-14'), skips)).toBeUndefined();
    expect(() => loadExpectedPassing(DEFAULT_EXPECTED)).not.toThrow();
  });

  test('a run reports PASS, FAIL with the path, and SKIP; regressions and updates of expected results', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'conformance-test-'));
    try {
      const write = (name: string, body: string): CaseInfo => {
        const file = path.join(dir, `${name}.xml`);
        fs.writeFileSync(file, `<KMIP>\n<!-- # TIME 0 -->\n${CREATE_REQ}\n${CREATE_EXP}\n</KMIP>\n`.replace(CREATE_EXP, body));
        return { ...info(`v1.4/${name}`), file };
      };
      const good = write('SKLC-M-1-14', CREATE_EXP);
      const bad = write('SKLC-M-2-14', CREATE_EXP.replace('SymmetricKey</', '').replace('value="SymmetricKey"', 'value="PrivateKey"'));
      const skipped = write('MSGENC-XML-M-1-14', CREATE_EXP);
      const server = {
        handle: async (): Promise<Uint8Array> => encodeTtlv(actual(createAct(`id-${Math.random()}`))),
        close: async (): Promise<void> => undefined,
      };
      const lines: string[] = [];
      const results = await runConformance({
        cases: [good, bad, skipped],
        skips: [{ pattern: '*/MSGENC-XML-*', reason: 'no XML encoding' }],
        openTarget: async () => server,
        onResult: (r) => lines.push(caseLine(r)),
      });
      expect(lines[0]).toBe('PASS v1.4 SKLC-M-1-14');
      expect(lines[1]).toBe(
        'FAIL v1.4 SKLC-M-2-14 step 1/1 (Create) at ResponseMessage/BatchItem/ResponsePayload/ObjectType: expected PrivateKey, got SymmetricKey',
      );
      expect(lines[2]).toBe('SKIP v1.4 MSGENC-XML-M-1-14: no XML encoding');

      const table = renderTable(summarize(results, ['1.4']));
      expect(table).toMatch(/SKLC\s+M\s+1\/2/);
      expect(table).toMatch(/MSGENC\s+M\s+0\/1 1s/);

      const expectedFile = path.join(dir, 'expected.json');
      expect(updateExpectedPassing(expectedFile, results)).toEqual(['v1.4/SKLC-M-1-14']);
      const listed = loadExpectedPassing(expectedFile);
      expect(findRegressions(listed, results)).toEqual([]);
      const later: CaseResult[] = results.map((r) => (r.info.id === 'v1.4/SKLC-M-1-14' ? { ...r, status: 'fail', detail: 'broke' } : r));
      expect(findRegressions(listed, later).map((r) => r.info.id)).toEqual(['v1.4/SKLC-M-1-14']);
      // Updating never removes a case that no longer passes.
      expect(updateExpectedPassing(expectedFile, later)).toEqual([]);
      expect([...loadExpectedPassing(expectedFile)]).toEqual(['v1.4/SKLC-M-1-14']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a target that does not answer fails the case instead of hanging the run', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'conformance-test-'));
    try {
      const file = path.join(dir, 'SKLC-M-1-14.xml');
      fs.writeFileSync(file, `<KMIP>${CREATE_REQ}${CREATE_EXP}</KMIP>`);
      const results = await runConformance({
        cases: [{ ...info('v1.4/SKLC-M-1-14'), file }],
        openTarget: async () => ({ handle: () => new Promise<Uint8Array>(() => undefined), close: async () => undefined }),
        timeoutMs: 50,
      });
      expect(results[0]?.status).toBe('fail');
      expect(results[0]?.detail).toContain('no response within 50 ms');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('CLI options', () => {
    const o = parseCli(['--in-process', '--versions', 'v1.4,2.1', '--filter', 'sklc', '--json', 'out.json', '--check-regressions']);
    expect(o.mode).toBe('in-process');
    expect(o.versions).toEqual(['1.4', '2.1']);
    expect(o.filter?.test('v1.4/SKLC-M-1-14')).toBe(true);
    expect(o.checkRegressions).toBe(true);
    expect(parseCli(['--self-test']).versions).toEqual(DEFAULT_VERSIONS);
    const s = parseCli(['--server', '127.0.0.1:5696', '--ca', 'ca.pem', '--cert', 'c.pem', '--key', 'k.pem']);
    expect(s.server).toMatchObject({ host: '127.0.0.1', port: 5696 });
    expect(() => parseCli(['--server', 'nohost'])).toThrow();
    const h = parseCli(['--https-server', '127.0.0.1:8443', '--ca', 'ca.pem', '--cert', 'c.pem', '--key', 'k.pem']);
    expect(h.mode).toBe('server');
    expect(h.https).toMatchObject({ host: '127.0.0.1', port: 8443, ca: 'ca.pem' });
    expect(h.server).toBeUndefined();
    const both = parseCli(['--server', '127.0.0.1:5696', '--https-server', '127.0.0.1:8443', '--ca', 'ca.pem', '--cert', 'c.pem', '--key', 'k.pem']);
    expect([both.server?.port, both.https?.port]).toEqual([5696, 8443]);
    expect(() => parseCli(['--https-server', '127.0.0.1:8443'])).toThrow(/--https-server needs --ca/);
    expect(() => parseCli(['--https-server', 'nohost', '--ca', 'a', '--cert', 'b', '--key', 'c'])).toThrow(/--https-server/);
    expect(() => parseCli(['--in-process', '--self-test'])).toThrow(/choose one/);
    expect(() => parseCli(['--in-process', '--versions', '9.9'])).toThrow(/unknown version/);
  });
});

// ---------------------------------------------------------------------------------------------
// The whole corpus against a replay of itself: every readable case must pass, so the runner's
// own substitution (identifiers, times, values carried between steps) is right for every file.

withConformanceDir((root) => {
  test('self-test: the corpus replayed against itself passes', async () => {
    const lines: string[] = [];
    const code = await main(['--self-test', '--cases', root, '--jobs', '8'], { line: (t) => lines.push(t) });
    expect(code).toBe(0);
    const fails = lines.filter((l) => l.startsWith('FAIL'));
    expect(fails).toEqual([]);
    const last = lines[lines.length - 1] as string;
    expect(last).toMatch(/^\d+ passed, 0 failed$/);
    expect(Number(last.split(' ')[0])).toBeGreaterThan(390);
    expect(lines[lines.length - 2]).toMatch(/^\d+ skipped$/);
  });

  test('every version folder has cases, and replaying one chained group needs its earlier case', () => {
    const all = discoverCases(root, DEFAULT_VERSIONS);
    for (const v of DEFAULT_VERSIONS) expect(all.some((c) => c.version === v)).toBe(true);
    const chain = selectCases(all, /^v1\.4\/TL-M-3-14$/);
    expect(chain.map((c) => c.name)).toEqual(['TL-M-2-14', 'TL-M-3-14']);
    expect(replayTarget([])).toBeDefined();
  });
});
