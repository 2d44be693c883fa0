import http from 'node:http'
import { BodyTooLarge, browserRefusal, readBody, type GuardOptions } from '../http-guard.js'
import { apiError, isApiError, STATUS_OF } from './api-types.js'
import type { TemplateManager } from './manager.js'

/**
 * IntegreSQL v1.1's HTTP surface over a TemplateManager: its routes, status codes and JSON as its
 * Go server writes them (compact, a newline after, `application/json; charset=UTF-8`).
 */

const BODY_LIMIT = 64 * 1024

type Route = (
  manager: TemplateManager,
  params: string[],
  request: http.IncomingMessage,
  /** True once the client hung up before its answer was written. */
  abandoned: () => boolean,
) => Promise<{ status: number; body?: unknown }>

const ok = (body: unknown) => ({ status: 200, body })
const noContent = { status: 204 }

function testId(raw: string | undefined): number {
  if (raw === undefined || !/^[+-]?\d{1,9}$/.test(raw))
    throw apiError('E_SERVE_INVALID', 'invalid test database ID')
  return Number(raw)
}

async function readJson(request: http.IncomingMessage): Promise<Record<string, unknown>> {
  let body: Buffer
  try {
    body = await readBody(request, BODY_LIMIT)
  } catch (error) {
    if (error instanceof BodyTooLarge) throw apiError('E_SERVE_TOO_LARGE', 'Request Entity Too Large')
    throw error
  }
  const text = body.toString('utf8').trim()
  if (text === '') return {}
  try {
    const parsed: unknown = JSON.parse(text)
    return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {}
  } catch {
    throw apiError('E_SERVE_INVALID', 'request body is not JSON')
  }
}

const ROUTES: { method: string; pattern: RegExp; handle: Route }[] = [
  {
    method: 'POST',
    pattern: /^\/api\/v1\/templates$/,
    handle: async (manager, _params, request) => {
      const { hash } = await readJson(request)
      return ok(await manager.initialize(typeof hash === 'string' ? hash : ''))
    },
  },
  {
    method: 'PUT',
    pattern: /^\/api\/v1\/templates\/([^/]+)$/,
    handle: async (manager, [hash]) => (await manager.finalize(hash!), noContent),
  },
  {
    method: 'DELETE',
    pattern: /^\/api\/v1\/templates\/([^/]+)$/,
    handle: async (manager, [hash]) => (await manager.discard(hash!), noContent),
  },
  {
    method: 'GET',
    pattern: /^\/api\/v1\/templates\/([^/]+)\/tests$/,
    handle: async (manager, [hash], _request, abandoned) => ok(await manager.testDatabase(hash!, abandoned)),
  },
  {
    method: 'POST',
    pattern: /^\/api\/v1\/templates\/([^/]+)\/tests\/([^/]+)\/unlock$/,
    handle: (manager, [hash, id]) => Promise.resolve((manager.unlock(hash!, testId(id)), noContent)),
  },
  {
    method: 'POST',
    pattern: /^\/api\/v1\/templates\/([^/]+)\/tests\/([^/]+)\/recreate$/,
    handle: (manager, [hash, id]) => Promise.resolve((manager.recreate(hash!, testId(id)), noContent)),
  },
  {
    // Deprecated: older clients (IntegreSQL 1.0, whose server recreated what came back) send it after
    // every test, touched or not, so the database is recreated, never handed out again as it is.
    method: 'DELETE',
    pattern: /^\/api\/v1\/templates\/([^/]+)\/tests\/([^/]+)$/,
    handle: (manager, [hash, id]) => Promise.resolve((manager.recreate(hash!, testId(id)), noContent)),
  },
  {
    method: 'DELETE',
    pattern: /^\/api\/v1\/admin\/templates$/,
    handle: async (manager) => (await manager.reset(), noContent),
  },
]

function send(response: http.ServerResponse, status: number, body?: unknown): void {
  if (response.writableEnded || response.destroyed) return
  if (body === undefined) {
    response.writeHead(status).end()
    return
  }
  const text = `${JSON.stringify(body)}\n`
  response
    .writeHead(status, {
      'Content-Type': 'application/json; charset=UTF-8',
      'Content-Length': Buffer.byteLength(text),
    })
    .end(text)
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw apiError('E_SERVE_INVALID', 'malformed path')
  }
}

/** The request handler: routes, runs, and turns ApiErrors into `{"message": …}` bodies. */
export function apiHandler(manager: TemplateManager, guard: GuardOptions = {}): http.RequestListener {
  return (request, response) => {
    const refusal = browserRefusal(request, guard)
    if (refusal !== undefined) {
      send(response, 403, { message: refusal })
      return
    }
    const path = (request.url ?? '/').split('?')[0]!
    const matching = ROUTES.filter((route) => route.pattern.test(path))
    const route = matching.find((r) => r.method === request.method)
    if (!route) {
      send(response, matching.length > 0 ? 405 : 404, {
        message: matching.length > 0 ? 'Method Not Allowed' : 'Not Found',
      })
      return
    }
    let gone = false
    response.on('close', () => {
      if (!response.writableFinished) gone = true
    })
    void (async () => {
      try {
        const params = route.pattern.exec(path)!.slice(1).map(decode)
        const { status, body } = await route.handle(manager, params, request, () => gone)
        send(response, status, body)
      } catch (error) {
        if (isApiError(error)) send(response, STATUS_OF[error.code], { message: error.message })
        else send(response, 500, { message: (error as Error).message })
      }
    })()
  }
}
