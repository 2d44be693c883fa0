import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { chmod, copyFile, mkdtemp, readFile, rm, stat, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, createServer, type TLSSocket } from 'node:tls'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { ensureCertificates, type CertFiles } from './certs.js'

const dirs: string[] = []
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgrig-certs-'))
  dirs.push(dir)
  return dir
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
})

const cert = async (file: string) => new X509Certificate(await readFile(file))
const mode = async (file: string) => (await stat(file)).mode & 0o777

function chainsTo(leaf: X509Certificate, ca: X509Certificate): boolean {
  return leaf.checkIssued(ca) && leaf.verify(ca.publicKey)
}

/** Runs a TLS handshake with the server cert; resolves with what each side concluded. */
async function handshake(files: CertFiles, withClientCert: boolean) {
  const ca = await readFile(files.caFile)
  const server = createServer({
    cert: await readFile(files.serverCertFile),
    key: await readFile(files.serverKeyFile),
    ca,
    requestCert: true,
    rejectUnauthorized: false,
  })
  const serverSide = new Promise<{ authorized: boolean; peerCN: unknown }>((resolve) =>
    server.once('secureConnection', (socket: TLSSocket) => {
      resolve({ authorized: socket.authorized, peerCN: socket.getPeerCertificate().subject?.CN })
      socket.end()
    }),
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  const clientCert = withClientCert && {
    cert: await readFile(files.clientCertFile),
    key: await readFile(files.clientKeyFile),
  }
  try {
    const clientAuthorized = await new Promise<boolean>((resolve, reject) => {
      const socket = connect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        ca,
        rejectUnauthorized: true,
        ...clientCert,
      })
      socket.once('secureConnect', () => {
        resolve(socket.authorized)
        socket.end()
      })
      socket.once('error', reject)
    })
    return { clientAuthorized, ...(await serverSide) }
  } finally {
    server.close()
  }
}

describe('ensureCertificates', () => {
  it('writes a CA, server and client certificate with strict key modes', async () => {
    const dir = join(await tempDir(), 'nested', 'certs')
    const files = await ensureCertificates(dir, { clientUser: 'alice' })

    expect(files.caFile).toBe(join(dir, 'ca.crt'))
    expect(files.clientCertFile).toBe(join(dir, 'client.crt'))
    for (const key of [files.caKeyFile, files.serverKeyFile, files.clientKeyFile]) {
      expect(await mode(key)).toBe(0o600)
      expect(await readFile(key, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/)
    }
    for (const crt of [files.caFile, files.serverCertFile, files.clientCertFile]) {
      expect(await mode(crt)).toBe(0o644)
    }

    const ca = await cert(files.caFile)
    expect(ca.ca).toBe(true)
    expect(ca.subject).toMatch(/^CN=pgrig test CA [0-9a-f]+$/)

    const server = await cert(files.serverCertFile)
    expect(chainsTo(server, ca)).toBe(true)
    expect(server.subject).toBe('CN=localhost')
    expect(server.checkHost('localhost')).toBe('localhost')
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1')
    expect(server.checkIP('::1')).toBe('::1')
    expect(server.keyUsage).toContain('1.3.6.1.5.5.7.3.1')
    expect(Date.parse(server.validFrom)).toBeLessThan(Date.now() - 30 * 60_000)
    expect(Date.parse(server.validTo)).toBeGreaterThan(Date.now() + 700 * 24 * 3_600_000)

    const client = await cert(files.clientCertFile)
    expect(chainsTo(client, ca)).toBe(true)
    expect(client.subject).toBe('CN=alice')
    expect(client.keyUsage).toContain('1.3.6.1.5.5.7.3.2')
  })

  it('completes a mutually authenticated TLS handshake', async () => {
    const files = await ensureCertificates(await tempDir(), { clientUser: 'alice' })

    expect(await handshake(files, true)).toEqual({
      clientAuthorized: true,
      authorized: true,
      peerCN: 'alice',
    })
    const anonymous = await handshake(files, false)
    expect(anonymous.clientAuthorized).toBe(true)
    expect(anonymous.authorized).toBe(false)
  })

  it('reuses the CA and existing certificates, and gives another user its own client file', async () => {
    const dir = await tempDir()
    const first = await ensureCertificates(dir, { clientUser: 'alice' })
    const before = await Promise.all(
      [first.caFile, first.serverCertFile, first.clientCertFile].map((f) => readFile(f, 'utf8')),
    )

    const again = await ensureCertificates(dir, { clientUser: 'alice' })
    expect(again).toEqual(first)
    const after = await Promise.all(
      [again.caFile, again.serverCertFile, again.clientCertFile].map((f) => readFile(f, 'utf8')),
    )
    expect(after).toEqual(before)

    const bob = await ensureCertificates(dir, { clientUser: 'bob' })
    expect(bob.clientCertFile).toBe(join(dir, 'client-bob.crt'))
    expect(bob.clientKeyFile).toBe(join(dir, 'client-bob.key'))
    expect(await mode(bob.clientKeyFile)).toBe(0o600)
    expect(await readFile(bob.caFile, 'utf8')).toBe(before[0])
    expect((await cert(bob.clientCertFile)).subject).toBe('CN=bob')
    expect((await cert(first.clientCertFile)).subject).toBe('CN=alice')
    expect(chainsTo(await cert(bob.clientCertFile), await cert(bob.caFile))).toBe(true)
  })

  it('refuses a folder others can write to or a link, and a private key others can read, in one line', async () => {
    const shared = await tempDir()
    await chmod(shared, 0o777)
    await expect(ensureCertificates(shared, { clientUser: 'app' })).rejects.toThrow(
      new RegExp(`^refusing ${shared}: it is owned by .* with mode 0777: others can write to it`),
    )
    const real = await tempDir()
    const link = join(await tempDir(), 'certs')
    await symlink(real, link)
    await expect(ensureCertificates(link, { clientUser: 'app' })).rejects.toThrow(/it is a symbolic link/)
    const dir = await tempDir()
    const files = await ensureCertificates(dir, { clientUser: 'app' })
    await chmod(files.caKeyFile, 0o644)
    await expect(ensureCertificates(dir, { clientUser: 'app' })).rejects.toThrow(
      `refusing the private key ${files.caKeyFile}: its mode 0644 lets others read it; chmod 600 it, or remove it to let pgrig make a new one`,
    )
  })

  it('replaces a server certificate that the CA did not sign', async () => {
    const dir = await tempDir()
    const files = await ensureCertificates(dir, { clientUser: 'alice' })
    const other = await ensureCertificates(await tempDir(), { clientUser: 'alice' })
    await copyFile(other.serverCertFile, files.serverCertFile)
    await copyFile(other.serverKeyFile, files.serverKeyFile)
    expect(chainsTo(await cert(files.serverCertFile), await cert(files.caFile))).toBe(false)

    await ensureCertificates(dir, { clientUser: 'alice' })
    expect(chainsTo(await cert(files.serverCertFile), await cert(files.caFile))).toBe(true)
    expect(await mode(files.serverKeyFile)).toBe(0o600)
  })

  it('yields one CA for concurrent calls in one process', async () => {
    const dir = await tempDir()
    const results = await Promise.all(
      ['alice', 'alice', 'bob'].map((clientUser) => ensureCertificates(dir, { clientUser })),
    )
    const ca = await cert(join(dir, 'ca.crt'))
    for (const files of results) {
      expect(files.caFile).toBe(join(dir, 'ca.crt'))
      expect(chainsTo(await cert(files.serverCertFile), ca)).toBe(true)
      expect(chainsTo(await cert(files.clientCertFile), ca)).toBe(true)
    }
  })

  it('yields one CA for concurrent calls from several processes', async () => {
    const dir = await tempDir()
    const script = `
      const mod = await import(${JSON.stringify(new URL('./certs.ts', import.meta.url).href)})
      const { ensureCertificates } = mod.default ?? mod
      const files = await ensureCertificates(${JSON.stringify(dir)}, { clientUser: process.argv[1] })
      process.stdout.write(JSON.stringify(files))
    `
    const run = promisify(execFile)
    const outputs = await Promise.all(
      ['alice', 'bob', 'alice', 'carol'].map((user) =>
        run(process.execPath, ['--import', 'jiti/register', '--input-type=module', '-e', script, user]),
      ),
    )
    const ca = await cert(join(dir, 'ca.crt'))
    for (const { stdout } of outputs) {
      const files = JSON.parse(stdout) as CertFiles
      expect(chainsTo(await cert(files.serverCertFile), ca)).toBe(true)
      expect(chainsTo(await cert(files.clientCertFile), ca)).toBe(true)
    }
    // Four processes that each compile the sources first: slow on a loaded two-core machine.
  }, 150_000)
})
