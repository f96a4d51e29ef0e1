// The process entry of `npm start` (node dist/server.js); `authd serve` starts the same way.
import { startServer } from './start-server.js'

await startServer()
