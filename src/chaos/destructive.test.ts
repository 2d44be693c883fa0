import { expect, test } from 'vitest'
import * as chaos from './index.js'

test('helpers that kill, corrupt or exhaust a server are marked destructive; the others are not', () => {
  const marked = Object.entries(chaos)
    .filter(([, value]) => chaos.isDestructive(value))
    .map(([name]) => name)
    .sort()
  expect(marked).toEqual([
    'corrupt',
    'crashServer',
    'exhaustConnections',
    'restartServer',
    'terminateBackends',
  ])
  expect(chaos.DESTRUCTIVE_CATEGORY).toBe('destructive')
})
