/** The command line as an operator meets it: start-up, bad configuration, SIGTERM. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectClient, startServerProcess } from '../../helpers/server-process';
import { attributesFor, parseResponse, requestMessage } from '../../helpers/kmip-client';
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { CryptographicAlgorithm, ObjectType, Operation, ResultStatus } from '../../../src/spec/generated/enums';
import { findSoftHsmModule } from '../../../src/keys/softhsm';
import { makeTestToken } from '../../helpers/hsm';
import { runCli } from '../../helpers/custody';

test('first start creates the dev PKI, the SoftHSM2 token and the store; SIGTERM stops cleanly', async () => {
  const server = await startServerProcess();
  try {
    for (const f of ['ca.pem', 'ca-key.pem', 'server.pem', 'server-key.pem', 'client.pem', 'client-key.pem', 'admin.pem', 'admin-key.pem']) {
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

/** Every file and directory under `dir` whose mode gives the group or others any access. */
function looseModes(dir: string): string[] {
  const loose: string[] = [];
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    if ((st.mode & 0o077) !== 0) loose.push(`${path.relative(dir, p) || '.'} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const n of fs.readdirSync(p)) walk(path.join(p, n));
  };
  walk(dir);
  return loose;
}

test('every file the server creates is its user\'s alone (store, WAL, SHM, audit, token, PIN, SoftHSM2 config, PKI), and a wider one left behind is tightened', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-modes-'));
  fs.chmodSync(dataDir, 0o755);
  fs.writeFileSync(path.join(dataDir, 'left-behind.txt'), 'x', { mode: 0o644 });
  const server = await startServerProcess({ dataDir });
  try {
    for (const f of ['kmip.sqlite', 'kmip.sqlite-wal', 'kmip.sqlite-shm', 'audit.log', 'softhsm/softhsm2.conf']) {
      expect(fs.existsSync(path.join(dataDir, f))).toBe(true);
    }
    expect(looseModes(dataDir)).toEqual([]);
  } finally {
    expect(await server.stop('SIGTERM')).toBe(0);
    expect(looseModes(dataDir)).toEqual([]);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a second server on the same data dir refuses with one line naming the holder; a lock left by a SIGKILLed server is taken over', async () => {
  const first = await startServerProcess();
  try {
    const second = await runCli(['start', '--listen', '127.0.0.1:0', '--data-dir', first.dataDir]);
    expect(second.code).not.toBe(0);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    expect(second.stderr).toContain(`PID ${first.child.pid}`);
    expect(second.stderr).toContain(first.dataDir);
    expect(await first.stop('SIGKILL')).toBe('SIGKILL');
    const third = await startServerProcess({ dataDir: first.dataDir });
    expect(await third.stop('SIGTERM')).toBe(0);
    expect(fs.existsSync(path.join(first.dataDir, 'server.lock'))).toBe(false);
  } finally {
    await first.stop('SIGKILL');
    fs.rmSync(first.dataDir, { recursive: true, force: true });
  }
}, 240_000);

test('a store whose KEK the token does not hold refuses to start, naming it; a missing token is not made anew for a non-empty store', async () => {
  const server = await startServerProcess();
  const dataDir = server.dataDir;
  const other = await startServerProcess();
  try {
    const client = await connectClient(server);
    const created = parseResponse(await client.request(requestMessage({ major: 1, minor: 4 }, [{
      operation: Operation.Create,
      payload: [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), attributesFor({ major: 1, minor: 4 }, [
        { name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES) },
        { name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, 256) },
      ])],
    }])));
    expect(created.items[0]!.status).toBe(ResultStatus.Success);
    client.close();
    expect(await server.stop('SIGTERM')).toBe(0);
    expect(await other.stop('SIGTERM')).toBe(0);
    // Another data dir's token (its own KEK) in place of ours.
    fs.rmSync(path.join(dataDir, 'softhsm'), { recursive: true });
    fs.cpSync(path.join(other.dataDir, 'softhsm'), path.join(dataDir, 'softhsm'), { recursive: true });
    fs.writeFileSync(path.join(dataDir, 'softhsm', 'softhsm2.conf'), fs.readFileSync(path.join(dataDir, 'softhsm', 'softhsm2.conf'), 'utf8').replace(other.dataDir, dataDir));
    const wrongToken = await runCli(['start', '--listen', '127.0.0.1:0', '--data-dir', dataDir]);
    expect(wrongToken.code).not.toBe(0);
    expect(wrongToken.stderr.trim().split('\n')).toHaveLength(1);
    // The data dir names its current KEK (kek-current.json): the start names it and the way to get it back.
    expect(wrongToken.stderr).toMatch(/names KEK [0-9a-f]+ as current, but the token does not hold it: recover it \(kmip-server kek recover/);
    // No token at all: refused too, and none is made.
    fs.rmSync(path.join(dataDir, 'softhsm'), { recursive: true });
    const noToken = await runCli(['start', '--listen', '127.0.0.1:0', '--data-dir', dataDir]);
    expect(noToken.code).not.toBe(0);
    expect(noToken.stderr.trim().split('\n')).toHaveLength(1);
    expect(noToken.stderr).toMatch(/token "kmip-dev" .* is missing, but the store holds objects/);
  } finally {
    await server.stop('SIGKILL');
    await other.stop('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(other.dataDir, { recursive: true, force: true });
  }
}, 300_000);

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

describe('HSM faults at start: the server refuses with one clear line', () => {
  function config(dir: string, hsm: Record<string, string>): string {
    const f = path.join(dir, 'c.json');
    fs.writeFileSync(f, JSON.stringify({ hsm }));
    return f;
  }

  test.each([
    ['a wrong module path', { module: '/nonexistent/libpkcs11.so', tokenLabel: 'x' }, /module|load/i],
    ['a missing token', { module: findSoftHsmModule(), tokenLabel: 'no-such-token' }, /no token labelled/i],
  ])('%s', async (_name, hsm, message) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-cli-'));
    const pin = path.join(dir, 'pin');
    fs.writeFileSync(pin, '123456', { mode: 0o600 });
    const r = await runCli(['start', '--config', config(dir, { ...hsm, pinFile: pin }), '--data-dir', dir, '--listen', '127.0.0.1:0']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toContain('123456');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a wrong PIN', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-cli-'));
    const token = makeTestToken();
    const pin = path.join(dir, 'pin');
    fs.writeFileSync(pin, 'wrong-pin-987', { mode: 0o600 });
    const r = await runCli(['start', '--config', config(dir, { module: token.modulePath, tokenLabel: token.tokenLabel, pinFile: pin }), '--data-dir', dir, '--listen', '127.0.0.1:0']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/PIN|login/i);
    expect(r.stderr).not.toContain('wrong-pin-987');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
