import { randomBytes } from 'node:crypto'

/** URL-safe, so it can sit in a connection URL without escaping surprises in other tools. */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url')
}
