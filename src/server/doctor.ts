/**
 * `kmip-server doctor`: what the listener would do with a client certificate, from the files alone,
 * one line per check with the fix for a failing one, then the identity and role it maps to. The
 * decision is the listener's own (`admitClientCertificate`), fed with doctor's reading of the
 * chain checks OpenSSL makes in the handshake, so the two give the same answer in the same words.
 */
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import fs from 'node:fs';
import { admitClientCertificate, chainChecks, chainError, CLIENT_AUTH_EKU, identityOf, type ChainCheck } from '../pki/client-certificate';
import { readCrlFile, type ParsedCrl } from '../pki/tls-material';
import { groupsOf, rolesOf } from '../access/caller';
import type { AccessPolicy } from '../access/policy';
import { certificateFacts } from './peer-identity';

/** A file doctor cannot use: a usage error (exit 2), naming the file. */
export class DoctorFileError extends Error {
  override readonly name = 'DoctorFileError';
  constructor(
    readonly file: string,
    why: string,
  ) {
    super(`${file}: ${why}`);
  }
}

/** What the server would check with: its CA and CRL files and identity rules. */
export interface DoctorServerSide {
  readonly caFile: string;
  readonly crlFiles: readonly string[];
  readonly identityFrom: 'cn' | 'san';
  readonly adminIdentities: readonly string[];
  readonly requireClientAuthEku: boolean;
  /** The access policy (`accessPolicy`): the role line names its roles and groups instead. */
  readonly accessPolicy?: AccessPolicy;
}

export interface DoctorReport {
  readonly lines: readonly string[];
  /** The server would accept the certificate. */
  readonly accepted: boolean;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;

function readFile(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new DoctorFileError(file, `cannot read the ${what}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Every certificate in a PEM file (or one DER certificate). */
export function readCertificates(file: string, what: string): X509Certificate[] {
  const bytes = readFile(file, what);
  const blocks = bytes.toString('latin1').match(PEM_CERT);
  try {
    return blocks ? blocks.map((b) => new X509Certificate(b)) : [new X509Certificate(bytes)];
  } catch {
    throw new DoctorFileError(file, `the ${what} is not a PEM or DER certificate`);
  }
}

const PKI_CLIENT = 'kmip-server pki client --cn NAME --out DIR';

/** The fix for a failing chain check, as an operator would do it. */
function fixFor(c: ChainCheck): string {
  switch (c.code) {
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return `issue it from the server's CA (${PKI_CLIENT} does), or add its CA to the server's CA file (tls.ca)`;
    case 'CERT_SIGNATURE_FAILURE':
      return `reissue it from the server's current CA (${PKI_CLIENT} does)`;
    case 'CERT_HAS_EXPIRED':
      return `reissue it (${PKI_CLIENT} does)`;
    case 'CERT_NOT_YET_VALID':
      return "check the clock of the machine that issued it and the server's, or wait until then";
    case 'INVALID_PURPOSE':
      return c.check === 'EKU'
        ? `reissue with extendedKeyUsage=clientAuth (${PKI_CLIENT} does)`
        : `reissue with keyUsage=digitalSignature (${PKI_CLIENT} does)`;
    case 'PATH_LENGTH_EXCEEDED':
      return "issue it from a CA whose issuers allow that many intermediates (basicConstraints pathlen; the dev PKI's CA allows none), or add that intermediate CA to the server's CA file (tls.ca)";
    case 'INVALID_CA':
      return 'the certificate sent as an intermediate must be a CA certificate (basicConstraints CA:TRUE): send the right chain';
    case 'CERT_REVOKED':
      return `issue a new certificate (${PKI_CLIENT}); a revoked one stays revoked`;
    case 'UNABLE_TO_GET_CRL':
      return "add its CA's CRL to the server's tls.crl (with CRLs configured, OpenSSL wants one for every client's CA)";
    case 'CRL_SIGNATURE_FAILURE':
      return "give the server the CRL of the CA that issued this certificate (a CA of the same name is another CA)";
    case 'CRL_HAS_EXPIRED':
      return 'publish a fresh CRL from its CA (kmip-server pki revoke re-signs the dev CRL) and send the server SIGHUP';
    default:
      return 'see the detail';
  }
}

function line(ok: boolean, check: string, detail: string, fix?: string): string {
  return `${ok ? 'ok  ' : 'FAIL'} ${check}: ${detail}${!ok && fix ? `: ${fix}` : ''}`;
}

/**
 * Checks a client certificate (the first in `certFile`, any more in it being the intermediates the
 * client sends) as the listener would; with `keyFile`, also that the key is the certificate's.
 */
export function diagnoseCertificate(opts: { certFile: string; keyFile?: string; server: DoctorServerSide; now?: Date }): DoctorReport {
  const chain = readCertificates(opts.certFile, 'client certificate');
  const cas = readCertificates(opts.server.caFile, 'CA certificates');
  let crls: ParsedCrl[];
  try {
    crls = opts.server.crlFiles.flatMap((f) => readCrlFile(f));
  } catch (e) {
    const file = (e as { file?: string }).file;
    throw new DoctorFileError(file ?? opts.server.crlFiles.join(', '), (e as Error).message.replace(`${file}: `, ''));
  }
  const leaf = chain[0]!;
  const lines: string[] = [];
  let keyOk = true;
  if (opts.keyFile !== undefined) {
    const pem = readFile(opts.keyFile, 'private key');
    let key;
    try {
      key = createPrivateKey(pem);
    } catch {
      throw new DoctorFileError(opts.keyFile, 'not a usable unencrypted PEM private key');
    }
    keyOk = leaf.checkPrivateKey(key);
    lines.push(line(keyOk, 'key', keyOk ? 'matches the certificate' : 'not the key of this certificate', 'pass the key file issued with this certificate'));
  }
  const checks = chainChecks({ chain, cas, crls, ...(opts.now ? { now: opts.now } : {}) });
  const fields = leaf.toLegacyObject();
  for (const c of checks) {
    if (c.check === 'EKU' && c.ok && opts.server.requireClientAuthEku && !(fields.ext_key_usage ?? []).includes(CLIENT_AUTH_EKU)) {
      lines.push(line(false, 'EKU', 'none stated, and the server requires clientAuth (tls.requireClientAuthEku)', `reissue with extendedKeyUsage=clientAuth (${PKI_CLIENT} does)`));
      continue;
    }
    lines.push(line(c.ok, c.check, c.detail, fixFor(c)));
  }
  const verdict = admitClientCertificate(fields, chainError(checks), opts.server);
  const identity = identityOf(fields, opts.server.identityFrom);
  const source = opts.server.identityFrom === 'san' && fields.subjectaltname ? 'first subject alternative name' : 'subject CN';
  lines.push(
    identity
      ? line(true, 'identity', `${identity} (${source}${opts.server.identityFrom === 'san' && !fields.subjectaltname ? ': it has no SAN' : ''})`)
      : line(false, 'identity', `none (no ${opts.server.identityFrom === 'san' ? 'SAN or ' : ''}subject CN)`, `reissue with a subject CN naming the client (${PKI_CLIENT} does)`),
  );
  if (identity && opts.server.accessPolicy) {
    // The same facts and the same matching as the server's (peer-identity.ts, access/caller.ts).
    const caller = { name: identity, certificate: certificateFacts(fields as unknown as PeerCertificate, createHash('sha256').update(leaf.raw).digest('hex')) };
    const groups = groupsOf(opts.server.accessPolicy, caller);
    lines.push(line(true, 'role', `${[...rolesOf(opts.server.accessPolicy, caller)].join(', ')} (accessPolicy)${groups.length > 0 ? `; groups ${groups.join(', ')}` : ''}`));
  } else if (identity) {
    const admin = opts.server.adminIdentities.includes(identity);
    lines.push(line(true, 'role', admin ? 'administrator (in adminIdentities: every object, Import, Export)' : 'ordinary client (its own objects)'));
  }
  const accepted = verdict.ok && keyOk;
  if (verdict.ok) {
    lines.push(keyOk ? `the server would accept this certificate as ${verdict.identity}` : `the server would accept this certificate as ${verdict.identity}, but the key given is not its key`);
  } else lines.push(`the server would refuse this certificate: ${verdict.reason}`);
  return { lines, accepted };
}
