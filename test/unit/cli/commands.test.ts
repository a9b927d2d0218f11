/**
 * Every kmip-server command as commander parses it, in this process (main with a real argv): each
 * command's --help lists every flag it takes, and usage errors are one line naming the command,
 * exit code 2, before any command runs. test/integration/server/cli-commands.test.ts runs the real
 * process for the exit codes and start's client example.
 */
import { main } from '../../../src/cli';

/** Each command, the arguments its required flags need, and the flags its help must list (beyond --help). */
const COMMANDS: readonly (readonly [string[], string[], string[]])[] = [
  [['start'], [], ['--config', '--pykmip-config', '--listen', '--https-listen', '--metrics-listen', '--data-dir', '--workers']],
  [['pki', 'client'], ['--cn', 'x', '--out', 'y'], ['--cn', '--out', '--data-dir', '--create-ca']],
  [['pki', 'revoke'], ['--cert', 'x'], ['--cert', '--data-dir']],
  [['hash-password'], [], []],
  [['audit', 'verify'], [], ['--config', '--data-dir']],
  [['doctor'], ['--cert', 'x'], ['--cert', '--key', '--ca', '--config', '--data-dir', '--connect']],
  [['ttlv', 'dump'], [], ['--format', '--no-redact']],
  [['backup'], ['--out', 'x'], ['--out', '--data-dir', '--config', '--json']],
  [['restore'], ['--in', 'x'], ['--in', '--data-dir', '--config', '--force', '--digest', '--json']],
];

/** Runs main on `argv`, capturing what it writes and the exit code it sets. */
async function run(argv: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  const exit = jest.spyOn(process, 'exit').mockImplementation((code) => {
    throw new Error(`process.exit(${String(code)}) on a usage path`);
  });
  try {
    process.exitCode = undefined;
    await main(argv);
    return { code: Number(process.exitCode ?? 0), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
    exit.mockRestore();
    process.exitCode = undefined;
  }
}

test.each(COMMANDS)('%j --help lists every flag and exits 0', async (command, _required, flags) => {
  const r = await run([...command, '--help']);
  expect(r.code).toBe(0);
  expect(r.stderr).toBe('');
  expect(r.stdout).toContain(`Usage: kmip-server ${command.join(' ')}`);
  const listed = [...r.stdout.matchAll(/^ {2}(?:-[a-zA-Z], )?(--[a-z-]+)/gm)].map((m) => m[1]!);
  expect(listed.sort()).toEqual([...flags, '--help'].sort());
});

test.each(COMMANDS)('%j with an unknown flag: one line naming the command and the flag, exit 2', async (command, required) => {
  const r = await run([...command, ...required, '--no-such-flag']);
  expect(r).toEqual({ code: 2, stdout: '', stderr: `kmip-server ${command.join(' ')}: unknown option '--no-such-flag'\n` });
});

test('--help names every command', async () => {
  const r = await run(['--help']);
  expect(r.code).toBe(0);
  for (const name of ['start', 'pki', 'hash-password', 'audit', 'doctor', 'ttlv', 'backup', 'restore']) expect(r.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
});

test.each([
  ['a missing value', ['start', '--listen'], "kmip-server start: option '--listen <HOST:PORT>' argument missing\n"],
  ['a flag where a value belongs', ['start', '--data-dir', '--listen', '127.0.0.1:0'], "kmip-server start: option '--data-dir <DIR>' argument '--listen' is invalid. needs a value, not the flag --listen\n"],
  ['a required flag left out', ['pki', 'client', '--out', 'y'], "kmip-server pki client: required option '--cn <NAME>' not specified\n"],
  ['doctor without --cert', ['doctor'], "kmip-server doctor: required option '--cert <FILE>' not specified\n"],
  ['an unknown command', ['frobnicate'], "kmip-server: unknown command 'frobnicate'\n"],
  ['an unknown subcommand', ['pki', 'renew'], "kmip-server pki: unknown command 'renew'\n"],
  ['a choice not offered', ['ttlv', 'dump', '--format', 'octal'], "kmip-server ttlv dump: option '--format <FORMAT>' argument 'octal' is invalid. Allowed choices are hex, base64, binary.\n"],
  ['a typo, with the suggestion on the same line', ['start', '--lisen', '127.0.0.1:0'], "kmip-server start: unknown option '--lisen' (Did you mean --listen?)\n"],
  ['an argument a command does not take', ['hash-password', 'secret'], "kmip-server hash-password: too many arguments for 'hash-password'. Expected 0 arguments but got 1.\n"],
])('%s: one line, exit 2', async (_name, argv, line) => {
  expect(await run(argv)).toEqual({ code: 2, stdout: '', stderr: line });
});

test('no command: the overview on standard error, exit 2', async () => {
  const r = await run([]);
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr).toContain('Usage: kmip-server [options] [command]');
  expect(r.stderr).toContain('Exit codes: 0 done; 1 failed');
});
