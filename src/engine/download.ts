import { createHash, type Hash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as NodeReadableStream } from 'node:stream/web'
import { PgrigError } from '../errors.js'
import type { ProgressListener } from './progress.js'
import { describeNetworkError, type PackumentVersion } from './registry.js'

interface Expected {
  algorithm: 'sha512' | 'sha1'
  digest: string
  encoding: 'base64' | 'hex'
  shown: string
}

/** Prefer the sha512 SRI npm publishes; very old packages only have a sha1 shasum. */
function expectedDigest(dist: PackumentVersion['dist']): Expected | undefined {
  const sri = dist.integrity?.split(/\s+/).find((entry) => entry.startsWith('sha512-'))
  if (sri) return { algorithm: 'sha512', digest: sri.slice(7), encoding: 'base64', shown: sri }
  if (dist.shasum) return { algorithm: 'sha1', digest: dist.shasum, encoding: 'hex', shown: dist.shasum }
  return undefined
}

/** Streams the tarball to `file`, hashing as it goes, and refuses it unless the digest matches. */
export async function downloadVerified(
  dist: PackumentVersion['dist'],
  file: string,
  label: string,
  onProgress: ProgressListener = () => {},
): Promise<void> {
  const expected = expectedDigest(dist)
  if (!expected) {
    throw new PgrigError(
      'E_ENGINE_INSTALL',
      `the registry lists no checksum for ${dist.tarball}, so pgrig will not install it; pick another version or use engine system`,
    )
  }
  let received = 0
  let total: number | undefined
  try {
    const response = await fetch(dist.tarball)
    if (!response.ok || !response.body) {
      throw new Error(`HTTP ${response.status} ${response.statusText}`)
    }
    const length = Number(response.headers.get('content-length'))
    total = length > 0 ? length : undefined
    const hash: Hash = createHash(expected.algorithm)
    onProgress({ label, phase: 'start', received, total })
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk)
        received += chunk.length
        onProgress({ label, phase: 'data', received, total })
        callback(null, chunk)
      },
    })
    const body = Readable.fromWeb(response.body as unknown as NodeReadableStream<Uint8Array>)
    await pipeline(body, meter, createWriteStream(file))
    const actual = hash.digest(expected.encoding)
    if (actual !== expected.digest) {
      const shown = expected.algorithm === 'sha512' ? `sha512-${actual}` : actual
      throw new PgrigError(
        'E_ENGINE_INSTALL',
        `${dist.tarball} does not match the registry's checksum (expected ${expected.shown}, got ${shown}); the download was corrupted or altered on the way, so retry or check your registry mirror`,
      )
    }
    onProgress({ label, phase: 'end', received, total })
  } catch (error) {
    onProgress({ label, phase: 'error', received, total })
    if (error instanceof PgrigError) throw error
    throw new PgrigError(
      'E_ENGINE_INSTALL',
      `downloading ${dist.tarball} failed (${describeNetworkError(error)}); check the network or npm_config_registry and retry, or use engine system`,
      { cause: error },
    )
  }
}
