export { ADMIN_APPLICATION_NAME, type AdminTarget } from './admin.js'
export { terminateBackends, listBackends, type Backend, type BackendMatch } from './terminate.js'
export { crashServer, restartServer, type CrashReport, type RestartReport } from './crash.js'
export { exhaustConnections, type ExhaustOptions, type HeldConnections } from './connections.js'
export {
  holdLock,
  TABLE_LOCK_MODES,
  ROW_LOCK_MODES,
  type HeldLock,
  type RowLock,
  type TableLock,
  type TableLockMode,
  type RowLockMode,
} from './locks.js'
export {
  setSessionDefaults,
  setTimeouts,
  capResources,
  type AppliedSettings,
  type ResourceCaps,
  type SettingValue,
  type SettingsScope,
  type Timeouts,
} from './settings.js'
