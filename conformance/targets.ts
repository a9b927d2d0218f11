/**
 * Where requests go: a KMIP server over mutual TLS (any implementation), or our own server core
 * in this process through `handleMessage()`.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tls from 'tls';
import { TtlvFramer } from '../ttlv/framer';
import { Tag } from '../src/spec/generated/tags';
import { handleMessage } from '../src/server/handle-message';
import type { ServerCore, Session } from '../src/server/handle-message';
import { createEmbeddedCore, openEmbeddedHsm } from '../src/embedded';
import type { KeyProtector } from '../src/keys/key-protector';

/** One server as the runner sees it: request bytes in, response bytes out, in order. */
export interface Target {
  handle(bytes: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Makes a target: a fresh server (in-process) or a fresh connection to the one server (network). */
export type CoreFactory = () => Promise<Target>;

/** Responses above this size are refused: far above any test case's, and bounds a rogue server. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export interface TlsTargetOptions {
  readonly host: string;
  readonly port: number;
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Name the server certificate must carry, when it differs from `host` (e.g. host is an IP). */
  readonly servername?: string;
}

/** Parses "host:port" and "[v6]:port". */
export function parseHostPort(text: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m || !(port > 0 && port < 65536)) throw new Error(`--server: expected HOST:PORT, got "${text}"`);
  const host = (m[1] as string).replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}

/** A new TLS connection per call; requests on it are answered in order (KMIP over TLS). */
export function tlsFactory(opts: TlsTargetOptions): CoreFactory {
  return () => connectTls(opts);
}

async function connectTls(opts: TlsTargetOptions): Promise<Target> {
  const socket = tls.connect({
    host: opts.host,
    port: opts.port,
    ca: opts.ca,
    cert: opts.cert,
    key: opts.key,
    servername: opts.servername ?? (/^[\d.:]+$/.test(opts.host) ? undefined : opts.host),
    checkServerIdentity: (host, cert) => tls.checkServerIdentity(opts.servername ?? host, cert),
    minVersion: 'TLSv1.2',
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  const framer = new TtlvFramer({ maxMessageBytes: MAX_RESPONSE_BYTES, expectTag: Tag.ResponseMessage });
  const waiting: Array<{ resolve: (b: Uint8Array) => void; reject: (e: Error) => void }> = [];
  let failure: Error | undefined;
  const fail = (e: Error): void => {
    failure ??= e;
    for (const w of waiting.splice(0)) w.reject(failure);
  };
  socket.on('data', (chunk: Buffer) => {
    let frames: Uint8Array[];
    try {
      frames = framer.push(chunk);
    } catch (e) {
      fail(e instanceof Error ? e : new Error(String(e)));
      socket.destroy();
      return;
    }
    for (const f of frames) {
      const w = waiting.shift();
      if (w) w.resolve(f);
      else fail(new Error('the server sent a response nobody asked for'));
    }
  });
  socket.on('error', (e: Error) => fail(e));
  socket.on('close', () => fail(new Error('the server closed the connection')));
  return {
    handle: (bytes) =>
      new Promise<Uint8Array>((resolve, reject) => {
        if (failure) return reject(failure);
        waiting.push({ resolve, reject });
        socket.write(bytes);
      }),
    close: () =>
      new Promise<void>((resolve) => {
        if (socket.destroyed) return resolve();
        socket.once('close', () => resolve());
        socket.end();
        // A server that never closes its side must not hold the run.
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 2000).unref();
      }),
  };
}

/** How an in-process core is made in a data directory (src/embedded.ts `createEmbeddedCore`). */
export type EmbeddedCoreMaker = (dataDir: string) => Promise<{ core: ServerCore; close(): Promise<void> }>;

/** The identity requests are made under in-process (an ordinary client, not an administrator). */
export const IN_PROCESS_SESSION: Session = { client: { name: 'kmip-conformance', isAdmin: false } };

/**
 * A fresh server per call: a new data directory (SQLite file, SoftHSM2 token) that is removed
 * again on close, so no case sees another's objects.
 */
export function inProcessFactory(make: EmbeddedCoreMaker, session: Session = IN_PROCESS_SESSION): CoreFactory {
  return async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-conformance-'));
    let made: { core: ServerCore; close(): Promise<void> };
    try {
      made = await make(dir);
    } catch (e) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    return {
      handle: (bytes) => handleMessage(bytes, session, made.core),
      close: async () => {
        try {
          await made.close();
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  };
}

/**
 * The in-process set-up of `npm run conformance -- --in-process`: one real SoftHSM2 token for the
 * run (one process initialises SoftHSM2 once, so cores share its protector), and a fresh data
 * directory with its own SQLite file per target. `close` removes everything.
 */
export async function openEmbeddedRun(): Promise<{ factory: CoreFactory; close(): Promise<void> }> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-conformance-run-'));
  let keys: KeyProtector;
  try {
    keys = await openEmbeddedHsm(path.join(root, 'softhsm'));
  } catch (e) {
    fs.rmSync(root, { recursive: true, force: true });
    throw e;
  }
  return {
    factory: inProcessFactory((dataDir) => createEmbeddedCore(dataDir, { keys })),
    close: async () => {
      try {
        await keys.close();
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    },
  };
}
