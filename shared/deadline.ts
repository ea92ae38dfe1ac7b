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
