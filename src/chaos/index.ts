export * from './server/index.js'
export * from './corruption/index.js'
export * from './property/index.js'
export { DESTRUCTIVE_CATEGORY, isDestructive, markDestructive, type Destructive } from './destructive.js'
