import { defineConfig } from 'vitest/config'
import { pgrig } from 'pgrig/vitest'

export default defineConfig({
  // The one line of setup: migrations and seed are built into a template once, every test gets a
  // clone of it as `db`, and each worker gets its own Redis database as `redis`.
  plugins: [pgrig({ migrations: './migrations', seed: './seed.sql', redis: true })],
  test: {
    include: ['test/**/*.test.ts'],
  },
})
