export * from './server/index.js'
export * from './corruption/index.js'
