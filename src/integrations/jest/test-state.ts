/** Set on the test's global by pgrig's Jest environment: did the current test fail? */
export const TEST_FAILED = Symbol.for('pgrig.jest.testFailed')
