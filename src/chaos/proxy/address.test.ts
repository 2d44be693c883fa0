import { describe, expect, test } from 'vitest'
import { proxiedUrl, splitHostPort } from './address.js'

describe('proxiedUrl', () => {
  test('keeps user, password, database and TLS params; swaps host:port', () => {
    const url =
      'postgresql://app:s%40cret@127.0.0.1:5432/app_db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem'
    expect(proxiedUrl(url, { host: '127.0.0.1', port: 40001 })).toBe(
      'postgresql://app:s%40cret@127.0.0.1:40001/app_db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem',
    )
    expect(proxiedUrl('postgres://u@localhost/db', { host: '::1', port: 7 })).toBe('postgres://u@[::1]:7/db')
  })

  test('splitHostPort reads host:port and [v6]:port, refuses the rest', () => {
    expect(splitHostPort('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 })
    expect(splitHostPort('[::1]:5432')).toEqual({ host: '::1', port: 5432 })
    expect(splitHostPort('localhost')).toBeUndefined()
    expect(splitHostPort('h:99999')).toBeUndefined()
  })
})
