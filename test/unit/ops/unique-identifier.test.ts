/** New objects' Unique Identifiers: UUID version 7, time-ordered, never repeated. */
import { newUniqueIdentifier } from '../../../src/objects/managed-object';
import { waitFor } from '../../helpers/wait';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('RFC 9562 version 7 form, the creation time in its first 48 bits', () => {
  const before = Date.now();
  const uid = newUniqueIdentifier();
  const after = Date.now();
  expect(uid).toMatch(UUID_V7);
  const ms = parseInt(uid.slice(0, 8) + uid.slice(9, 13), 16);
  expect(ms).toBeGreaterThanOrEqual(before);
  expect(ms).toBeLessThanOrEqual(after);
});

test('identifiers made later sort after earlier ones (by millisecond), and none repeats', async () => {
  const first = Array.from({ length: 5000 }, () => newUniqueIdentifier());
  const lastMs = Math.max(...first.map((u) => parseInt(u.slice(0, 8) + u.slice(9, 13), 16)));
  await waitFor('the clock to pass the last millisecond used', () => Date.now() > lastMs, { intervalMs: 1 });
  const later = newUniqueIdentifier();
  expect(new Set(first).size).toBe(first.length);
  for (const u of first) expect(u < later).toBe(true);
});
