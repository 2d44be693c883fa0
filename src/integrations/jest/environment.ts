/**
 * `testEnvironment: 'pgrig/jest/environment'`: Jest's node environment that also tells
 * useTestDatabase() whether the current test failed, which Jest's afterEach hooks cannot see,
 * and which tests are test.concurrent. jest-environment-node comes with Jest itself.
 */
import { TestEnvironment } from 'jest-environment-node'
import { CONCURRENT_TESTS, PGRIG_ENVIRONMENT, TEST_FAILED } from './test-state.js'

type Slot = string

export default class PgrigJestEnvironment extends TestEnvironment {
  override async setup(): Promise<void> {
    await super.setup()
    this.global[PGRIG_ENVIRONMENT as unknown as Slot] = true
    this.global[CONCURRENT_TESTS as unknown as Slot] = []
  }

  handleTestEvent(event: { name: string; testName?: unknown; concurrent?: boolean }): void {
    if (event.name === 'add_test' && event.concurrent) {
      ;(this.global[CONCURRENT_TESTS as unknown as Slot] as string[]).push(String(event.testName))
    }
    // test_fn_failure comes before the test's afterEach hooks run; test_start resets it for the next test.
    if (event.name === 'test_start') this.global[TEST_FAILED as unknown as Slot] = false
    if (event.name === 'test_fn_failure') this.global[TEST_FAILED as unknown as Slot] = true
  }
}
