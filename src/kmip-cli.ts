/**
 * `kmip`: a KMIP client command over the project's client library (src/client/). One subcommand
 * per operation; the connection flags (server list for failover, mTLS files, version pin, HTTPS)
 * apply to all of them and may also come from KMIP_* environment variables.
 *
 * Exit codes (EXIT): 0 done; 1 the server refused (its Result Reason and Message are printed);
 * 2 bad usage or an unreadable input file; 3 no answer (connection, TLS); 4 an answer that is not
 * a readable KMIP response; 5 `verify`: the signature is not valid.
 */
import fs from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import {
  CLIENT_VERSIONS,
  KmipClient,
  KmipConnectionError,
  KmipProtocolError,
  KmipResultError,
  attribute,
  nameAttribute,
  type CryptographicParameters,
  type KmipAttribute,
} from './client';
import { ObjectType, RevocationReasonCode } from './spec/generated/enums';
import {
  OUTPUT_FORMATS,
  UsageError,
  attributeFromText,
  defaultOutputFormat,
  encodeObject,
  enumName,
  enumValue,
  hasByteEncoding,
  hexOf,
  isSecretObject,
  itemValue,
  keyFormatFor,
  maskValue,
  parseHex,
  registrationFromFile,
  valueText,
  type JsonValue,
  type KeyFileFormat,
  type OutputFormat,
} from './kmip-cli-values';

export const EXIT = { ok: 0, refused: 1, usage: 2, noAnswer: 3, badAnswer: 4, invalidSignature: 5 } as const;

interface ConnectionFlags {
  server?: string[];
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  kmipVersion?: string;
  https?: boolean;
  json?: boolean;
  timeout: string;
}

/** Where a subcommand writes: stdout by default; tests and embedding may pass their own. */
export interface KmipCliIo {
  stdout(text: string | Uint8Array): void;
  stderr(text: string): void;
  readStdin(): Promise<Buffer>;
}

const processIo: KmipCliIo = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(Buffer.from(c as Buffer));
    return Buffer.concat(chunks);
  },
};

function collect(value: string, previous: string[] | undefined): string[] {
  // --server may repeat and each may be a comma list; a given flag replaces the default.
  const given = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return [...(previous ?? []), ...given];
}

function readFlagFile(flag: string, file: string | undefined, env: string): Buffer {
  if (file === undefined || file === '') throw new UsageError(`${flag} FILE is required (or set ${env})`);
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new UsageError(`cannot read ${flag} ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

function parseVersion(text: string): { major: number; minor: number } {
  const m = /^(\d+)\.(\d+)$/.exec(text);
  const v = m === null ? undefined : { major: Number(m[1]), minor: Number(m[2]) };
  if (v === undefined || !CLIENT_VERSIONS.some((c) => c.major === v.major && c.minor === v.minor)) {
    throw new UsageError(`--kmip-version must be one of ${CLIENT_VERSIONS.map((c) => `${c.major}.${c.minor}`).join(', ')}`);
  }
  return v;
}

function clientFrom(flags: ConnectionFlags): KmipClient {
  const seconds = Number(flags.timeout);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError('--timeout takes a number of seconds');
  const servers = flags.server !== undefined && flags.server.length > 0 ? flags.server : ['localhost:5696'];
  return new KmipClient({
    servers,
    transport: flags.https ? 'https' : 'tls',
    ca: readFlagFile('--ca', flags.ca, 'KMIP_CA'),
    cert: readFlagFile('--cert', flags.cert, 'KMIP_CERT'),
    key: readFlagFile('--key', flags.key, 'KMIP_KEY'),
    ...(flags.servername === undefined ? {} : { servername: flags.servername }),
    ...(flags.kmipVersion === undefined ? {} : { version: parseVersion(flags.kmipVersion) }),
    connectTimeoutMs: seconds * 1000,
    requestTimeoutMs: seconds * 1000,
    maxConnections: 1,
  });
}

function integer(text: string, flag: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${flag} takes a whole number`);
  return Number(text);
}

/** The attributes common to create and register: --name, --usage, --attribute NAME=VALUE. */
function objectAttributes(o: { name?: string[]; usage?: string; attribute?: string[] }): KmipAttribute[] {
  const attrs: KmipAttribute[] = (o.name ?? []).map((n) => nameAttribute(n));
  if (o.usage !== undefined) attrs.push(attribute('Cryptographic Usage Mask', maskValue('CryptographicUsageMask', o.usage)));
  for (const pair of o.attribute ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--attribute takes NAME=VALUE, not "${pair}"`);
    attrs.push(attributeFromText(pair.slice(0, eq), pair.slice(eq + 1)));
  }
  return attrs;
}

function cryptoParameters(o: { mode?: string; padding?: string; hash?: string; signatureAlgorithm?: string; tagLength?: string }): CryptographicParameters | undefined {
  const p: { -readonly [K in keyof CryptographicParameters]: CryptographicParameters[K] } = {};
  if (o.mode !== undefined) p.blockCipherMode = enumValue('BlockCipherMode', o.mode);
  if (o.padding !== undefined) p.paddingMethod = enumValue('PaddingMethod', o.padding);
  if (o.hash !== undefined) p.hashingAlgorithm = enumValue('HashingAlgorithm', o.hash);
  if (o.signatureAlgorithm !== undefined) p.digitalSignatureAlgorithm = enumValue('DigitalSignatureAlgorithm', o.signatureAlgorithm);
  if (o.tagLength !== undefined) p.tagLength = integer(o.tagLength, '--tag-length');
  return Object.keys(p).length === 0 ? undefined : p;
}

async function readInput(io: KmipCliIo, file: string | undefined): Promise<Buffer> {
  if (file === undefined || file === '-') return io.readStdin();
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** Writes bytes to a new file (0600 unless public; an existing file only with --force). */
function writeOutput(file: string, bytes: Uint8Array, opts: { secret: boolean; force?: boolean }): void {
  try {
    fs.writeFileSync(file, bytes, { mode: opts.secret ? 0o600 : 0o644, flag: opts.force ? 'w' : 'wx' });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'EEXIST' ? `${file} exists: pass --force to replace it` : `cannot write ${file}: ${code ?? String(e)}`);
  }
}

/** The text of a result: JSON with --json, else `key: value` lines (a lone value alone). */
function render(io: KmipCliIo, json: boolean | undefined, result: { [key: string]: JsonValue }, plain?: string): void {
  if (json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
  else if (plain !== undefined) io.stdout(plain.endsWith('\n') ? plain : `${plain}\n`);
  else io.stdout(`${Object.entries(result).map(([k, v]) => `${k}: ${valueText(v)}`).join('\n')}\n`);
}

/** A byte result: to --out (raw), `--out -` (raw to stdout), or hex on stdout. */
function emitBytes(io: KmipCliIo, o: { out?: string; force?: boolean; json?: boolean }, field: string, bytes: Uint8Array, extra: { [key: string]: JsonValue }, secret: boolean): void {
  if (o.out === '-') return io.stdout(bytes);
  if (o.out !== undefined) {
    writeOutput(o.out, bytes, { secret, force: o.force });
    render(io, o.json, { ...extra, file: o.out }, Object.keys(extra).length === 1 ? o.out : undefined);
    return;
  }
  render(io, o.json, { ...extra, [field]: hexOf(bytes) }, Object.keys(extra).length === 1 ? hexOf(bytes) : undefined);
}

type Action = (client: KmipClient, flags: ConnectionFlags, io: KmipCliIo, args: string[], opts: Record<string, unknown>) => Promise<number | void>;

/** Builds the program; `run` carries each action out with the connection flags. */
function buildProgram(io: KmipCliIo, run: (action: Action, args: string[], opts: Record<string, unknown>) => Promise<void>): Command {
  const program = new Command('kmip')
    .description('KMIP client: talks to a KMIP server over mutual TLS (port 5696) or HTTPS')
    .version(readVersion(), '-V, --version')
    .addOption(new Option('-s, --server <host:port>', 'server; repeat or comma-separate for failover, in order (default localhost:5696)').env('KMIP_SERVER').argParser(collect))
    .addOption(new Option('--ca <file>', "PEM of the CA that issued the server's certificate").env('KMIP_CA'))
    .addOption(new Option('--cert <file>', 'PEM client certificate').env('KMIP_CERT'))
    .addOption(new Option('--key <file>', "PEM private key of the client certificate").env('KMIP_KEY'))
    .option('--servername <name>', 'name to check in the server certificate (default: the host)')
    .addOption(new Option('--kmip-version <major.minor>', 'pin the KMIP version (default: the highest both speak, by Discover Versions)').env('KMIP_VERSION'))
    .option('--https', 'KMIP over HTTPS (POST /kmip) instead of TTLV over TLS')
    .option('--json', 'print results as JSON')
    .option('--timeout <seconds>', 'connect and answer timeout', '30')
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', '\nExit codes: 0 done, 1 the server refused, 2 bad usage or input, 3 no answer, 4 unreadable answer, 5 signature not valid.')
    .exitOverride()
    .configureOutput({ writeOut: (t) => io.stdout(t), writeErr: (t) => io.stderr(t) });

  const sub = (name: string, description: string): Command =>
    program.command(name).description(description).exitOverride().configureOutput({ writeOut: (t) => io.stdout(t), writeErr: (t) => io.stderr(t) });
  const act = (cmd: Command, action: Action): Command =>
    cmd.action(async (...params: unknown[]) => {
      const command = params[params.length - 1] as Command;
      await run(action, command.args, command.opts());
    });

  act(
    sub('create', 'create a symmetric key (or secret data) on the server; prints its Unique Identifier')
      .option('-t, --type <type>', 'object type: symmetric-key or secret-data', 'symmetric-key')
      .option('-a, --algorithm <alg>', 'cryptographic algorithm', 'AES')
      .option('-l, --length <bits>', 'key length in bits', '256')
      .option('-n, --name <name>', 'a Name attribute (repeatable)', (v: string, p: string[] = []) => [...p, v])
      .option('-u, --usage <mask>', 'usage mask, e.g. Encrypt,Decrypt', 'Encrypt,Decrypt')
      .option('--attribute <name=value>', 'any other attribute, by its spec name (repeatable)', (v: string, p: string[] = []) => [...p, v]),
    async (client, flags, io, _args, o) => {
      const type = enumValue('ObjectType', o['type'] as string);
      const attrs = objectAttributes(o as { name?: string[]; usage?: string; attribute?: string[] });
      if (type === ObjectType.SymmetricKey) {
        attrs.unshift(attribute('Cryptographic Algorithm', enumValue('CryptographicAlgorithm', o['algorithm'] as string)), attribute('Cryptographic Length', integer(o['length'] as string, '--length')));
      }
      const r = await client.create(type, attrs);
      render(io, flags.json, { uniqueIdentifier: r.uniqueIdentifier, objectType: enumName('ObjectType', r.objectType) }, r.uniqueIdentifier);
    },
  );

  act(
    sub('create-key-pair', 'create a private and public key pair; prints both Unique Identifiers')
      .option('-a, --algorithm <alg>', 'RSA, EC, Ed25519 ...', 'RSA')
      .option('-l, --length <bits>', 'key length in bits (the curve size for EC)', '2048')
      .option('-n, --name <name>', 'a Name attribute on both keys (repeatable)', (v: string, p: string[] = []) => [...p, v]),
    async (client, flags, io, _args, o) => {
      const common = [
        attribute('Cryptographic Algorithm', enumValue('CryptographicAlgorithm', o['algorithm'] as string)),
        attribute('Cryptographic Length', integer(o['length'] as string, '--length')),
        ...objectAttributes({ name: o['name'] as string[] | undefined }),
      ];
      const r = await client.createKeyPair({
        common,
        privateKey: [attribute('Cryptographic Usage Mask', maskValue('CryptographicUsageMask', 'Sign'))],
        publicKey: [attribute('Cryptographic Usage Mask', maskValue('CryptographicUsageMask', 'Verify'))],
      });
      const result = { privateKeyUniqueIdentifier: r.privateKeyUniqueIdentifier, publicKeyUniqueIdentifier: r.publicKeyUniqueIdentifier };
      render(io, flags.json, result);
    },
  );

  act(
    sub('register', 'register a key or certificate from a file (PEM, DER or raw bytes); prints its Unique Identifier')
      .argument('<file>', 'PEM or DER certificate, private or public key; or raw key bytes')
      .addOption(new Option('-f, --format <format>', 'file format (default: PEM by its armour; else DER if it parses; else raw key bytes)').choices(['pem', 'der', 'raw']))
      .option('-t, --type <type>', 'object type, checked against the file (required for secret-data)')
      .option('-a, --algorithm <alg>', 'algorithm of raw symmetric key bytes (default AES)')
      .option('-n, --name <name>', 'a Name attribute (repeatable)', (v: string, p: string[] = []) => [...p, v])
      .option('-u, --usage <mask>', 'usage mask (default by type: Encrypt,Decrypt; Sign; Verify)')
      .option('--attribute <name=value>', 'any other attribute, by its spec name (repeatable)', (v: string, p: string[] = []) => [...p, v]),
    async (client, flags, io, [file], o) => {
      const bytes = await readInput(io, file);
      const reg = registrationFromFile(bytes, {
        format: o['format'] as KeyFileFormat | undefined,
        objectType: o['type'] === undefined ? undefined : enumValue('ObjectType', o['type'] as string),
        algorithm: o['algorithm'] === undefined ? undefined : enumValue('CryptographicAlgorithm', o['algorithm'] as string),
      });
      const defaultUsage: Partial<Record<number, string>> = {
        [ObjectType.SymmetricKey]: 'Encrypt,Decrypt',
        [ObjectType.PrivateKey]: 'Sign',
        [ObjectType.PublicKey]: 'Verify',
        [ObjectType.Certificate]: 'Verify',
      };
      const usage = (o['usage'] as string | undefined) ?? defaultUsage[reg.objectType];
      const attrs = [...reg.attributes, ...objectAttributes({ ...(o as { name?: string[]; attribute?: string[] }), usage })];
      const r = await client.register(reg.objectType, reg.object, attrs);
      render(io, flags.json, { uniqueIdentifier: r.uniqueIdentifier, objectType: enumName('ObjectType', reg.objectType), registered: reg.description }, r.uniqueIdentifier);
    },
  );

  act(
    sub('get', 'get an object: its bytes to a file or stdout, in a chosen format')
      .argument('<id>', 'Unique Identifier')
      .option('-o, --out <file>', 'write here (0600 for secrets); "-" writes the bytes to stdout')
      .addOption(new Option('-f, --format <format>', 'pem (certificates, private and public keys), der, raw, hex or base64 (default: pem where there is one; else raw to a file, hex to stdout)').choices(OUTPUT_FORMATS as string[]))
      .option('--force', 'replace an existing --out file'),
    async (client, flags, io, [id], o) => {
      const format = o['format'] as OutputFormat | undefined;
      let got = await client.get(id!);
      // A key kept in a form with no PEM/DER encoding (Raw, Transparent) is asked for again in one that has it.
      const wanted = keyFormatFor(got.objectType, format);
      if (wanted !== undefined && !hasByteEncoding(got)) got = await client.get(id!, { keyFormatType: wanted });
      const out = o['out'] as string | undefined;
      const chosen = format ?? defaultOutputFormat(got.objectType, out !== undefined && out !== '-');
      const bytes = encodeObject(got, chosen);
      const summary = { uniqueIdentifier: got.uniqueIdentifier, objectType: enumName('ObjectType', got.objectType), format: chosen };
      if (out === '-' || (out === undefined && !flags.json)) return io.stdout(bytes);
      if (out !== undefined) {
        writeOutput(out, bytes, { secret: isSecretObject(got.objectType), force: o['force'] as boolean | undefined });
        return render(io, flags.json, { ...summary, file: out }, `${got.uniqueIdentifier} written to ${out} (${chosen})`);
      }
      render(io, true, { ...summary, value: chosen === 'raw' || chosen === 'der' ? hexOf(bytes) : bytes.toString('utf8').trimEnd() });
    },
  );

  act(
    sub('locate', 'find objects by attributes; prints one Unique Identifier a line')
      .option('-n, --name <name>', 'Name')
      .option('-t, --type <type>', 'Object Type')
      .option('-a, --algorithm <alg>', 'Cryptographic Algorithm')
      .option('--state <state>', 'State (Pre-Active, Active, ...)')
      .option('--attribute <name=value>', 'any other attribute (repeatable)', (v: string, p: string[] = []) => [...p, v])
      .option('--max <n>', 'Maximum Items')
      .option('--offset <n>', 'Offset Items'),
    async (client, flags, io, _args, o) => {
      const attrs = objectAttributes({ name: o['name'] === undefined ? [] : [o['name'] as string], attribute: o['attribute'] as string[] | undefined });
      if (o['type'] !== undefined) attrs.push(attribute('Object Type', enumValue('ObjectType', o['type'] as string)));
      if (o['algorithm'] !== undefined) attrs.push(attribute('Cryptographic Algorithm', enumValue('CryptographicAlgorithm', o['algorithm'] as string)));
      if (o['state'] !== undefined) attrs.push(attribute('State', enumValue('State', o['state'] as string)));
      const r = await client.locate(attrs, {
        ...(o['max'] === undefined ? {} : { maximumItems: integer(o['max'] as string, '--max') }),
        ...(o['offset'] === undefined ? {} : { offsetItems: integer(o['offset'] as string, '--offset') }),
      });
      const result: { [key: string]: JsonValue } = { uniqueIdentifiers: r.uniqueIdentifiers };
      if (r.locatedItems !== undefined) result['locatedItems'] = r.locatedItems;
      render(io, flags.json, result, r.uniqueIdentifiers.map((u) => `${u}\n`).join('') || '\n');
    },
  );

  act(
    sub('get-attributes', "print an object's attributes (all, or those named)")
      .argument('<id>', 'Unique Identifier')
      .argument('[names...]', 'attribute names, e.g. "Cryptographic Algorithm" State'),
    async (client, flags, io, [id, ...names], _o) => {
      const r = await client.getAttributes(id!, names);
      if (flags.json) {
        return render(io, true, { uniqueIdentifier: r.uniqueIdentifier, attributes: r.attributes.map((a) => ({ name: a.name, value: itemValue(a.value) })) });
      }
      io.stdout(r.attributes.map((a) => `${a.name}: ${valueText(itemValue(a.value))}\n`).join(''));
    },
  );

  const lifecycle = (name: string, description: string, call: (c: KmipClient, id: string) => Promise<{ uniqueIdentifier: string }>) =>
    act(sub(name, description).argument('<id>', 'Unique Identifier'), async (client, flags, io, [id]) => {
      const r = await call(client, id!);
      render(io, flags.json, { uniqueIdentifier: r.uniqueIdentifier }, r.uniqueIdentifier);
    });
  lifecycle('activate', 'activate an object (Pre-Active to Active)', (c, id) => c.activate(id));
  lifecycle('destroy', "destroy an object's key material (its metadata stays)", (c, id) => c.destroy(id));

  act(
    sub('revoke', 'revoke an object')
      .argument('<id>', 'Unique Identifier')
      .option('-r, --reason <code>', 'Revocation Reason Code (Unspecified, KeyCompromise, CessationOfOperation, ...)', 'CessationOfOperation')
      .option('-m, --message <text>', 'Revocation Message')
      .option('--compromise-date <iso>', 'Compromise Occurrence Date (required for KeyCompromise and CACompromise; default now)'),
    async (client, flags, io, [id], o) => {
      const code = enumValue('RevocationReasonCode', o['reason'] as string);
      const compromise = code === RevocationReasonCode.KeyCompromise || code === RevocationReasonCode.CACompromise;
      const dateText = o['compromiseDate'] as string | undefined;
      const date = dateText === undefined ? (compromise ? new Date() : undefined) : new Date(dateText);
      if (date !== undefined && Number.isNaN(date.getTime())) throw new UsageError('--compromise-date takes an ISO 8601 date, e.g. 2026-01-31T12:00:00Z');
      const r = await client.revoke(id!, { code, ...(o['message'] === undefined ? {} : { message: o['message'] as string }), ...(date === undefined ? {} : { compromiseOccurrenceDate: date }) });
      render(io, flags.json, { uniqueIdentifier: r.uniqueIdentifier }, r.uniqueIdentifier);
    },
  );

  act(
    sub('rekey', 'replace a symmetric key with a new one; prints the new Unique Identifier')
      .argument('<id>', 'Unique Identifier of the key to replace')
      .option('--offset <seconds>', 'seconds between the new key\'s Initial Date and its Activation Date'),
    async (client, flags, io, [id], o) => {
      const r = await client.rekey(id!, o['offset'] === undefined ? {} : { offsetSeconds: integer(o['offset'] as string, '--offset') });
      render(io, flags.json, { uniqueIdentifier: r.uniqueIdentifier, replaced: id! }, r.uniqueIdentifier);
    },
  );

  const cryptoOptions = (cmd: Command): Command =>
    cmd
      .option('-i, --in <file>', 'input data ("-" or absent: stdin)')
      .option('-o, --out <file>', 'write the result bytes here ("-": raw to stdout; absent: hex on stdout)')
      .option('--force', 'replace an existing --out file')
      .option('--mode <mode>', 'Block Cipher Mode (CBC, GCM, ...)')
      .option('--padding <method>', 'Padding Method (PKCS5, None, ...)')
      .option('--hash <alg>', 'Hashing Algorithm (SHA-256, ...)');

  act(
    cryptoOptions(sub('encrypt', 'encrypt data with a key on the server'))
      .argument('<id>', 'Unique Identifier of the key')
      .option('--iv <hex>', 'IV/Counter/Nonce (default: the server makes one)')
      .option('--aad <hex>', 'Authenticated Encryption Additional Data')
      .option('--tag-length <bytes>', 'authentication tag length (GCM)'),
    async (client, flags, io, [id], o) => {
      const data = await readInput(io, o['in'] as string | undefined);
      const parameters = cryptoParameters(o);
      const r = await client.encrypt(id!, data, {
        ...(parameters === undefined ? {} : { parameters }),
        ...(o['iv'] === undefined ? {} : { ivCounterNonce: parseHex(o['iv'] as string, '--iv') }),
        ...(o['aad'] === undefined ? {} : { additionalData: parseHex(o['aad'] as string, '--aad') }),
      });
      const extra: { [key: string]: JsonValue } = { uniqueIdentifier: r.uniqueIdentifier };
      if (r.ivCounterNonce !== undefined) extra['iv'] = hexOf(r.ivCounterNonce);
      if (r.authenticatedEncryptionTag !== undefined) extra['tag'] = hexOf(r.authenticatedEncryptionTag);
      emitBytes(io, { ...o, json: flags.json }, 'data', r.data, extra, false);
    },
  );

  act(
    cryptoOptions(sub('decrypt', 'decrypt data with a key on the server'))
      .argument('<id>', 'Unique Identifier of the key')
      .option('--iv <hex>', 'IV/Counter/Nonce the encryption used')
      .option('--aad <hex>', 'Authenticated Encryption Additional Data')
      .option('--tag <hex>', 'Authenticated Encryption Tag (GCM)'),
    async (client, flags, io, [id], o) => {
      const data = await readInput(io, o['in'] as string | undefined);
      const parameters = cryptoParameters(o);
      const r = await client.decrypt(id!, data, {
        ...(parameters === undefined ? {} : { parameters }),
        ...(o['iv'] === undefined ? {} : { ivCounterNonce: parseHex(o['iv'] as string, '--iv') }),
        ...(o['aad'] === undefined ? {} : { additionalData: parseHex(o['aad'] as string, '--aad') }),
        ...(o['tag'] === undefined ? {} : { authenticatedEncryptionTag: parseHex(o['tag'] as string, '--tag') }),
      });
      emitBytes(io, { ...o, json: flags.json }, 'data', r.data, { uniqueIdentifier: r.uniqueIdentifier }, true);
    },
  );

  act(
    cryptoOptions(sub('sign', 'sign data with a private key on the server'))
      .argument('<id>', 'Unique Identifier of the private key')
      .option('--signature-algorithm <alg>', 'Digital Signature Algorithm (SHA256WithRSAEncryption, ECDSAWithSHA256, ...)'),
    async (client, flags, io, [id], o) => {
      const data = await readInput(io, o['in'] as string | undefined);
      const parameters = cryptoParameters(o);
      const r = await client.sign(id!, data, parameters === undefined ? {} : { parameters });
      emitBytes(io, { ...o, json: flags.json }, 'signature', r.signature, { uniqueIdentifier: r.uniqueIdentifier }, false);
    },
  );

  act(
    cryptoOptions(sub('verify', 'verify a signature with a public key on the server; exit 5 when it is not valid'))
      .argument('<id>', 'Unique Identifier of the public key')
      .requiredOption('--signature <file>', 'the signature (raw bytes)')
      .option('--signature-algorithm <alg>', 'Digital Signature Algorithm (SHA256WithRSAEncryption, ECDSAWithSHA256, ...)'),
    async (client, flags, io, [id], o) => {
      const data = await readInput(io, o['in'] as string | undefined);
      const signature = await readInput(io, o['signature'] as string);
      const parameters = cryptoParameters(o);
      const r = await client.signatureVerify(id!, data, signature, parameters === undefined ? {} : { parameters });
      const verdict = enumName('ValidityIndicator', r.validityIndicator);
      render(io, flags.json, { uniqueIdentifier: r.uniqueIdentifier, valid: r.valid, validityIndicator: verdict }, r.valid ? 'valid' : `not valid (${verdict})`);
      return r.valid ? EXIT.ok : EXIT.invalidSignature;
    },
  );

  act(sub('query', "ask the server what it supports: operations, object types, vendor"), async (client, flags, io) => {
    const r = await client.query();
    const result: { [key: string]: JsonValue } = {
      operations: r.operations.map((op) => enumName('Operation', op)),
      objectTypes: r.objectTypes.map((t) => enumName('ObjectType', t)),
    };
    if (r.vendorIdentification !== undefined) result['vendorIdentification'] = r.vendorIdentification;
    if (flags.json) return render(io, true, result);
    const lines = [`Vendor: ${r.vendorIdentification ?? '(not given)'}`, `Operations: ${(result['operations'] as string[]).join(', ')}`, `Object types: ${(result['objectTypes'] as string[]).join(', ')}`];
    io.stdout(`${lines.join('\n')}\n`);
  });

  act(sub('discover-versions', 'list the KMIP versions the server speaks, its preferred first'), async (client, flags, io) => {
    const versions = (await client.discoverVersions()).map((v) => `${v.major}.${v.minor}`);
    render(io, flags.json, { versions }, versions.join('\n'));
  });

  return program;
}

function readVersion(): string {
  // package.json sits at the root both in the source tree and beside dist/ (dist/src/kmip-cli.js).
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      return (JSON.parse(fs.readFileSync(require.resolve(rel), 'utf8')) as { version: string }).version;
    } catch {
      // try the next location
    }
  }
  return 'unknown';
}

/** One line for a failure, and its exit code. */
export function describeFailure(e: unknown): { code: number; line: string; json: { [key: string]: JsonValue } } {
  if (e instanceof KmipResultError) {
    const json: { [key: string]: JsonValue } = { error: e.message, resultStatus: e.statusName ?? null, resultReason: e.reasonName ?? null, resultMessage: e.resultMessage ?? null };
    return { code: EXIT.refused, line: e.message, json };
  }
  if (e instanceof KmipConnectionError) {
    // The library's message may already list the servers tried; add them only when it does not.
    const tried = e.attempts.length > 0 && !e.message.includes(e.attempts[0]!) ? ` (tried ${e.attempts.join('; ')})` : '';
    const fate = e.requestMayHaveBeenProcessed ? '; the request may have been carried out: check (e.g. kmip locate) before sending it again' : '';
    const line = `no answer: ${e.message}${tried}${fate}`;
    return { code: EXIT.noAnswer, line, json: { error: line, requestMayHaveBeenProcessed: e.requestMayHaveBeenProcessed } };
  }
  if (e instanceof KmipProtocolError) return { code: EXIT.badAnswer, line: `unreadable answer: ${e.message}`, json: { error: e.message } };
  if (e instanceof UsageError) return { code: EXIT.usage, line: e.message, json: { error: e.message } };
  return { code: EXIT.usage, line: e instanceof Error ? e.message : String(e), json: { error: String(e) } };
}

/** Runs `kmip` with these arguments; resolves with the exit code (also set on process.exitCode). */
export async function main(argv: readonly string[], io: KmipCliIo = processIo): Promise<number> {
  let code: number = EXIT.ok;
  let json = false;
  const program = buildProgram(io, async (action, args, opts) => {
    const flags = program.opts<ConnectionFlags>();
    json = flags.json === true;
    const client = clientFrom(flags);
    try {
      code = (await action(client, flags, io, args, opts)) ?? EXIT.ok;
    } finally {
      client.close();
    }
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end with exitCode 0; every parse error is a usage error.
      code = e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    } else {
      const failure = describeFailure(e);
      code = failure.code;
      io.stderr(json ? `${JSON.stringify(failure.json)}\n` : `kmip: ${failure.line}\n`);
    }
  }
  process.exitCode = code;
  return code;
}
