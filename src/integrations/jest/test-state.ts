/** Set on the test's global by pgrig's Jest environment: did the current test fail? */
export const TEST_FAILED = Symbol.for('pgrig.jest.testFailed')
/** Set by pgrig's Jest environment: the file runs under it. */
export const PGRIG_ENVIRONMENT = Symbol.for('pgrig.jest.environment')
/** Names of the file's test.concurrent tests, which share one process.env. */
export const CONCURRENT_TESTS = Symbol.for('pgrig.jest.concurrentTests')
