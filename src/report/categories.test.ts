import { describe, expect, test } from 'vitest'
import { categoriesOf, categoryDefinitions, failureAllowed, resolvePolicy, skipReason } from './categories.js'

const known = new Set(['smoke', 'corruption', 'destructive', 'slow'])

describe('categories and policy', () => {
  test('name markers count only for known categories; tags always count', () => {
    expect(categoriesOf(['custom'], ['returns [id] rows [smoke]', 'pages [corruption]'], known)).toEqual([
      'corruption',
      'custom',
      'smoke',
    ])
  })

  test('must-pass wins over allowed-to-fail; untagged failures are never allowed', () => {
    const policy = resolvePolicy({ mustPass: ['smoke'], allowedToFail: ['corruption'] }, {})
    expect(failureAllowed(['corruption'], policy)).toBe(true)
    expect(failureAllowed(['corruption', 'smoke'], policy)).toBe(false)
    expect(failureAllowed([], policy)).toBe(false)
  })

  test('destructive runs only when asked by name or with --only all; --skip wins over --only', () => {
    expect(skipReason(['destructive'], resolvePolicy({}, {}))).toMatch(/run only when asked/)
    expect(skipReason(['destructive'], resolvePolicy({}, { PGRIG_ONLY: 'destructive' }))).toBeUndefined()
    expect(skipReason(['destructive'], resolvePolicy({}, { PGRIG_ONLY: 'all' }))).toBeUndefined()
    expect(skipReason([], resolvePolicy({}, { PGRIG_ONLY: 'all' }))).toBeUndefined()
    expect(skipReason([], resolvePolicy({}, { PGRIG_ONLY: 'smoke' }))).toMatch(
      /not in the selected categories/,
    )
    expect(skipReason(['smoke'], resolvePolicy({}, { PGRIG_ONLY: 'smoke', PGRIG_SKIP: 'smoke' }))).toMatch(
      /--skip smoke/,
    )
  })

  test('a category the policy names under allowedToFail, mustPass or skip is defined by it', () => {
    const policy = { allowedToFail: ['flaky'], mustPass: ['billing'], skip: ['nightly'] }
    expect(categoryDefinitions(policy).map((c) => c.name)).toEqual(
      expect.arrayContaining(['flaky', 'billing', 'nightly']),
    )
    const resolved = resolvePolicy(policy, { PGRIG_SKIP: 'flaky' })
    expect(resolved.skipSelected).toEqual(['flaky'])
    expect(failureAllowed(['flaky'], resolved)).toBe(true)
  })

  test('a selection naming an unknown category, or a malformed name, is refused with the reason', () => {
    expect(() => resolvePolicy({}, { PGRIG_ONLY: 'corupt' })).toThrow(/category "corupt" is not defined/)
    // One letter away from a defined category: a typo, not a new category.
    expect(() => resolvePolicy({ mustPass: ['smokee'] }, {})).toThrow(/category "smokee" is not defined/)
    expect(() => resolvePolicy({ categories: ['billing'], allowedToFail: ['biling'] }, {})).toThrow(
      /category "biling" is not defined/,
    )
    expect(() => resolvePolicy({ categories: ['Bad Name'] }, {})).toThrow(
      /category "Bad Name" is not a valid name/,
    )
    expect(() => resolvePolicy({}, { PGRIG_SKIP: 'sm oke' })).toThrow(/category "sm oke" is not a valid name/)
  })
})
