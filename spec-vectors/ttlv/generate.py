# Writes the golden TTLV vectors of this folder (see README.md): python3 spec-vectors/ttlv/generate.py
#
# The hex is produced by this small encoder of its own, written independently of ttlv/*.ts, so the
# vectors check the TypeScript codec against a second implementation rather than against itself.
import json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))

def hdr(tag, typ, ln): return tag.to_bytes(3,'big') + bytes([typ]) + ln.to_bytes(4,'big')
def pad(b): return b + b'\0' * ((8 - len(b) % 8) % 8)
T = {'Structure':1,'Integer':2,'LongInteger':3,'BigInteger':4,'Enumeration':5,'Boolean':6,'TextString':7,'ByteString':8,'DateTime':9,'Interval':10,'DateTimeExtended':11}

def enc(node):
    tag = int(node['tag'], 16); t = node['type']; v = node['value']
    if t == 'Structure':
        body = b''.join(enc(c) for c in v); return hdr(tag, 1, len(body)) + body
    if t == 'Integer': return hdr(tag, 2, 4) + pad(struct.pack('>i', v))
    if t in ('Enumeration', 'Interval'): return hdr(tag, T[t], 4) + pad(struct.pack('>I', v))
    if t in ('LongInteger', 'DateTime', 'DateTimeExtended'): return hdr(tag, T[t], 8) + struct.pack('>q', int(v))
    if t == 'Boolean': return hdr(tag, 6, 8) + struct.pack('>Q', 1 if v else 0)
    if t == 'TextString':
        b = v.encode('utf-8'); return hdr(tag, 7, len(b)) + pad(b)
    if t == 'ByteString':
        b = bytes.fromhex(v); return hdr(tag, 8, len(b)) + pad(b)
    if t == 'BigInteger':
        n = int(v)
        # minimal two's complement byte count, then round up to 8
        nbytes = 1
        while not (-(1 << (8*nbytes-1)) <= n < (1 << (8*nbytes-1))): nbytes += 1
        nbytes = (nbytes + 7) // 8 * 8
        return hdr(tag, 4, nbytes) + n.to_bytes(nbytes, 'big', signed=True)
    raise ValueError(t)

def P(t, v, tag='0x420020'): return {'tag': tag, 'type': t, 'value': v}
def S(children, tag='0x420020'): return {'tag': tag, 'type': 'Structure', 'value': children}

valid = []
def add(name, tree): valid.append({'name': name, 'tree': tree})

for v in [0, 1, -1, 8, 2147483647, -2147483648]: add(f'integer {v}', P('Integer', v))
for v in [0, -1, 123456789000000000, 9223372036854775807, -9223372036854775808]: add(f'long integer {v}', P('LongInteger', str(v)))
for v in [0, -1, 1, 127, 128, -128, -129, 255, 256, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, -(2**64), 2**127 - 1, 2**127, -(2**127), -(2**127) - 1,
          1234567890000000000000000000, -1234567890000000000000000000, 2**2048 - 1, -(2**4095)]:
    label = str(v) if abs(v) < 2**130 else ('2^2048-1' if v > 0 else '-(2^4095)')
    add(f'big integer {label}', P('BigInteger', str(v)))
for v in [0, 1, 255, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]: add(f'enumeration {v}', P('Enumeration', v))
add('boolean true', P('Boolean', True)); add('boolean false', P('Boolean', False))
for name, v in [('empty', ''), ('Hello World (spec)', 'Hello World'), ('exactly 8 bytes', 'abcdefgh'), ('9 bytes', 'abcdefghi'),
                ('16 bytes', '0123456789abcdef'), ('17 bytes ASCII (long path)', '0123456789abcdefg'),
                ('2-byte UTF-8', 'Grüße'), ('3-byte UTF-8', '鍵管理'), ('4-byte UTF-8 (surrogate pair)', 'key 🔑'),
                ('mixed UTF-8 long', 'Schlüssel für Übergabe, 暗号鍵, 🔐🔑 — fin'), ('leading BOM kept', '\ufeffBOM'),
                ('NUL and control characters', 'a\u0000b\u0001\n'), ('DEL and 0x7F boundary', '\u007f\u0080'),
                ('U+FFFF and U+10FFFF', '\uffff\U0010ffff')]:
    add(f'text string {name}', P('TextString', v))
for name, v in [('empty', ''), ('1 byte', '00'), ('3 bytes (spec)', '010203'), ('8 bytes', '0011223344556677'), ('9 bytes', 'FF' * 9), ('32-byte key', ''.join(f'{(i*37+11)&255:02X}' for i in range(32)))]:
    add(f'byte string {name}', P('ByteString', v))
for v in [0, 1205495800, -1, 253402300799, 9223372036854775807, -9223372036854775808]: add(f'date-time {v}', P('DateTime', str(v)))
for v in [0, 864000, 0xFFFFFFFF]: add(f'interval {v}', P('Interval', v))
for v in [0, 1205495800123456, -1, -9223372036854775808]: add(f'date-time extended {v}', P('DateTimeExtended', str(v)))
add('structure empty', S([]))
add('structure spec example (enumeration 254, integer 255)', S([P('Enumeration', 254, '0x420004'), P('Integer', 255, '0x420005')]))
add('tags at the range bounds and an extension tag', S([P('Integer', 1, '0x420000'), P('Integer', 2, '0x42FFFF'), P('TextString', 'x', '0x540000'), P('ByteString', 'AB', '0x54FFFF')], '0x540001'))
add('structure nested 4 deep with empty leaves', S([S([S([S([], '0x420004')], '0x420003'), P('TextString', '', '0x420005'), P('ByteString', '', '0x420006')], '0x420002')], '0x420001'))
add('structure of every item type', S([
    P('Integer', -5, '0x420001'), P('LongInteger', '-5', '0x420002'), P('BigInteger', '-5', '0x420003'), P('Enumeration', 5, '0x420004'),
    P('Boolean', True, '0x420005'), P('TextString', 'five', '0x420006'), P('ByteString', '05', '0x420007'), P('DateTime', '5', '0x420008'),
    P('Interval', 5, '0x420009'), P('DateTimeExtended', '5', '0x42000A'), S([P('Integer', 5, '0x42000C')], '0x42000B')]))
add('KMIP 1.4 Get request', S([
    S([S([P('Integer', 1, '0x42006A'), P('Integer', 4, '0x42006B')], '0x420069'), P('DateTime', '1700000000', '0x420092'), P('Integer', 1, '0x42000D')], '0x420077'),
    S([P('Enumeration', 10, '0x42005C'), S([P('TextString', '1f165d65-cbbd-4bd6-9867-80e0b390acf9', '0x420094')], '0x420079')], '0x42000F')], '0x420078'))

for v in valid: v['hex'] = enc(v['tree']).hex().upper()
valid = [{'name': v['name'], 'hex': v['hex'], 'tree': v['tree']} for v in valid]
names = [v['name'] for v in valid]; assert len(names) == len(set(names))

# ---- decode errors ----
I = lambda tag=0x420020: hdr(tag, 2, 4)
def h(b): return b.hex().upper()
int8 = hdr(0x420020, 2, 4) + b'\0\0\0\x08\0\0\0\0'
errors = []
def err(name, b, code, offset, limits=None):
    e = {'name': name, 'hex': h(b), 'code': code, 'offset': offset}
    if limits: e['limits'] = limits
    errors.append(e)

def nest(n, inner=b''):
    b = inner
    for _ in range(n): b = hdr(0x420001, 1, len(b)) + b
    return b

err('empty input', b'', 'TTLV_TRUNCATED', 0)
err('header cut at 7 bytes', int8[:7], 'TTLV_TRUNCATED', 0)
err('integer without its padding', int8[:12], 'TTLV_TRUNCATED', 0)
err('integer cut at 15 bytes', int8[:15], 'TTLV_TRUNCATED', 0)
err('text string cut before its padding', hdr(0x420020, 7, 3) + b'abc', 'TTLV_TRUNCATED', 0)
err('structure claims more than the input', hdr(0x420020, 1, 16) + int8[:8], 'TTLV_TRUNCATED', 0)
err('hostile 4 GiB byte string length', hdr(0x420020, 8, 0xFFFFFFF8) + b'\0' * 8, 'TTLV_TRUNCATED', 0)
err('hostile 2 GiB structure length', hdr(0x420078, 1, 0x80000000) + int8, 'TTLV_TRUNCATED', 0)
err('trailing zero bytes after the item', int8 + b'\0' * 8, 'TTLV_TRAILING_BYTES', 16)
err('a second item after the first', int8 + int8, 'TTLV_TRAILING_BYTES', 16)
err('one trailing byte', int8 + b'\0', 'TTLV_TRAILING_BYTES', 16)
err('item type 0x00', hdr(0x420020, 0, 4) + b'\0' * 8, 'TTLV_UNKNOWN_ITEM_TYPE', 3)
err('item type 0x0C', hdr(0x420020, 0x0C, 4) + b'\0' * 8, 'TTLV_UNKNOWN_ITEM_TYPE', 3)
err('item type 0xFF nested', hdr(0x420001, 1, 16) + hdr(0x420020, 0xFF, 4) + b'\0' * 8, 'TTLV_UNKNOWN_ITEM_TYPE', 11)
for tname, t, ln in [('Integer', 2, 8), ('Integer', 2, 0), ('LongInteger', 3, 4), ('Enumeration', 5, 8), ('Boolean', 6, 4), ('Boolean', 6, 1),
                     ('DateTime', 9, 4), ('Interval', 10, 8), ('DateTimeExtended', 11, 16), ('BigInteger', 4, 0), ('BigInteger', 4, 12), ('Structure', 1, 12)]:
    body = b'\0' * ((ln + 7) // 8 * 8)
    err(f'{tname} with length {ln}', hdr(0x420020, t, ln) + body, 'TTLV_BAD_LENGTH', 4)
err('bad length nested at offset 8', hdr(0x420001, 1, 24) + hdr(0x420020, 3, 16) + b'\0' * 16, 'TTLV_BAD_LENGTH', 12)
err('text string overruns its structure', hdr(0x420001, 1, 16) + hdr(0x420020, 7, 16) + b'a' * 16, 'TTLV_CHILD_OVERRUNS_PARENT', 8)
err('integer overruns a structure of 8 bytes', hdr(0x420001, 1, 8) + int8, 'TTLV_CHILD_OVERRUNS_PARENT', 8)
err('second child overruns', hdr(0x420001, 1, 24) + int8 + int8, 'TTLV_CHILD_OVERRUNS_PARENT', 24)
err('inner structure overruns outer', hdr(0x420001, 1, 16) + hdr(0x420002, 1, 16) + int8, 'TTLV_CHILD_OVERRUNS_PARENT', 8)
err('hostile child length inside a structure', hdr(0x420001, 1, 16) + hdr(0x420020, 8, 0xFFFFFFFF) + b'\0' * 8, 'TTLV_CHILD_OVERRUNS_PARENT', 8)
err('integer padding not zero', hdr(0x420020, 2, 4) + b'\0\0\0\x08\0\0\x01\0', 'TTLV_NON_ZERO_PADDING', 14)
err('enumeration padding not zero', hdr(0x420020, 5, 4) + b'\0\0\0\x08\xFF\0\0\0', 'TTLV_NON_ZERO_PADDING', 12)
err('interval padding not zero', hdr(0x420020, 10, 4) + b'\0\0\0\x08\0\0\0\x01', 'TTLV_NON_ZERO_PADDING', 15)
err('text string padding not zero', hdr(0x420020, 7, 3) + b'abc\0\0 \0\0', 'TTLV_NON_ZERO_PADDING', 13)
err('byte string padding not zero', hdr(0x420020, 8, 1) + b'\x01\0\0\0\0\0\0\x01', 'TTLV_NON_ZERO_PADDING', 15)
err('nested padding not zero', hdr(0x420001, 1, 16) + hdr(0x420020, 8, 7) + b'\x01' * 8, 'TTLV_NON_ZERO_PADDING', 23)
err('boolean 2', hdr(0x420020, 6, 8) + b'\0' * 7 + b'\x02', 'TTLV_BAD_BOOLEAN', 8)
err('boolean with a high byte set', hdr(0x420020, 6, 8) + b'\x01' + b'\0' * 6 + b'\x01', 'TTLV_BAD_BOOLEAN', 8)
err('boolean 0xFF..FF', hdr(0x420020, 6, 8) + b'\xFF' * 8, 'TTLV_BAD_BOOLEAN', 8)
for name, bad in [('lone 0xFF', b'\xFF'), ('overlong slash C0 AF', b'\xC0\xAF'), ('UTF-16 surrogate ED A0 80', b'\xED\xA0\x80'),
                  ('sequence cut E2 82', b'\xE2\x82'), ('above U+10FFFF F4 90 80 80', b'\xF4\x90\x80\x80'), ('continuation byte first 80', b'\x80'),
                  ('valid then invalid', 'ok é'.encode() + b'\xC3')]:
    err(f'UTF-8: {name}', hdr(0x420001, 1, 8 + len(pad(bad))) + hdr(0x420020, 7, len(bad)) + pad(bad), 'TTLV_BAD_UTF8', 16)
err('too deep for maxDepth 2', nest(3), 'TTLV_TOO_DEEP', 16, {'maxDepth': 2})
err('33 structures exceed the default depth of 32', nest(33), 'TTLV_TOO_DEEP', 256)
err('maxDepth 0 allows no structure', nest(1), 'TTLV_TOO_DEEP', 0, {'maxDepth': 0})
err('input larger than maxMessageBytes', int8 + b'\0' * 8, 'TTLV_TOO_LARGE', 0, {'maxMessageBytes': 16})
err('too many items for maxItems 2', hdr(0x420001, 1, 32) + int8 + int8, 'TTLV_TOO_MANY_ITEMS', 24, {'maxItems': 2})
err('maxItems 1 and a non-empty structure', hdr(0x420001, 1, 16) + int8, 'TTLV_TOO_MANY_ITEMS', 8, {'maxItems': 1})
err('tag 0x430000', hdr(0x430000, 2, 4) + b'\0' * 8, 'TTLV_BAD_TAG', 0)
err('tag 0x000000', hdr(0, 2, 4) + b'\0' * 8, 'TTLV_BAD_TAG', 0)
err('tag 0x550000', hdr(0x550000, 2, 4) + b'\0' * 8, 'TTLV_BAD_TAG', 0)
err('tag 0x41FFFF', hdr(0x41FFFF, 2, 4) + b'\0' * 8, 'TTLV_BAD_TAG', 0)
err('nested bad tag', hdr(0x420001, 1, 32) + int8 + hdr(0xFF0000, 2, 4) + b'\0' * 8, 'TTLV_BAD_TAG', 24)
names = [e['name'] for e in errors]; assert len(names) == len(set(names))

# ---- framer errors ----
framer = []
def ferr(name, b, code, offset, maxb=1024): framer.append({'name': name, 'hex': h(b), 'maxMessageBytes': maxb, 'code': code, 'offset': offset})
ferr('tag outside the KMIP ranges', hdr(0x110078, 1, 0), 'TTLV_BAD_TAG', 0)
ferr('not a structure', int8, 'TTLV_NOT_A_STRUCTURE', 3)
ferr('structure length not a multiple of 8', hdr(0x420078, 1, 12), 'TTLV_BAD_LENGTH', 4)
ferr('length above maxMessageBytes', hdr(0x420078, 1, 1024), 'TTLV_TOO_LARGE', 4)
ferr('hostile 4 GiB length', hdr(0x420078, 1, 0xFFFFFFF8), 'TTLV_TOO_LARGE', 4)
ferr('second message bad, offset in the stream', hdr(0x420078, 1, 16) + int8 + hdr(0x420078, 2, 4), 'TTLV_NOT_A_STRUCTURE', 27)

# ---- encode errors (trees that cannot be encoded) ----
enc_err = []
def eerr(name, tree, code, offset): enc_err.append({'name': name, 'tree': tree, 'code': code, 'offset': offset})
eerr('integer 2^31', P('Integer', 2147483648), 'TTLV_BAD_VALUE', 0)
eerr('integer -2^31-1', P('Integer', -2147483649), 'TTLV_BAD_VALUE', 0)
eerr('integer 1.5', P('Integer', 1.5), 'TTLV_BAD_VALUE', 0)
eerr('integer given as a string', P('Integer', '1'), 'TTLV_BAD_VALUE', 0)
eerr('enumeration -1', P('Enumeration', -1), 'TTLV_BAD_VALUE', 0)
eerr('enumeration 2^32', P('Enumeration', 4294967296), 'TTLV_BAD_VALUE', 0)
eerr('interval -1', P('Interval', -1), 'TTLV_BAD_VALUE', 0)
eerr('long integer 2^63', P('LongInteger', '9223372036854775808'), 'TTLV_BAD_VALUE', 0)
eerr('long integer -2^63-1', P('LongInteger', '-9223372036854775809'), 'TTLV_BAD_VALUE', 0)
eerr('date-time 2^63', P('DateTime', '9223372036854775808'), 'TTLV_BAD_VALUE', 0)
eerr('date-time extended -2^63-1', P('DateTimeExtended', '-9223372036854775809'), 'TTLV_BAD_VALUE', 0)
eerr('long integer given as a number', P('LongInteger', 5), 'TTLV_BAD_VALUE', 0)
eerr('boolean given as 1', P('Boolean', 1), 'TTLV_BAD_VALUE', 0)
eerr('text string with a lone surrogate', P('TextString', '\ud800x'), 'TTLV_BAD_VALUE', 0)
eerr('text string with a lone low surrogate', P('TextString', 'x\udc00'), 'TTLV_BAD_VALUE', 0)
eerr('tag 0x430000', P('Integer', 1, '0x430000'), 'TTLV_BAD_TAG', 0)
eerr('tag 0x1000000', P('Integer', 1, '0x1000000'), 'TTLV_BAD_TAG', 0)
eerr('bad value deep inside, offset in the output', S([P('Integer', 1), S([P('TextString', 'abcdefghi'), P('Enumeration', -5)])]), 'TTLV_BAD_VALUE', 56)

def dump(path, data, ascii=False):
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=2, ensure_ascii=ascii); f.write('\n')
dump(os.path.join(HERE, 'valid.json'), valid)
dump(os.path.join(HERE, 'decode-errors.json'), errors)
dump(os.path.join(HERE, 'framer-errors.json'), framer)
dump(os.path.join(HERE, 'encode-errors.json'), enc_err, ascii=True)  # lone surrogates need \\u escapes
print(len(valid), len(errors), len(framer), len(enc_err))
