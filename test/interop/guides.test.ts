/**
 * The integration guides (docs/integrations/*.md) run: every block marked
 * `<!-- guide-test: KIND -->` is executed against a real server process, so a recipe that stops
 * working (a renamed flag, a certificate the server refuses, a client setting that no longer
 * connects) fails here instead of in an operator's hands.
 *
 *   shell       bash, in a directory whose ./data is the running server's data dir, with
 *               `kmip-server` the project's CLI from source; must exit 0 (doctor exits non-zero
 *               when it would refuse the certificate or cannot connect and Query).
 *   pykmip      Python run by Debian's /usr/bin/python3 (python3-pykmip), same directory.
 *   mongocrypt  a driver's KMS settings: the CA and the certificate-and-key file it names are
 *               given to libmongocrypt's kms_message (the C driver of test/interop/mongocrypt/),
 *               which registers, activates and reads back a 96-byte secret with them.
 *   config      a server configuration file (JSON): loadConfig accepts it and reads the TLS files
 *               from where it says; the index's then runs a second server with the server
 *               certificate its recipe made, and a client's doctor --connect checks its name.
 *
 * In every block `kms.example.com` stands for the server and 5696 for its port: they become
 * localhost (a name the development server certificate carries) and the port it listens on;
 * /etc/kmip-server becomes a directory of the test's own.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ok, PYTHON, runStepProgram } from '../helpers/pykmip';
import { PROJECT_ROOT, startServerProcess, type ServerProcess } from '../helpers/server-process';
import { compileMongocryptDriver } from '../helpers/mongocrypt-driver';
import { loadConfig } from '../../src/config';
import { tlsSources } from '../../src/main';

const GUIDES = path.join(PROJECT_ROOT, 'docs', 'integrations');
const KINDS = ['shell', 'pykmip', 'mongocrypt', 'config'] as const;
type Kind = (typeof KINDS)[number];

interface Block {
  readonly kind: Kind;
  readonly text: string;
  readonly line: number;
}

/** The marked blocks of one guide, in order; an unknown kind or a marker without a block fails. */
function markedBlocks(file: string): Block[] {
  const source = fs.readFileSync(path.join(GUIDES, file), 'utf8');
  const blocks: Block[] = [];
  for (const m of source.matchAll(/<!-- guide-test: (\S+) -->\n(```[a-z]*\n([\s\S]*?)\n```)?/g)) {
    const line = source.slice(0, m.index).split('\n').length;
    if (!KINDS.includes(m[1] as Kind)) throw new Error(`${file}:${line}: unknown guide-test kind ${m[1]}`);
    if (m[3] === undefined) throw new Error(`${file}:${line}: a guide-test marker must be followed by a fenced block`);
    blocks.push({ kind: m[1] as Kind, text: m[3], line });
  }
  return blocks;
}

const guideFiles = fs
  .readdirSync(GUIDES)
  .filter((f) => f.endsWith('.md') && f !== 'README.md')
  .sort();

let server: ServerProcess;
let work = '';

function forServer(text: string): string {
  return text
    .replace(/kms\.example\.com/g, 'localhost')
    .replace(/\b5696\b/g, String(server.port))
    .replaceAll('/etc/kmip-server', path.join(work, 'etc'));
}

function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: work, env: { ...process.env, ...env }, timeout: 300_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

/**
 * `kmip-server` as the guides call it: the CLI from source, as the other CLI tests run it (the
 * transpiled files cached across the runs by scripts/register-ts.js).
 */
const CLI_FUNCTION = `kmip-server() { node -r '${path.join(PROJECT_ROOT, 'scripts', 'register-ts.js')}' '${path.join(PROJECT_ROOT, 'scripts', 'run-cli.ts')}' "$@"; }`;

async function runBlock(guide: string, block: Block): Promise<string> {
  const where = `${guide}:${block.line}`;
  if (block.kind === 'shell') {
    const r = await run('/bin/bash', ['-c', `set -euo pipefail\n${CLI_FUNCTION}\n${forServer(block.text)}`]);
    if (r.code !== 0) throw new Error(`${where}: the shell block exited ${r.code}:\n${r.out}`);
    return r.out;
  }
  if (block.kind === 'pykmip') {
    const r = await run(PYTHON, ['-c', forServer(block.text)]);
    if (r.code !== 0) throw new Error(`${where}: the PyKMIP block exited ${r.code}:\n${r.out}`);
    return r.out;
  }
  if (block.kind === 'config') return loadsAsConfig(where, block.text);
  return runMongocrypt(where, block.text);
}

/**
 * A server configuration the guide gives: loadConfig accepts it and takes the TLS files from where
 * it says (the shell block before it made them); the files are returned for a server to start on.
 */
function loadsAsConfig(where: string, text: string): string {
  const file = path.join(work, 'etc', 'config.json');
  fs.writeFileSync(file, forServer(text));
  const sources = tlsSources(loadConfig({ configFile: file, dataDir: path.join(work, 'data') }));
  const etc = (name: string) => path.join(work, 'etc', name);
  expect(`${where}: ${[sources.cert, sources.key, sources.ca].join(' ')}`).toBe(`${where}: ${[etc('server.pem'), etc('server-key.pem'), etc('clients-ca.pem')].join(' ')}`);
  return file;
}

/** The files a driver's KMIP TLS options name, handed to kms_message: Register, Activate, Get, compare. */
async function runMongocrypt(where: string, text: string): Promise<string> {
  const setting = (name: string) => {
    const m = new RegExp(`${name}:\\s*'([^']+)'`).exec(text);
    if (!m) throw new Error(`${where}: the driver settings name no ${name}`);
    return m[1]!;
  };
  expect(forServer(setting('endpoint'))).toBe(`localhost:${server.port}`);
  const ca = path.join(work, setting('tlsCAFile'));
  const certAndKey = path.join(work, setting('tlsCertificateKeyFile'));
  const driver = compileMongocryptDriver(work);
  // kms_message's driver checks the server's certificate against the address it dials: the
  // development certificate names 127.0.0.1 as well as localhost.
  const steps = await runStepProgram(driver, ['127.0.0.1', String(server.port), ca, certAndKey, certAndKey, 'flow-a'], 'libmongocrypt driver');
  const uid = ok(steps, 'register') as string;
  expect(ok(steps, 'activate')).toBe(uid);
  ok(steps, 'compare');
  return uid;
}

/**
 * Ceph RGW's own two requests after the guide made its key: Locate by the templated Name, then Get
 * (as libkmip sends them; through PyKMIP), with RGW's certificate; another identity finds nothing,
 * which is why the guide has RGW and the administrator share one.
 */
async function rgwFindsTheKey(): Promise<void> {
  const rgw = `
import sys
from kmip import enums
from kmip.core.factories import attributes
from kmip.pie.client import ProxyKmipClient
host, port, cert, key, ca = sys.argv[1:6]
c = ProxyKmipClient(hostname=host, port=int(port), cert=cert, key=key, ca=ca, config_file='/dev/null')
with c:
    found = c.locate(attributes=[attributes.AttributeFactory().create_attribute(enums.AttributeType.NAME, 'rgw-mybucketkey')])
    print(len(found), len(c.get(found[0]).value) if found else 0)
`;
  const as = (dir: string, cn: string) => [path.join(dir, `${cn}.pem`), path.join(dir, `${cn}-key.pem`), path.join(work, 'data', 'pki', 'ca.pem')];
  const own = await run(PYTHON, ['-c', rgw, 'localhost', String(server.port), ...as(path.join(work, 'clients', 'ceph-rgw'), 'ceph-rgw')]);
  expect(own.out.trim().split('\n').pop()).toBe('1 32');
  const other = await run(PYTHON, ['-c', rgw, 'localhost', String(server.port), ...as(path.join(work, 'data', 'pki'), 'client')]);
  expect(other.out.trim().split('\n').pop()).toBe('0 0');
}

/** What a guide's client then does with what the guide made, where the test can do it for real. */
const AFTER: Readonly<Record<string, () => Promise<void>>> = { 'ceph-rgw.md': rgwFindsTheKey };

describe('the integration guides', () => {
  it('each has a certificate recipe that the server is asked about, and the index lists it', () => {
    const index = fs.readFileSync(path.join(GUIDES, 'README.md'), 'utf8');
    expect(guideFiles.length).toBeGreaterThanOrEqual(9);
    for (const guide of guideFiles) {
      expect(`${guide}: ${index.includes(`](${guide})`)}`).toBe(`${guide}: true`);
      const shell = markedBlocks(guide)
        .filter((b) => b.kind === 'shell')
        .map((b) => b.text)
        .join('\n');
      expect(`${guide}: ${/kmip-server pki client --cn \S+ --out /.test(shell)}`).toBe(`${guide}: true`);
      expect(`${guide}: ${/kmip-server doctor [^\n]*(\\\n[^\n]*)*--connect kms\.example\.com:5696/.test(shell)}`).toBe(`${guide}: true`);
      // The persona a guide points to exists.
      const source = fs.readFileSync(path.join(GUIDES, guide), 'utf8');
      for (const m of source.matchAll(/`(test\/[\w/.-]+\.ts)`/g)) expect(`${guide}: ${m[1]} ${fs.existsSync(path.join(PROJECT_ROOT, m[1]!))}`).toBe(`${guide}: ${m[1]} true`);
    }
  });
});

describe('the guides run against a real server', () => {
  beforeAll(async () => {
    if (!fs.existsSync(PYTHON)) throw new Error('/usr/bin/python3 is missing: apt-get install -y python3-pykmip');
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-guides-'));
    server = await startServerProcess({ dataDir: path.join(work, 'data') });
  }, 120_000);

  afterAll(async () => {
    if (server) expect(await server.stop()).toBe(0);
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('README.md: the server certificate recipe and the configuration naming it serve a real client', async () => {
    const blocks = markedBlocks('README.md');
    expect(blocks.map((b) => b.kind)).toEqual(['shell', 'config']);
    await runBlock('README.md', blocks[0]!);
    const config = await runBlock('README.md', blocks[1]!);
    // A second server on that configuration (its own data dir and a free port); the dev PKI's
    // client certificate, from the CA the configuration trusts, connects and Queries.
    const second = await startServerProcess({ dataDir: path.join(work, 'data2'), extraArgs: ['--config', config] });
    try {
      const pki = path.join(work, 'data', 'pki');
      const cli = `${CLI_FUNCTION}\nkmip-server doctor --cert ${pki}/client.pem --key ${pki}/client-key.pem --ca ${pki}/ca.pem --connect localhost:${second.port}`;
      const r = await run('/bin/bash', ['-c', cli]);
      expect(`${r.code}\n${r.out}`).toMatch(/^0\n/);
      // The server presented the recipe's certificate, not the dev PKI's of its own data dir.
      expect(fs.existsSync(path.join(work, 'data2', 'pki', 'server.pem'))).toBe(false);
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 300_000);

  it.each(guideFiles)('%s', async (guide) => {
    const blocks = markedBlocks(guide);
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) {
      const out = await runBlock(guide, block);
      if (block.kind === 'shell') expect(out).toMatch(/client certificate issued/);
    }
    await AFTER[guide]?.();
  }, 600_000);
});
