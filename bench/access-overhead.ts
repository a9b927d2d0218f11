/**
 * What the access policy costs a user's request: Get and Get Attributes of the user's own key, and
 * Get of a key granted to it, against a server process without a policy and one with it (the grant
 * lookup is one indexed query per item). Run: node -r ./scripts/register-ts.js bench/access-overhead.ts [N]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { KmipClient, attribute } from '../src/client';
import { CryptographicAlgorithm, ObjectType } from '../src/spec/generated/enums';
import { issueClientCertificate } from '../src/pki/dev-pki';
import { startServerProcess, type ServerProcess } from '../test/helpers/server-process';

const N = Number(process.argv[2] ?? 2000);

function clientOf(server: ServerProcess, cert: string, key: string): KmipClient {
  return new KmipClient({ servers: [{ host: '127.0.0.1', port: server.port }], servername: 'localhost', ca: fs.readFileSync(path.join(server.pkiDir, 'ca.pem')), cert: fs.readFileSync(cert), key: fs.readFileSync(key), version: { major: 1, minor: 4 }, maxConnections: 1 });
}

async function median(run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 200; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < N; i++) {
    const t = process.hrtime.bigint();
    await run();
    times.push(Number(process.hrtime.bigint() - t) / 1e3);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

async function measure(withPolicy: boolean): Promise<Record<string, number>> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-access-bench-'));
  const extra: string[] = [];
  if (withPolicy) {
    fs.writeFileSync(path.join(root, 'access.json'), JSON.stringify({ roles: { auditor: ['cn:auditor'] } }));
    fs.writeFileSync(path.join(root, 'config.json'), JSON.stringify({ accessPolicy: path.join(root, 'access.json') }));
    extra.push('--config', path.join(root, 'config.json'));
  }
  const server = await startServerProcess({ dataDir: path.join(root, 'data'), extraArgs: extra });
  try {
    const owner = clientOf(server, path.join(server.pkiDir, 'client.pem'), path.join(server.pkiDir, 'client-key.pem'));
    const other = issueClientCertificate(server.pkiDir, 'app', root);
    const app = clientOf(server, other.certPath, other.keyPath);
    const mine = (await app.create(ObjectType.SymmetricKey, [attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES), attribute('Cryptographic Length', 256)])).uniqueIdentifier;
    const theirs = (await owner.create(ObjectType.SymmetricKey, [attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES), attribute('Cryptographic Length', 256)])).uniqueIdentifier;
    const out: Record<string, number> = { 'Get own (µs)': await median(() => app.get(mine)), 'Get Attributes own (µs)': await median(() => app.getAttributes(mine)) };
    if (withPolicy) {
      execFileSync(process.execPath, ['-r', './scripts/register-ts.js', 'scripts/run-cli.ts', 'grant', '--data-dir', server.dataDir, '--object', theirs, '--to', 'app', '--operations', 'Get']);
      out['Get granted (µs)'] = await median(() => app.get(theirs));
    }
    owner.close();
    app.close();
    return out;
  } finally {
    await server.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

void (async () => {
  console.log(JSON.stringify({ n: N, withoutPolicy: await measure(false), withPolicy: await measure(true) }));
})();
