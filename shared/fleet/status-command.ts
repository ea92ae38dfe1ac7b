import { redisSetting } from '../daemon-settings.js'
import { createLogger } from '../logger.js'
import { closeRedis, createRedisClient, waitReady } from '../redis-client.js'
import { boolean, duration, type Values } from '../setting-kinds.js'
import { fleetTable } from './fleet-table.js'
import { readFleet } from './read-fleet.js'

export const statusSettings = {
  redis: redisSetting('where the daemons register themselves (the --redis they run with)'),
  json: boolean('print the fleet as JSON (the same as GET /v1/nodes) instead of a table', { default: false }),
  timeout: duration('longest wait for Redis to answer', { default: 5000 }) // 5 s
}

export function checkStatusSettings (v: Values<typeof statusSettings>): string[] {
  return v.redis === undefined ? ['--redis (PODSIDE_REDIS, REDIS_URL) is required: where the daemons register themselves'] : []
}

/**
 * `podside status`: prints the fleet; 0 when every registered node heartbeats, 1 when a node
 * stopped heartbeating within the last minute or Redis cannot be read (one line on stderr).
 */
export async function printStatus (c: Values<typeof statusSettings>, out = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const target = c.redis!
  // Silent: the one line below says what went wrong; ioredis' reconnect warnings would repeat it.
  const client = createRedisClient(target, { role: 'command', timeoutMs: c.timeout, log: createLogger({ name: 'status', level: 'silent' }) })
  let lastError: Error | undefined
  client.on('error', (err: Error) => { lastError = err })
  try {
    if (!await waitReady(client, c.timeout)) {
      out.stderr.write(`podside status: cannot reach Redis at ${target.href}${lastError === undefined ? '' : `: ${lastError.message}`}\n`)
      return 1
    }
    const view = await readFleet(client, Date.now())
    if (c.json) out.stdout.write(JSON.stringify(view, null, 2) + '\n')
    else if (view.nodes.length === 0) out.stdout.write(`no podside node is registered at ${target.href}\n`)
    else out.stdout.write(fleetTable(view))
    if (view.missing > 0) {
      const ids = view.nodes.filter((n) => n.state === 'missing').map((n) => `${n.id} (${n.role ?? '?'} on ${n.hostname ?? '?'})`)
      out.stderr.write(`podside status: ${view.missing} node${view.missing === 1 ? '' : 's'} stopped heartbeating: ${ids.join(', ')}\n`)
    }
    return view.missing > 0 ? 1 : 0
  } catch (err) {
    out.stderr.write(`podside status: cannot read the fleet from ${target.href}: ${(err as Error).message}\n`)
    return 1
  } finally {
    await closeRedis(client)
  }
}
