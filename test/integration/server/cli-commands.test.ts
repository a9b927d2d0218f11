/**
 * `kmip-server` as a real process: --version, a usage error's exit 2, the flags that reach the
 * configuration and ttlv dump, and start's client example, whose files and address a real handshake
 * and Query (doctor --connect) prove right. test/unit/cli/commands.test.ts covers every command's
 * help and usage errors in-process.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT, startServerProcess } from '../../helpers/server-process';
import { waitFor } from '../../helpers/wait';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function runCli(args: readonly string[], stdin = ''): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['-r', path.join(PROJECT_ROOT, 'scripts', 'register-ts.js'), path.join(PROJECT_ROOT, 'scripts', 'run-cli.ts'), ...args],
      { cwd: PROJECT_ROOT, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
    child.stdin!.end(stdin);
  });
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-cli-commands-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

test('--version prints package.json\'s version', async () => {
  const version = (JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  expect(await runCli(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
}, 120_000);

test('a real process: a usage error exits 2, one line', async () => {
  const r = await runCli(['start', '--no-such-flag']);
  expect(r).toEqual({ code: 2, stdout: '', stderr: "kmip-server start: unknown option '--no-such-flag'\n" });
}, 120_000);

test('--metrics-listen reaches the configuration: a bad value is one line naming the flag, exit 1', async () => {
  const r = await runCli(['start', '--metrics-listen', 'nowhere', '--data-dir', path.join(work, 'metrics')]);
  expect(r.code).toBe(1);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toContain('--metrics-listen');
  expect(fs.existsSync(path.join(work, 'metrics', 'kmip.sqlite'))).toBe(false);
}, 120_000);

test('ttlv dump: input that is not TTLV is one line on standard error, exit 1', async () => {
  const file = path.join(work, 'not-ttlv.txt');
  fs.writeFileSync(file, 'this is not a KMIP message\n');
  const r = await runCli(['ttlv', 'dump', file]);
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^kmip-server: /);
}, 120_000);

test('hash-password still reads standard input and refuses an empty one (exit 1)', async () => {
  const [made, empty] = await Promise.all([runCli(['hash-password'], 'not-a-real-password\n'), runCli(['hash-password'], '')]);
  expect(made.code).toBe(0);
  expect(made.stdout).toMatch(/^scrypt\$/);
  expect(made.stdout).not.toContain('not-a-real-password');
  expect(empty.code).toBe(1);
  expect(empty.stderr).toContain('give the password on standard input');
}, 120_000);

test('start prints the client certificate and a kmip example whose address and files complete a handshake and a Query', async () => {
  const server = await startServerProcess();
  try {
    await waitFor('the client certificate line', () => /"msg":"client certificate"/.test(server.output()));
    const line = server.output().split('\n').find((l) => l.includes('"msg":"client certificate"'))!;
    const info = JSON.parse(line) as { cert: string; key: string; ca: string; example: string };
    expect(info.cert).toBe(path.join(server.pkiDir, 'client.pem'));
    expect(info.key).toBe(path.join(server.pkiDir, 'client-key.pem'));
    expect(info.ca).toBe(path.join(server.pkiDir, 'ca.pem'));
    expect(info.example).toBe(`kmip query --server 127.0.0.1:${server.port} --ca ${info.ca} --cert ${info.cert} --key ${info.key}`);
    // The example's own words, handed to doctor --connect: a real handshake and Query with them.
    const words = info.example.split(' ');
    const flag = (name: string) => words[words.indexOf(name) + 1]!;
    const r = await runCli(['doctor', '--connect', flag('--server'), '--ca', flag('--ca'), '--cert', flag('--cert'), '--key', flag('--key'), '--data-dir', server.dataDir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  } finally {
    expect(await server.stop('SIGTERM')).toBe(0);
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  }
}, 180_000);
