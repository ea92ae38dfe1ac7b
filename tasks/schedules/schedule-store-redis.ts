import type { RedisClient } from '../../shared/redis-client.js'
import { parseSchedule, scheduleJson, type Schedule } from './schedule.js'
import { scheduleKeys, type ScheduleKeys } from './schedule-keys.js'
import { CLAIM, DELETE, PUT, RECORD } from './schedule-scripts.js'
import { encodeSchedule, type Claim, type ClaimOptions, type LastRun, type ScheduleState, type ScheduleStore } from './schedule-store.js'
import type { TickWindow } from './ticks.js'

interface Scripts {
  podsideScheduleClaim (key: string, due: number, next: number, recoverMs: number, skewMs: number): Promise<Array<string | number>>
  podsideScheduleRecord (key: string, tick: number, lastRun: string, taskId: string): Promise<number>
  podsideSchedulePut (names: string, key: string, name: string, def: string): Promise<'created' | 'updated' | 'unchanged'>
  podsideScheduleDelete (names: string, key: string, name: string): Promise<number>
}

/**
 * Schedules in Redis (standalone, Sentinel or Cluster). `skewMs` moves the store's clock (Redis
 * TIME) for tests, so they can leave ten intervals of an hourly schedule without waiting; it is
 * always 0 in the daemons.
 */
export function createRedisScheduleStore (client: RedisClient, opts: { keys?: ScheduleKeys, skewMs?: () => number } = {}): ScheduleStore {
  const keys = opts.keys ?? scheduleKeys()
  const skew = opts.skewMs ?? (() => 0)
  client.defineCommand('podsideScheduleClaim', { numberOfKeys: 1, lua: CLAIM })
  client.defineCommand('podsideScheduleRecord', { numberOfKeys: 1, lua: RECORD })
  client.defineCommand('podsideSchedulePut', { numberOfKeys: 2, lua: PUT })
  client.defineCommand('podsideScheduleDelete', { numberOfKeys: 2, lua: DELETE })
  const redis = client as unknown as RedisClient & Scripts

  return {
    kind: 'redis',
    async put (schedule: Schedule) {
      return await redis.podsideSchedulePut(keys.names, keys.schedule(schedule.name), schedule.name, encodeSchedule(scheduleJson(schedule)))
    },
    async delete (name) {
      return await redis.podsideScheduleDelete(keys.names, keys.schedule(name), name) > 0
    },
    async list () {
      const names = (await redis.smembers(keys.names)).sort()
      if (names.length === 0) return []
      const pipeline = redis.pipeline()
      for (const name of names) pipeline.hmget(keys.schedule(name), 'def', 'lastTick', 'lastRun')
      const rows = await pipeline.exec() ?? []
      const states: ScheduleState[] = []
      rows.forEach(([err, row], i) => {
        if (err !== null) throw err
        const state = decode(names[i], row as Array<string | null>)
        if (state !== undefined) states.push(state)
      })
      return states
    },
    async get (name) {
      return decode(name, await redis.hmget(keys.schedule(name), 'def', 'lastTick', 'lastRun'))
    },
    async claim (name: string, window: TickWindow, o: ClaimOptions): Promise<Claim> {
      const r = await redis.podsideScheduleClaim(keys.schedule(name), window.due, window.next, o.recoverMs, skew())
      const kind = r[0] as Claim['kind']
      const now = Number(r[1])
      if (kind === 'claimed' || kind === 'recover') {
        return { kind, now, tick: Number(r[2]), ...r[3] === '' ? {} : { previousTaskId: String(r[3]) } }
      }
      return { kind, now }
    },
    async record (name: string, run: LastRun) {
      await redis.podsideScheduleRecord(keys.schedule(name), run.tick, JSON.stringify(run), run.taskId ?? '')
    },
    async now () {
      const [s, us] = await redis.time()
      return Number(s) * 1000 + Math.floor(Number(us) / 1000) + skew()
    }
  }
}

/** A definition this version cannot read (written by a newer one) is left out, not fatal. */
function decode (name: string, [def, lastTick, lastRun]: Array<string | null>): ScheduleState | undefined {
  if (def === null) return undefined
  let schedule: Schedule | string[]
  try { schedule = parseSchedule(name, JSON.parse(def)) } catch { return undefined }
  if (Array.isArray(schedule)) return undefined
  return {
    schedule,
    ...lastTick === null ? {} : { lastTick: Number(lastTick) },
    ...lastRun === null ? {} : { lastRun: JSON.parse(lastRun) as LastRun }
  }
}
