/**
 * The canonical model handlers are written against: KMIP 2.1's vocabulary and semantics. The
 * adapters (request-adapter.ts, response-adapter.ts) map each client's version onto it and back.
 */
import type { ProtocolVersion } from '../spec/versions';

export const CANONICAL_VERSION: ProtocolVersion = { major: 2, minor: 1 };
