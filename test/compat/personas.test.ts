/**
 * Client personas (../shared/clients/real-clients.md): each real client's documented operation
 * sequence, version and quirks, scripted through the project's codec over real mutual TLS against
 * a real server process. One test per client and version; each flow is recorded for the
 * compatibility matrix (`compat persona <client> <version> <flow>: pass|fail`, and a JSON line in
 * COMPAT_RESULTS when set; `npm run compat` gathers them), and the file ends with
 * `persona: N passed, N failed`.
 *
 * Each client has an identity (certificate CN) of its own, as a real deployment would, so one
 * client's objects never appear in another's Locate.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';
import { KmipTlsClient } from '../helpers/tls-client';
import { recordFlow } from '../helpers/compat-results';
import { issueClientCertificate } from '../../src/pki/dev-pki';
import type { ProtocolVersion } from '../../src/spec/versions';
import { PERSONAS } from './personas';
import { PersonaSession, versionText, type FlowContext, type Persona } from './personas/session';

const tally = { passed: 0, failed: 0 };
const runId = `${process.pid}-${Date.now().toString(36)}`;
let server: ServerProcess;
let dataDir: string;
let certDir: string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-personas-'));
  certDir = path.join(dataDir, 'clients');
  server = await startServerProcess({ dataDir });
}, 120_000);

afterAll(async () => {
  process.stdout.write(`persona: ${tally.passed} passed, ${tally.failed} failed\n`);
  if (server) await server.stop('SIGTERM');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

interface Identity {
  connect(): Promise<KmipTlsClient>;
  tlsMaterial(): { port: number; ca: Buffer; cert: Buffer; key: Buffer };
}

function identityFor(persona: Persona): Identity {
  const cn = `persona-${(persona.identity ?? persona.client).toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  const files = issueClientCertificate(server.pkiDir, cn, certDir);
  const ca = fs.readFileSync(path.join(server.pkiDir, 'ca.pem'));
  const cert = Buffer.from(files.certPem);
  const key = Buffer.from(files.keyPem);
  // `server` is read at each call: a flow may have restarted it on another port.
  return {
    connect: () => KmipTlsClient.connect({ port: server.port, ca, cert, key }),
    tlsMaterial: () => ({ port: server.port, ca, cert, key }),
  };
}

async function runPersona(persona: Persona): Promise<void> {
  const identity = identityFor(persona);
  const connect = () => identity.connect();
  const sessions: PersonaSession[] = [];
  const open = (v: ProtocolVersion): PersonaSession => {
    const s = new PersonaSession(v, connect, persona.connectionPerRequest ?? false, persona.header);
    sessions.push(s);
    return s;
  };
  const ctx: FlowContext = {
    s: open(persona.version),
    state: new Map(),
    runId,
    session: open,
    tlsMaterial: () => identity.tlsMaterial(),
    async restartServer() {
      for (const s of sessions) s.close();
      expect(await server.stop('SIGTERM')).toBe(0);
      server = await startServerProcess({ dataDir });
    },
  };
  const failures: string[] = [];
  try {
    for (const flow of persona.flows) {
      const record = { client: `persona ${persona.client}`, version: versionText(flow.version ?? persona.version), flow: flow.name };
      try {
        await flow.run(ctx);
        recordFlow({ ...record, ok: true });
        tally.passed++;
      } catch (e) {
        recordFlow({ ...record, ok: false, detail: firstLine(e) });
        tally.failed++;
        failures.push(`${flow.name}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  } finally {
    for (const s of sessions) s.close();
  }
  if (failures.length > 0) throw new Error(`${persona.client}: ${failures.length} of ${persona.flows.length} flows failed\n\n${failures.join('\n\n')}`);
}

/** The gist of an error for the one-line record: jest's matcher text without colour codes. */
function firstLine(e: unknown): string {
  const text = (e instanceof Error ? e.message : String(e)).replace(/\u001b\[[0-9;]*m/g, '');
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(0, 3)
    .join(' / ')
    .slice(0, 300);
}

for (const persona of PERSONAS) {
  test(`${persona.client} (KMIP ${versionText(persona.version)})`, () => runPersona(persona), 180_000);
}
