import type { RedisClient } from '../../shared/redis-client.js'
import { TaskNotFound, TaskNotRetryable, TaskRunning } from '../errors.js'
import { taskKeys, type TaskKeys } from '../task-keys.js'
import { TASK_STATES, type Attempt, type TaskRecord, type TaskState } from '../task-queue.js'
import { parseRecord } from './redis-record.js'
import { ADD, CANCEL, FINISH, HAND_BACK, PROMOTE, RETRY, START, TAKE } from './redis-scripts.js'
import type { Next, QueueCounts, StoredTask, StoreOptions, Taken, TaskStore } from './store.js'

type Script = (...args: Array<string | number | Buffer>) => Promise<unknown>
const SCRIPTS = { podsideTaskAdd: ADD, podsideTaskStart: START, podsideTaskTake: TAKE, podsideTaskFinish: FINISH, podsideTaskHandBack: HAND_BACK, podsideTaskPromote: PROMOTE, podsideTaskRetry: RETRY, podsideTaskCancel: CANCEL }

export interface RedisTaskStoreOptions extends StoreOptions {
  /** Commands of the request path and the loops (fails fast). */
  client: RedisClient
  /** A connection of its own for the blocking XREADGROUP (a blocked connection serves nothing else); only nodes that run tasks need it. */
  blocking?: RedisClient
  queue?: string
  /** A consumer holding nothing and idle this long is a node that stopped; the sweep forgets it. @default 3600000 (1 h) */
  consumerIdleMs?: number
}

/**
 * The queue on Redis: a Stream read by one consumer group (a node takes only as many entries as
 * it has free slots; an entry stays in the group's pending list, its lease, until acknowledged),
 * `XCLAIM … JUSTID` renewing the leases of calls still open, `XAUTOCLAIM` taking over entries whose
 * holder stopped renewing, a sorted set of delayed tasks moved in by a script, and one hash per
 * task. Acknowledged entries are deleted (XACK + XDEL), so the stream holds only work not done.
 */
export function createRedisTaskStore (opts: RedisTaskStoreOptions): TaskStore {
  const { client } = opts
  const k: TaskKeys = taskKeys(opts.queue)
  const prefix = k.stream.slice(0, -':stream'.length)
  for (const [name, lua] of Object.entries(SCRIPTS)) {
    if (typeof (client as unknown as Record<string, unknown>)[name] !== 'function') client.defineCommand(name, { numberOfKeys: 1, lua })
  }
  const run = (name: keyof typeof SCRIPTS, ...args: Array<string | number | Buffer>): Promise<unknown> =>
    ((client as unknown as Record<string, Script>)[name]).call(client, k.stream, prefix, ...args)
  const runBuffer = (name: keyof typeof SCRIPTS, ...args: Array<string | number | Buffer>): Promise<unknown> =>
    ((client as unknown as Record<string, Script>)[name + 'Buffer']).call(client, k.stream, prefix, ...args)
  const groupsMade = new Set<string>()

  async function ensureGroup (stream: string): Promise<void> {
    if (groupsMade.has(stream)) return
    try {
      // From 0: entries added before the first node started are read too.
      await client.xgroup('CREATE', stream, k.group, '0', 'MKSTREAM')
    } catch (err) {
      if (!String((err as Error).message).startsWith('BUSYGROUP')) throw err
    }
    // A node's own stream expires once no copy came for the retention (the node is likely gone);
    // a live node then makes it again (NOGROUP below).
    if (stream !== k.stream) await client.pexpire(stream, opts.retentionMs)
    groupsMade.add(stream)
  }

  async function start (node: string, now: number, entries: Array<[string, string, string]>, takenOver: boolean): Promise<Taken[]> {
    if (entries.length === 0) return []
    return started(await runBuffer('podsideTaskStart', k.group, node, now, ...entries.flat()), takenOver)
  }

  function started (replies: unknown, takenOver: boolean): Taken[] {
    return (replies as Array<[Buffer, Buffer, number, number, Buffer[]]>).map(([s, e, n, over, fields]) => {
      const { record, payload } = parseRecord(fields)
      return { record, payload, attempt: n, lease: `${s.toString()} ${e.toString()}`, takenOver: takenOver || over === 1 }
    })
  }

  async function finishLike (name: 'podsideTaskFinish' | 'podsideTaskHandBack', taken: Taken, attempt: Attempt, next: string, due: number, now: number): Promise<void> {
    const [stream, entry] = taken.lease.split(' ')
    await run(name, k.group, stream, entry, taken.record.id, taken.attempt, JSON.stringify(attempt), next, due, now, opts.retentionMs)
  }

  return {
    kind: 'redis',
    async add (task: StoredTask, nodes, now) {
      const fields: Array<string | Buffer> = ['name', task.name, 'payload', task.payload, 'ct', task.contentType, 'on', task.on,
        'timeout', String(task.timeoutMs), 'max', String(task.maxAttempts), 'created', String(task.createdAt)]
      if (task.key !== undefined) fields.push('key', task.key)
      if (task.scheduledFor !== undefined) fields.push('sf', task.scheduledFor)
      if (task.schedule !== undefined) fields.push('sched', task.schedule)
      const [id, state, dup] = await run('podsideTaskAdd', task.id, now, task.key ?? '', task.dueAt ?? '', opts.retentionMs,
        fields.length / 2, ...fields, ...task.on === 'every' ? nodes : []) as [string, TaskState, number]
      return dup === 1 ? { id, state, duplicate: true } : { id, state }
    },
    async get (id) {
      const fields = await client.hgetallBuffer(k.task(id))
      if (Object.keys(fields).length === 0) return undefined
      return parseRecord(Object.entries(fields).flatMap(([f, v]) => [Buffer.from(f), v])).record
    },
    async list (state, limit) {
      const ids = await client.zrange(k.index(state), 0, limit - 1)
      if (ids.length === 0) return []
      const pipe = client.pipeline()
      for (const id of ids) pipe.hgetallBuffer(k.task(id))
      const replies = await pipe.exec() ?? []
      const out: TaskRecord[] = []
      for (const [err, fields] of replies) {
        if (err !== null) throw err
        const hash = fields as Record<string, Buffer>
        if (Object.keys(hash).length > 0) out.push(parseRecord(Object.entries(hash).flatMap(([f, v]) => [Buffer.from(f), v])).record)
      }
      return out
    },
    async take (node, count, blockMs, now) {
      const own = k.nodeStream(node)
      await ensureGroup(k.stream)
      await ensureGroup(own)
      // Under load there is work at once: read and start in one round trip. Only when there is none
      // does the node wait, on its own connection, and start what it then reads.
      let ready: Taken[]
      try {
        ready = started(await runBuffer('podsideTaskTake', k.group, node, now, count, own), false)
      } catch (err) {
        if (String((err as Error).message).includes('NOGROUP')) { groupsMade.clear(); return [] }
        throw err
      }
      if (ready.length > 0 || blockMs <= 0) return ready
      const reader = opts.blocking ?? client
      let reply: Array<[string, Array<[string, string[]]>]> | null
      try {
        reply = await reader.call('XREADGROUP', 'GROUP', k.group, node, 'COUNT', count, ...blockMs > 0 ? ['BLOCK', blockMs] : [],
          'STREAMS', k.stream, own, '>', '>') as typeof reply
      } catch (err) {
        // The node stream expired with its group (no task for this node within the retention): made again next time.
        if (String((err as Error).message).startsWith('NOGROUP')) { groupsMade.clear(); return [] }
        throw err
      }
      const entries: Array<[string, string, string]> = []
      for (const [stream, items] of reply ?? []) {
        for (const [entry, fields] of items) entries.push([stream, entry, fields[fields.indexOf('id') + 1]])
      }
      return await start(node, now, entries, false)
    },
    async reclaim (node, count, leaseMs, now) {
      await ensureGroup(k.stream)
      const [, claimed] = await client.xautoclaim(k.stream, k.group, node, leaseMs, '0-0', 'COUNT', count) as [string, Array<[string, string[] | null]>]
      const entries: Array<[string, string, string]> = []
      for (const [entry, fields] of claimed) {
        if (fields === null) continue
        entries.push([k.stream, entry, fields[fields.indexOf('id') + 1]])
      }
      return await start(node, now, entries, true)
    },
    async recoverOwn (node, holding, count, now) {
      const entries: Array<[string, string, string]> = []
      for (const stream of [k.stream, k.nodeStream(node)]) {
        const pending = await client.xpending(stream, k.group, '-', '+', count, node).catch(() => []) as Array<[string, string, number, number]>
        const lost = pending.map(([entry]) => entry).filter((entry) => !holding.has(`${stream} ${entry}`))
        if (lost.length === 0) continue
        // Claimed by this node again (idle reset), with the fields to find the task.
        const claimed = await client.xclaim(stream, k.group, node, 0, ...lost) as Array<[string, string[] | null]>
        for (const [entry, fields] of claimed) if (fields !== null) entries.push([stream, entry, fields[fields.indexOf('id') + 1]])
      }
      return await start(node, now, entries, false)
    },
    async renew (node, taken) {
      if (taken.length === 0) return
      const byStream = new Map<string, string[]>()
      for (const t of taken) {
        const [stream, entry] = t.lease.split(' ')
        byStream.set(stream, [...byStream.get(stream) ?? [], entry])
      }
      const pipe = client.pipeline()
      for (const [stream, entries] of byStream) pipe.xclaim(stream, k.group, node, 0, ...entries, 'JUSTID')
      for (const [err] of await pipe.exec() ?? []) if (err !== null) throw err
    },
    async finish (taken, attempt, next: Next, now) {
      await finishLike('podsideTaskFinish', taken, attempt, next.state, next.state === 'delayed' ? next.dueAt : 0, now)
    },
    async handBack (taken, attempt, now) {
      await finishLike('podsideTaskHandBack', taken, attempt, 'queued', 0, now)
    },
    async promote (now, limit) {
      return await run('podsideTaskPromote', now, limit) as number
    },
    async retry (id, now) {
      const r = await run('podsideTaskRetry', id, now) as string
      if (r === 'missing') throw new TaskNotFound(`no task ${id}`)
      if (r !== 'ok') throw new TaskNotRetryable(`task ${id} is ${r}`)
      return await this.get(id) as TaskRecord
    },
    async cancel (id, now) {
      const r = await run('podsideTaskCancel', id, now, opts.retentionMs) as string
      if (r === 'missing') throw new TaskNotFound(`no task ${id}`)
      if (r === 'running') throw new TaskRunning(`task ${id} is running`)
      return await this.get(id) as TaskRecord
    },
    async counts (): Promise<QueueCounts> {
      const pipe = client.pipeline()
      for (const s of TASK_STATES) pipe.zcard(k.index(s))
      pipe.zrange(k.index('queued'), 0, 0, 'WITHSCORES')
      const replies = (await pipe.exec() ?? []).map(([err, v]) => { if (err !== null) throw err; return v })
      const byState = Object.fromEntries(TASK_STATES.map((s, i) => [s, replies[i] as number])) as Record<TaskState, number>
      const oldest = replies[TASK_STATES.length] as string[]
      return { byState, ...oldest.length === 2 ? { oldestQueuedAt: Number(oldest[1]) } : {} }
    },
    async sweep (now) {
      // Records expire by themselves (PEXPIRE); their index entries go here.
      const pipe = client.pipeline()
      for (const s of ['done', 'cancelled']) pipe.zremrangebyscore(k.index(s), '-inf', now - opts.retentionMs)
      for (const [err] of await pipe.exec() ?? []) if (err !== null) throw err
      // Every process start is a new consumer: forget those that hold nothing and were idle an hour.
      await ensureGroup(k.stream)
      const consumers = await client.xinfo('CONSUMERS', k.stream, k.group) as unknown[][]
      for (const c of consumers) {
        const f = new Map<string, unknown>()
        for (let i = 0; i < c.length; i += 2) f.set(String(c[i]), c[i + 1])
        if (Number(f.get('pending')) === 0 && Number(f.get('idle')) > (opts.consumerIdleMs ?? 3_600_000)) await client.xgroup('DELCONSUMER', k.stream, k.group, String(f.get('name')))
      }
    },
    async ping () { await client.ping() },
    async close () {}
  }
}
