/** The hosts of a URL: libpq's `postgresql://USER@h1:p1,h2:p2/DB?target_session_attrs=read-write` (postgres-hosts.ts connects). */
export interface HostList {
  /** One single-host URL per host, in the order given. */
  readonly urls: readonly string[];
  /** target_session_attrs=read-write (or primary): a connection to a read-only server is refused. */
  readonly readWrite: boolean;
}

const SHAPE = /^(postgres(?:ql)?:\/\/)([^@/?#]*@)?([^/?#]*)(.*)$/;

/** The hosts of `url`, each as a URL of its own (target_session_attrs removed: libpq's, not node-postgres's). */
export function hostList(url: string): HostList {
  const m = SHAPE.exec(url);
  if (m === null) return { urls: [url], readWrite: false };
  const [, scheme, user = '', hosts = '', rest = ''] = m;
  const [pathPart, query = ''] = rest.split('?', 2) as [string, string?];
  const params = new URLSearchParams(query);
  const attrs = params.get('target_session_attrs');
  params.delete('target_session_attrs');
  const q = params.toString();
  const urls = hosts.split(',').map((h) => `${scheme}${user}${h}${pathPart}${q ? `?${q}` : ''}`);
  return { urls, readWrite: attrs === 'read-write' || attrs === 'primary' };
}

/**
 * What is wrong with a `store.url`, or undefined. libpq's several hosts (h1:p1,h2:p2) must each make
 * a URL of their own (postgres-hosts.ts).
 */
export function postgresUrlProblem(whole: string): string | undefined {
  for (const url of hostList(whole).urls) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return 'is not a URL: postgresql://USER@HOST:PORT/DATABASE';
    }
    if (parsed.protocol !== 'postgresql:' && parsed.protocol !== 'postgres:') return `must be a postgresql:// URL, not ${parsed.protocol}//`;
    if (parsed.hostname === '' || parsed.pathname.length <= 1) return `${redactedUrl(whole)} must name a host and a database`;
  }
  return undefined;
}

/** A PostgreSQL URL as it may be shown in a log line or an error: never with its password. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '';
    u.searchParams.delete('password');
    return u.toString();
  } catch {
    // libpq's several hosts (h1:p1,h2:p2) are no WHATWG URL: the password taken out by hand.
    const m = /^(postgres(?:ql)?:\/\/)(?:([^:@/?#]*)(?::[^@/?#]*)?@)?([^/?#]*)([^?#]*)(\?[^#]*)?$/.exec(url);
    if (m === null || !m[3]!.includes(',')) return '(a URL that does not parse)';
    const params = new URLSearchParams(m[5]?.slice(1) ?? '');
    params.delete('password');
    const q = params.toString();
    return `${m[1]}${m[2] !== undefined ? `${m[2]}@` : ''}${m[3]}${m[4]}${q ? `?${q}` : ''}`;
  }
}
