/**
 * The data dir's record of the current KEK (kek-current.json): written whole and 0600, read back,
 * never overwritten by the migration or a recovery, and a damaged file answered by one line naming
 * the file (never a crash, never a silent fall back to the label rule).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CURRENT_KEK_FILE, currentKekId, nameCurrentKekIfUnset, readCurrentKek, writeCurrentKek } from '../../../src/keys/kek-current';
import { KeyProtectorError } from '../../../src/keys/key-protector';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-kek-current-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const A = '00112233445566778899aabbccddeeff';
const B = 'ffeeddccbbaa99887766554433221100';

it('a data dir without the file has no current KEK named (the label rule applies)', () => {
  expect(readCurrentKek(dir)).toBeUndefined();
  expect(currentKekId(dir)).toBeUndefined();
});

it('writes the id whole, 0600, with no temporary file left, and a later write replaces it', () => {
  writeCurrentKek(dir, A);
  expect(currentKekId(dir)).toBe(A);
  expect(fs.statSync(path.join(dir, CURRENT_KEK_FILE)).mode & 0o777).toBe(0o600);
  expect(fs.readdirSync(dir)).toEqual([CURRENT_KEK_FILE]);
  expect(Date.parse(readCurrentKek(dir)!.since)).not.toBeNaN();
  writeCurrentKek(dir, B);
  expect(currentKekId(dir)).toBe(B);
  expect(fs.readdirSync(dir)).toEqual([CURRENT_KEK_FILE]);
});

it('the migration names the labelled KEK once, and never replaces a KEK the data dir names', () => {
  expect(nameCurrentKekIfUnset(dir, A)).toBe(true);
  expect(nameCurrentKekIfUnset(dir, B)).toBe(false);
  expect(currentKekId(dir)).toBe(A);
  // A KEK without a CKA_ID (found only by label) cannot be named: the label rule stays.
  const other = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-kek-current-'));
  try {
    expect(nameCurrentKekIfUnset(other, 'label:kmip-kek')).toBe(false);
    expect(currentKekId(other)).toBeUndefined();
  } finally {
    fs.rmSync(other, { recursive: true, force: true });
  }
});

it('refuses to name a KEK id that is not hex', () => {
  expect(() => writeCurrentKek(dir, 'label:kmip-kek')).toThrow(KeyProtectorError);
  expect(fs.readdirSync(dir)).toEqual([]);
});

it('a damaged file is one error naming the file, not a fall back to the label', () => {
  const file = path.join(dir, CURRENT_KEK_FILE);
  fs.writeFileSync(file, '{"kekId": ', { mode: 0o600 });
  expect(() => readCurrentKek(dir)).toThrow(`${file} is not JSON`);
  fs.writeFileSync(file, JSON.stringify({ kekId: 'XYZ' }), { mode: 0o600 });
  expect(() => readCurrentKek(dir)).toThrow(`${file} names no KEK`);
  expect(() => nameCurrentKekIfUnset(dir, A)).toThrow(KeyProtectorError);
});
