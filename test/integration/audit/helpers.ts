/** Shared by the audit trail tests: the real CLI's `audit verify`, and reading and rewriting trails. */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Tag } from '../../../src/spec/generated/tags';
import { Operation } from '../../../src/spec/generated/enums';
import { PROJECT_ROOT } from '../../helpers/server-process';
import type { KmipTlsClient } from '../../helpers/tls-client';
import { parseResponse, registerAesPayload, requestMessage, successPayload, textOf } from '../../helpers/kmip-client';

const V = { major: 1, minor: 4 };

export interface Verdict {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `kmip-server audit verify --data-dir DIR [args...]`, from source. */
export function verify(dataDir: string, ...args: string[]): Promise<Verdict> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-r', path.join(PROJECT_ROOT, 'scripts', 'register-ts.js'), path.join(PROJECT_ROOT, 'scripts', 'run-cli.ts'), 'audit', 'verify', '--data-dir', dataDir, ...args],
      { cwd: PROJECT_ROOT, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

export async function register(c: KmipTlsClient): Promise<string> {
  const uid = textOf(successPayload(parseResponse(await c.request(requestMessage(V, [{ operation: Operation.Register, payload: registerAesPayload(randomBytes(32)) }])))), Tag.UniqueIdentifier);
  if (!uid) throw new Error('Register answered no identifier');
  return uid;
}

/** The file's lines (without newlines; a last line without one is kept as it is). */
export function fileLines(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

export function records(file: string): Record<string, unknown>[] {
  return fileLines(file).map((l) => JSON.parse(l) as Record<string, unknown>);
}

export function writeLines(file: string, lines: readonly string[]): void {
  fs.writeFileSync(file, lines.map((l) => `${l}\n`).join(''), { mode: 0o600 });
}
