/**
 * Where the OASIS conformance data lives: `../shared/kmip-conformance` beside the project, or
 * $KMIP_CONFORMANCE_DIR. The data is read in place, never copied into the project.
 *
 * A missing folder is a failure, not a skip: a green run must mean the corpus was exercised.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { PlaceholderInfo } from '../../ttlv/xml';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

export type Located = { readonly dir: string } | { readonly error: string };

export function locateConformanceDir(): Located {
  const fromEnv = process.env['KMIP_CONFORMANCE_DIR'];
  const dir = fromEnv !== undefined && fromEnv !== '' ? path.resolve(fromEnv) : path.resolve(PROJECT_ROOT, '..', 'shared', 'kmip-conformance');
  if (fs.existsSync(dir) && fs.statSync(dir).isDirectory()) return { dir };
  return {
    error:
      `KMIP conformance data not found at ${dir}. ` +
      'Check out the shared folder beside the project (../shared/kmip-conformance) or set KMIP_CONFORMANCE_DIR.',
  };
}

/**
 * Registers the real tests when the data is there, else one failing test carrying the reason.
 * `register` runs at collection time, so it may list files and call test.each.
 */
export function withConformanceDir(register: (dir: string) => void): void {
  const located = locateConformanceDir();
  if ('error' in located) {
    const message = located.error;
    test('KMIP conformance data is present', () => {
      throw new Error(message);
    });
    return;
  }
  register(located.dir);
}

/** Files under `dir` (recursively) whose name passes `accept`, relative paths, sorted. */
export function listFiles(dir: string, accept: (name: string) => boolean): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(r);
      else if (accept(entry.name)) out.push(r);
    }
  };
  if (fs.existsSync(dir)) walk('');
  return out.sort();
}

/** Fixed "now" for `$NOW` placeholders: 2020-01-01T00:00:00Z. */
export const PLACEHOLDER_NOW = 1_577_836_800;

function isoUtc(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', '+00:00');
}

/**
 * Deterministic, type-appropriate values for the test cases' placeholders, so a case file can
 * be turned into concrete messages: `$NOW±n` becomes a fixed date, byte strings become the
 * placeholder's own bytes (distinct per name), numbers 0. Text Strings keep the placeholder text.
 */
export function corpusPlaceholder(info: PlaceholderInfo): string | undefined {
  const now = /^\$NOW(?:([+-])(\d+))?$/.exec(info.raw);
  switch (info.type) {
    case 'TextString':
      return undefined;
    case 'DateTime':
    case 'DateTimeExtended': {
      if (!now) return isoUtc(PLACEHOLDER_NOW);
      const delta = now[2] === undefined ? 0 : Number(now[2]) * (now[1] === '-' ? -1 : 1);
      return isoUtc(PLACEHOLDER_NOW + delta);
    }
    case 'ByteString':
      return Buffer.from(info.raw, 'utf8').toString('hex');
    case 'BigInteger':
      return '0000000000000000';
    case 'Enumeration':
      return '0x00000000';
    case 'Boolean':
      return 'false';
    default:
      return '0';
  }
}
