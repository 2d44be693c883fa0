import { expect, test } from 'vitest'
import { serverTargets } from './environment.js'

test("a server's PGRIG_<NAME>_SUPERUSER_URL is its superuser, not a server called <name>-superuser", () => {
  const env = {
    PGRIG_MAIN_URL: 'postgresql://app:x@127.0.0.1:5432/app',
    PGRIG_MAIN_SUPERUSER_URL: 'postgresql://postgres:y@127.0.0.1:5432/app',
    // A server really named `audit-superuser` (no PGRIG_AUDIT_URL beside it) is still a server.
    PGRIG_AUDIT_SUPERUSER_URL: 'postgresql://app:z@127.0.0.1:5433/app',
  }
  expect(serverTargets(env).map((t) => t.name)).toEqual(['audit-superuser', 'main'])
})
