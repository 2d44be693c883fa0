export { verify, type Finding, type VerifyOptions } from './verify.js'
export { corrupt, type CorruptOptions, type CorruptionReport, type CorruptionKind } from './corrupt.js'
export { pageChecksum } from './page-checksum.js'
