import { describe, expect, test } from 'vitest'
import { check } from '../checker/check.js'
import { simulateHistory } from './simulate.js'

// Thousands of transactions with known properties: a serializable execution has no finding,
// a snapshot-isolation one has write skew and nothing snapshot isolation forbids.
describe.each(['list-append', 'rw-register'] as const)('simulated %s histories', (model) => {
  test('serializable execution: no anomaly in 5,000 transactions', () => {
    const history = simulateHistory({ model, transactions: 5000, isolation: 'serializable', seed: 7 })
    const result = check(history, { model })
    expect(result.transactions.ok).toBe(5000)
    expect(result.anomalies).toEqual([])
  })

  test('snapshot isolation: write skew (G2-item) and nothing SI forbids', () => {
    const history = simulateHistory({ model, transactions: 5000, isolation: 'snapshot-isolation', seed: 7 })
    const result = check(history, { model, isolation: 'snapshot-isolation' })
    expect(result.transactions.fail).toBeGreaterThan(0)
    expect(result.anomalyTypes).toContain('G2-item')
    expect(result.valid).toBe(true)
  })
})

test('a tiny search budget says the search was cut short instead of claiming completeness', () => {
  const history = simulateHistory({
    model: 'list-append',
    transactions: 2000,
    isolation: 'snapshot-isolation',
    seed: 3,
  })
  const full = check(history, { model: 'list-append' })
  expect(full.graph.searchComplete).toBe(true)
  const cut = check(history, { model: 'list-append', searchBudget: 1 })
  expect(cut.graph.searchComplete).toBe(false)
  expect(cut.graph.cyclicComponents).toBe(full.graph.cyclicComponents)
})
