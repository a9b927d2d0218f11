/**
 * A client-library client that presents the dev PKI's client certificate (made on a data dir's first
 * start): what most integration tests talk to a running server with. One place, so a change to how
 * tests authenticate is one change.
 */
import fs from 'node:fs';
import path from 'node:path';
import { KmipClient, type KmipClientOptions } from '../../src/client';

export function devClient(port: number, pkiDir: string, options: Partial<KmipClientOptions> = {}): KmipClient {
  return new KmipClient({
    servers: [{ host: '127.0.0.1', port }],
    servername: 'localhost',
    ca: fs.readFileSync(path.join(pkiDir, 'ca.pem')),
    cert: fs.readFileSync(path.join(pkiDir, 'client.pem')),
    key: fs.readFileSync(path.join(pkiDir, 'client-key.pem')),
    ...options,
  });
}
