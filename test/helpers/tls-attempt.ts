/**
 * One connection attempt as a client sees it, for tests of what the listener accepts: connect with
 * a certificate, send a Query, and report whether it was answered, which server certificate was
 * presented, and the TLS session (to try resuming it later).
 */
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { TtlvFramer } from '../../ttlv/framer';
import { Operation } from '../../src/spec/generated/enums';
import { requestMessage } from './kmip-client';
import type { ServerProcess } from './server-process';

export interface Credentials {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface Attempt {
  /** The Query was answered. */
  readonly served: boolean;
  /** The client's port: the listener audits the peer as 127.0.0.1:<this>. */
  readonly localPort: number | undefined;
  /** The serial of the certificate the server presented (OpenSSL's hex). */
  readonly serverSerial: string | undefined;
  readonly session: Buffer | undefined;
  readonly resumed: boolean;
}

/** Reads `<dir>/<base>.pem` and `<dir>/<base>-key.pem` with the CA in `caPath`. */
export function credentials(caPath: string, dir: string, base: string): Credentials {
  return { ca: fs.readFileSync(caPath), cert: fs.readFileSync(path.join(dir, `${base}.pem`)), key: fs.readFileSync(path.join(dir, `${base}-key.pem`)) };
}

export function attempt(port: number, creds: Credentials, opts: { session?: Buffer } = {}): Promise<Attempt> {
  return new Promise((resolve, reject) => {
    const framer = new TtlvFramer({ maxMessageBytes: 1 << 20 });
    let served = false;
    let session: Buffer | undefined;
    let localPort: number | undefined;
    let serverSerial: string | undefined;
    let resumed = false;
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...creds, ...(opts.session ? { session: opts.session } : {}) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the attempt was neither answered nor closed within 30 s'));
    }, 30_000);
    socket.on('session', (s: Buffer) => (session = s));
    socket.once('secureConnect', () => {
      localPort = socket.localPort;
      serverSerial = socket.getPeerCertificate().serialNumber;
      resumed = socket.isSessionReused();
      socket.write(requestMessage({ major: 1, minor: 4 }, [{ operation: Operation.Query, payload: [] }]));
    });
    socket.on('data', (d: Buffer) => {
      if (framer.push(d).length > 0) {
        served = true;
        socket.end();
      }
    });
    // A refused client sees a reset or an alert; either way the outcome is the close.
    socket.on('error', () => {});
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ served, localPort, serverSerial, session, resumed });
    });
  });
}

/** Polls until `probe` returns a value; the bound is generous (a loaded 2-core machine). */
export async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The server's JSON log lines (stdout and stderr) whose msg is `msg`. */
export function logLines(server: ServerProcess, msg: string): Record<string, unknown>[] {
  return server
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{') && l.includes(`"msg":"${msg}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Sends SIGHUP and waits for the next line saying how the reload went ("reloaded" or "reload failed"); returns it. */
export async function sighup(server: ServerProcess): Promise<Record<string, unknown>> {
  const before = logLines(server, 'reloaded').length + logLines(server, 'reload failed').length;
  server.child.kill('SIGHUP');
  return waitFor('the reload to be logged', () => [...logLines(server, 'reloaded'), ...logLines(server, 'reload failed')].length > before && lastReloadLine(server));
}

function lastReloadLine(server: ServerProcess): Record<string, unknown> | undefined {
  const lines = server
    .output()
    .split('\n')
    .filter((l) => /^\{"msg":"(reloaded|reload failed)"/.test(l));
  const last = lines[lines.length - 1];
  return last === undefined ? undefined : (JSON.parse(last) as Record<string, unknown>);
}

/** The audit file's records (a line being written is left out until whole). */
export function auditRecords(file: string): Record<string, unknown>[] {
  if (!fs.existsSync(file)) return [];
  const text = fs.readFileSync(file, 'utf8');
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
