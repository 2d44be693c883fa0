import fs from 'node:fs'
import path from 'node:path'

export const PACKAGE_MANAGERS = ['npm', 'pnpm', 'yarn'] as const
export type PackageManager = (typeof PACKAGE_MANAGERS)[number]

/** How a project's package manager spells the commands the CI files need. */
export interface PackageManagerCommands {
  name: PackageManager
  /** Installs exactly what the lockfile says. */
  install: string
  /** Runs a binary from node_modules/.bin. */
  exec: string
  /** Runs a package.json script when the project has it, and does nothing otherwise. */
  runIfPresent: (script: string) => string
  lockfile: string
}

export function packageManagerCommands(name: PackageManager): PackageManagerCommands {
  switch (name) {
    case 'pnpm':
      return {
        name,
        install: 'pnpm install --frozen-lockfile',
        exec: 'pnpm exec',
        runIfPresent: (script) => `pnpm run --if-present ${script}`,
        lockfile: 'pnpm-lock.yaml',
      }
    case 'yarn':
      return {
        name,
        // Yarn 1 and Yarn 4 both accept it (Yarn 4 as an alias of --immutable).
        install: 'yarn install --frozen-lockfile',
        exec: 'yarn',
        // Yarn has no --if-present; npm, which ships with Node, runs the same package.json scripts.
        runIfPresent: (script) => `npm run --if-present ${script}`,
        lockfile: 'yarn.lock',
      }
    case 'npm':
      return {
        name,
        install: 'npm ci',
        exec: 'npx',
        runIfPresent: (script) => `npm run --if-present ${script}`,
        lockfile: 'package-lock.json',
      }
  }
}

/** The package manager a project uses: its `packageManager` field, else its lockfile, else npm. */
export function detectPackageManager(dir: string): PackageManager {
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
      packageManager?: unknown
    }
    const declared = typeof manifest.packageManager === 'string' ? manifest.packageManager.split('@')[0] : ''
    if ((PACKAGE_MANAGERS as readonly string[]).includes(declared ?? '')) return declared as PackageManager
  } catch {
    // no package.json (or not JSON): the lockfiles still tell
  }
  if (fs.existsSync(path.join(dir, 'pnpm-lock.yaml'))) return 'pnpm'
  if (fs.existsSync(path.join(dir, 'yarn.lock'))) return 'yarn'
  return 'npm'
}

/** Whether package.json pins the package manager (pnpm's setup action then needs no version). */
export function declaresPackageManager(dir: string): boolean {
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >
    return typeof manifest.packageManager === 'string'
  } catch {
    return false
  }
}
