#!/usr/bin/env node
import { Command, CommanderError } from 'commander'
import { isPgrigError } from '../errors.js'
import { diskFull, isDiskFull } from '../servers/disk-full.js'
import { pgrigVersion } from '../report/environment.js'
import { registerCache } from './commands/cache.js'
import { registerChaos } from './commands/chaos.js'
import { registerDoctor } from './commands/doctor.js'
import { registerDown } from './commands/down.js'
import { registerEnv } from './commands/env.js'
import { registerInit } from './commands/init.js'
import { registerInstall } from './commands/install.js'
import { registerReport } from './commands/report.js'
import { registerRun } from './commands/run.js'
import { registerServe } from './commands/serve.js'
import { registerStatus } from './commands/status.js'
import { registerUp } from './commands/up.js'

const program = new Command('pgrig')
  .description('Real PostgreSQL for every test, in milliseconds, without Docker.')
  .version(pgrigVersion(), '-V, --version', "print pgrig's version")
  .enablePositionalOptions()
  .showHelpAfterError('(run pgrig --help for usage)')
  .exitOverride()

registerUp(program)
registerRun(program)
registerServe(program)
registerStatus(program)
registerEnv(program)
registerDown(program)
registerDoctor(program)
registerCache(program)
registerInstall(program)
registerChaos(program)
registerInit(program)
registerReport(program)

try {
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
