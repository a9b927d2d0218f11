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
