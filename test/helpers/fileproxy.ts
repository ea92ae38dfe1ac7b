import { request } from 'undici'
import { waitFor } from './ports.js'
import type { Daemon } from './processes.js'

/** The body of `path` from a file proxy, as text. */
export async function getText (d: Daemon, path: string): Promise<string> {
  return await (await request(d.url + path)).body.text()
}

/** The status of the file proxy's /readyz (503 while its purge subscription is down or catching up). */
export async function readyz (d: Daemon): Promise<number> {
  const r = await request(d.adminUrl + '/readyz')
  await r.body.dump()
  return r.statusCode
}

/** Resolves once the file proxy is subscribed and has read what it missed from the purge log. */
export async function whenReady (d: Daemon, ms = 30_000): Promise<void> {
  await waitFor('ready (subscribed and caught up)', async () => await readyz(d) === 200 ? true : undefined, ms)
}
