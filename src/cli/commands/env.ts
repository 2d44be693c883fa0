import type { Command } from 'commander'
import { connectionEnv } from '../../servers/connection-env.js'
import { PgrigError } from '../../errors.js'
import { defaultServer, runningServers, runningServices } from '../running.js'

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`
}

/**
 * A value as a dotenv line reads it back exactly, with the dotenv npm package and python-dotenv
 * alike. Neither unescapes the same way (npm's dotenv takes single quotes literally and turns only
 * `\n` / `\r` in double quotes into line breaks; python-dotenv unescapes `\\` and `\'` in single
 * quotes, every escape in double quotes, and expands `${…}` in both), so: single quotes, or double
 * quotes for a value with a `'`, or a one-line refusal for what no quoting carries through both.
 */
export function dotenvQuote(key: string, value: string): string {
  const carried = !/[\r\n]/.test(value) && !value.includes('${')
  if (carried && !value.includes("'") && !/\\[\\']|\\$/.test(value)) return `'${value}'`
  if (carried && !/["\\]/.test(value)) return `"${value}"`
  const holds = /[\r\n]/.test(value)
    ? 'a line break'
    : value.includes('${')
      ? '${ (python-dotenv expands it)'
      : 'quotes and backslashes'
  throw new PgrigError(
    'E_USAGE',
    `the value of ${key} holds ${holds}, which no dotenv quoting reads back the same in both the dotenv npm package and python-dotenv; use pgrig env --format json (or sh), or choose another password`,
  )
}

export function formatEnv(env: Record<string, string>, format: string): string {
  if (format === 'json') return JSON.stringify(env, null, 2) + '\n'
  const entries = Object.entries(env)
  if (format === 'dotenv') return entries.map(([k, v]) => `${k}=${dotenvQuote(k, v)}`).join('\n') + '\n'
  return entries.map(([k, v]) => `export ${k}=${shellQuote(v)}`).join('\n') + '\n'
}

export function registerEnv(program: Command): void {
  program
    .command('env')
    .description('print connection variables of running servers (eval "$(npx pgrig env)")')
    .option('--name <name>', 'the server whose values go into DATABASE_URL and PG*')
    .option('--format <format>', 'sh | dotenv | json', 'sh')
    .option(
      '--config <file>',
      'config file whose first server is the default (default: pgrig.config.{ts,js,json} here)',
    )
    .action(async (flags: { name?: string; format: string; config?: string }) => {
      if (!['sh', 'dotenv', 'json'].includes(flags.format)) {
        throw new PgrigError('E_USAGE', `--format ${flags.format} is not known; use sh, dotenv or json`)
      }
      const live = runningServers().filter((s) => s.alive)
      if (live.length === 0) {
        throw new PgrigError('E_NOT_RUNNING', 'no pgrig server is running; start one with npx pgrig up')
      }
      const chosen = await defaultServer(live, flags)
      if (!chosen) {
        throw new PgrigError(
          'E_NOT_RUNNING',
          `no running server is named ${flags.name} (running: ${live.map((s) => s.server.name).join(', ')}); pick one of those with --name`,
        )
      }
      // Inside pgrig run, only the run's own servers: an unrelated pgrig up's never leak into PGRIG_<NAME>_*.
      const inRun = live.filter(
        (s) => s.run.runId === chosen.runId && chosen.runId === process.env.PGRIG_RUN_ID,
      )
      const servers = (inRun.length > 0 ? inRun : live).map((s) => s.server)
      const ordered = [chosen.server, ...servers.filter((s) => s !== chosen.server)]
      const note = `# DATABASE_URL and PG*: server ${chosen.server.name}, ${chosen.why}\n`
      // The services' own variables (S3_ENDPOINT_URL, …), as pgrig run exports them; the connection wins a clash.
      const services = runningServices().filter((s) => s.state !== 'stopped')
      const serviceEnv = Object.assign({}, ...services.map((s) => s.service.env)) as Record<string, string>
      const env = formatEnv({ ...serviceEnv, ...connectionEnv(ordered) }, flags.format)
      // sh and dotenv read a # line as a comment; JSON has none, so there the note goes to stderr.
      if (flags.format === 'json') process.stderr.write(note)
      process.stdout.write(flags.format === 'json' ? env : note + env)
    })
}
