// What `require('pgrig')` (or any pgrig entry) gets in a CommonJS project: pgrig is ESM only, and
// this says what to change in one line rather than failing on its first `import` statement.
const message =
  'pgrig is an ES module and this file loads it with require() (CommonJS): add "type": "module" to package.json ' +
  "(or name the file .mts/.mjs); with ts-jest, use preset 'ts-jest/presets/default-esm', a tsconfig with " +
  '"module": "ESNext", NODE_OPTIONS=--experimental-vm-modules, and Jest\'s globalSetup/globalTeardown as .mjs files ' +
  '(Jest loads TypeScript ones as CommonJS)'
const error = Object.assign(new Error(message), { code: 'ERR_PGRIG_ESM_ONLY' })
// The line is the whole story: no stack of loader frames under it.
error.stack = `Error: ${message}`
throw error
