/**
 * `work`, or a rejection with `message` once `ms` passed, whichever comes first. For one-shot
 * commands: a Redis client can hold a command it will never answer (a Cluster node killed while
 * the slot map is refreshed), and a command line tool must still end.
 */
export async function withDeadline<T> (work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(message)), ms) })
  try {
    return await Promise.race([work, expired])
  } finally {
    clearTimeout(timer)
  }
}

/** Waits for `work` at most `ms`, whatever its outcome: for shutdown steps that must not hold a stop. */
export async function atMost (work: Promise<unknown>, ms: number): Promise<void> {
  await withDeadline(work, ms, 'late').catch(() => {})
}
