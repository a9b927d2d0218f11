/**
 * The configuration file's value readers: each refusal is a ConfigError naming the key, so an
 * operator's mistake is one line that says where it is.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`config: ${key}: ${message}`);
  }
}

export type Json = string | number | boolean | null | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function onlyKeys(obj: JsonObject, allowed: readonly string[], prefix: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) throw new ConfigError(prefix + k, `unknown key (allowed: ${allowed.join(', ')})`);
  }
}

export function str(obj: JsonObject, key: string, prefix: string): string | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new ConfigError(prefix + key, 'must be a non-empty string');
  return v;
}

export function posInt(obj: JsonObject, key: string, prefix: string): number | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new ConfigError(prefix + key, 'must be a positive integer');
  return v;
}

export function section(obj: JsonObject, key: string, allowed: readonly string[]): JsonObject | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (!isObject(v)) throw new ConfigError(key, 'must be an object');
  onlyKeys(v, allowed, `${key}.`);
  return v;
}
