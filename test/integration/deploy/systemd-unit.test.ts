/**
 * deploy/kmip-server.service: systemd itself checks it (`systemd-analyze verify`, where an unknown
 * or misspelt directive is only a warning, so any output fails; `systemd-analyze security` for the
 * exposure the hardening leaves), it keeps the hardening the README promises, and the command line
 * it runs is one kmip-server parses.
 */
import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { PROJECT_ROOT } from '../../helpers/server-process';
import { probeError, requireEnvironment } from '../../helpers/environment';

const UNIT = path.join(PROJECT_ROOT, 'deploy', 'kmip-server.service');
const text = fs.readFileSync(UNIT, 'utf8');
const systemd = requireEnvironment(
  'systemd-analyze (Debian package systemd)',
  probeError(() => execFileSync('systemd-analyze', ['--version'], { stdio: 'pipe' })),
);

function run(file: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

/** The values of a [Service] directive, in order (a directive may repeat). */
function directive(name: string): string[] {
  return [...text.matchAll(new RegExp(`^${name}=(.*)$`, 'gm'))].map((m) => m[1]!);
}

systemd.test('systemd-analyze verify accepts the unit without a single warning', async () => {
  const r = await run('systemd-analyze', ['verify', UNIT]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
});

systemd.test('a misspelt directive would be caught (the check above can fail)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-unit-'));
  const bad = path.join(dir, 'kmip-server.service');
  fs.writeFileSync(bad, text.replace('NoNewPrivileges=yes', 'NoNewPrivilege=yes'));
  const r = await run('systemd-analyze', ['verify', bad]);
  fs.rmSync(dir, { recursive: true, force: true });
  expect(r.stderr).toContain("Unknown key 'NoNewPrivilege'");
});

systemd.test('systemd-analyze security rates the exposure low (2.0 or below on its 0 to 10 scale)', async () => {
  const r = await run('systemd-analyze', ['security', '--offline=yes', '--no-pager', UNIT]);
  const m = /Overall exposure level for kmip-server\.service: (\d+\.\d+)/.exec(r.stdout);
  expect(m).not.toBeNull();
  expect(Number(m![1])).toBeLessThanOrEqual(2.0);
});

test('the hardening: its own user, no privileges, a read-only system but the data dir, no capabilities, reload by SIGHUP', () => {
  expect(directive('User')).toEqual(['kmip-server']);
  expect(directive('NoNewPrivileges')).toEqual(['yes']);
  expect(directive('ProtectSystem')).toEqual(['strict']);
  expect(directive('ReadWritePaths')).toEqual(['/var/lib/kmip-server']);
  expect(directive('PrivateTmp')).toEqual(['yes']);
  expect(directive('CapabilityBoundingSet')).toEqual(['']);
  expect(directive('AmbientCapabilities')).toEqual(['']);
  expect(directive('UMask')).toEqual(['0077']);
  expect(directive('LimitCORE')).toEqual(['0']);
  expect(directive('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
});

test('ExecStart runs bin/kmip-server.js start with flags kmip-server parses (not a usage error)', async () => {
  const [execStart] = directive('ExecStart');
  const words = execStart!.split(' ');
  expect(words.slice(0, 3)).toEqual(['/usr/bin/env', 'node', '/opt/kmip-server/bin/kmip-server.js']);
  expect(words[3]).toBe('start');
  // The same flags, their paths swapped for ones here: the config file is missing, so start stops at
  // reading it (exit 1, naming it) after the flags parsed; a usage error would be exit 2.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-unit-'));
  const args = words.slice(3).map((w) => w.replace('/etc/kmip-server', dir).replace('/var/lib/kmip-server', path.join(dir, 'data')));
  const r = await run(process.execPath, ['-r', path.join(PROJECT_ROOT, 'scripts', 'register-ts.js'), path.join(PROJECT_ROOT, 'scripts', 'run-cli.ts'), ...args]);
  fs.rmSync(dir, { recursive: true, force: true });
  expect(r.stderr.trim()).toMatch(new RegExp(`^kmip-server: config: --config: cannot read ${dir}/config.json`));
  expect(r.code).toBe(1);
});
