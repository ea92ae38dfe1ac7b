import { Cluster } from 'ioredis'
import type { RedisClient } from '../../shared/redis-client.js'
import { cookieKey, type JarCookie, type SameSite } from '../jar.js'
import { APPLY, DESTROY, LOAD, MARK_MOVED, RETIRE, WRITE_COPY } from './redis-scripts.js'
import { bucketChannels, bucketOfId } from './slots.js'
import type { ApplyInput, ApplyResult, SessionRecord, SessionStore, StoreTimeouts } from './store.js'

type Reply = string | number | null | Reply[]
interface Scripts {
  podsideLoad (key: string, now: number, idle: number, touch: number, touchEvery: number): Promise<string[] | null>
  podsideApply (key: string, ...args: Array<string | number>): Promise<Reply[]>
  podsideMarkMoved (key: string, newId: string, now: number, grace: number, channel: string, version: string, publish: string): Promise<['ok', number] | 'changed' | null>
  podsideWriteCopy (key: string, ...args: Array<string | number>): Promise<number>
  podsideRetire (key: string, at: number, channel: string, publish: string): Promise<number>
  podsideDestroy (key: string, channel: string, publish: string): Promise<[string, string, number, number]>
  spublish (channel: string, message: string): Promise<number>
}

const FLAG_HOST_ONLY = 1
const FLAG_SECURE = 2
const FLAG_HTTP_ONLY = 4
const FLAG_SAMESITE_STRICT = 8
const FLAG_SAMESITE_LAX = 16
const FLAG_SAMESITE_NONE = 32

/** Where every change to a session is announced (its key), for the gateways' session caches. */
export function invalidationChannel (prefix = DEFAULT_PREFIX): string {
  return `${prefix}sessions`
}

/** The session id in a key announced on the invalidation channel (`…s:{<id>}`). */
export function idOfSessionKey (key: string): string | undefined {
  const open = key.lastIndexOf('{')
  return open === -1 || !key.endsWith('}') ? undefined : key.slice(open + 1, -1)
}

const DEFAULT_PREFIX = 'podside:'
/** A regenerate copies again when an answer wrote to the session meanwhile; this many times at most. */
const REGENERATE_ATTEMPTS = 5
/** Bookkeeping of the old id that its copy does not take over. */
const NOT_COPIED = new Set(['_r', '_g', '_d', '_s', '_v'])

export interface RedisStoreOptions {
  prefix?: string
  /**
   * Under Cluster (the default with a Cluster client): changes are announced with SPUBLISH on the
   * shard channel of the session's slot (slots.ts) instead of PUBLISH on the one channel, which the
   * cluster bus would broadcast to every node.
   */
  sharded?: boolean
  /**
   * Under Cluster with the session cache on: a change that reached no subscriber is announced
   * again through the command client, which sends it where the gateways listen (see `heard`).
   */
  republish?: boolean
}

/**
 * Sessions in Redis (standalone, Sentinel or Cluster). One hash per session, keyed
 * `podside:s:{<id>}`: the braces are a Cluster hash tag, so a session's keys share a slot and its
 * scripts stay atomic, while sessions spread over every master. Users index sessions in
 * `podside:u:{<user>}` sets, kept outside the scripts (another slot) and cleaned on read.
 */
export function createRedisStore (client: RedisClient, t: StoreTimeouts, opts: RedisStoreOptions = {}): SessionStore {
  const prefix = opts.prefix ?? DEFAULT_PREFIX
  const shardChannels = (opts.sharded ?? client instanceof Cluster) ? bucketChannels(prefix) : undefined
  const publish = shardChannels === undefined ? 'PUBLISH' : 'SPUBLISH'
  /** Where a change to this session is announced ('' = nowhere: an id no gateway caches). */
  const channelOf = (id: string): string => {
    if (shardChannels === undefined) return invalidationChannel(prefix)
    const bucket = bucketOfId(id)
    return bucket === -1 ? '' : shardChannels[bucket]
  }
  const sessionKey = (id: string): string => `${prefix}s:{${id}}`
  const userKey = (user: string): string => `${prefix}u:{${encodeURIComponent(user)}}`
  client.defineCommand('podsideLoad', { numberOfKeys: 1, lua: LOAD })
  client.defineCommand('podsideApply', { numberOfKeys: 1, lua: APPLY })
  client.defineCommand('podsideMarkMoved', { numberOfKeys: 1, lua: MARK_MOVED })
  client.defineCommand('podsideWriteCopy', { numberOfKeys: 1, lua: WRITE_COPY })
  client.defineCommand('podsideRetire', { numberOfKeys: 1, lua: RETIRE })
  client.defineCommand('podsideDestroy', { numberOfKeys: 1, lua: DESTROY })
  const redis = client as unknown as RedisClient & Scripts

  async function read (id: string, now: number, touch: boolean): Promise<SessionRecord | undefined> {
    const flat = await redis.podsideLoad(sessionKey(id), now, t.idleMs, touch ? 1 : 0, t.touchEveryMs)
    return flat === null ? undefined : decode(id, flat)
  }

  /**
   * While a slot migrates, a script on a key already moved runs on the importing master (ASK),
   * where no gateway listens yet: the message reached nobody. The source master still serves the
   * slot's channels until the migration ends (and then unsubscribes its listeners, who stop
   * caching the slot), so the same message sent through the client, which routes by its slot map,
   * reaches them.
   */
  async function heard (id: string, n: number): Promise<void> {
    const channel = channelOf(id)
    if (n === 0 && opts.republish === true && channel !== '') await redis.spublish(channel, sessionKey(id))
  }

  async function destroyOne (id: string): Promise<{ existed: boolean, movedTo: string }> {
    const [user, movedTo, n, reached] = await redis.podsideDestroy(sessionKey(id), channelOf(id), publish)
    await heard(id, reached)
    if (user !== '') await redis.srem(userKey(user), id)
    return { existed: n > 0, movedTo }
  }

  async function liveIdsOf (user: string, now: number): Promise<string[]> {
    const ids = await redis.smembers(userKey(user))
    const owners = await Promise.all(ids.map(async (id) => await redis.hmget(sessionKey(id), '_u', '_r', '_a')))
    const live = ids.filter((_, i) => owners[i][0] === user && owners[i][1] === null && Number(owners[i][2]) > now)
    const dead = ids.filter((id) => !live.includes(id))
    if (dead.length > 0) await redis.srem(userKey(user), ...dead)
    return live.sort()
  }

  return {
    kind: 'redis',
    load: async (id, now) => await read(id, now, true),
    inspect: async (id, now) => await read(id, now, false),

    async apply (id, input: ApplyInput, now): Promise<ApplyResult> {
      const args: Array<string | number> = [now, t.idleMs, t.absoluteMs, input.create ? 1 : 0, input.user ?? '', t.maxCookies, channelOf(id), input.rotatedAt ?? '', publish]
      for (const ch of input.changes) {
        if (ch.op === 'delete') args.push('del', 'c:' + cookieKey(ch.domain, ch.path, ch.name), '', 0)
        else args.push('set', 'c:' + cookieKey(ch.cookie.domain, ch.cookie.path, ch.cookie.name), encodeCookie(ch.cookie), ch.cookie.expires)
      }
      let reply = await redis.podsideApply(sessionKey(id), ...args)
      if (reply[0] === 'moved') {
        // Regenerated while this response was in flight: its cookies belong to the new id.
        id = String(reply[1])
        reply = await redis.podsideApply(sessionKey(id), ...args.map((a, i) => i === 3 ? 0 : i === 6 ? channelOf(id) : a))
      }
      if (reply[0] !== 'ok') return { status: 'gone' }
      const [, absolute, maxPersistent, previousUser, refused, maxPersistentBefore, reached] = reply
      await heard(id, Number(reached))
      if (input.user !== undefined && input.user !== previousUser) {
        if (previousUser !== '') await redis.srem(userKey(String(previousUser)), id)
        await redis.sadd(userKey(input.user), id)
        await redis.pexpire(userKey(input.user), t.absoluteMs)
      }
      return { status: 'applied', id, absoluteExpiry: Number(absolute), persistent: Number(maxPersistent) > now + t.idleMs,
        wasPersistent: Number(maxPersistentBefore) > now + t.idleMs, refused: Number(refused) }
    },

    async regenerate (oldId, newId, now) {
      // The copy is written before the old id is marked, so an answer that finds the old id moved
      // always finds the new one; an answer that wrote to the old id in between moves its version,
      // and the copy is made again (the keys may be on two Cluster slots: no one script can do both).
      for (let attempt = 0; attempt < REGENERATE_ATTEMPTS; attempt++) {
        const flat = await redis.hgetall(sessionKey(oldId))
        if (flat._a === undefined || flat._r !== undefined || Number(flat._a) <= now) break
        const fields: string[] = []
        for (const [field, value] of Object.entries(flat)) if (!NOT_COPIED.has(field)) fields.push(field, value)
        await redis.podsideWriteCopy(sessionKey(newId), now, t.idleMs, ...fields)
        const marked = await redis.podsideMarkMoved(sessionKey(oldId), newId, now, t.graceMs, channelOf(oldId), flat._v ?? '0', publish)
        if (marked === 'changed') continue
        if (marked === null) break
        await heard(oldId, marked[1])
        if (flat._u !== undefined) {
          await redis.sadd(userKey(flat._u), newId)
          await redis.srem(userKey(flat._u), oldId)
          await redis.pexpire(userKey(flat._u), t.absoluteMs)
        }
        return true
      }
      await redis.del(sessionKey(newId))
      return false
    },

    async retire (oldId, at) {
      await heard(oldId, await redis.podsideRetire(sessionKey(oldId), at, channelOf(oldId), publish))
    },

    async destroy (id) {
      const { existed, movedTo } = await destroyOne(id)
      if (movedTo !== '') await destroyOne(movedTo)
      return existed
    },

    userSessions: liveIdsOf,

    async destroyUser (user, now) {
      const ids = await liveIdsOf(user, now)
      for (const id of ids) await destroyOne(id)
      await redis.del(userKey(user))
      return ids.length
    },

    async ping () { await redis.ping() },
    async close () {}
  }
}

function encodeCookie (c: JarCookie): string {
  const flags = (c.hostOnly ? FLAG_HOST_ONLY : 0) | (c.secure ? FLAG_SECURE : 0) | (c.httpOnly ? FLAG_HTTP_ONLY : 0) |
    (c.sameSite === 'strict' ? FLAG_SAMESITE_STRICT : c.sameSite === 'lax' ? FLAG_SAMESITE_LAX : c.sameSite === 'none' ? FLAG_SAMESITE_NONE : 0)
  return JSON.stringify([c.name, c.value, c.domain, c.path, flags, c.expires, c.created, c.order])
}

function sameSiteOf (flags: number): SameSite {
  if ((flags & FLAG_SAMESITE_STRICT) !== 0) return 'strict'
  if ((flags & FLAG_SAMESITE_LAX) !== 0) return 'lax'
  return (flags & FLAG_SAMESITE_NONE) !== 0 ? 'none' : 'default'
}

function decode (id: string, flat: string[]): SessionRecord {
  const rec: SessionRecord = { id, created: 0, lastSeen: 0, absoluteExpiry: 0, user: undefined, movedTo: undefined, retiredAt: 0, rotatedAt: 0, cookies: [] }
  for (let i = 0; i < flat.length; i += 2) {
    const field = flat[i]
    const value = flat[i + 1]
    if (field.startsWith('c:')) {
      const [name, val, domain, path, flags, expires, created, order] = JSON.parse(value) as [string, string, string, string, number, number, number, number?]
      rec.cookies.push({
        name, value: val, domain, path, expires, created, order: order ?? 0, sameSite: sameSiteOf(flags),
        hostOnly: (flags & FLAG_HOST_ONLY) !== 0,
        secure: (flags & FLAG_SECURE) !== 0,
        httpOnly: (flags & FLAG_HTTP_ONLY) !== 0
      })
    } else if (field === '_c') rec.created = Number(value)
    else if (field === '_s') rec.lastSeen = Number(value)
    else if (field === '_a') rec.absoluteExpiry = Number(value)
    else if (field === '_u') rec.user = value
    else if (field === '_r') rec.movedTo = value
    else if (field === '_o') rec.rotatedAt = Number(value)
    else if (field === '_d') rec.retiredAt = Number(value)
  }
  return rec
}
