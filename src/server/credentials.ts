/**
 * Sub-identities selected by a Credential in the Request Header, for clients that share one
 * certificate (vCenter hosts, NetApp nodes send a Username and Password or Device credential).
 * Off unless configured (`credentials`); then, for each certificate identity listed, the usernames
 * and devices it may present, each with a salted scrypt hash of its password. A listed credential
 * with the right password makes the request run as `<certificate identity>/<username>` (or
 * `<certificate identity>/device/<device>`), an owner of its own; a wrong password, or a name not
 * listed, is Authentication Not Successful. A certificate identity not listed ignores credentials,
 * as the server always did.
 */
import { createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { ItemType, type TtlvStructure } from '../../ttlv/types';
import { CredentialType } from '../spec/generated/enums';
import { Tag } from '../spec/generated/tags';
import { children, opt } from '../kmip/tree';
import type { ClientIdentity } from '../objects/context';
import { KmipError, Reason } from '../kmip/errors';

/** `scrypt$N$r$p$<salt base64>$<hash base64>` */
export interface PasswordHash {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

export interface CertificateCredentials {
  /** Username -> hash of its password. */
  readonly users: ReadonlyMap<string, PasswordHash>;
  /** Device Serial Number (or Device Identifier when the device sends no serial) -> hash of its password. */
  readonly devices: ReadonlyMap<string, PasswordHash>;
  /** A request from this certificate without a credential is refused (otherwise it runs as the certificate identity). */
  readonly requireCredential: boolean;
}

/** Certificate identity -> what it may present. Empty: credentials are ignored. */
export type CredentialsConfig = ReadonlyMap<string, CertificateCredentials>;

/** Cost of new hashes: 16 MiB and about 50 ms per check; the cache below makes it once per client. */
const SCRYPT_DEFAULTS = { N: 1 << 14, r: 8, p: 1 } as const;
/** Bounds on a configured hash's cost, so a config cannot make every check take gigabytes. */
const SCRYPT_MAX_MEMORY = 256 * 1024 * 1024;

function scryptAsync(password: Buffer, salt: Buffer, length: number, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, length, { N, r, p, maxmem: 128 * N * r * 2 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** A new salted hash of `password`, in the form the config takes. */
export async function hashPassword(password: string): Promise<string> {
  const { N, r, p } = SCRYPT_DEFAULTS;
  const salt = randomBytes(16);
  const hash = await scryptAsync(Buffer.from(password, 'utf8'), salt, 32, N, r, p);
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Reads a configured hash; a string that is not one gives the reason (the caller names the key). */
export function parsePasswordHash(text: string): PasswordHash | string {
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/.exec(text);
  if (!m) return 'must be "scrypt$N$r$p$SALT$HASH" (make one with: kmip-server hash-password)';
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (N < 2 || (N & (N - 1)) !== 0) return 'scrypt N must be a power of two';
  if (r < 1 || p < 1 || p > 16) return 'scrypt r and p must be at least 1 (p at most 16)';
  if (128 * N * r > SCRYPT_MAX_MEMORY) return `scrypt N*r needs more than ${SCRYPT_MAX_MEMORY / 1024 / 1024} MiB per check`;
  const salt = Buffer.from(m[4]!, 'base64');
  const hash = Buffer.from(m[5]!, 'base64');
  if (salt.length < 8) return 'the salt must be at least 8 bytes';
  if (hash.length < 16) return 'the hash must be at least 16 bytes';
  return { N, r, p, salt, hash };
}

/** What a request's credential claims: whose password it is. */
interface PresentedCredential {
  readonly kind: 'user' | 'device';
  readonly name: string;
  readonly password: string | undefined;
}

/**
 * Reads the Username and Password or Device credential of an Authentication structure (1.x holds
 * one Credential, 2.x may hold several: the first of these two types counts). Other types are not
 * ours to check and are passed over.
 */
function presentedCredential(authentication: TtlvStructure): PresentedCredential | undefined {
  for (const c of children(authentication, Tag.Credential)) {
    if (c.type !== ItemType.Structure) continue;
    const type = opt.enumeration(c, Tag.CredentialType);
    const value = opt.structure(c, Tag.CredentialValue);
    if (!value) continue;
    if (type === CredentialType.UsernameAndPassword) {
      const name = opt.text(value, Tag.Username);
      if (name === undefined) throw new KmipError(Reason.InvalidField, 'Username and Password credential without a Username');
      return { kind: 'user', name, password: opt.text(value, Tag.Password) };
    }
    if (type === CredentialType.Device) {
      const name = opt.text(value, Tag.DeviceSerialNumber) ?? opt.text(value, Tag.DeviceIdentifier);
      if (name === undefined) throw new KmipError(Reason.InvalidField, 'Device credential without a Device Serial Number or Device Identifier');
      return { kind: 'device', name, password: opt.text(value, Tag.Password) };
    }
  }
  return undefined;
}

/** Successful checks kept, so a client pays for scrypt once, not once per message. */
const CACHE_LIMIT = 4096;

export class CredentialVerifier {
  /** Keys are an HMAC (under a key of this process) of identity, credential and password. */
  private readonly verified = new Map<string, true>();
  private readonly cacheKey = randomBytes(32);

  constructor(
    private readonly config: CredentialsConfig,
    private readonly adminIdentities: readonly string[],
  ) {}

  /**
   * The identity a request runs as. Throws Authentication Not Successful (the message names the
   * credential but never says whether the name or the password was wrong).
   */
  async resolve(client: ClientIdentity, authentication: TtlvStructure | undefined): Promise<ClientIdentity> {
    const allowed = this.config.get(client.name);
    if (!allowed) {
      // A certificate identity of the form of a sub-identity would own that sub-identity's objects.
      for (const shared of this.config.keys()) {
        if (client.name.startsWith(`${shared}/`)) {
          throw new KmipError(Reason.AuthenticationNotSuccessful, `certificate identity "${client.name}" has the form of a sub-identity of "${shared}"`);
        }
      }
      return client;
    }
    const presented = authentication ? presentedCredential(authentication) : undefined;
    if (!presented) {
      if (allowed.requireCredential) {
        throw new KmipError(Reason.AuthenticationNotSuccessful, 'this client certificate must present a Username and Password or Device credential');
      }
      return client;
    }
    const label = presented.kind === 'user' ? `user "${presented.name}"` : `device "${presented.name}"`;
    const refused = () => new KmipError(Reason.AuthenticationNotSuccessful, `the credential of ${label} was not accepted`);
    const expected = (presented.kind === 'user' ? allowed.users : allowed.devices).get(presented.name);
    if (!expected || presented.password === undefined) throw refused();
    const key = createHmac('sha256', this.cacheKey)
      .update(`${client.name}\0${presented.kind}\0${presented.name}\0`)
      .update(presented.password, 'utf8')
      .digest('base64');
    if (!this.verified.has(key)) {
      const h = expected;
      const actual = await scryptAsync(Buffer.from(presented.password, 'utf8'), h.salt, h.hash.length, h.N, h.r, h.p);
      if (!timingSafeEqual(actual, h.hash)) throw refused();
      if (this.verified.size >= CACHE_LIMIT) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(key, true);
    }
    const name = presented.kind === 'user' ? `${client.name}/${presented.name}` : `${client.name}/device/${presented.name}`;
    // A sub-identity holds no role its certificate's matchers (cn:, san:, sha256:) give (src/access/).
    return { ...client, name, isAdmin: this.adminIdentities.includes(name), certificate: undefined };
  }
}
