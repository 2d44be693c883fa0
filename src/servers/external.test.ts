import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { resolveServer } from '../config/resolve.js'
import { privateRunRoot } from '../../test/support/run-root.js'
import { startServer, type StartedServer } from './start-server.js'
import { connectionEnv } from './connection-env.js'
import { connectExternal } from './external.js'

privateRunRoot('external')

const external = (url: string, tls?: 'off' | 'on' | 'required') =>
  connectExternal(resolveServer({ engine: 'external', url, ...(tls ? { tls } : {}) }))
const withoutParams = (url: string) => url.split('?')[0]!

describe('an external server reports the TLS its URL connects with', () => {
  let tlsOn: StartedServer, tlsRequired: StartedServer
  beforeAll(async () => {
    ;[tlsOn, tlsRequired] = await Promise.all([
      startServer({ name: 'ext-tls-on', profile: 'tls', quiet: true }),
      startServer({ name: 'ext-tls-required', tls: 'required', quiet: true }),
    ])
  })
  afterAll(async () => {
    await Promise.all([tlsOn?.stop(), tlsRequired?.stop()])
  })

  test('a verify-full URL to a server that also takes plain connections: tls on, its CA, no client cert', async () => {
    const info = await external(tlsOn.url, 'on')
    expect(info.tls).toEqual({
      mode: 'on',
      sslmode: 'verify-full',
      caFile: tlsOn.tls!.caFile,
      certFile: null,
      keyFile: null,
    })
    const env = connectionEnv([info])
    expect(env.PGSSLMODE).toBe('verify-full')
    expect(env.PGSSLROOTCERT).toBe(tlsOn.tls!.caFile)
    expect(env).not.toHaveProperty('PGSSLCERT')
  })

  test('a server that refuses plain connections: tls required, whatever was asked', async () => {
    const info = await external(tlsRequired.url)
    expect(info.tls).toMatchObject({
      mode: 'required',
      sslmode: 'verify-full',
      caFile: tlsRequired.tls!.caFile,
    })
  })

  test('sslmode=require without files: encrypted, nothing verified, no file variables', async () => {
    // libpq's require (node-postgres otherwise reads require as verify-full).
    const info = await external(`${withoutParams(tlsOn.url)}?uselibpqcompat=true&sslmode=require`)
    expect(info.tls).toEqual({ mode: 'on', sslmode: 'require', caFile: null, certFile: null, keyFile: null })
    const env = connectionEnv([info])
    expect(env.PGSSLMODE).toBe('require')
    expect(env).not.toHaveProperty('PGSSLROOTCERT')
  })

  test('a plain URL: no TLS; asking for TLS over it is one line saying what to add', async () => {
    expect((await external(withoutParams(tlsOn.url))).tls).toBeNull()
    const asked = external(withoutParams(tlsOn.url), 'on')
    await expect(asked).rejects.toMatchObject({ code: 'E_EXTERNAL_SERVER' })
    await expect(asked).rejects.toThrow(
      /^external server main \(postgresql:\/\/app:\*\*\*@[^)]+\): tls on was asked, but this URL connects without TLS; add \?sslmode=verify-full&sslrootcert=<CA file> \(or sslmode=require\) to the URL$/,
    )
  })
})
