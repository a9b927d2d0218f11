/** test/slow/ only (npm run test:slow): what CI runs as its own step, outside npm test's time budget. */
const base = require('./jest.config');

module.exports = { ...base, roots: ['<rootDir>/test/slow'], testPathIgnorePatterns: ['/node_modules/'] };
