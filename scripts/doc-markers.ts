/**
 * Generated tables kept inside hand-written documents, between a pair of HTML comment markers: read
 * back (for the tests that compare them with what the code enforces) and rewritten in place.
 */
import fs from 'node:fs';

export interface Markers {
  readonly start: string;
  readonly end: string;
}

/** What stands between the markers of `text` (trimmed), or undefined when it has none. */
export function betweenMarkers(text: string, m: Markers): string | undefined {
  const s = text.indexOf(m.start);
  const e = text.indexOf(m.end);
  if (s < 0 || e < s) return undefined;
  return text.slice(s + m.start.length, e).trim();
}

/** Puts `content` between the markers of `file`; a file without them is an error naming it. */
export function writeBetweenMarkers(file: string, m: Markers, content: string): void {
  const text = fs.readFileSync(file, 'utf8');
  const s = text.indexOf(m.start);
  const e = text.indexOf(m.end);
  if (s < 0 || e < s) throw new Error(`${file}: no ${m.start} ... ${m.end} markers`);
  fs.writeFileSync(file, `${text.slice(0, s + m.start.length)}\n${content}\n${text.slice(e)}`);
}
