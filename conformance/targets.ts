/**
 * Where requests go: a KMIP server over mutual TLS or over HTTPS (any implementation), or our own
 * server core in this process through `handleMessage()`. The MSGENC cases are sent in the
 * encoding their name gives (KMIP JSON, KMIP XML, or binary TTLV in an HTTP POST): over HTTPS to
 * a server, and in process through the HTTPS transport's body handling (`answerHttpBody`).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as https from 'https';
import * as tls from 'tls';
import { decodeTtlv } from '../ttlv/decode';
import { encodeTtlv } from '../ttlv/encode';
import { parseKmipJson, renderKmipJson } from '../ttlv/json';
import { parseKmipXml, renderKmipXml } from '../ttlv/xml';
import { kmipDictionary } from '../src/spec/dictionary';
import { answerHttpBody, CONTENT_TYPES, KMIP_PATH, type HttpEncoding } from '../src/server/https-listener';
import type { CaseInfo } from './cases';
import { TtlvFramer } from '../ttlv/framer';
import { Tag } from '../src/spec/generated/tags';
import { handleMessage } from '../src/server/handle-message';
import type { ServerCore, Session } from '../src/server/handle-message';
import { Client as PgClient } from 'pg';
import { createEmbeddedCore, openEmbeddedHsm } from '../src/embedded';
import { LEGACY_CRYPTO_POLICY } from '../src/crypto/policy-profiles';
import type { KeyProtector } from '../src/keys/key-protector';

/** One server as the runner sees it: request bytes in, response bytes out, in order. */
export interface Target {
  handle(bytes: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

/**
 * Makes a target: a fresh server (in-process) or a fresh connection to the one server (network).
 * `encoding`: the case is an MSGENC case, sent in this encoding of the HTTPS profile.
 */
export type CoreFactory = (encoding?: HttpEncoding) => Promise<Target>;

/** The encoding an MSGENC case is sent in (undefined: not an MSGENC case). */
export function httpEncodingOf(info: Pick<CaseInfo, 'name'>): HttpEncoding | undefined {
  if (info.name.startsWith('MSGENC-JSON-')) return 'json';
  if (info.name.startsWith('MSGENC-XML-')) return 'xml';
  if (info.name.startsWith('MSGENC-HTTPS-')) return 'ttlv';
  return undefined;
}

/** The encoding of a group of cases run on one target (its first case's; chains are never MSGENC). */
export function groupEncoding(group: readonly { readonly info: Pick<CaseInfo, 'name'> }[]): HttpEncoding | undefined {
  return group[0] === undefined ? undefined : httpEncodingOf(group[0].info);
}

/** A TTLV request as the body of the encoding. */
export function toHttpBody(bytes: Uint8Array, encoding: HttpEncoding): Uint8Array {
  if (encoding === 'ttlv') return bytes;
  const tree = decodeTtlv(bytes, { maxMessageBytes: bytes.length });
  return Buffer.from(encoding === 'xml' ? renderKmipXml(tree, kmipDictionary) : renderKmipJson(tree, kmipDictionary), 'utf8');
}

/** A response body of the encoding as TTLV, for the comparison (which reads trees). */
export function fromHttpBody(body: Uint8Array, encoding: HttpEncoding): Uint8Array {
  if (encoding === 'ttlv') return body;
  const text = Buffer.from(body).toString('utf8');
  return encodeTtlv(encoding === 'xml' ? parseKmipXml(text, kmipDictionary) : parseKmipJson(text, kmipDictionary));
}

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

/**
 * KMIP over HTTPS: one keep-alive connection per target, one POST /kmip per request (answered in
 * order), the body in `encoding` (binary TTLV unless told), the answer read back into TTLV.
 */
export function httpsFactory(opts: TlsTargetOptions): CoreFactory {
  return async (encoding = 'ttlv') => {
    const agent = new https.Agent({
      keepAlive: true,
      maxSockets: 1,
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      minVersion: 'TLSv1.2',
      ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
    });
    const handle = (bytes: Uint8Array): Promise<Uint8Array> =>
      new Promise((resolve, reject) => {
        const body = toHttpBody(bytes, encoding);
        const req = https.request(
          {
            host: opts.host,
            port: opts.port,
            method: 'POST',
            path: KMIP_PATH,
            agent,
            checkServerIdentity: (host, cert) => tls.checkServerIdentity(opts.servername ?? host, cert),
            headers: { 'Content-Type': CONTENT_TYPES[encoding], 'Content-Length': body.length },
          },
          (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on('data', (c: Buffer) => {
              size += c.length;
              if (size > MAX_RESPONSE_BYTES) res.destroy(new Error('response above the size limit'));
              else chunks.push(c);
            });
            res.on('error', reject);
            res.on('end', () => {
              const answer = Buffer.concat(chunks);
              if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}: ${answer.toString('utf8').slice(0, 200).trim()}`));
              const type = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
              if (type !== CONTENT_TYPES[encoding]) return reject(new Error(`answered as ${type || 'no content type'}, not ${CONTENT_TYPES[encoding]}`));
              try {
                resolve(fromHttpBody(answer, encoding));
              } catch (e) {
                reject(e instanceof Error ? e : new Error(String(e)));
              }
            });
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    return { handle, close: async () => agent.destroy() };
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
  return async (encoding) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-conformance-'));
    let made: { core: ServerCore; close(): Promise<void> };
    try {
      made = await make(dir);
    } catch (e) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    return {
      // An MSGENC case goes through the HTTPS transport's body handling, in its encoding.
      handle: async (bytes) =>
        encoding === undefined ? handleMessage(bytes, session, made.core) : fromHttpBody(await answerHttpBody(toHttpBody(bytes, encoding), encoding, session, made.core), encoding),
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
 * directory with its own SQLite file per target (or, with `postgresAdminUrl`, its own PostgreSQL
 * database, dropped after). `close` removes everything.
 */
export async function openEmbeddedRun(opts: { postgresAdminUrl?: string } = {}): Promise<{ factory: CoreFactory; close(): Promise<void> }> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-conformance-run-'));
  let keys: KeyProtector;
  try {
    keys = await openEmbeddedHsm(path.join(root, 'softhsm'));
  } catch (e) {
    fs.rmSync(root, { recursive: true, force: true });
    throw e;
  }
  return {
    // The OASIS corpus exercises what the profiles of its time required (3DES, ECB, SHA-1 signatures,
    // short HMAC keys): it is replayed under the legacy cryptographic policy profile.
    factory: inProcessFactory(async (dataDir) => {
      const admin = opts.postgresAdminUrl;
      if (admin === undefined) return createEmbeddedCore(dataDir, { keys, crypto: LEGACY_CRYPTO_POLICY });
      const db = await createCaseDatabase(admin);
      const made = await createEmbeddedCore(dataDir, { keys, crypto: LEGACY_CRYPTO_POLICY, postgresUrl: db.url }).catch(async (e: unknown) => {
        await db.drop();
        throw e;
      });
      return { core: made.core, close: async () => made.close().finally(() => db.drop()) };
    }),
    close: async () => {
      try {
        await keys.close();
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    },
  };
}

let caseDatabases = 0;

/** A new database on the cluster of `adminUrl` for one case, and how to drop it. */
export async function createCaseDatabase(adminUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `kmip_conformance_${process.pid}_${caseDatabases++}`;
  const admin = async (sql: string) => {
    const c = new PgClient({ connectionString: adminUrl });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`DROP DATABASE IF EXISTS ${name}`);
  await admin(`CREATE DATABASE ${name}`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return { url: u.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
