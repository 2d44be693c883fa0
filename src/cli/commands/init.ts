import fs from 'node:fs'
import path from 'node:path'
import { Option, type Command } from 'commander'
import { CI_TARGETS, parseTargets, planCi, writeCiFiles } from '../../ci/init-ci.js'
import { PACKAGE_MANAGERS, type PackageManager } from '../../ci/package-manager.js'
import { loadConfig } from '../../config/load.js'
import { PgrigError } from '../../errors.js'

interface InitCiFlags {
  pg?: string
  shards?: string
  packageManager?: PackageManager
  node?: string
  only?: string
  dir?: string
  force?: boolean
  dryRun?: boolean
  config?: string
  testCommand?: string
  integrationGlob?: string
}

export function registerInit(program: Command): void {
  const init = program.command('init').description('generate files for your repository')
  init
    .command('ci')
    .description(
      'CI files that run your tests against real PostgreSQL: GitHub, GitLab, Jenkins, Makefile, env example',
    )
    .option('--pg <versions>', 'PostgreSQL majors of the matrix', '15,16,17')
    .option('--shards <n>', 'test shards per PostgreSQL major', '2')
    .addOption(
      new Option('--package-manager <pm>', 'default: from the lockfile').choices([...PACKAGE_MANAGERS]),
    )
    .option('--node <major>', 'Node.js major the jobs run on', '20')
    .option('--only <files>', `which files (${CI_TARGETS.join(',')})`)
    .option(
      '--test-command <command>',
      'the command that runs your tests (default: found from package.json, the runner config, pytest)',
    )
    .option(
      '--integration-glob <glob>',
      'the integration test files (default: *.integration.test.* when there are some, else every test)',
    )
    .option('--dir <dir>', 'the repository to write into', '.')
    .option('--force', 'overwrite files that exist')
    .option('--dry-run', 'print what would be written, write nothing')
    .option(
      '--config <file>',
      "config whose services' variables the files list (default: pgrig.config.* in --dir)",
    )
    .action(async (flags: InitCiFlags) => {
      const shards = Number(flags.shards)
      if (!Number.isInteger(shards))
        throw new PgrigError('E_USAGE', `--shards ${flags.shards} is not a whole number`)
      // The project is read (its runner, its tests) before anything is written: a file there is one line.
      const dir = flags.dir ?? '.'
      if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory())
        throw new PgrigError(
          'E_USAGE',
          `--dir ${flags.dir} is a file, not a folder; give the repository's folder`,
        )
      // --config is relative to where it was typed; without it, the config is the repository's own.
      const loaded = await loadConfig(flags.config && path.resolve(flags.config), flags.dir)
      const { files, warning } = planCi({
        dir: flags.dir,
        ...(flags.testCommand !== undefined ? { testCommand: flags.testCommand } : {}),
        ...(flags.integrationGlob !== undefined ? { integrationGlob: flags.integrationGlob } : {}),
        ...(loaded?.config.services ? { services: loaded.config.services } : {}),
        pg: flags.pg,
        shards,
        node: flags.node,
        ...(flags.packageManager ? { packageManager: flags.packageManager } : {}),
        ...(flags.only ? { only: parseTargets(flags.only) } : {}),
      })
      if (flags.dryRun) {
        for (const file of files) process.stdout.write(`--- ${file.path} (would write)\n${file.content}\n`)
      } else {
        for (const written of writeCiFiles(files, { dir: flags.dir, force: flags.force === true })) {
          process.stderr.write(`pgrig: wrote ${written}\n`)
        }
      }
      // The files are written all the same, exit 0: their jobs fail on zero tests, so nothing passes quietly.
      if (warning) process.stderr.write(`pgrig: warning: ${warning}\n`)
    })
}
