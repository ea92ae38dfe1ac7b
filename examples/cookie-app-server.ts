import { createCookieApp } from './cookie-app.js'

/** The example cookie app as a process of its own (compose, the multi-node demo): PORT, APP_NAME. */
const port = Number(process.env.PORT ?? 3000)
const server = createCookieApp({ name: process.env.APP_NAME ?? 'app' })
server.listen(port, process.env.HOST ?? '0.0.0.0', () => process.stdout.write(`example app ${process.env.APP_NAME ?? 'app'} on :${port}\n`))
process.once('SIGTERM', () => server.close(() => process.exit(0)))
