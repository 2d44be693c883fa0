// A tiny HTTP API for docs/services.md's startService block: `node server.mjs --port N`, /health answers 200.
import http from 'node:http'

const port = Number(process.argv[process.argv.indexOf('--port') + 1])
const server = http.createServer((req, res) => res.end(req.url === '/health' ? 'ok' : process.env.API_URL))
server.listen(port, '127.0.0.1')
process.on('SIGTERM', () => server.close(() => process.exit(0)))
