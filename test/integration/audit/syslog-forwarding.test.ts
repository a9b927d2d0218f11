/**
 * The audit trail forwarded to a SIEM: a real rsyslog from Debian (imtcp over TLS with its GnuTLS
 * driver) started by the test, the real server process started from a config file with
 * `audit.syslog`, requests over mutual TLS. Records arrive as RFC 5424 messages that rsyslog's own
 * parser reads, in order, each with its seq and the audit line as MSG; a collector outage does not
 * block requests, and when the collector returns every record arrives, also those written by a
 * server restarted during the outage, which resumes from its cursor.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Operation } from '../../../src/spec/generated/enums';
import { FORWARD_CURSOR_FILE } from '../../../src/main';
import { connectAdmin, startServerProcess, type ServerProcess } from '../../helpers/server-process';
import { parseResponse, registerAesPayload, requestMessage, successPayload } from '../../helpers/kmip-client';
import { RsyslogCollector, freePort, type ReceivedMessage } from '../../helpers/rsyslog';

jest.setTimeout(240_000);
const V = { major: 1, minor: 4 };
/** Bounds for waiting on events: generous, a loaded 2-core machine stays well inside them. */
const WAIT_MS = 60_000;

let dir: string;
let dataDir: string;
let configFile: string;
let collector: RsyslogCollector;
const servers: ServerProcess[] = [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-siem-'));
  dataDir = path.join(dir, 'data');
  collector = new RsyslogCollector(path.join(dir, 'rsyslog'), await freePort());
  await collector.start();
  configFile = path.join(dir, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify({ audit: { syslog: { host: '127.0.0.1', port: collector.port, ca: collector.caPath, retryMaxMs: 500 } } }));
});

afterAll(async () => {
  for (const s of servers) await s.stop('SIGKILL');
  await collector?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function startServer(): Promise<ServerProcess> {
  const s = await startServerProcess({ dataDir, extraArgs: ['--config', configFile] });
  servers.push(s);
  return s;
}

async function until(cond: () => boolean, what: string, diagnose: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${diagnose()}`);
    await new Promise((r) => setTimeout(r, 50)); // polling interval
  }
}

/** Registers `n` keys, each answered (a request blocked on the collector would fail here). */
async function register(server: ServerProcess, n: number): Promise<void> {
  const c = await connectAdmin(server);
  try {
    for (let i = 0; i < n; i++) {
      const answer = c.request(requestMessage(V, [{ operation: Operation.Register, payload: registerAesPayload(randomBytes(32)) }]));
      let timer: NodeJS.Timeout | undefined;
      const hung = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('a request hung while the collector was away')), WAIT_MS)));
      try {
        successPayload(parseResponse(await Promise.race([answer, hung])));
      } finally {
        clearTimeout(timer);
      }
    }
  } finally {
    c.close();
  }
}

/** The audit file's lines with the seq each carries (by line count where a line has none yet). */
function trail(): { seq: number; line: string }[] {
  const lines = fs.readFileSync(path.join(dataDir, 'audit.log'), 'utf8').split('\n').filter((l) => l !== '');
  return lines.map((line, i) => {
    const seq = (JSON.parse(line) as { seq?: number }).seq;
    return { seq: seq ?? i + 1, line };
  });
}

const RFC5424 = /^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)) ([\x21-\x7e]{1,255}) ([\x21-\x7e]{1,48}) ([\x21-\x7e]{1,128}) ([\x21-\x7e]{1,32}) (\[kmip@32473 seq="(\d+)"\]) (.*)$/s;

/** One received message, checked as RFC 5424 by our pattern and by rsyslog's parser; its seq and MSG. */
function parse(m: ReceivedMessage): { seq: number; msg: string } {
  const r = RFC5424.exec(m.raw);
  if (!r) throw new Error(`not an RFC 5424 message with our structured data: ${m.raw}`);
  expect(Number(r[1])).toBe(13 * 8 + 6); // facility log audit, severity informational
  expect([m.facility, m.severity]).toEqual([13, 6]);
  expect([m.appName, m.msgId, r[4], r[6]]).toEqual(['kmip-server', 'audit', 'kmip-server', 'audit']);
  expect(m.procId).toBe(r[5]);
  expect(m.structuredData).toBe(r[7]);
  const msg = r[9]!.replace(/^\ufeff/, '');
  expect(m.msg.replace(/^\ufeff/, '')).toBe(msg);
  return { seq: Number(r[8]), msg };
}

/** Received messages, parsed; asserts each carries exactly the audit line of its seq. */
function receivedRecords(): { seq: number; msg: string }[] {
  const bySeq = new Map(trail().map((t) => [t.seq, t.line]));
  return collector.received().map((m) => {
    const p = parse(m);
    expect(p.msg).toBe(bySeq.get(p.seq));
    // An audit record or one of the trail's checkpoints, carrying the seq it was sent under.
    expect(JSON.parse(p.msg)).toHaveProperty('seq', p.seq);
    return p;
  });
}

/** Seqs in arrival order with repeats left out. */
function firstArrivals(records: readonly { seq: number }[]): number[] {
  const seen = new Set<number>();
  return records.filter((r) => !seen.has(r.seq) && seen.add(r.seq)).map((r) => r.seq);
}

const allSeqs = () => trail().map((t) => t.seq);
const diagnose = () => `server:\n${servers.map((s) => s.output()).join('\n---\n')}\nrsyslog:\n${collector.log()}`;

test('records arrive in order with their seq; a clean restart sends nothing twice; an outage loses nothing and blocks nothing, across a server restart', async () => {
  // 1. Collector up: the records of a server's requests arrive, in order, each exactly once.
  let server = await startServer();
  await register(server, 3);
  await until(() => collector.received().length >= allSeqs().length && allSeqs().length >= 3, 'the first records at the collector', diagnose);
  expect(receivedRecords().map((r) => r.seq)).toEqual(allSeqs());
  expect(allSeqs()).toEqual(allSeqs().map((_, i) => i + 1));

  // 2. A clean restart with the collector up: the stop's close was acknowledged, so the next start
  // resumes after the last record sent and nothing arrives twice.
  expect(await server.stop()).toBe(0);
  const cursorFile = path.join(dataDir, FORWARD_CURSOR_FILE);
  expect(fs.statSync(cursorFile).mode & 0o777).toBe(0o600);
  const cursorAtStop = Number(fs.readFileSync(cursorFile, 'utf8'));
  expect(cursorAtStop).toBe(allSeqs().at(-1));
  server = await startServer();
  await register(server, 2);
  await until(() => collector.received().length >= allSeqs().length, 'the records after a restart', diagnose);
  expect(receivedRecords().map((r) => r.seq)).toEqual(allSeqs());
  const lastBeforeOutage = allSeqs().at(-1)!;
  const firstOfThisConnection = cursorAtStop + 1;

  // 3. The collector goes away: requests are answered, their records wait in the audit file.
  await collector.stop();
  await register(server, 3);
  // A server restarted during the outage resumes from the cursor the stopped one saved.
  expect(await server.stop()).toBe(0);
  server = await startServer();
  await register(server, 2);
  const received = collector.received().length;
  expect(allSeqs().length).toBeGreaterThanOrEqual(lastBeforeOutage + 5);

  // 4. The collector returns on the same port: every record arrives, in order.
  await collector.start();
  await until(() => new Set(collector.received().map((m) => parse(m).seq)).size >= allSeqs().length, 'every record after the outage', diagnose);
  const records = receivedRecords();
  expect(firstArrivals(records)).toEqual(allSeqs());
  // At least once: only records the lost connection may not have delivered are sent again (never
  // those acknowledged by the clean stop of step 2), and those written during the outage once.
  const repeated = records.slice(received).filter((r) => r.seq <= lastBeforeOutage).map((r) => r.seq);
  expect(repeated.every((seq) => seq >= firstOfThisConnection)).toBe(true);
  expect(records.slice(received).filter((r) => r.seq > lastBeforeOutage).map((r) => r.seq)).toEqual(allSeqs().filter((s) => s > lastBeforeOutage));
  await server.stop();
});

test('with two workers the primary forwards: each record once, in order', async () => {
  const own = new RsyslogCollector(path.join(dir, 'rsyslog-workers'), await freePort());
  await own.start();
  const workersDataDir = path.join(dir, 'data-workers');
  const workersConfig = path.join(dir, 'config-workers.json');
  fs.writeFileSync(workersConfig, JSON.stringify({ audit: { syslog: { host: '127.0.0.1', port: own.port, ca: own.caPath } } }));
  try {
    const server = await startServerProcess({ dataDir: workersDataDir, extraArgs: ['--config', workersConfig, '--workers', '2'] });
    servers.push(server);
    // Two connections: the primary deals them to both workers, which append to one file.
    await Promise.all([register(server, 3), register(server, 3)]);
    const fileLines = () => fs.readFileSync(path.join(workersDataDir, 'audit.log'), 'utf8').split('\n').filter((l) => l !== '');
    await until(() => own.received().length >= fileLines().length && fileLines().length >= 6, 'the records of both workers', () => server.output() + own.log());
    expect(await server.stop()).toBe(0);
    const got = own.received().map(parse);
    expect(got.map((r) => r.msg)).toEqual(fileLines());
    expect(got.map((r) => r.seq)).toEqual(fileLines().map((l, i) => (JSON.parse(l) as { seq?: number }).seq ?? i + 1));
    expect(new Set(own.received().map((m) => m.procId))).toEqual(new Set([String(server.child.pid)]));
  } finally {
    await own.stop();
  }
});
