/**
 * Tests that need something of the machine (a tmpfs mount, an openssl binary, ...). Where it is
 * missing, a developer's run skips them and says why; a CI run (CI set, as .ci/run does) fails
 * them naming what is missing, so that a green CI never means "not run" (docs/testing.md).
 */

/** True under CI: the CI variable set to anything but "", "0" or "false". */
export function underCi(): boolean {
  const ci = process.env['CI'];
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

type TestBody = jest.ProvidesCallback;

export interface Required {
  /** `test` where the requirement holds; otherwise a skip (a failure under CI). */
  readonly test: (name: string, body: TestBody, timeoutMs?: number) => void;
  /** `describe` where the requirement holds; otherwise a skip (one failing test under CI). */
  readonly describe: (name: string, body: () => void) => void;
}

/**
 * `what` names the requirement ("a tmpfs mount", "openssl"); `missing` is undefined when it is
 * there, else why not (the probe's error) and how to get it.
 */
export function requireEnvironment(what: string, missing: string | undefined): Required {
  if (missing === undefined) return { test: (name, body, timeoutMs) => test(name, body, timeoutMs), describe };
  const message = `needs ${what}, which is missing here: ${missing}`;
  if (underCi()) {
    const fail = (name: string): void =>
      test(`${name} (${message})`, () => {
        throw new Error(`CI does not skip: ${message}`);
      });
    return { test: (name) => fail(name), describe: (name) => describe(name, () => fail('requirement')) };
  }
  // eslint-disable-next-line no-console
  console.warn(`skipped (outside CI): ${message}`);
  return {
    test: (name, body, timeoutMs) => test.skip(`${name} (skipped: ${message})`, body, timeoutMs),
    describe: (name, body) => describe.skip(`${name} (skipped: ${message})`, body),
  };
}

/** Undefined when `probe` runs without throwing, else its error's first line. */
export function probeError(probe: () => unknown): string | undefined {
  try {
    probe();
    return undefined;
  } catch (e) {
    const err = e as { stderr?: Buffer | string; message?: string };
    const text = (err.stderr?.toString().trim() || err.message || String(e)).split('\n')[0];
    return text;
  }
}
