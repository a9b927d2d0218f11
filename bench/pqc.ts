/**
 * `npm run bench:pqc`: post-quantum rates through the server beside ECDSA P-256. Starts our server
 * (a real process, TLS on loopback, keys wrapped by SoftHSM2), makes one key pair per algorithm,
 * then for each phase drives it with C concurrent connections for S seconds and prints ops/s and
 * p50/p99: ECDSA P-256 Sign, ML-DSA-44/65/87 Sign, ML-KEM-512/768/1024 encapsulation (Encrypt)
 * and ML-KEM-768 decapsulation (Decrypt), ML-DSA-65 Signature Verify. Figures are relative: the
 * machine is shared and noisy. Prints figures; asserts nothing.
 *
 *   node -r ./scripts/register-ts.js bench/pqc.ts [--seconds 5] [--connections 8] [--json FILE]
 */
import fs from 'node:fs';
import path from 'node:path';
import { KmipClient, attribute } from '../src/client';
import { CryptographicAlgorithm, CryptographicUsageMask, HashingAlgorithm } from '../src/spec/generated/enums';
import { startOurServer } from './lib/servers';
import { LatencyRecorder, fmtMs, fmtRate, table } from './lib/stats';

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

const SECONDS = Number(flag('seconds', '5'));
const CONNECTIONS = Number(flag('connections', '8'));
const DATA = Buffer.alloc(64, 7);

async function pair(c: KmipClient, algorithm: number, extra: ReturnType<typeof attribute>[] = []): Promise<{ priv: string; pub: string }> {
  const kem = [CryptographicAlgorithm.ML_KEM_512, CryptographicAlgorithm.ML_KEM_768, CryptographicAlgorithm.ML_KEM_1024].includes(algorithm as never);
  const r = await c.createKeyPair({
    common: [attribute('Cryptographic Algorithm', algorithm), ...extra],
    privateKey: [attribute('Cryptographic Usage Mask', kem ? CryptographicUsageMask.Decrypt : CryptographicUsageMask.Sign)],
    publicKey: [attribute('Cryptographic Usage Mask', kem ? CryptographicUsageMask.Encrypt : CryptographicUsageMask.Verify)],
  });
  await c.activate(r.privateKeyUniqueIdentifier);
  await c.activate(r.publicKeyUniqueIdentifier);
  return { priv: r.privateKeyUniqueIdentifier, pub: r.publicKeyUniqueIdentifier };
}

async function phase(clients: KmipClient[], op: (c: KmipClient) => Promise<unknown>): Promise<LatencyRecorder> {
  const rec = new LatencyRecorder();
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    clients.map(async (c) => {
      while (Date.now() < end) {
        const t0 = performance.now();
        try {
          await op(c);
          rec.record(performance.now() - t0);
        } catch (e) {
          rec.fail(e instanceof Error ? e.message.slice(0, 80) : String(e));
        }
      }
    }),
  );
  return rec;
}

async function main(): Promise<void> {
  const server = await startOurServer();
  const clients = Array.from({ length: CONNECTIONS }, () =>
    new KmipClient({
      servers: [`127.0.0.1:${server.port}`],
      servername: 'localhost',
      ca: fs.readFileSync(path.join(server.pkiDir, 'ca.pem')),
      cert: fs.readFileSync(path.join(server.pkiDir, 'client.pem')),
      key: fs.readFileSync(path.join(server.pkiDir, 'client-key.pem')),
    }),
  );
  const c0 = clients[0]!;
  try {
    const A = CryptographicAlgorithm;
    const ec = await pair(c0, A.EC, [attribute('Cryptographic Length', 256)]);
    const dsa = { 44: await pair(c0, A.ML_DSA_44), 65: await pair(c0, A.ML_DSA_65), 87: await pair(c0, A.ML_DSA_87) };
    const kem = { 512: await pair(c0, A.ML_KEM_512), 768: await pair(c0, A.ML_KEM_768), 1024: await pair(c0, A.ML_KEM_1024) };
    const ct768 = (await c0.encapsulate(kem[768].pub)).cipherText;
    const sig65 = (await c0.sign(dsa[65].priv, DATA)).signature;
    const ecdsa = { hashingAlgorithm: HashingAlgorithm.SHA_256, cryptographicAlgorithm: A.ECDSA };
    const phases: [string, (c: KmipClient) => Promise<unknown>][] = [
      ['ECDSA P-256 Sign', (c) => c.sign(ec.priv, DATA, { parameters: ecdsa })],
      ['ML-DSA-44 Sign', (c) => c.sign(dsa[44].priv, DATA)],
      ['ML-DSA-65 Sign', (c) => c.sign(dsa[65].priv, DATA)],
      ['ML-DSA-87 Sign', (c) => c.sign(dsa[87].priv, DATA)],
      ['ML-DSA-65 Signature Verify', (c) => c.signatureVerify(dsa[65].pub, DATA, sig65)],
      ['ML-KEM-512 encapsulate (Encrypt)', (c) => c.encapsulate(kem[512].pub)],
      ['ML-KEM-768 encapsulate (Encrypt)', (c) => c.encapsulate(kem[768].pub)],
      ['ML-KEM-1024 encapsulate (Encrypt)', (c) => c.encapsulate(kem[1024].pub)],
      ['ML-KEM-768 decapsulate (Decrypt)', (c) => c.decapsulate(kem[768].priv, ct768)],
    ];
    const rows: string[][] = [];
    const json: Record<string, unknown>[] = [];
    for (const [name, op] of phases) {
      const s = (await phase(clients, op)).summary(SECONDS);
      rows.push([name, fmtRate(s.opsPerSecond), fmtMs(s.p50), fmtMs(s.p99), String(s.failed)]);
      json.push({ name, ...s });
      console.error(`[bench:pqc] ${name}: ${fmtRate(s.opsPerSecond)} ops/s`);
    }
    console.log(`Post-quantum operations through the server (${CONNECTIONS} connections, ${SECONDS} s each, one server process)\n`);
    console.log(table(['operation', 'ops/s', 'p50', 'p99', 'failed'], rows));
    const out = flag('json', '');
    if (out) fs.writeFileSync(out, `${JSON.stringify({ seconds: SECONDS, connections: CONNECTIONS, phases: json }, null, 1)}\n`);
  } finally {
    for (const c of clients) c.close();
    await server.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
