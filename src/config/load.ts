import fs from 'node:fs'
import path from 'node:path'
import { PgrigError } from '../errors.js'
import { parseConfig } from './resolve.js'
import type { PgrigConfig } from './schema.js'

export const CONFIG_NAMES = [
  'pgrig.config.ts',
  'pgrig.config.mts',
  'pgrig.config.js',
  'pgrig.config.mjs',
  'pgrig.config.cjs',
  'pgrig.config.json',
]

export interface LoadedConfig {
  file: string
  config: PgrigConfig
}

export function findConfigFile(cwd = process.cwd()): string | undefined {
  return CONFIG_NAMES.map((name) => path.join(cwd, name)).find((file) => fs.existsSync(file))
}

/** Loads `pgrig.config.*` (TypeScript through jiti, so users need no build step), validated. */
export async function loadConfig(explicit?: string, cwd = process.cwd()): Promise<LoadedConfig | undefined> {
  const file = explicit ? path.resolve(cwd, explicit) : findConfigFile(cwd)
  if (!file) return undefined
  if (!fs.existsSync(file)) {
    throw new PgrigError('E_CONFIG_NOT_FOUND', `config file ${file} does not exist; check the --config path`)
  }
  const name = path.basename(file)
  let raw: unknown
  try {
    if (file.endsWith('.json')) {
      raw = JSON.parse(fs.readFileSync(file, 'utf8'))
    } else {
      const { createJiti } = await import('jiti')
      const jiti = createJiti(import.meta.url, { moduleCache: false })
      raw = await jiti.import(file, { default: true })
    }
  } catch (error) {
    if (error instanceof PgrigError) throw error
    const reason = (error as Error).message.split('\n')[0]
    throw new PgrigError(
      'E_CONFIG_INVALID',
      `${name} could not be loaded: ${reason}; fix the file so it exports a config`,
    )
  }
  return { file, config: parseConfig(raw, name) }
}
