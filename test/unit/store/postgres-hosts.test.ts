/** libpq's several-host URLs, split for node-postgres (one host per client), and shown without a password. */
import { hostList } from '../../../src/store/postgres-url';
import { redactedUrl } from '../../../src/store/postgres-url';

test('a URL naming several hosts becomes one URL per host, target_session_attrs read and taken out', () => {
  expect(hostList('postgresql://kmip:pw@h1:5432,h2:5433/keys?target_session_attrs=read-write&sslmode=require')).toEqual({
    urls: ['postgresql://kmip:pw@h1:5432/keys?sslmode=require', 'postgresql://kmip:pw@h2:5433/keys?sslmode=require'],
    readWrite: true,
  });
  expect(hostList('postgres://h1,h2/keys')).toEqual({ urls: ['postgres://h1/keys', 'postgres://h2/keys'], readWrite: false });
  expect(hostList('postgresql://kmip@db/keys?target_session_attrs=primary')).toEqual({ urls: ['postgresql://kmip@db/keys'], readWrite: true });
});

test('a several-host URL is shown without its password, in the user part or as a parameter', () => {
  expect(redactedUrl('postgresql://kmip:pw-secret@h1:5432,h2:5433/keys?password=pw-secret&target_session_attrs=read-write')).toBe(
    'postgresql://kmip@h1:5432,h2:5433/keys?target_session_attrs=read-write',
  );
  expect(redactedUrl('postgresql://h1,h2/keys')).toBe('postgresql://h1,h2/keys');
  expect(redactedUrl('postgresql://kmip:pw@db:5432/keys')).toBe('postgresql://kmip@db:5432/keys');
});
