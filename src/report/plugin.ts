import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Plugin } from 'vitest/config'
import type { TestProject, Vitest } from 'vitest/node'
import { isPgrigError, printedAsOneLine } from '../errors.js'
import { categoryDefinitions, resolvePolicy, type CategoryPolicy } from './categories.js'
import type { PolicyRecord } from './results.js'
import { PgrigReporter, reportDir, type PgrigReporterOptions } from './reporter.js'
import { REPORT_FILES } from './write.js'

export interface PgrigPluginOptions extends PgrigReporterOptions {
  /** Also write JUnit XML (`junit.xml` in the report folder) through Vitest's own junit reporter. Default true. */
  junit?: boolean
}

function setupFile(): string {
  // Built code runs from dist/report; the sources (in this repo's own tests) have no setup.js beside them.
  const beside = fileURLToPath(new URL('./setup.js', import.meta.url))
  return fs.existsSync(beside)
    ? beside
    : fileURLToPath(new URL('../../dist/report/setup.js', import.meta.url))
}

type ReporterEntry = Vitest['config']['reporters'][number]

function hasReporter(reporters: ReporterEntry[], name: string): boolean {
  return reporters.some((r) => r === name || (Array.isArray(r) && r[0] === name))
}

/**
 * pgrig's Vitest plugin: defines every category as a Vitest tag (with its timeout), skips the tests
 * the policy and `--only`/`--skip` leave out, and adds pgrig's reporter and Vitest's junit reporter.
 */
export function pgrigReport(options: PgrigPluginOptions = {}): Plugin {
  let policy: CategoryPolicy | undefined = options.policy
  return {
    name: 'pgrig:report',
    async config(user) {
      const root = user.root ?? process.cwd()
      if (!policy) {
        // Loaded only when needed: config validation pulls in zod, which a given policy does not need.
        const { loadConfig } = await import('../config/load.js')
        const loaded = await loadConfig(undefined, root)
        policy = (loaded?.config as { policy?: CategoryPolicy } | undefined)?.policy ?? {}
      }
      let resolved: PolicyRecord
      try {
        resolved = resolvePolicy(policy)
      } catch (error) {
        // A misspelt category is a user mistake: Vitest prints it as one line, no stack from deep inside Vite.
        throw isPgrigError(error) ? printedAsOneLine(error) : error
      }
      const defined = new Set((user.test?.tags ?? []).map((t) => t.name))
      const tags = categoryDefinitions(policy)
        .filter((c) => !defined.has(c.name))
        .map((c) => ({
          name: c.name,
          ...(c.description ? { description: c.description } : {}),
          ...(c.timeout !== undefined ? { timeout: c.timeout } : {}),
        }))
      return {
        test: {
          tags,
          setupFiles: [setupFile()],
          provide: { pgrigPolicy: resolved, pgrigCategories: categoryDefinitions(policy).map((c) => c.name) },
        },
      }
    },
    configureVitest({ vitest, project }: { vitest: Vitest; project: TestProject }) {
      // Only the root project owns the reporters; workspace projects share them.
      if (project.name && project !== vitest.getRootProject() && vitest.projects.length > 1) return
      const reporters = vitest.config.reporters
      if (!reporters.some((r) => r instanceof PgrigReporter)) {
        reporters.push(new PgrigReporter({ ...options, policy }))
      }
      if (options.junit !== false && !hasReporter(reporters, 'junit')) {
        const outputFile = `${reportDir(vitest.config.root, options.outDir)}/${REPORT_FILES.junit}`
        reporters.push(['junit', { outputFile }])
      }
    },
  }
}
