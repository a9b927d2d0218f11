/**
 * The embedded default set-up: a SQLite file and a SoftHSM2 token of our own under one data
 * directory. Used by tests, benchmarks and the conformance runner's in-process mode; the adapters
 * are built by the composition root (main.ts openEmbeddedCore), here only the layout and defaults.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../ttlv/decode';
import { EMBEDDED_TOKEN_DIR, STORE_FILE } from './config';
import { openEmbeddedCore, type EmbeddedCore, type EmbeddedCoreOptions as CoreOptions } from './main';

// What callers of the embedded set-up name from here; each is defined where it belongs.
export { KEK_LABEL } from './config';
export { SERVER_INFO, type EmbeddedCore } from './main';
export { openEmbeddedHsm } from './server-hsm';

/** As main.ts takes them, every setting defaulted. */
export type EmbeddedCoreOptions = Partial<CoreOptions>;

/** A core over `dataDir`'s store and token, both created on first use; the message limit is the default one. */
export async function createEmbeddedCore(dataDir: string, opts: EmbeddedCoreOptions = {}): Promise<EmbeddedCore> {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  return openEmbeddedCore(
    { storePath: path.join(dataDir, STORE_FILE), tokenDir: path.join(dataDir, EMBEDDED_TOKEN_DIR) },
    { ...opts, maxMessageBytes: opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES },
  );
}
