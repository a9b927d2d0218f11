/**
 * KEK escrow under dual control. `escrow` wraps the token's custody keys (the KEK, the index key
 * behind the store's blind indexes, the audit key behind the trail's checkpoints) inside the HSM
 * under a fresh AES-256 escrow key (C_WrapKey, RFC 5649), splits the escrow key by Shamir over
 * GF(2^8) (crypto/secret-sharing.ts) and writes one file per custodian: the wrapped keys (the same
 * in every file) and that custodian's share. Fewer than the threshold of shares say nothing of the
 * escrow key, so no file, and no group too small, reveals a key. `recover` joins the shares and
 * unwraps the keys into a token (a new one), with their labels and CKA_IDs, so the store's blobs
 * (which name their KEK by CKA_ID) decrypt again.
 *
 * Only keys created escrowable (hsm.kekEscrowable) are extractable under wrap; for the others the
 * HSM's own backup is the way (docs/operations.md).
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as pkcs11js from 'pkcs11js';
import { joinSecret, splitSecret } from '../crypto/secret-sharing';
import { KeyProtectorError } from '../keys/key-protector';
import { AUDIT_KEY_LABEL, INDEX_KEY_LABEL } from '../keys/pkcs11-mac-keys';
import { destroyQuietly, secretKeyFacts, type Handle } from '../keys/pkcs11-module';
import { SplitKeyMethod } from '../spec/generated/enums';
import { rotatedKekLabel, type CustodyToken, type TokenKey } from './token';

export const SHARE_KIND = 'kmip-server KEK escrow share';
const SHARE_VERSION = 1;
const ESCROW_KEY_BYTES = 32;
const WRAP = { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD };

/** A refusal the operator can act on: one line, no secret. */
export class CustodyError extends Error {
  override readonly name = 'CustodyError';
}

/** kek: the current KEK; earlierKek: one that stored objects still reference (a rotation not yet finished or retired). */
type Role = 'kek' | 'earlierKek' | 'index' | 'audit';

interface EscrowedKey {
  readonly role: Role;
  readonly label: string;
  readonly id: string;
  readonly keyType: 'aes' | 'generic-secret';
  readonly valueLength: number;
  readonly usage: { encrypt: boolean; decrypt: boolean; wrap: boolean; unwrap: boolean; sign: boolean };
  /** The key wrapped under the escrow key (hex). */
  readonly wrapped: string;
}

export interface ShareFile {
  readonly kind: typeof SHARE_KIND;
  readonly version: number;
  /** Ties the shares of one escrow together. */
  readonly escrowId: string;
  readonly createdAt: string;
  readonly custodian: number;
  readonly shares: number;
  readonly threshold: number;
  readonly kekId: string;
  readonly splitMethod: 'shamir-gf256';
  readonly keys: readonly EscrowedKey[];
  /** This custodian's share of the escrow key (hex). */
  readonly share: string;
}

export interface EscrowResult {
  readonly kekId: string;
  readonly escrowId: string;
  readonly shares: number;
  readonly threshold: number;
  readonly files: readonly string[];
  readonly keys: readonly { role: Role; id: string }[];
}

export function shareFileName(custodian: number, shares: number): string {
  return `custodian-${custodian}-of-${shares}.json`;
}

/**
 * `referenced`: every KEK id the store's objects (material or withheld Digests) name; each is
 * escrowed beside the current KEK, since recovering only the current one would leave those
 * objects unreadable.
 */
export function escrowKeys(
  token: CustodyToken,
  /** `current`: the current KEK where the store names it (PostgreSQL), else the data dir's. */
  opts: { shares: number; threshold: number; outDir: string; dataDir: string; referenced: readonly string[]; current?: TokenKey },
): EscrowResult {
  const { shares, threshold } = opts;
  if (!Number.isInteger(threshold) || threshold < 2) throw new CustodyError('--threshold must be at least 2: one custodian alone must not recover the KEK (dual control)');
  if (!Number.isInteger(shares) || shares < threshold || shares > 255) throw new CustodyError('--shares must be at least --threshold and at most 255');
  const kek = 'current' in opts ? opts.current : token.current(opts.dataDir);
  if (kek === undefined) throw new CustodyError(`the token holds no current KEK (kmip-server kek status lists the token's KEKs)`);
  const earlier = opts.referenced.filter((id) => id !== kek.id);
  const earlierKeks = earlier.map((id) => token.find({ id })[0]);
  const absent = earlier.filter((_, i) => earlierKeks[i] === undefined);
  if (absent.length > 0) throw new CustodyError(`the store's objects reference KEK ${absent.join(', ')}, which the token does not hold: recover it first, or the escrow would not cover those objects`);
  const custody: [Role, TokenKey | undefined][] = [
    ['kek', kek],
    ...earlierKeks.map((k): [Role, TokenKey | undefined] => ['earlierKek', k]),
    ['index', token.indexKey()],
    ['audit', token.auditKey()],
  ];
  for (const [role, key] of custody) {
    if (key !== undefined && !key.facts.extractable) {
      throw new CustodyError(
        `the ${role === 'kek' || role === 'earlierKek' ? `KEK ${key.id}` : `${role} key`} was not created escrowable (hsm.kekEscrowable was off): it cannot leave the HSM even wrapped; back it up with the HSM's own backup (docs/operations.md)`,
      );
    }
  }
  fs.mkdirSync(opts.outDir, { recursive: true, mode: 0o700 });
  const files = Array.from({ length: shares }, (_, i) => path.join(opts.outDir, shareFileName(i + 1, shares)));
  const taken = files.filter((f) => fs.existsSync(f));
  if (taken.length > 0) throw new CustodyError(`${taken[0]} exists: give an empty --out directory (share files are never overwritten)`);

  const escrowKey = randomBytes(ESCROW_KEY_BYTES);
  let wrapping: Handle | undefined;
  try {
    wrapping = token.lib.C_CreateObject(token.session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_WRAP, value: true },
      { type: pkcs11js.CKA_VALUE, value: escrowKey },
    ]);
    const keys: EscrowedKey[] = [];
    for (const [role, key] of custody) {
      if (key === undefined) continue;
      const wrapped = token.lib.C_WrapKey(token.session, WRAP, wrapping, key.handle, Buffer.alloc(key.facts.valueLength + 16));
      keys.push({
        role,
        label: key.label,
        id: key.id,
        keyType: key.keyType === pkcs11js.CKK_AES ? 'aes' : 'generic-secret',
        valueLength: key.facts.valueLength,
        usage: { encrypt: key.facts.encrypt, decrypt: key.facts.decrypt, wrap: key.facts.wrap, unwrap: key.facts.unwrap, sign: key.facts.sign },
        wrapped: wrapped.toString('hex'),
      });
    }
    const parts = splitSecret(escrowKey, { method: SplitKeyMethod.PolynomialSharingGF2_8, parts: shares, threshold });
    const escrowId = randomBytes(16).toString('hex');
    const createdAt = new Date().toISOString();
    parts.forEach((part, i) => {
      const file: ShareFile = {
        kind: SHARE_KIND,
        version: SHARE_VERSION,
        escrowId,
        createdAt,
        custodian: i + 1,
        shares,
        threshold,
        kekId: kek.id,
        splitMethod: 'shamir-gf256',
        keys,
        share: part.toString('hex'),
      };
      fs.writeFileSync(files[i] as string, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
      part.fill(0);
    });
    return { kekId: kek.id, escrowId, shares, threshold, files, keys: keys.map((k) => ({ role: k.role, id: k.id })) };
  } finally {
    escrowKey.fill(0);
    if (wrapping !== undefined) destroyQuietly(token.lib, token.session, wrapping);
  }
}

export function readShareFile(file: string): ShareFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CustodyError(`${file} is not a readable share file (${(e as NodeJS.ErrnoException).code ?? 'not JSON'})`);
  }
  const s = parsed as Partial<ShareFile>;
  if (s.kind !== SHARE_KIND || s.version !== SHARE_VERSION || typeof s.share !== 'string' || !Array.isArray(s.keys) || typeof s.custodian !== 'number') {
    throw new CustodyError(`${file} is not a KEK escrow share file of this version`);
  }
  return s as ShareFile;
}

/** What every share of one escrow has in common: any difference means a share of another escrow, or an altered one. */
function commonDigest(s: ShareFile): string {
  return createHash('sha256').update(JSON.stringify([s.escrowId, s.shares, s.threshold, s.kekId, s.splitMethod, s.keys])).digest('hex');
}

export interface RecoverResult {
  readonly kekId: string;
  readonly escrowId: string;
  readonly custodians: readonly number[];
  readonly restored: readonly { role: Role; id: string; label: string }[];
  readonly alreadyPresent: readonly { role: Role; id: string }[];
}

export function recoverKeys(token: CustodyToken, shareFiles: readonly string[]): RecoverResult {
  if (shareFiles.length === 0) throw new CustodyError('give the custodians\' share files: --share FILE --share FILE ...');
  const shares = shareFiles.map(readShareFile);
  const first = shares[0] as ShareFile;
  const digest = commonDigest(first);
  shares.forEach((s, i) => {
    if (commonDigest(s) !== digest) throw new CustodyError(`${shareFiles[i]} belongs to another escrow than ${shareFiles[0]}, or was altered`);
  });
  const custodians = shares.map((s) => s.custodian);
  if (new Set(custodians).size !== custodians.length) throw new CustodyError(`the same custodian's share is given twice (custodians ${custodians.join(', ')})`);
  if (shares.length < first.threshold) {
    throw new CustodyError(
      `${shares.length} share${shares.length === 1 ? '' : 's'} given (custodian${shares.length === 1 ? '' : 's'} ${custodians.join(', ')}), but recovering KEK ${first.kekId} needs ${first.threshold} of the ${first.shares}: nothing was written`,
    );
  }
  // Before anything is written: a different key already under a custody label would be ambiguous.
  for (const k of first.keys) {
    const label = labelFor(token, k);
    const clash = token.find({ label }).filter((t) => t.id !== k.id);
    if (clash.length > 0) throw new CustodyError(`the token already holds another key labelled ${JSON.stringify(label)} (CKA_ID ${clash[0]!.id}): recover into a new token`);
  }
  let escrowKey: Buffer | undefined;
  let unwrapping: Handle | undefined;
  try {
    escrowKey = joinSecret(
      shares.map((s) => ({ x: s.custodian, value: Buffer.from(s.share, 'hex') })),
      { method: SplitKeyMethod.PolynomialSharingGF2_8, parts: first.shares, threshold: first.threshold },
      ESCROW_KEY_BYTES,
    );
    unwrapping = token.lib.C_CreateObject(token.session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_UNWRAP, value: true },
      { type: pkcs11js.CKA_VALUE, value: escrowKey },
    ]);
    const restored: { role: Role; id: string; label: string }[] = [];
    const alreadyPresent: { role: Role; id: string }[] = [];
    for (const k of first.keys) {
      if (token.find({ id: k.id }).length > 0) {
        alreadyPresent.push({ role: k.role, id: k.id });
        continue;
      }
      const label = labelFor(token, k);
      try {
        putKey(token, unwrapping, k, label);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        if (/CKR_(WRAPPED_KEY_INVALID|ENCRYPTED_DATA_INVALID|GENERAL_ERROR|WRAPPED_KEY_LEN_RANGE)/.test(msg)) {
          throw new CustodyError(`the shares do not reconstruct the escrow key (a share is damaged, or from another escrow): the ${k.role} key was not recovered`);
        }
        throw new KeyProtectorError('HSM_ERROR', `the token refused to take the ${k.role} key: ${msg}`);
      }
      restored.push({ role: k.role, id: k.id, label });
    }
    return { kekId: first.kekId, escrowId: first.escrowId, custodians, restored, alreadyPresent };
  } finally {
    escrowKey?.fill(0);
    if (unwrapping !== undefined) destroyQuietly(token.lib, token.session, unwrapping);
  }
}

/**
 * Unwraps one escrowed key into the token as a token object. SoftHSM2 (2.6) leaves CKA_VALUE_LEN
 * at 0 on an unwrapped key, which the KEK policy then refuses: where the module does that, the key
 * is unwrapped into a short-lived session object instead and created on the token from its value,
 * which passes through this process's memory for that instant (zeroed after), as the escrow key
 * that unwraps it already does.
 */
function putKey(token: CustodyToken, unwrapping: Handle, k: EscrowedKey, label: string): void {
  const { lib, session } = token;
  const wrapped = Buffer.from(k.wrapped, 'hex');
  const keyType = k.keyType === 'aes' ? pkcs11js.CKK_AES : pkcs11js.CKK_GENERIC_SECRET;
  const template: pkcs11js.Template = [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: keyType },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    // Still escrowable: a recovered KEK can be escrowed again to new custodians.
    { type: pkcs11js.CKA_EXTRACTABLE, value: true },
    { type: pkcs11js.CKA_ENCRYPT, value: k.usage.encrypt },
    { type: pkcs11js.CKA_DECRYPT, value: k.usage.decrypt },
    { type: pkcs11js.CKA_WRAP, value: k.usage.wrap },
    { type: pkcs11js.CKA_UNWRAP, value: k.usage.unwrap },
    { type: pkcs11js.CKA_SIGN, value: k.usage.sign },
    { type: pkcs11js.CKA_VERIFY, value: k.usage.sign },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: Buffer.from(k.id, 'hex') },
  ];
  const key = lib.C_UnwrapKey(session, WRAP, unwrapping, wrapped, template);
  if (secretKeyFacts(lib, session, key).valueLength === k.valueLength) return;
  lib.C_DestroyObject(session, key);
  const temp = lib.C_UnwrapKey(session, WRAP, unwrapping, wrapped, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: keyType },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_SENSITIVE, value: false },
    { type: pkcs11js.CKA_EXTRACTABLE, value: true },
  ]);
  let value: Buffer | undefined;
  try {
    value = lib.C_GetAttributeValue(session, temp, [{ type: pkcs11js.CKA_VALUE }])[0]?.value;
    if (value === undefined || value.length !== k.valueLength) throw new CustodyError(`the escrowed ${k.role} key is not ${k.valueLength} bytes long`);
    lib.C_CreateObject(session, [...template, { type: pkcs11js.CKA_VALUE, value }]);
  } finally {
    value?.fill(0);
    destroyQuietly(lib, session, temp);
  }
}

/** The label a recovered key takes in this token: the one its configuration looks for. */
function labelFor(token: CustodyToken, k: EscrowedKey): string {
  if (k.role === 'kek') return token.config.kekLabel;
  if (k.role === 'earlierKek') return rotatedKekLabel(token.config.kekLabel, k.id);
  if (k.role === 'index') return token.config.indexKeyLabel ?? INDEX_KEY_LABEL;
  return AUDIT_KEY_LABEL;
}
