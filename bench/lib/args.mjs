// Command-line options of the benches: `--name value` or `--name=value`.
const argv = process.argv.slice(2)

/** The value of `--name`, or undefined. */
export function arg(name) {
  const at = argv.indexOf(`--${name}`)
  return at >= 0 ? argv[at + 1] : argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
}

/** A positive whole number given as `--name`, else `fallback`; anything else stops the bench in one line. */
export function intArg(name, fallback) {
  const raw = arg(name)
  if (raw === undefined) return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 1) {
    console.error(`--${name} wants a positive whole number, got ${raw}`)
    process.exit(2)
  }
  return value
}

/** Whether the bare flag `--name` was given. */
export const flag = (name) => argv.includes(`--${name}`)
