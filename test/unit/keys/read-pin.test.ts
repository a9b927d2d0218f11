/** readPin: the PIN comes from an environment variable or a private file, never from argv. */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyProtectorError } from '../../../src/keys/key-protector';
import { readPin } from '../../../src/keys/pin';

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'kmip-pin-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof KeyProtectorError ? err.code : 'other';
  }
  return undefined;
}

test('from an environment variable', () => {
  process.env['KMIP_TEST_PIN'] = 's3cret';
  expect(readPin({ env: 'KMIP_TEST_PIN' })).toBe('s3cret');
  delete process.env['KMIP_TEST_PIN'];
  expect(codeOf(() => readPin({ env: 'KMIP_TEST_PIN' }))).toBe('PIN_SOURCE');
});

test('from a mode-0600 file, one trailing newline dropped', () => {
  const file = join(dir, 'pin');
  writeFileSync(file, 'abc 123\n', { mode: 0o600 });
  expect(readPin({ file })).toBe('abc 123');
});

test('a file readable by others is refused, and the message does not contain the PIN', () => {
  const file = join(dir, 'open-pin');
  writeFileSync(file, 'visible-pin\n');
  chmodSync(file, 0o644);
  let message = '';
  try {
    readPin({ file });
  } catch (err) {
    message = (err as Error).message;
    expect((err as KeyProtectorError).code).toBe('PIN_SOURCE');
  }
  expect(message).toContain('chmod 600');
  expect(message).not.toContain('visible-pin');
});

test('exactly one source; missing or empty file refused', () => {
  expect(codeOf(() => readPin({}))).toBe('PIN_SOURCE');
  expect(codeOf(() => readPin({ env: 'A', file: 'B' }))).toBe('PIN_SOURCE');
  expect(codeOf(() => readPin({ file: join(dir, 'absent') }))).toBe('PIN_SOURCE');
  const empty = join(dir, 'empty');
  writeFileSync(empty, '\n', { mode: 0o600 });
  expect(codeOf(() => readPin({ file: empty }))).toBe('PIN_SOURCE');
});
