export * from './server/index.js'
export * from './corruption/index.js'
export * from './property/index.js'
