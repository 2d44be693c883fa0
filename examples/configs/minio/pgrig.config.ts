// pgrig.config.ts
import { defineConfig } from 'pgrig'

export default defineConfig({
  services: {
    minio: {
      command: [
        'minio',
        'server',
        '{dir}',
        '--address',
        '127.0.0.1:{port}',
        '--console-address',
        '127.0.0.1:0',
      ],
      ready: { http: 'http://127.0.0.1:{port}/minio/health/ready' }, // or { tcp: '{port}' } or { log: /API:/ }
      env: {
        S3_ENDPOINT_URL: 'http://127.0.0.1:{port}',
        S3_ACCESS_KEY_ID: 'minioadmin',
        S3_SECRET_ACCESS_KEY: 'minioadmin',
      },
    },
    'minio-init': {
      // sees minio's env: it runs after minio
      command: [
        'sh',
        '-c',
        'mc --config-dir {dir} alias set local "$S3_ENDPOINT_URL" "$S3_ACCESS_KEY_ID" "$S3_SECRET_ACCESS_KEY" && mc --config-dir {dir} mb local/reactbin-test',
      ],
      after: ['minio'],
      once: true,
    },
  },
})
