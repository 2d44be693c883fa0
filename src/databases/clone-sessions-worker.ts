import { parentPort, workerData } from 'node:worker_threads'
import { CloneSessions, type CloneSessionsOptions } from './clone-sessions.js'
import type { SessionsAnswer, SessionsCall } from './clone-sessions-thread.js'

/** The clone pool's sessions thread (see clone-sessions-thread.ts): runs each call, answers with its result. */

const sessions = new CloneSessions(workerData as CloneSessionsOptions)
const port = parentPort!

async function run(call: SessionsCall): Promise<unknown> {
  switch (call.op) {
    case 'create':
      return sessions.create(call.arg)
    case 'drop':
      return sessions.drop(call.arg)
    case 'prewarm':
      return sessions.prewarm(call.arg)
    case 'connected':
      return [...(await sessions.connected(call.arg))]
    case 'end':
      return sessions.end()
  }
}

port.on('message', (call: SessionsCall) => {
  void run(call).then(
    (value) =>
      port.postMessage({ id: call.id, value, copyMethod: sessions.copyMethod } satisfies SessionsAnswer),
    (error: Error & { code?: string }) =>
      port.postMessage({
        id: call.id,
        error: { message: error.message, ...(typeof error.code === 'string' ? { code: error.code } : {}) },
        copyMethod: sessions.copyMethod,
      } satisfies SessionsAnswer),
  )
})
