/** What the sink writes to: `process.stdout` in the daemons, any Writable in tests. */
export interface SinkTarget {
  write (chunk: Uint8Array, cb: (err?: Error | null) => void): boolean
  readonly writableLength: number
  on (event: 'error', listener: (err: Error) => void): unknown
}

export const LOG_SINK_DEFAULTS = {
  /** Lines waiting for stdout (our batch in characters, the stream's queue in bytes): beyond it new lines are dropped. */
  maxPendingBytes: 8 * 1024 * 1024, // 8 MiB
  /** Lines are handed to stdout in batches of this size, characters... */
  batchBytes: 16 * 1024, // 16 KiB, the chunk Docker's log copier reads
  /** ...or this long after the first line of a batch, whichever comes first. */
  flushMs: 100, // 0.1 s
  /** At exit, longest wait for stdout to take what is pending. */
  endMs: 5_000 // 5 s
}

export interface LogSinkOptions {
  target: SinkTarget
  /** The warning written when stdout takes lines again after some were dropped (one JSON line, with `\n`). */
  warning: (dropped: number) => string
  maxPendingBytes?: number
  batchBytes?: number
  flushMs?: number
}

export type LogSink = ReturnType<typeof createLogSink>

/**
 * The daemons' stdout: access lines batched in memory and handed to the stream a batch at a time
 * (other lines at the end of the event loop's turn, so a warning is seen at once), pending
 * lines bounded (a stalled reader costs at most `maxPendingBytes`, then lines are dropped and
 * counted), and one warning line with the count once the stream drains. `process.stdout` on a pipe
 * is asynchronous on Linux (Node 20), so a stalled reader never blocks the event loop; on a file
 * it writes synchronously, which cannot stall. Why not pino's sonic-boom: docs/decisions.md.
 */
export function createLogSink (opts: LogSinkOptions) {
  const { target } = opts
  const max = opts.maxPendingBytes ?? LOG_SINK_DEFAULTS.maxPendingBytes
  const batch = opts.batchBytes ?? LOG_SINK_DEFAULTS.batchBytes
  const flushMs = opts.flushMs ?? LOG_SINK_DEFAULTS.flushMs
  let buf = ''
  let timer: NodeJS.Timeout | undefined
  let immediate: NodeJS.Immediate | undefined
  let dropped = 0
  /** Dropped since the last warning. */
  let unreported = 0
  let broken = false
  /** Batches handed to the stream and not yet written; `end()` waits for none. */
  let inFlight = 0
  let ended: (() => void) | undefined

  /**
   * A batch was written. After drops, writing has resumed once the backlog is down to half the
   * bound: then one warning with their count goes out ahead of the lines that follow.
   */
  function written (): void {
    inFlight--
    if (unreported > 0 && !broken && buf.length + target.writableLength <= max / 2) {
      const n = unreported
      unreported = 0
      buf = opts.warning(n) + buf
      flush()
    }
    if (inFlight === 0) ended?.()
  }

  // A reader that went away (EPIPE) must not end the process: what is left is dropped and counted.
  target.on('error', () => { broken = true })

  function flush (cb?: (err?: Error) => void): void {
    if (timer !== undefined) { clearTimeout(timer); timer = undefined }
    if (immediate !== undefined) { clearImmediate(immediate); immediate = undefined }
    if (buf !== '' && !broken) {
      const chunk = buf
      buf = ''
      inFlight++
      // As bytes: what waits for a stalled reader is then off the V8 heap and counted exactly.
      target.write(Buffer.from(chunk), written)
    }
    cb?.()
  }

  /** Takes a line unless the backlog is at the bound; true when the batch is full. */
  function add (line: string): boolean | undefined {
    if (broken || buf.length + target.writableLength + line.length > max) {
      dropped++
      unreported++
      return undefined
    }
    buf += line
    return buf.length >= batch
  }

  return {
    /**
     * One complete line (`\n` included) that should be seen soon: pino's lines (warnings, errors,
     * lifecycle) go out at the end of this turn of the event loop, with the batch before them.
     * False when it was dropped.
     */
    write (line: string): boolean {
      const full = add(line)
      if (full === undefined) return false
      if (full) flush()
      else immediate ??= setImmediate(flush).unref()
      return true
    },
    /** An access line: it waits for a full batch or `flushMs`, whichever comes first. */
    batch (line: string): boolean {
      const full = add(line)
      if (full === undefined) return false
      if (full) flush()
      else if (timer === undefined && immediate === undefined) timer = setTimeout(flush, flushMs).unref()
      return true
    },
    /** Hands what is buffered to the stream now (pino's `logger.flush()` calls it). */
    flush,
    /**
     * Flushes and resolves true once the stream has written everything, or false after `timeoutMs`
     * (a reader that stopped reading must not hold the process at exit).
     */
    async end (timeoutMs: number): Promise<boolean> {
      flush()
      if (inFlight === 0 || broken) return !broken
      return await new Promise<boolean>((resolve) => {
        const giveUp = setTimeout(() => { ended = undefined; resolve(false) }, timeoutMs)
        ended = () => { clearTimeout(giveUp); ended = undefined; resolve(!broken) }
      })
    },
    /** Lines dropped since the start, for `podside_log_lines_dropped_total`. */
    get dropped (): number { return dropped }
  }
}
