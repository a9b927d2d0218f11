/**
 * For the key-custody tests: the `kmip-server` command line run from source as a child process (the
 * transpiled files cached across runs by scripts/register-ts.js), a client-library client for a server
 * process, and a comparable form of what Get returns.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { KmipClient, attribute, keyObject, newObjectAttributes, ttlv } from '../../src/client';
import { CryptographicAlgorithm, CryptographicUsageMask, KeyFormatType, ObjectType, Operation, RecommendedCurve, ResultStatus, SecretDataType, SplitKeyMethod } from '../../src/spec/generated/enums';
import { Tag } from '../../src/spec/generated/tags';
import { PROJECT_ROOT, type ServerProcess } from './server-process';
import { devClient } from './dev-client';


export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `env`: added to this process's environment (a test hook such as the rotation's pause point). */
export function spawnCli(args: readonly string[], env: Readonly<Record<string, string>> = {}): { child: ChildProcess; done: Promise<CliRun> } {
  const child = spawn(process.execPath, ['-r', path.join(PROJECT_ROOT, 'scripts', 'register-ts.js'), path.join(PROJECT_ROOT, 'scripts', 'run-cli.ts'), ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliRun>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

export function runCli(args: readonly string[]): Promise<CliRun> {
  return spawnCli(args).done;
}

/** The last JSON line a --json command printed. */
export function jsonOut(run: CliRun): Record<string, unknown> {
  const line = run.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`not JSON (exit ${run.code}): ${run.stdout}\n${run.stderr}`);
  }
}

/** A configuration file that makes the embedded token's keys escrowable. */
export function escrowableConfig(dir: string): string {
  const file = path.join(dir, 'escrowable.json');
  fs.writeFileSync(file, JSON.stringify({ hsm: { kekEscrowable: true } }));
  return file;
}

export function clientFor(server: ServerProcess, pkiDir = server.pkiDir): KmipClient {
  return devClient(server.port, pkiDir, { maxConnections: 4 });
}

/** What Get returned, as text that compares equal exactly when the objects are identical. */
export function comparable(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));
}

const V21 = { major: 2, minor: 1 };

/** One round of every object type: 11 objects (a split key makes 3 parts, a key pair 2 halves). */
export async function everyType(c: KmipClient, certificateDer: Buffer): Promise<string[]> {
  const ids: string[] = [];
  ids.push((await c.create(ObjectType.SymmetricKey, [attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES), attribute('Cryptographic Length', 256)])).uniqueIdentifier);
  ids.push(
    (await c.register(ObjectType.SymmetricKey, keyObject(Tag.SymmetricKey, { format: KeyFormatType.Raw, material: crypto.randomBytes(16), algorithm: CryptographicAlgorithm.AES, length: 128 }), [
      attribute('Cryptographic Usage Mask', CryptographicUsageMask.Encrypt),
    ])).uniqueIdentifier,
  );
  const pair = await c.createKeyPair({
    common: [
      attribute('Cryptographic Algorithm', CryptographicAlgorithm.EC),
      attribute('Cryptographic Domain Parameters', ttlv.structure(Tag.CryptographicDomainParameters, [ttlv.enumeration(Tag.RecommendedCurve, RecommendedCurve.P_256)])),
    ],
    privateKey: [attribute('Cryptographic Usage Mask', CryptographicUsageMask.Sign)],
    publicKey: [attribute('Cryptographic Usage Mask', CryptographicUsageMask.Verify)],
  });
  ids.push(pair.privateKeyUniqueIdentifier, pair.publicKeyUniqueIdentifier);
  ids.push(
    (await c.register(
      ObjectType.SecretData,
      ttlv.structure(Tag.SecretData, [
        ttlv.enumeration(Tag.SecretDataType, SecretDataType.Password),
        ttlv.structure(Tag.KeyBlock, [ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Opaque), ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, crypto.randomBytes(24))])]),
      ]),
    )).uniqueIdentifier,
  );
  ids.push((await c.register(ObjectType.OpaqueObject, ttlv.structure(Tag.OpaqueObject, [ttlv.enumeration(Tag.OpaqueDataType, 0x80000001), ttlv.byteString(Tag.OpaqueDataValue, crypto.randomBytes(40))]))).uniqueIdentifier);
  ids.push((await c.register(ObjectType.Certificate, ttlv.structure(Tag.Certificate, [ttlv.enumeration(Tag.CertificateType, 1), ttlv.byteString(Tag.CertificateValue, certificateDer)]))).uniqueIdentifier);
  ids.push(
    (await c.register(
      ObjectType.PGPKey,
      ttlv.structure(Tag.PGPKey, [
        ttlv.integer(Tag.PGPKeyVersion, 4),
        ttlv.structure(Tag.KeyBlock, [ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Opaque), ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, crypto.randomBytes(64))])]),
      ]),
    )).uniqueIdentifier,
  );
  const [split] = await c.send([
    {
      operation: Operation.CreateSplitKey,
      payload: [
        ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
        ttlv.integer(Tag.SplitKeyParts, 3),
        ttlv.integer(Tag.SplitKeyThreshold, 2),
        ttlv.enumeration(Tag.SplitKeyMethod, SplitKeyMethod.PolynomialSharingGF2_8),
        newObjectAttributes(V21, [attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES), attribute('Cryptographic Length', 128)]),
      ],
    },
  ]);
  expect(split!.status).toBe(ResultStatus.Success);
  for (const item of split!.payload ?? []) if (item.tag === Tag.UniqueIdentifier && typeof item.value === 'string') ids.push(item.value);
  return ids;
}
