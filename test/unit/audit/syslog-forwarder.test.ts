/**
 * The SIEM forwarder against a small TLS collector of our own that splits RFC 5425 frames (the
 * end-to-end test with Debian's rsyslog is test/integration/audit/syslog-forwarding.test.ts): the
 * frame, catching up from the rotated file, following a rotation, gaps, the collector's
 * certificate, the cursor file, and the `audit.syslog` configuration.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { createCertificateAuthority, issueServerCertificate } from '../../../src/pki/dev-pki';
import { syslogFrame } from '../../../src/audit/syslog-message';
import { createSyslogForwarder, type AuditForwarder, type SyslogForwarderConfig } from '../../../src/audit/syslog-forwarder';
import { ConfigError, loadConfig } from '../../../src/config';

const WAIT_MS = 30_000;

let dir: string;
let pki: string;
let otherPki: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-fwd-'));
  pki = path.join(dir, 'pki');
  createCertificateAuthority(pki);
  issueServerCertificate(pki, pki, { fileBase: 'collector' });
  otherPki = path.join(dir, 'other');
  createCertificateAuthority(otherPki, { commonName: 'Someone else' });
  issueServerCertificate(otherPki, otherPki, { fileBase: 'collector' });
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Messages split from octet-counted frames, in arrival order. */
class Collector {
  readonly messages: string[] = [];
  /** TCP connections accepted, handshakes that failed included. */
  connections = 0;
  private constructor(
    private readonly server: tls.Server,
    readonly port: number,
  ) {}

  static async start(pkiDir: string): Promise<Collector> {
    const server = tls.createServer({ key: fs.readFileSync(path.join(pkiDir, 'collector-key.pem')), cert: fs.readFileSync(path.join(pkiDir, 'collector.pem')) });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const c = new Collector(server, (server.address() as { port: number }).port);
    server.on('connection', () => (c.connections += 1));
    server.on('tlsClientError', () => {});
    server.on('secureConnection', (s) => {
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
          const sp = buf.indexOf(0x20);
          if (sp < 0) return;
          const len = Number(buf.toString('ascii', 0, sp));
          if (!Number.isInteger(len) || len <= 0) throw new Error(`bad frame: ${buf.toString('utf8', 0, 40)}`);
          if (buf.length < sp + 1 + len) return;
          c.messages.push(buf.toString('utf8', sp + 1, sp + 1 + len));
          buf = buf.subarray(sp + 1 + len);
        }
      });
      s.on('error', () => {});
    });
    return c;
  }

  seqs(): number[] {
    return this.messages.map((m) => Number(/\[kmip@32473 seq="(\d+)"\]/.exec(m)![1]));
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20)); // polling interval
  }
}

const line = (seq: number, extra: Record<string, unknown> = {}) => JSON.stringify({ event: 'operation', seq, prev: '0'.repeat(64), level: 'info', message: 'audit', timestamp: '2026-01-02T03:04:05.678Z', ...extra });
const lines = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => line(from + i) + '\n').join('');

function setup(name: string): { auditFile: string; cursorFile: string; notices: Record<string, unknown>[]; start(port: number, ca?: string): AuditForwarder } {
  const d = path.join(dir, name);
  fs.mkdirSync(d);
  const files = { auditFile: path.join(d, 'audit.log'), cursorFile: path.join(d, 'audit-forward.cursor') };
  const notices: Record<string, unknown>[] = [];
  return {
    ...files,
    notices,
    start: (port, ca = path.join(pki, 'ca.pem')) => {
      const config: SyslogForwarderConfig = { host: '127.0.0.1', port, ca, appName: 'kmip-server', facility: 13, retryMaxMs: 200 };
      return createSyslogForwarder(config, files, (r) => notices.push(r));
    },
  };
}

test('a frame: octet count in bytes, PRI from facility and level, the record time, seq in structured data, the exact line with a BOM when not ASCII', () => {
  const header = { facility: 13, hostname: 'host', appName: 'kmip-server', procId: '42' };
  const text = line(7, { client: 'Zoë' });
  const frame = syslogFrame(text, 7, JSON.parse(text) as Record<string, unknown>, header);
  const sp = frame.indexOf(0x20);
  expect(Number(frame.toString('ascii', 0, sp))).toBe(frame.length - sp - 1);
  expect(frame.toString('utf8', sp + 1)).toBe(`<110>1 2026-01-02T03:04:05.678Z host kmip-server 42 audit [kmip@32473 seq="7"] \ufeff${text}`);
  const error = JSON.stringify({ level: 'error', message: 'internal error', timestamp: 'yesterday' });
  const msg = syslogFrame(error, 8, JSON.parse(error) as Record<string, unknown>, header).toString('utf8');
  expect(msg).toMatch(/^\d+ <107>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z host kmip-server 42 audit \[kmip@32473 seq="8"\] \{"level":"error"/);
});

test('a start catches up from <file>.1 when the cursor is before <file>, then follows a rotation, in order, each once; the cursor is saved 0600', async () => {
  const collector = await Collector.start(pki);
  const t = setup('rotation');
  fs.writeFileSync(`${t.auditFile}.1`, lines(1, 5));
  fs.writeFileSync(t.auditFile, lines(6, 8));
  fs.writeFileSync(t.cursorFile, '3\n');
  const fwd = t.start(collector.port);
  try {
    await until(() => collector.messages.length >= 5, 'the catch-up');
    // logrotate: the file moves to .1, the writer finishes a line in it, then writes a new file.
    fs.renameSync(t.auditFile, `${t.auditFile}.1`);
    fs.appendFileSync(`${t.auditFile}.1`, lines(9, 10));
    fwd.push([]);
    fs.writeFileSync(t.auditFile, lines(11, 12));
    fwd.push([]);
    await until(() => collector.messages.length >= 9, 'the records after the rotation');
  } finally {
    await fwd.close();
    await collector.close();
  }
  expect(collector.seqs()).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12]);
  expect(fs.readFileSync(t.cursorFile, 'utf8')).toBe('12\n');
  expect(fs.statSync(t.cursorFile).mode & 0o777).toBe(0o600);
  expect(t.notices.filter((n) => String(n['event']).includes('gap'))).toEqual([]);
});

test('once the writer tells which lines are durable, nothing beyond the last of them is sent', async () => {
  const collector = await Collector.start(pki);
  const t = setup('durable');
  fs.writeFileSync(t.auditFile, lines(1, 2));
  const fwd = t.start(collector.port);
  try {
    fwd.push([line(2)]);
    await until(() => collector.messages.length >= 2, 'the durable records');
    fs.appendFileSync(t.auditFile, lines(3, 4));
    fwd.push([line(3)]); // 4 is written, not yet synced
    await until(() => collector.messages.length >= 3, 'record 3');
  } finally {
    await fwd.close(); // sends what is durable, then closes
    await collector.close();
  }
  expect(collector.seqs()).toEqual([1, 2, 3]);
  expect(fs.readFileSync(t.cursorFile, 'utf8')).toBe('3\n');
});

test('records no longer in <file> or <file>.1 are reported as a gap, and forwarding goes on', async () => {
  const collector = await Collector.start(pki);
  const t = setup('gap');
  fs.writeFileSync(t.auditFile, lines(10, 11));
  fs.writeFileSync(t.cursorFile, '3\n');
  const fwd = t.start(collector.port);
  try {
    await until(() => collector.messages.length >= 2, 'the records after the gap');
  } finally {
    await fwd.close();
    await collector.close();
  }
  expect(collector.seqs()).toEqual([10, 11]);
  expect(t.notices).toContainEqual(expect.objectContaining({ from: 4, to: 9 }));
});

test('lines without seq (an audit writer before the chain) are numbered by their count', async () => {
  const collector = await Collector.start(pki);
  const t = setup('no-seq');
  fs.writeFileSync(t.auditFile, '{"a":1}\n{"a":2}\n{"a":3}\n');
  fs.writeFileSync(t.cursorFile, '1\n');
  const fwd = t.start(collector.port);
  try {
    await until(() => collector.messages.length >= 2, 'the records');
    fs.appendFileSync(t.auditFile, '{"a":4}\n{"a":5');
    fwd.push([]);
    await until(() => collector.messages.length >= 3, 'the appended record');
    fs.appendFileSync(t.auditFile, '}\n'); // a line is sent only once it is whole
    fwd.push([]);
    await until(() => collector.messages.length >= 4, 'the completed record');
  } finally {
    await fwd.close();
    await collector.close();
  }
  expect(collector.seqs()).toEqual([2, 3, 4, 5]);
  expect(collector.messages.map((m) => m.slice(m.indexOf('] ') + 2))).toEqual(['{"a":2}', '{"a":3}', '{"a":4}', '{"a":5}']);
});

test('a collector whose certificate another CA issued gets nothing; the failure is reported once and retried', async () => {
  const impostor = await Collector.start(otherPki);
  const t = setup('impostor');
  fs.writeFileSync(t.auditFile, lines(1, 2));
  const fwd = t.start(impostor.port);
  try {
    await until(() => impostor.connections >= 3, 'three attempts');
  } finally {
    await fwd.close();
    await impostor.close();
  }
  expect(impostor.messages).toEqual([]);
  expect(t.notices.filter((n) => String(n['event']).startsWith('cannot connect'))).toHaveLength(1);
  expect(fs.existsSync(t.cursorFile)).toBe(false);
});

test('a damaged cursor file refuses to start with one line naming it', () => {
  const t = setup('bad-cursor');
  fs.writeFileSync(t.cursorFile, 'twelve\n');
  expect(() => t.start(1)).toThrow(`audit.syslog: the cursor file ${t.cursorFile} does not hold a sequence number; remove it to forward the trail again from its start`);
});

describe('audit.syslog configuration', () => {
  function withConfig(syslog: unknown): string {
    const f = path.join(fs.mkdtempSync(path.join(dir, 'cfg-')), 'config.json');
    fs.writeFileSync(f, JSON.stringify({ audit: { syslog } }));
    return f;
  }
  const ca = () => path.join(pki, 'ca.pem');

  test('defaults: app name kmip-server, facility 13 (log audit), retry up to 30 s', () => {
    const c = loadConfig({ configFile: withConfig({ host: 'siem.example', port: 6514, ca: ca() }) });
    expect(c.auditSyslog).toEqual({ host: 'siem.example', port: 6514, ca: ca(), cert: undefined, key: undefined, appName: 'kmip-server', facility: 13, retryMaxMs: 30_000 });
    expect(loadConfig({}).auditSyslog).toBeNull();
  });

  test.each([
    [{ port: 6514, ca: 'CA' }, 'audit.syslog.host'],
    [{ host: 'h', ca: 'CA' }, 'audit.syslog.port'],
    [{ host: 'h', port: 70000, ca: 'CA' }, 'audit.syslog.port'],
    [{ host: 'h', port: 6514 }, 'audit.syslog.ca'],
    [{ host: 'h', port: 6514, ca: '/nonexistent/ca.pem' }, 'audit.syslog.ca'],
    [{ host: 'h', port: 6514, ca: 'CA', cert: 'CERT' }, 'audit.syslog.key'],
    [{ host: 'h', port: 6514, ca: 'CA', appName: 'kmip server' }, 'audit.syslog.appName'],
    [{ host: 'h', port: 6514, ca: 'CA', facility: 24 }, 'audit.syslog.facility'],
    [{ host: 'h', port: 6514, ca: 'CA', bogus: 1 }, 'audit.syslog.bogus'],
    ['h:6514', 'audit.syslog'],
  ])('%j is refused naming %s', (syslog, key) => {
    const resolve = (v: unknown): unknown =>
      typeof v === 'object' && v !== null
        ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, x === 'CA' ? ca() : x === 'CERT' ? path.join(pki, 'collector.pem') : x]))
        : v;
    let error: unknown;
    try {
      loadConfig({ configFile: withConfig(resolve(syslog)) });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).key).toBe(key);
    expect((error as ConfigError).message.split('\n')).toHaveLength(1);
  });
});
