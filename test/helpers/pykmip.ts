/**
 * Runs a PyKMIP client script (Debian's /usr/bin/python3, python3-pykmip) against a server
 * process started for the test file, and reads the JSON line each step reports.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServerProcess, type ServerProcess } from './server-process';

export const PYTHON = '/usr/bin/python3';

export interface Step {
  step: string;
  ok: boolean;
  value?: unknown;
  error?: string;
  /** The Result Reason name of a failed operation (scripts that report it). */
  reason?: string | null;
}

/** Starts a server before the file's tests and stops it (expecting a clean exit) after them. */
export function useServerProcess(config?: Record<string, unknown>): () => ServerProcess {
  let server: ServerProcess | undefined;
  let configDir: string | undefined;
  beforeAll(async () => {
    if (!fs.existsSync(PYTHON)) throw new Error('/usr/bin/python3 is missing: apt-get install -y python3-pykmip');
    let extraArgs: string[] = [];
    if (config) {
      configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-config-'));
      fs.writeFileSync(path.join(configDir, 'config.json'), JSON.stringify(config));
      extraArgs = ['--config', path.join(configDir, 'config.json')];
    }
    server = await startServerProcess({ extraArgs });
  }, 120_000);
  afterAll(async () => {
    if (server) {
      expect(await server.stop()).toBe(0);
      fs.rmSync(server.dataDir, { recursive: true, force: true });
    }
    if (configDir) fs.rmSync(configDir, { recursive: true, force: true });
  });
  return () => {
    if (!server) throw new Error('server not started');
    return server;
  };
}

/**
 * Runs `script` with the server's address, the client credentials (default: the dev PKI's
 * ordinary client certificate in the server's data directory), then `extra`.
 */
export function runPyKmip(
  script: string,
  server: Pick<ServerProcess, 'port' | 'pkiDir'>,
  extra: readonly string[],
  tlsFiles?: { readonly cert: string; readonly key: string; readonly ca: string },
): Promise<Map<string, Step>> {
  const pki = server.pkiDir;
  const files = tlsFiles ?? { cert: path.join(pki, 'client.pem'), key: path.join(pki, 'client-key.pem'), ca: path.join(pki, 'ca.pem') };
  const args = [script, '127.0.0.1', String(server.port), files.cert, files.key, files.ca, ...extra];
  return runStepProgram(PYTHON, args, 'pykmip client');
}

/** Runs a client program that prints one JSON Step per line (a PyKMIP script, the libmongocrypt driver). */
export function runStepProgram(file: string, args: readonly string[], what: string): Promise<Map<string, Step>> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 90_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${what} failed: ${err.message}\n${stderr}\n${stdout}`));
      const steps = new Map<string, Step>();
      for (const line of stdout.split('\n').filter((l) => l.startsWith('{'))) {
        const s = JSON.parse(line) as Step;
        steps.set(s.step, s);
      }
      resolve(steps);
    });
  });
}

/** The value a step reported, failing the test with the client's error otherwise. */
export function ok(steps: Map<string, Step>, name: string): unknown {
  const s = steps.get(name);
  expect(s).toBeDefined();
  if (!s!.ok) throw new Error(`${name} failed: ${s!.error}`);
  return s!.value;
}
