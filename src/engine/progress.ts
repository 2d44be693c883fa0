import type CliProgress from 'cli-progress'
import { createRequire } from 'node:module'

export interface DownloadProgress {
  /** What is downloading, for people: `PostgreSQL 17.6`. */
  label: string
  phase: 'start' | 'data' | 'end' | 'error'
  received: number
  /** From Content-Length; undefined when the server does not say. */
  total: number | undefined
}

export type ProgressListener = (event: DownloadProgress) => void

export interface ProgressOptions {
  quiet?: boolean
  /** Defaults to stderr: stdout carries machine-readable output such as `pgrig up --json`. */
  stream?: NodeJS.WriteStream
}

/** Loaded when a bar is drawn (a download on a terminal), never by a run that downloads nothing. */
const loadCliProgress = () => createRequire(import.meta.url)('cli-progress') as typeof CliProgress

const mb = (bytes: number) => (bytes / 1_000_000).toFixed(1)

/** A bar on a terminal; on a pipe or CI log, a handful of plain lines instead of redraw noise. */
export function progressReporter(options: ProgressOptions = {}): ProgressListener {
  if (options.quiet) return () => {}
  const stream = options.stream ?? process.stderr
  return stream.isTTY ? barReporter(stream) : lineReporter(stream)
}

function barReporter(stream: NodeJS.WriteStream): ProgressListener {
  let bar: CliProgress.SingleBar | undefined
  const fallback = lineReporter(stream)
  return (event) => {
    if (event.total === undefined) return fallback(event)
    const payload = { receivedMb: mb(event.received), totalMb: mb(event.total) }
    if (event.phase === 'start') {
      const cliProgress = loadCliProgress()
      bar = new cliProgress.SingleBar(
        {
          stream,
          format: `Downloading ${event.label} [{bar}] {percentage}% {receivedMb}/{totalMb} MB`,
          barCompleteChar: '=',
          barIncompleteChar: ' ',
          barsize: 30,
          hideCursor: false,
        },
        cliProgress.Presets.legacy,
      )
      bar.start(event.total, event.received, payload)
    } else {
      bar?.update(event.received, payload)
      if (event.phase !== 'data') bar?.stop()
    }
  }
}

function lineReporter(stream: NodeJS.WriteStream): ProgressListener {
  let nextQuarter = 1
  return ({ label, phase, received, total }) => {
    const size = total === undefined ? '' : ` (${mb(total)} MB)`
    if (phase === 'start') {
      stream.write(`Downloading ${label}${size}\n`)
    } else if (phase === 'data' && total) {
      // Quarters only: a log line per chunk would bury everything else in a CI log.
      while (nextQuarter < 4 && received >= (total * nextQuarter) / 4) {
        stream.write(`Downloading ${label}: ${nextQuarter * 25}% (${mb(received)}/${mb(total)} MB)\n`)
        nextQuarter++
      }
    } else if (phase === 'end') {
      stream.write(`Downloaded ${label} (${mb(received)} MB)\n`)
    } else if (phase === 'error') {
      stream.write(`Download of ${label} failed after ${mb(received)} MB\n`)
    }
  }
}
