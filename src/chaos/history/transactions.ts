import { PgrigError } from '../../errors.js'
import type { History, Transaction } from './types.js'

/**
 * Pairs each invocation with its process's next completion. An invocation left open at the end
 * of the history is ambiguous (`info`): the client may have died after the server committed.
 */
export function toTransactions(history: History): Transaction[] {
  const open = new Map<number, Transaction>()
  const txns: Transaction[] = []
  for (let index = 0; index < history.length; index++) {
    const event = history[index]!
    if (event.type === 'invoke') {
      if (open.has(event.process)) {
        throw invalid(
          index,
          `process ${event.process} invoked again before its previous invocation completed`,
        )
      }
      const txn: Transaction = {
        id: txns.length,
        process: event.process,
        outcome: 'info',
        ops: event.value,
        invokeTime: event.time,
        completeTime: undefined,
        index,
      }
      txns.push(txn)
      open.set(event.process, txn)
    } else if (event.type === 'ok' || event.type === 'fail' || event.type === 'info') {
      const txn = open.get(event.process)
      if (!txn)
        throw invalid(index, `process ${event.process} completed (${event.type}) without an invocation`)
      open.delete(event.process)
      txn.outcome = event.type
      txn.completeTime = event.time
      if (event.type === 'ok') txn.ops = event.value
      if (event.error !== undefined) txn.error = event.error
    } else {
      throw invalid(index, `unknown event type ${JSON.stringify((event as { type: unknown }).type)}`)
    }
  }
  return txns
}

function invalid(index: number, why: string): PgrigError {
  return new PgrigError(
    'E_HISTORY_INVALID',
    `History event ${index}: ${why}; record each transaction as one invoke followed by one ok/fail/info from the same process.`,
  )
}
