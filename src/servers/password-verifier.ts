import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto'
import { promisify } from 'node:util'

const pbkdf2Async = promisify(pbkdf2)

/**
 * PostgreSQL's default `scram_iterations` (RFC 7677's minimum), for every password, generated ones
 * too: a lower count would be as safe against a 144-bit generated password, but clients refuse it
 * (Go's lib/pq: `server sent an invalid SCRAM-SHA-256 iteration count: "i=16"`). What it costs per
 * connection: `npm run bench:connect` and docs/speed.md.
 */
export const SCRAM_ITERATIONS = 4096

/**
 * The stored form of a role's password, computed here while the server is still starting, so
 * setting the password is a catalog write instead of a PBKDF2 run on the server's critical path.
 * PostgreSQL stores a pre-hashed `PASSWORD` as given. Returns the plain password when only the
 * server can hash it faithfully: SASLprep normalises non-ASCII passwords, which we do not redo.
 */
export async function passwordVerifier(
  user: string,
  password: string,
  encryption: 'scram-sha-256' | 'md5',
  iterations = SCRAM_ITERATIONS,
): Promise<string> {
  if (!/^[\x20-\x7e]*$/.test(password)) return password
  if (encryption === 'md5') {
    return `md5${createHash('md5')
      .update(password + user)
      .digest('hex')}`
  }
  const salt = randomBytes(16)
  const salted = await pbkdf2Async(password, salt, iterations, 32, 'sha256')
  const clientKey = createHmac('sha256', salted).update('Client Key').digest()
  const storedKey = createHash('sha256').update(clientKey).digest('base64')
  const serverKey = createHmac('sha256', salted).update('Server Key').digest('base64')
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey}:${serverKey}`
}
