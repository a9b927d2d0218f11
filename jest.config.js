/** Type checking is done once by `tsc --noEmit` (scripts/test.sh); ts-jest only transpiles, which keeps the suite fast. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // test/slow/ (SLH-DSA s sets, PostgreSQL multi-node drills) and test/crash/ (the crash loops) run as
  // CI steps of their own (npm run test:slow, npm run test:crash), keeping npm test within its budget.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/slow/', '<rootDir>/test/crash/'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { diagnostics: false }],
    // The @noble packages (post-quantum, hashes, curves) ship ES modules only. Node 20 requires them
    // natively, but jest 29's module loader does not, so their JS is transpiled to CommonJS here.
    '^.+\\.js$': ['ts-jest', { diagnostics: false, tsconfig: { allowJs: true } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!@noble/)'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  testTimeout: 60000,
  globalSetup: '<rootDir>/test/helpers/global-setup.ts',
  setupFilesAfterEnv: ['<rootDir>/test/helpers/hsm-environment.ts'],
  globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
};
