/**
 * How both listeners (TLS on 5696, HTTPS) start and stop, in one place: listen, give new
 * handshakes new TLS material, and close (stop accepting, let the requests in flight finish, end
 * the open connections, destroy those still open a second later).
 */
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { ListenerOptions, RunningListener } from './listener';
import { secureContextOptions, type TlsReload } from './peer-identity';

/** How long open connections get to end on close before they are destroyed. */
const CLOSE_GRACE_MS = 1000;

export interface OpenWork {
  /** Requests being answered: close waits for them. */
  readonly inFlight: ReadonlySet<Promise<void>>;
  /** Authenticated connections: ended on close. */
  readonly sockets: ReadonlySet<tls.TLSSocket>;
}

/** A transport's own close steps: `ending` before the connections are ended, `forcing` after the grace (default: destroy them). */
export interface CloseSteps {
  readonly ending?: () => void;
  readonly forcing?: () => void;
}

export function listenOn(server: tls.Server, opts: Pick<ListenerOptions, 'host' | 'port' | 'ciphers'>, open: OpenWork, steps: CloseSteps = {}): Promise<RunningListener> {
  let closing = false;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve({
        address: server.address() as AddressInfo,
        reloadTls(material: TlsReload) {
          const next = secureContextOptions(material, opts.ciphers);
          // Built once first: setSecureContext records the options before OpenSSL can refuse them.
          tls.createSecureContext(next);
          server.setSecureContext(next);
        },
        async close() {
          if (closing) return;
          closing = true;
          const stopped = new Promise<void>((r) => server.close(() => r()));
          await Promise.allSettled([...open.inFlight]);
          steps.ending?.();
          for (const s of open.sockets) s.end();
          const forcing = steps.forcing ?? (() => open.sockets.forEach((s) => s.destroy()));
          setTimeout(forcing, CLOSE_GRACE_MS).unref();
          await stopped;
        },
      });
    });
  });
}
