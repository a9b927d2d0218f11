/** A PostgreSQL URL as it may be shown in a log line or an error: never with its password. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '';
    u.searchParams.delete('password');
    return u.toString();
  } catch {
    return '(a URL that does not parse)';
  }
}
