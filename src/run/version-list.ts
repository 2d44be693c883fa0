import { PgrigError } from '../errors.js'

/** `15,16,17` → `['15', '16', '17']`; a repeated or empty entry is a typo worth one clear line. */
export function parseVersionList(raw: string): string[] {
  const versions = raw.split(',').map((v) => v.trim())
  if (versions.some((v) => v === '' || !/^\d+(\.\d+)*$/.test(v))) {
    throw new PgrigError(
      'E_USAGE',
      `--pg ${raw} is not a list of PostgreSQL versions; write majors separated by commas, e.g. --pg 15,16,17`,
    )
  }
  const repeated = versions.find((v, i) => versions.indexOf(v) !== i)
  if (repeated) throw new PgrigError('E_USAGE', `--pg ${raw} names ${repeated} twice; list each version once`)
  return versions
}
