/**
 * `kmip-server pki client` as an operator runs it: it issues from the data dir's dev CA, and a data
 * dir without a CA (the wrong folder, most often) is refused with one line instead of getting a
 * second CA whose certificates the server would refuse; `--create-ca` makes one on purpose.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../../helpers/server-process';
import { ensureDevPki } from '../../../src/pki/dev-pki';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function runCli(args: readonly string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-r', path.join(PROJECT_ROOT, 'scripts', 'register-ts.js'), path.join(PROJECT_ROOT, 'scripts', 'run-cli.ts'), ...args],
      { cwd, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-pki-cli-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

const cert = (file: string) => new X509Certificate(fs.readFileSync(file));

test('issues a client certificate from the data dir\'s CA, leaving the CA and the server\'s files as they were', async () => {
  const dataDir = path.join(root, 'data');
  const pki = ensureDevPki(path.join(dataDir, 'pki'));
  const before = fs.readdirSync(pki.dir).sort().map((f) => [f, fs.readFileSync(path.join(pki.dir, f), 'utf8')]);
  const out = path.join(root, 'alice');
  const r = await runCli(['pki', 'client', '--cn', 'alice', '--out', out, '--data-dir', dataDir], root);
  expect([r.code, r.stderr]).toEqual([0, '']);
  const alice = cert(path.join(out, 'alice.pem'));
  expect(alice.subject.split('\n')).toContain('CN=alice');
  expect(alice.checkIssued(cert(pki.caPath)) && alice.verify(cert(pki.caPath).publicKey)).toBe(true);
  expect(fs.statSync(path.join(out, 'alice-key.pem')).mode & 0o077).toBe(0);
  expect(fs.readdirSync(pki.dir).sort().map((f) => [f, fs.readFileSync(path.join(pki.dir, f), 'utf8')])).toEqual(before);
});

test('run from a folder without a data dir: refused in one line naming the folder and --create-ca; nothing is written', async () => {
  const elsewhere = path.join(root, 'elsewhere');
  fs.mkdirSync(elsewhere);
  const out = path.join(root, 'bob');
  // No --data-dir: ./data of the current folder, which has none.
  const r = await runCli(['pki', 'client', '--cn', 'bob', '--out', out], elsewhere);
  expect(r.code).toBe(1);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toContain(path.join(elsewhere, 'data', 'pki'));
  expect(r.stderr).toContain('--create-ca');
  expect(fs.readdirSync(elsewhere)).toEqual([]);
  expect(fs.existsSync(out)).toBe(false);
});

test('--create-ca makes the dev PKI where there was none, then issues from it; a second run uses the same CA', async () => {
  const dataDir = path.join(root, 'new');
  const first = await runCli(['pki', 'client', '--cn', 'carol', '--out', path.join(root, 'carol'), '--data-dir', dataDir, '--create-ca'], root);
  expect([first.code, first.stderr]).toEqual([0, '']);
  const caPath = path.join(dataDir, 'pki', 'ca.pem');
  const ca = fs.readFileSync(caPath, 'utf8');
  for (const f of ['ca-key.pem', 'server.pem', 'client.pem', 'admin.pem']) expect(fs.existsSync(path.join(dataDir, 'pki', f))).toBe(true);
  expect(cert(path.join(root, 'carol', 'carol.pem')).checkIssued(cert(caPath))).toBe(true);

  const second = await runCli(['pki', 'client', '--cn', 'dave', '--out', path.join(root, 'dave'), '--data-dir', dataDir], root);
  expect([second.code, second.stderr]).toEqual([0, '']);
  expect(fs.readFileSync(caPath, 'utf8')).toBe(ca);
  expect(cert(path.join(root, 'dave', 'dave.pem')).checkIssued(cert(caPath))).toBe(true);
});

test('a CA that cannot issue (its key gone) is refused, with or without --create-ca, and left in place', async () => {
  const dataDir = path.join(root, 'data');
  const pki = ensureDevPki(path.join(dataDir, 'pki'));
  fs.rmSync(pki.caKeyPath);
  const ca = fs.readFileSync(pki.caPath, 'utf8');
  for (const extra of [[], ['--create-ca']]) {
    const r = await runCli(['pki', 'client', '--cn', 'erin', '--out', path.join(root, 'erin'), '--data-dir', dataDir, ...extra], root);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(pki.caPath);
    expect(fs.readFileSync(pki.caPath, 'utf8')).toBe(ca);
    expect(fs.existsSync(pki.caKeyPath)).toBe(false);
  }
});
