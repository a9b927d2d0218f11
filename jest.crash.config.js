/** test/crash/ only (npm run test:crash): the crash loops CI runs as their own step, with 20 kills. */
const base = require('./jest.config');

module.exports = { ...base, roots: ['<rootDir>/test/crash'], testPathIgnorePatterns: ['/node_modules/'] };
