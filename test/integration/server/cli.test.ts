/** The command line as an operator meets it: start-up, bad configuration, SIGTERM. */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT, startServerProcess } from '../../helpers/server-process';

function runCli(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-r', path.join(PROJECT_ROOT, 'scripts', 'register-ts.js'), path.join(PROJECT_ROOT, 'scripts', 'run-cli.ts'), ...args],
      { cwd: PROJECT_ROOT, timeout: 60_000 },
      (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
}

test('first start creates the dev PKI, the SoftHSM2 token and the store; SIGTERM stops cleanly', async () => {
  const server = await startServerProcess();
  try {
    for (const f of ['ca.pem', 'ca-key.pem', 'server.pem', 'server-key.pem', 'client.pem', 'client-key.pem']) {
      expect(fs.existsSync(path.join(server.pkiDir, f))).toBe(true);
    }
    expect(fs.statSync(path.join(server.pkiDir, 'ca-key.pem')).mode & 0o077).toBe(0);
    expect(fs.existsSync(path.join(server.dataDir, 'softhsm', 'softhsm2.conf'))).toBe(true);
    expect(fs.existsSync(path.join(server.dataDir, 'kmip.sqlite'))).toBe(true);
    expect(server.output()).toMatch(/"msg":"listening"/);
  } finally {
    expect(await server.stop('SIGTERM')).toBe(0);
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  }
});

test('a bad config value: one line naming the key, exit non-zero', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-cli-'));
  const cfg = path.join(dir, 'c.json');
  fs.writeFileSync(cfg, JSON.stringify({ limits: { maxMessageBytes: 'big' } }));
  const r = await runCli(['start', '--config', cfg, '--data-dir', dir]);
  expect(r.code).not.toBe(0);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/limits\.maxMessageBytes/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('pki client issues a further client certificate from the dev CA', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-cli-'));
  const r = await runCli(['pki', 'client', '--cn', 'alice', '--out', path.join(dir, 'alice'), '--data-dir', dir]);
  expect(r.code).toBe(0);
  const files = fs.readdirSync(path.join(dir, 'alice'));
  expect(files.some((f) => f.endsWith('.pem') && !f.includes('key'))).toBe(true);
  fs.rmSync(dir, { recursive: true, force: true });
});
