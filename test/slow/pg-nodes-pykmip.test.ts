/**
 * The failover drill with Debian's PyKMIP client (python3-pykmip) holding a server list: PyKMIP
 * takes several hosts with ONE port (KMIPProxy tries them in turn on open), so three nodes on one
 * database and one data dir listen on 127.0.0.1, 127.0.0.2 and 127.0.0.3 at the same port (Linux
 * routes all of 127/8 to lo). Under a Create + Get loop the node PyKMIP uses (the first of its list)
 * is SIGKILLed; the client reconnects to the next, and every Create it saw answered is then served
 * by each surviving node.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ensureDevPki, issueServerCertificate } from '../../src/pki/dev-pki';
import { requireEnvironment } from '../helpers/environment';
import { postgresMissing } from '../helpers/postgres';
import { PYTHON, ok, runStepProgram } from '../helpers/pykmip';
import { nodeClient, usePgNodes, type Node } from '../helpers/pg-nodes';

jest.setTimeout(400_000);

const SCRIPT = path.join(__dirname, '..', 'interop', 'pykmip_failover.py');
const { root, nodeConfigs, startNode, track } = usePgNodes('kmip-pg-pykmip-');
const pgTest = requireEnvironment('PostgreSQL (initdb, pg_ctl) and /usr/bin/python3 with python3-pykmip', postgresMissing() ?? pykmipMissing()).test;

function pykmipMissing(): string | undefined {
  return fs.existsSync('/usr/lib/python3/dist-packages/kmip') ? undefined : 'python3-pykmip is not installed (apt-get install -y python3-pykmip)';
}

interface Figures {
  acknowledged: number;
  answered: number;
  failures: number;
  errors: Record<string, number>;
  recoveryMs: number | null;
  hostsBeforeKill: Record<string, number>;
  hostsAfterKill: Record<string, number>;
  /** Answers from the killed node after the first from another: none can come. */
  backOnFirstHost: number;
}

async function until(what: string, done: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const lines = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

pgTest('failover drill with PyKMIP: three hosts on one port, the one in use SIGKILLed, no acknowledged object lost', async () => {
  const configs = await nodeConfigs(3, 'pykmip');
  const dataDir = path.join(root(), 'pykmip');
  const hosts = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
  // The nodes' certificate names each address, as a production one names each node (PyKMIP checks
  // the chain but not the name; the survivors' check below checks the name too).
  const pkiDir = path.join(dataDir, 'pki');
  ensureDevPki(pkiDir);
  issueServerCertificate(pkiDir, pkiDir, { fileBase: 'server', ipAddresses: [...hosts, '::1'] });
  const first = await startNode(dataDir, configs[0]!, `${hosts[0]}:0`);
  const nodes: Node[] = [first];
  for (const [i, config] of configs.slice(1).entries()) nodes.push(await startNode(dataDir, config, `${hosts[i + 1]}:${first.port}`));

  const ackFile = path.join(root(), 'acknowledged.txt');
  const killFile = path.join(root(), 'killed-at');
  const pki = first.pkiDir;
  const driver = runStepProgram(
    PYTHON,
    [SCRIPT, hosts.join(','), String(first.port), path.join(pki, 'client.pem'), path.join(pki, 'client-key.pem'), path.join(pki, 'ca.pem'), '1.2', ackFile, killFile, '5000', '60'],
    'pykmip failover driver',
  );
  // The load runs: ~3 s of it, then the node in use (the list's first: open() keeps the first that accepts) dies.
  await until('the first acknowledged Create', () => lines(ackFile).length > 0, 60_000);
  await new Promise((r) => setTimeout(r, 3000));
  const beforeKill = lines(ackFile).length;
  const killedAt = Date.now();
  expect(await nodes[0]!.stop('SIGKILL')).toBe('SIGKILL');
  fs.writeFileSync(`${killFile}.tmp`, String(killedAt));
  fs.renameSync(`${killFile}.tmp`, killFile); // the driver reads it whole or not at all

  const figures = ok(await driver, 'failover') as Figures;
  const acknowledged = lines(ackFile);
  console.log(JSON.stringify({ drill: 'PyKMIP, hosts 127.0.0.1-3 on one port, 127.0.0.1 SIGKILLed', acknowledged: figures.acknowledged, beforeKill, failures: figures.failures, errors: figures.errors, recoveryMs: figures.recoveryMs, hostsAfterKill: figures.hostsAfterKill }));
  expect(acknowledged.length).toBe(figures.acknowledged);
  expect(new Set(acknowledged).size).toBe(acknowledged.length);
  // Before the kill PyKMIP used the first host only; after it, the next of its list, and never
  // the first again (an answer the dying node sent may still arrive just after the signal).
  expect(Object.keys(figures.hostsBeforeKill)).toEqual(['127.0.0.1']);
  expect(figures.hostsAfterKill['127.0.0.2']).toBeGreaterThan(0);
  expect(figures.hostsAfterKill['127.0.0.3']).toBeUndefined();
  expect(figures.backOnFirstHost).toBe(0);
  // The request in flight on the killed node failed (never acknowledged), then the client moved on.
  expect(figures.failures).toBeGreaterThanOrEqual(1);
  expect(figures.recoveryMs).not.toBeNull();
  expect(figures.recoveryMs!).toBeLessThan(5000);

  // Every acknowledged object, from each surviving node (its certificate checked against its
  // address), with the same key material on both.
  const survivors = nodes.slice(1).map((n) => track(nodeClient([n], { maxConnections: 4, byAddress: true })));
  for (const uid of acknowledged) {
    const [b, c] = await Promise.all(survivors.map((s) => s.get(uid)));
    expect(b!.uniqueIdentifier).toBe(uid);
    expect(c!.uniqueIdentifier).toBe(uid);
    const material = b!.keyBlock?.keyMaterial;
    expect(material).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(material as Uint8Array).length).toBe(32);
    expect(Buffer.from(c!.keyBlock!.keyMaterial as Uint8Array).equals(Buffer.from(material as Uint8Array))).toBe(true);
  }
});
