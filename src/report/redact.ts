import { redactUrl } from '../cluster/server-info.js'

const URL_WITH_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]+):([^\s@'"]+)@/gi

/** Passwords the run knows about: libpq's and pgrig's variables, and those inside connection URLs. */
export function knownPasswords(env: NodeJS.ProcessEnv = process.env): string[] {
  const found = new Set<string>()
  for (const [key, value] of Object.entries(env)) {
    if (!value) continue
    if (key === 'PGPASSWORD' || (key.startsWith('PGRIG_') && key.endsWith('_PASSWORD'))) found.add(value)
    if (key === 'DATABASE_URL' || (key.startsWith('PGRIG_') && key.endsWith('_URL'))) {
      try {
        const password = decodeURIComponent(new URL(value).password)
        if (password) found.add(password)
      } catch {
        // not a URL: nothing to learn from it
      }
    }
  }
  for (const password of [...found]) found.add(encodeURIComponent(password))
  // Very short values would blank out ordinary words; pgrig's generated passwords are long.
  return [...found].filter((p) => p.length >= 6).sort((a, b) => b.length - a.length)
}

/** Returns a function that hides every URL password and every known password in a piece of text. */
export function createRedactor(passwords: string[] = knownPasswords()): (text: string) => string {
  return (text) => {
    let out = text.replace(URL_WITH_PASSWORD, (_match, head: string) => `${head}:***@`)
    for (const password of passwords) out = out.split(password).join('***')
    return out
  }
}

export { redactUrl }
