import { describe, expect, test } from 'vitest'
import {
  compareVersions,
  majorsOf,
  newestSatisfying,
  parseVersionRequest,
  satisfies,
  serverVersionOf,
} from './versions.js'

const published = [
  '14.3.0-alpha.21',
  '14.3.0-beta.6',
  '16.13.0-beta.16',
  '16.13.0-beta.17',
  '16.14.0-beta.17',
  '17.6.0-beta.15',
  '17.9.0-beta.16',
  '17.9.0-beta.17',
  '17.10.0-beta.17',
  '18.4.0-beta.17',
]

describe('parseVersionRequest', () => {
  test('reads the three request forms', () => {
    expect(parseVersionRequest(undefined)).toEqual({ kind: 'newest' })
    expect(parseVersionRequest('')).toEqual({ kind: 'newest' })
    expect(parseVersionRequest('17')).toEqual({ kind: 'prefix', parts: [17] })
    expect(parseVersionRequest('17.6')).toEqual({ kind: 'prefix', parts: [17, 6] })
    expect(parseVersionRequest('17.6.0-beta.15')).toEqual({ kind: 'exact', version: '17.6.0-beta.15' })
  })

  test('rejects what is not a version', () => {
    expect(() => parseVersionRequest('latest')).toThrow(
      expect.objectContaining({ code: 'E_UNKNOWN_VERSION' }),
    )
    expect(() => parseVersionRequest('17.x')).toThrow(/not a PostgreSQL version/)
  })
})

describe('matching', () => {
  test('compareVersions follows semver, prereleases included', () => {
    expect(compareVersions('17.10.0-beta.17', '17.9.0-beta.17')).toBeGreaterThan(0)
    expect(compareVersions('17.9.0-beta.17', '17.9.0-beta.16')).toBeGreaterThan(0)
    expect(compareVersions('14.3.0-beta.6', '14.3.0-alpha.21')).toBeGreaterThan(0)
    expect(compareVersions('18.0.0', '18.0.0-beta.15')).toBeGreaterThan(0)
    expect(compareVersions('18.4.0-beta.17', '18.4.0-beta.17')).toBe(0)
  })

  test('a request picks the newest package it covers', () => {
    const pick = (request: string | undefined) => newestSatisfying(published, parseVersionRequest(request))
    expect(pick(undefined)).toBe('18.4.0-beta.17')
    expect(pick('17')).toBe('17.10.0-beta.17')
    expect(pick('17.9')).toBe('17.9.0-beta.17')
    expect(pick('16.13')).toBe('16.13.0-beta.17')
    expect(pick('17.6.0-beta.15')).toBe('17.6.0-beta.15')
    expect(pick('14')).toBe('14.3.0-beta.6')
    expect(pick('99')).toBeUndefined()
    expect(pick('1')).toBeUndefined()
    expect(pick('17.6.0-beta.99')).toBeUndefined()
  })

  test('a major does not match by string prefix', () => {
    expect(satisfies('17.10.0-beta.17', parseVersionRequest('17.1'))).toBe(false)
    expect(satisfies('170.1.0-beta.1', parseVersionRequest('17'))).toBe(false)
  })

  test('majorsOf lists each major once, ascending', () => {
    expect(majorsOf(published)).toEqual([14, 16, 17, 18])
  })

  test('the server version drops the patch and prerelease', () => {
    expect(serverVersionOf('18.4.0-beta.17')).toEqual({ version: '18.4', major: 18 })
    expect(serverVersionOf('17.10.0-beta.17')).toEqual({ version: '17.10', major: 17 })
  })
})
