/**
 * An object's state is stored twice, the `state` column and the State attribute; they are written
 * together by one function (src/objects/managed-object.ts withState). This keeps it so: no other
 * source file builds a State attribute, so none can write one without the column or the column
 * without it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, sourceFiles } from '../helpers/source-files';

const THE_PLACE = 'src/objects/managed-object.ts';

/** A State attribute value made (its tag), or a State attribute set by name. */
const BUILDS_STATE = /\bTag\.State\b|setAttribute\([^)]*'State'|name:\s*'State'/;

describe('state writes', () => {
  it('builds the State attribute only in withState', () => {
    const offenders: string[] = [];
    // The generated spec tables describe the tag; they write nothing.
    for (const file of sourceFiles('src').filter((f) => !f.startsWith('src/spec/generated/'))) {
      fs.readFileSync(path.join(ROOT, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (BUILDS_STATE.test(line)) offenders.push(`${file}:${i + 1}`);
        });
    }
    expect(offenders).toEqual([`${THE_PLACE}:${lineOfWithState()}`]);
  });
});

function lineOfWithState(): number {
  const lines = fs.readFileSync(path.join(ROOT, THE_PLACE), 'utf8').split('\n');
  const start = lines.findIndex((l) => l.startsWith('export function withState('));
  const at = lines.findIndex((l, i) => i > start && BUILDS_STATE.test(l));
  return at + 1;
}
