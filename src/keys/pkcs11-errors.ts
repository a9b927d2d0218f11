/**
 * PKCS#11 return values (CKR_*) classified: which mean the connection is gone, which mean a blob
 * does not authenticate, which mean the PIN was refused; and how any of them becomes a
 * KeyProtectorError.
 */
import * as pkcs11js from 'pkcs11js';
import { KeyProtectorError, type KeyProtectorErrorCode } from './key-protector';

const CKR_NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(pkcs11js)) {
  if (name.startsWith('CKR_') && typeof value === 'number' && !CKR_NAMES.has(value)) CKR_NAMES.set(value, name);
}

/** The CKR_ name of a pkcs11js error, or undefined for anything else. */
export function ckrOf(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number' && code !== 0 && CKR_NAMES.has(code)) return CKR_NAMES.get(code);
  return /^CKR_[A-Z0-9_]+/.exec(err.message)?.[0];
}

/** Errors meaning our sessions, login or object handles are gone: reconnect and retry. */
export const CONNECTION_LOSS = new Set([
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_TOKEN_NOT_RECOGNIZED',
  'CKR_DEVICE_REMOVED',
  'CKR_DEVICE_ERROR',
  'CKR_SLOT_ID_INVALID',
  'CKR_OBJECT_HANDLE_INVALID',
  'CKR_KEY_HANDLE_INVALID',
  'CKR_WRAPPING_KEY_HANDLE_INVALID',
  'CKR_UNWRAPPING_KEY_HANDLE_INVALID',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_CRYPTOKI_NOT_INITIALIZED',
]);

/** Errors that, from a decrypt or unwrap, mean the blob does not authenticate. */
export const INTEGRITY_FAILURE = new Set([
  'CKR_ENCRYPTED_DATA_INVALID',
  'CKR_ENCRYPTED_DATA_LEN_RANGE',
  'CKR_WRAPPED_KEY_INVALID',
  'CKR_WRAPPED_KEY_LEN_RANGE',
  'CKR_DATA_INVALID',
  'CKR_DATA_LEN_RANGE',
]);

/**
 * Errors that are integrity failures only if the session still works afterwards: SoftHSM2 2.6
 * reports a GCM tag mismatch and a bad RFC 5649 integrity check as CKR_GENERAL_ERROR.
 */
export const AMBIGUOUS_FAILURE = new Set(['CKR_GENERAL_ERROR', 'CKR_FUNCTION_FAILED']);

export const LOGIN_FAILURE = new Set(['CKR_PIN_INCORRECT', 'CKR_PIN_INVALID', 'CKR_PIN_LEN_RANGE', 'CKR_PIN_LOCKED', 'CKR_PIN_EXPIRED']);

export function hsmError(code: KeyProtectorErrorCode, what: string, err: unknown): KeyProtectorError {
  if (err instanceof KeyProtectorError) return err;
  const ckr = ckrOf(err);
  // pkcs11js messages carry CKR names or dlopen text only, never arguments: safe to repeat.
  const detail = ckr ?? (err instanceof Error ? err.message.split('\n')[0] : String(err));
  return new KeyProtectorError(code, `${what}: ${detail}`, ckr);
}

export function asUnavailable(err: unknown): KeyProtectorError {
  if (err instanceof KeyProtectorError && err.code === 'HSM_UNAVAILABLE') return err;
  const ckr = err instanceof KeyProtectorError ? err.ckr : ckrOf(err);
  const why = err instanceof KeyProtectorError ? err.message : ckr ?? 'unknown error';
  return new KeyProtectorError('HSM_UNAVAILABLE', `HSM unavailable: ${why}`, ckr);
}
