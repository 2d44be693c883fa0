import { configDefaults, defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // The fixture projects' own tests run under their own runner, started by the tests that use them.
    exclude: [...configDefaults.exclude, 'test/fixtures/**'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Servers are real processes; two cores here, so keep files from starving each other.
    maxWorkers: 2,
  },
})
