import { describe, expect, test } from 'vitest'
import { databaseUrls, withDatabase } from './libpq-url.js'

describe('databaseUrls', () => {
  const urls = [
    'postgres://app:s3cret@127.0.0.1:5432/postgres',
    'postgresql://app:p%40ss%2Fw0rd@localhost:6543/app?sslmode=disable&application_name=x',
    'postgres://u:p@/postgres?host=/tmp/pgrig-sock&port=5433',
    'postgres:///postgres?host=%2Frun%2Fpostgresql',
    'postgres://[::1]:5432/db#frag',
    'postgres://app@127.0.0.1',
  ]
  const names = ['pgrig_abc123_7', 'Mixed Case', 'with/slash?and#hash', 'üñï', '']

  test.each(urls)('names each database as withDatabase does: %s', (url) => {
    const urlOf = databaseUrls(url)
    for (const name of names) expect(urlOf(name)).toBe(withDatabase(url, name))
  })
})
