import { X509Certificate, createPrivateKey, randomBytes, type KeyObject } from 'node:crypto'
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type * as X509 from '@peculiar/x509'
import { PgrigError } from '../errors.js'
import { makeDir } from './make-dir.js'
import { assertSafeFolder } from './safe-folder.js'
import { isAlive } from './process-alive.js'

export interface CertFiles {
  dir: string
  caFile: string
  caKeyFile: string
  serverCertFile: string
  serverKeyFile: string
  clientCertFile: string
  clientKeyFile: string
}

const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' }
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' }
const HOUR = 3_600_000
const VALIDITY = 2 * 365 * 24 * HOUR
// Renew a week early so a reused directory never hands out a certificate that expires mid-run.
const RENEW_MARGIN = 7 * 24 * HOUR
// A lock whose holder left no pid (it died between mkdir and writing it) is broken after this long.
const STALE_LOCK = 10_000
const REUSED_PID_LOCK = 5 * 60_000

let x509Module: Promise<typeof X509> | undefined
/** Loaded on first use: only TLS servers need it, and it is not small. */
function loadX509(): Promise<typeof X509> {
  // @peculiar/x509 loads tsyringe, which needs the reflect-metadata API in place first.
  return (x509Module ??= import('reflect-metadata').then(() => import('@peculiar/x509')))
}

interface Pair {
  cert: X509Certificate
  key: KeyObject
}

interface Ca extends Pair {
  name: X509.Name
  signingKey: CryptoKey
}

/** A certificate and its key from disk, or undefined when either is missing, unreadable or they don't match. */
async function readPair(certFile: string, keyFile: string): Promise<Pair | undefined> {
  await assertPrivate(keyFile)
  try {
    const cert = new X509Certificate(await readFile(certFile))
    const key = createPrivateKey(await readFile(keyFile))
    return cert.checkPrivateKey(key) ? { cert, key } : undefined
  } catch {
    return undefined
  }
}

/** A key others can read is no secret any more: pgrig neither uses nor silently replaces it. */
async function assertPrivate(keyFile: string): Promise<void> {
  let mode: number
  try {
    mode = (await stat(keyFile)).mode
  } catch {
    return // none yet: pgrig makes it, 0600
  }
  if ((mode & 0o077) === 0) return
  throw new PgrigError(
    'E_TLS_CONFIG',
    `refusing the private key ${keyFile}: its mode ${(mode & 0o777).toString(8).padStart(4, '0')} lets others read it; chmod 600 it, or remove it to let pgrig make a new one`,
  )
}

function fresh(cert: X509Certificate): boolean {
  const now = Date.now()
  return Date.parse(cert.validFrom) <= now && Date.parse(cert.validTo) - now > RENEW_MARGIN
}

function issuedBy(cert: X509Certificate, ca: X509Certificate): boolean {
  return cert.checkIssued(ca) && cert.verify(ca.publicKey)
}

async function commonName(cert: X509Certificate): Promise<string | undefined> {
  const x509 = await loadX509()
  return new x509.X509Certificate(cert.raw).subjectName.getField('CN')[0]
}

/** Positive (top bit clear) and minimally encoded (first byte non-zero). */
function serialNumber(): string {
  const bytes = randomBytes(16)
  bytes[0] = (bytes.readUInt8(0) & 0x7f) | 0x01
  return bytes.toString('hex')
}

function validity(): { notBefore: Date; notAfter: Date } {
  // Backdated so a client whose clock lags a little still accepts the certificate.
  const now = Date.now()
  return { notBefore: new Date(now - HOUR), notAfter: new Date(now + VALIDITY) }
}

/** Temp file + rename: a concurrent reader sees the old file or the new one, never half of one. */
async function writeAtomic(file: string, data: string | Buffer, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    await writeFile(tmp, data, { mode })
    // The umask may have cleared bits of `mode`; libpq and PostgreSQL check key modes exactly.
    await chmod(tmp, mode)
    await rename(tmp, file)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
}

/** Key first: a crash between the two renames leaves a mismatched pair, which readPair rejects. */
async function writePair(certFile: string, keyFile: string, cert: X509.X509Certificate, key: CryptoKey) {
  const x509 = await loadX509()
  const pkcs8 = await globalThis.crypto.subtle.exportKey('pkcs8', key)
  await writeAtomic(keyFile, x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), 0o600)
  await writeAtomic(certFile, cert.toString('pem'), 0o644)
}

function generateKeys(): Promise<CryptoKeyPair> {
  return globalThis.crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify'])
}

async function loadCa(certFile: string, keyFile: string): Promise<Ca | undefined> {
  const pair = await readPair(certFile, keyFile)
  if (!pair || !pair.cert.ca || !fresh(pair.cert)) return undefined
  const x509 = await loadX509()
  const der = pair.key.export({ type: 'pkcs8', format: 'der' })
  const signingKey = await globalThis.crypto.subtle.importKey('pkcs8', der, EC_KEY, false, ['sign'])
  return { ...pair, name: new x509.X509Certificate(pair.cert.raw).subjectName, signingKey }
}

async function createCa(certFile: string, keyFile: string): Promise<Ca> {
  const x509 = await loadX509()
  const keys = await generateKeys()
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: [{ CN: [`pgrig test CA ${randomBytes(4).toString('hex')}`] }],
    keys,
    serialNumber: serialNumber(),
    ...validity(),
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  })
  await writePair(certFile, keyFile, cert, keys.privateKey)
  return (await loadCa(certFile, keyFile))!
}

async function issue(
  ca: Ca,
  certFile: string,
  keyFile: string,
  commonName: string,
  extensions: X509.Extension[],
): Promise<void> {
  const x509 = await loadX509()
  const keys = await generateKeys()
  const cert = await x509.X509CertificateGenerator.create({
    subject: [{ CN: [commonName] }],
    issuer: ca.name,
    publicKey: keys.publicKey,
    signingKey: ca.signingKey,
    serialNumber: serialNumber(),
    ...validity(),
    signingAlgorithm: SIGNING,
    extensions: [
      await x509.AuthorityKeyIdentifierExtension.create(
        ca.cert.publicKey.export({ type: 'spki', format: 'der' }),
      ),
      ...extensions,
    ],
  })
  await writePair(certFile, keyFile, cert, keys.privateKey)
}

async function generate(dir: string, clientUser: string): Promise<CertFiles> {
  const x509 = await loadX509()
  const file = (name: string) => join(dir, name)
  const caFile = file('ca.crt')
  const caKeyFile = file('ca.key')
  const ca = (await loadCa(caFile, caKeyFile)) ?? (await createCa(caFile, caKeyFile))
  const usable = (pair: Pair | undefined): pair is Pair =>
    pair !== undefined && fresh(pair.cert) && issuedBy(pair.cert, ca.cert)

  const serverCertFile = file('server.crt')
  const serverKeyFile = file('server.key')
  if (!usable(await readPair(serverCertFile, serverKeyFile))) {
    await issue(ca, serverCertFile, serverKeyFile, 'localhost', [
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
        { type: 'ip', value: '::1' },
      ]),
    ])
  }

  // client.crt belongs to whichever user asked first; other users get their own file beside it
  // rather than taking it over from under a server or client already configured with it.
  let clientCertFile = file('client.crt')
  let clientKeyFile = file('client.key')
  const shared = await readPair(clientCertFile, clientKeyFile)
  if (shared && (await commonName(shared.cert)) !== clientUser) {
    // Encoded so a role name can't escape the directory or collide with another role's file.
    const suffix = encodeURIComponent(clientUser)
    clientCertFile = file(`client-${suffix}.crt`)
    clientKeyFile = file(`client-${suffix}.key`)
  }
  const client = await readPair(clientCertFile, clientKeyFile)
  if (!usable(client) || (await commonName(client.cert)) !== clientUser) {
    await issue(ca, clientCertFile, clientKeyFile, clientUser, [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    ])
  }

  await writeDerKey(clientKeyFile)
  return { dir, caFile, caKeyFile, serverCertFile, serverKeyFile, clientCertFile, clientKeyFile }
}

/** Where the client key is also written as PKCS-8 DER (`client.pk8`): the only form JDBC's `sslkey` reads. */
export function derKeyFile(keyFile: string): string {
  return `${keyFile.replace(/\.key$/, '')}.pk8`
}

async function writeDerKey(keyFile: string): Promise<void> {
  const der = createPrivateKey(await readFile(keyFile)).export({ type: 'pkcs8', format: 'der' })
  const target = derKeyFile(keyFile)
  const current = await readFile(target).catch(() => undefined)
  if (!current?.equals(der)) await writeAtomic(target, der, 0o600)
}

/**
 * Cross-process mutual exclusion: mkdir is atomic, and the holder writes its pid inside. The lock
 * is broken only when that process is gone: a holder slowed down by a busy machine keeps it.
 */
async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(dir, '.lock')
  const owner = join(lock, 'pid')
  for (;;) {
    try {
      await mkdir(lock)
      await writeFile(owner, String(process.pid))
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      if (await isStale(lock, owner)) await rm(lock, { recursive: true, force: true })
      else await sleep(20 + Math.random() * 30)
    }
  }
  try {
    return await fn()
  } finally {
    await rm(lock, { recursive: true, force: true })
  }
}

async function isStale(lock: string, owner: string): Promise<boolean> {
  const pid = Number(await readFile(owner, 'utf8').catch(() => ''))
  const age = await stat(lock).then(
    (s) => Date.now() - s.mtimeMs,
    () => 0,
  )
  // A pid the system has since given to another program must not hold the lock forever.
  if (pid > 0) return !isAlive(pid) || age > REUSED_PID_LOCK
  return age > STALE_LOCK
}

// Calls in one process queue per directory, so the lock is only ever contended across processes.
const queues = new Map<string, Promise<unknown>>()

/**
 * Makes `dir` hold a test CA plus a server certificate (localhost, 127.0.0.1, ::1) and a client
 * certificate for `clientUser`, all signed by that CA, reusing whatever valid files are already
 * there so servers started separately share one CA. Returned paths are absolute, because
 * PostgreSQL resolves relative ssl_*_file settings against its data directory.
 */
export async function ensureCertificates(dir: string, options: { clientUser: string }): Promise<CertFiles> {
  const abs = resolve(dir)
  const run = (queues.get(abs) ?? Promise.resolve())
    .catch(() => undefined)
    .then(async () => {
      makeDir(abs, {
        what: 'certificate folder (certDir, --cert-dir)',
        code: 'E_TLS_CONFIG',
        hint: 'point it at a folder you can write, or leave it out to use the run folder',
      })
      // Its CA key signs what every TLS client here trusts: nobody else may swap files in it.
      assertSafeFolder(
        abs,
        'use a certificate folder of your own that others cannot write to, or leave certDir out',
      )
      return withLock(abs, () => generate(abs, options.clientUser))
    })
  queues.set(abs, run)
  const forget = () => {
    if (queues.get(abs) === run) queues.delete(abs)
  }
  run.then(forget, forget)
  return run
}
