/** `metrics` in the configuration and `--metrics-listen`: loopback unless TLS or allowRemote says otherwise. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config';

function withFile(json: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-cfg-metrics-'));
  const f = path.join(dir, 'config.json');
  fs.writeFileSync(f, JSON.stringify(json));
  return f;
}

function refusal(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('no error');
}

test('off by default; metrics.listen from the file, --metrics-listen over it', () => {
  expect(loadConfig({}).metrics).toBeNull();
  const file = withFile({ metrics: { listen: '127.0.0.1:9464' } });
  expect(loadConfig({ configFile: file }).metrics).toEqual({ host: '127.0.0.1', port: 9464, tls: false });
  expect(loadConfig({ configFile: file, metricsListen: '[::1]:9500' }).metrics).toEqual({ host: '::1', port: 9500, tls: false });
  expect(loadConfig({ metricsListen: 'localhost:9464' }).metrics).toEqual({ host: 'localhost', port: 9464, tls: false });
});

test('beyond loopback only with client certificates (metrics.tls) or metrics.allowRemote', () => {
  const flag = refusal(() => loadConfig({ metricsListen: '0.0.0.0:9464' }));
  expect(flag.key).toBe('--metrics-listen');
  expect(flag.message).toMatch(/0\.0\.0\.0 is not a loopback address: set metrics\.tls .* or metrics\.allowRemote/);
  expect(refusal(() => loadConfig({ configFile: withFile({ metrics: { listen: '10.0.0.5:9464' } }) })).key).toBe('metrics.listen');
  expect(loadConfig({ configFile: withFile({ metrics: { listen: '0.0.0.0:9464', tls: true } }) }).metrics).toEqual({ host: '0.0.0.0', port: 9464, tls: true });
  expect(loadConfig({ configFile: withFile({ metrics: { listen: '0.0.0.0:9464', allowRemote: true } }) }).metrics).toEqual({ host: '0.0.0.0', port: 9464, tls: false });
});

test.each([
  [{ metrics: {} }, 'metrics.listen'],
  [{ metrics: { listen: 'nope' } }, 'metrics.listen'],
  [{ metrics: { listen: '127.0.0.1:9464', tls: 'yes' } }, 'metrics.tls'],
  [{ metrics: { listen: '127.0.0.1:9464', allowRemote: 1 } }, 'metrics.allowRemote'],
  [{ metrics: { listen: '127.0.0.1:9464', path: '/m' } }, 'metrics.path'],
  [{ metrics: '127.0.0.1:9464' }, 'metrics'],
  [{ listen: '127.0.0.1:5696', metrics: { listen: '127.0.0.1:5696' } }, 'metrics.listen'],
  [{ https: { listen: '127.0.0.1:8443' }, metrics: { listen: '127.0.0.1:8443' } }, 'metrics.listen'],
])('%j is refused naming %s', (json, key) => {
  expect(refusal(() => loadConfig({ configFile: withFile(json) })).key).toBe(key);
});
