/**
 * `testEnvironment: 'pgrig/jest/environment'`: Jest's node environment that also tells
 * useTestDatabase() whether the current test failed, which Jest's afterEach hooks cannot see.
 * jest-environment-node comes with Jest itself.
 */
import { TestEnvironment } from 'jest-environment-node'
import { TEST_FAILED } from './test-state.js'

export default class PgrigJestEnvironment extends TestEnvironment {
  handleTestEvent(event: { name: string }): void {
    // test_fn_failure comes before the test's afterEach hooks run; test_start resets it for the next test.
    if (event.name === 'test_start') this.global[TEST_FAILED as unknown as string] = false
    if (event.name === 'test_fn_failure') this.global[TEST_FAILED as unknown as string] = true
  }
}
