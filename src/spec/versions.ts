/**
 * KMIP protocol versions. The spec tables name versions "1.0" ... "2.1"; the wire carries
 * Protocol Version Major / Minor. Both forms are accepted wherever a version is compared.
 */

/** The versions this server implements, oldest first (the order of the spec tables' columns). */
export const SPEC_VERSIONS = ['1.0', '1.1', '1.2', '1.3', '1.4', '2.0', '2.1'] as const;
export type SpecVersion = (typeof SPEC_VERSIONS)[number];

export const LATEST_SPEC_VERSION: SpecVersion = '2.1';

export interface ProtocolVersion {
  readonly major: number;
  readonly minor: number;
}

export type VersionLike = SpecVersion | ProtocolVersion;

/**
 * A span of versions as the tables give it: `last` is null while the item is still present in
 * the latest version (the tables leave `last_version` blank then).
 */
export interface VersionRange {
  readonly first: SpecVersion;
  readonly last: SpecVersion | null;
}

export function isSpecVersion(s: string): s is SpecVersion {
  return (SPEC_VERSIONS as readonly string[]).includes(s);
}

function toProtocolVersion(v: VersionLike): ProtocolVersion {
  if (typeof v !== 'string') return v;
  const dot = v.indexOf('.');
  return { major: Number(v.slice(0, dot)), minor: Number(v.slice(dot + 1)) };
}

/** "1.4" for { major: 1, minor: 4 }; the spec version name when it is one of ours. */
export function versionString(v: VersionLike): string {
  if (typeof v === 'string') return v;
  return `${v.major}.${v.minor}`;
}

/** Negative, zero or positive, as for Array.prototype.sort. Works for versions outside our list. */
export function compareVersions(a: VersionLike, b: VersionLike): number {
  const x = toProtocolVersion(a);
  const y = toProtocolVersion(b);
  return x.major !== y.major ? x.major - y.major : x.minor - y.minor;
}

/** True when an item listed from `firstVersion` to `lastVersion` (null: still current) exists in `v`. */
export function isInVersion(
  firstVersion: SpecVersion,
  lastVersion: SpecVersion | null | undefined,
  v: VersionLike,
): boolean {
  if (compareVersions(v, firstVersion) < 0) return false;
  return lastVersion == null || compareVersions(v, lastVersion) <= 0;
}

export function isInRange(range: VersionRange, v: VersionLike): boolean {
  return isInVersion(range.first, range.last, v);
}
