#!/usr/bin/env node
import fs from 'node:fs'
import { Command, CommanderError } from 'commander'
import { isPgrigError } from '../errors.js'
import { diskFull, isDiskFull } from '../servers/disk-full.js'

type Register = (program: Command) => void

/**
 * Each command's module, loaded only when that command runs: `pgrig up` need not load the
 * reports, chaos proxy, CI templates or HTTP API of the others (about 600 modules for all, which a
 * new process paid before its first start). In the order `pgrig --help` lists them.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  up: async () => (await import('./commands/up.js')).registerUp,
  run: async () => (await import('./commands/run.js')).registerRun,
  serve: async () => (await import('./commands/serve.js')).registerServe,
  status: async () => (await import('./commands/status.js')).registerStatus,
  env: async () => (await import('./commands/env.js')).registerEnv,
  down: async () => (await import('./commands/down.js')).registerDown,
  doctor: async () => (await import('./commands/doctor.js')).registerDoctor,
  cache: async () => (await import('./commands/cache.js')).registerCache,
  install: async () => (await import('./commands/install.js')).registerInstall,
  chaos: async () => (await import('./commands/chaos.js')).registerChaos,
  init: async () => (await import('./commands/init.js')).registerInit,
  report: async () => (await import('./commands/report.js')).registerReport,
}

/** pgrig's own version: dist/cli/ and src/cli/ both sit two levels below package.json. */
function pgrigVersion(): string {
  try {
    const file = new URL('../../package.json', import.meta.url)
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

/**
 * The commands to register for these arguments: the one named first, or every one (for
 * `--help`, `help`, no command or an unknown one, so help and commander's messages list them all),
 * or none for `--version`.
 */
function commandsFor(args: string[]): string[] {
  const first = args[0]
  if (first === '-V' || first === '--version') return []
  if (first !== undefined && Object.hasOwn(COMMANDS, first)) return [first]
  return Object.keys(COMMANDS)
}

const program = new Command('pgrig')
  .description('Real PostgreSQL for every test, in milliseconds, without Docker.')
  .version(pgrigVersion(), '-V, --version', "print pgrig's version")
  .enablePositionalOptions()
  .showHelpAfterError('(run pgrig --help for usage)')
  .exitOverride()

try {
  const names = commandsFor(process.argv.slice(2))
  const registers = await Promise.all(names.map((name) => COMMANDS[name]!()))
  for (const register of registers) register(program)
  await program.parseAsync(process.argv)
} catch (error) {
  if (error instanceof CommanderError) {
    // commander already printed its one-line message (or the help/version it was asked for)
    process.exitCode = error.exitCode
  } else if (isPgrigError(error)) {
    process.stderr.write(`pgrig: ${error.message}\n`)
    process.exitCode = error.exitCode
  } else if (isDiskFull(error)) {
    // A full disk is the machine's state, not a bug: one line wherever the write was.
    const where = (error as { path?: string }).path ?? process.cwd()
    process.stderr.write(`pgrig: ${diskFull('writing', where, error).message}\n`)
    process.exitCode = 1
  } else {
    // not a user mistake: the stack is what a bug report needs
    console.error(error)
    process.exitCode = 1
  }
}
