// pgrig.config.ts
import type { PgrigConfig } from 'pgrig'

export default {
  initSql: ['seed.sql'],
  servers: {
    plain: { profile: 'plain' },
    tls: { profile: 'tls' },
    cert: { profile: 'client-cert' },
  },
} satisfies PgrigConfig
