import type { Server } from 'node:http'
import { loadConfig } from '../shared/config.js'
import { createLogger } from '../shared/logger.js'
import { checkGatewayConfig, gatewaySettings } from '../gateway/settings.js'
import { createGateway } from '../gateway/server.js'
import { createCookieApp } from './cookie-app.js'

/**
 * `npm start`: the example cookie app with a podside gateway in front of it, on one machine, on
 * the in-memory store (no Redis needed). Ctrl-C stops both.
 */
async function listenApp (server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const addr = server.address() as { port: number }
  return `http://127.0.0.1:${addr.port}`
}

const app = createCookieApp({ name: 'app-1' })
const appUrl = await listenApp(app)
const port = process.env.PORT ?? '8080'
const { values } = loadConfig(gatewaySettings,
  ['--upstream', appUrl, '--listen', `127.0.0.1:${port}`, '--admin-listen', '127.0.0.1:0', '--log-level', process.env.PODSIDE_LOG_LEVEL ?? 'warn'],
  {}, checkGatewayConfig)
const gateway = createGateway(values, { log: createLogger({ name: 'gateway', level: values.logLevel }) })
const { url, adminUrl } = await gateway.listen()

process.stdout.write(`
podside demo: an app that keeps its login in a cookie, behind the podside gateway.

  Open     ${url}/                      (the app, through the gateway)
  Log in   ${url}/login?user=alice
  Look     ${url}/whoami                (the Cookie header the app receives, rebuilt from the jar)
  Admin    ${adminUrl}/v1/users/alice/sessions   ${adminUrl}/metrics

Your browser holds only the signed "podside" cookie; the app's own cookies stay in the jar.
This demo runs one node on the in-memory store; give the gateway --redis to share sessions
between nodes. Ctrl-C to stop.
`)

const stop = (): void => {
  void gateway.close().then(() => { app.closeAllConnections(); app.close(); process.exit(0) })
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
