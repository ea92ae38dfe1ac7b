/**
 * The purge storm of issue 13 item 3: `count` messages on the purge channel, a fixed mix of plain
 * paths, JSON with paths, JSON with prefixes, malformed and oversized (over 64 KiB) messages.
 * Shared by bench/purge-storm.ts and test/fileproxy/purge-storm.test.ts, so both count alike.
 */
export interface Storm {
  messages: string[]
  /** Messages a fileproxy applies (counted in podside_fileproxy_purges_received_total). */
  applied: number
  /** Messages it ignores (podside_fileproxy_purge_messages_ignored_total). */
  ignored: number
}

const OVERSIZED = 64 * 1024 + 512 // just over the 64 KiB limit of one purge message

export function purgeStorm (count: number): Storm {
  const messages: string[] = []
  let applied = 0
  for (let i = 0; i < count; i++) {
    const m = i % 40
    if (m < 16) { messages.push(`/storm/${i}.png`); applied++ } // 40% plain paths
    else if (m < 24) { messages.push(JSON.stringify({ id: `p${i}`, paths: [`/storm/a${i}.png`, `/storm/b${i}.png`] })); applied++ } // 20%
    else if (m < 30) { messages.push(JSON.stringify({ id: `x${i}`, prefixes: [`/storm/dir${i % 500}/`] })); applied++ } // 15% prefixes
    else if (m < 33) messages.push(`{not json ${i}`) // malformed: 7.5% bad JSON,
    else if (m < 35) messages.push(JSON.stringify({ paths: `/not/an/array/${i}` })) // 5% wrong shape,
    else if (m < 37) messages.push(`no leading slash ${i}`) // 5% neither path nor JSON
    // 1.25% oversized (250 of 20,000: 16 MB, half of Redis's default pub/sub output buffer limit)
    else if (m === 37 && i % 80 === 37) messages.push('/' + 'o'.repeat(OVERSIZED))
    else { messages.push(`/storm/dir${i % 500}/${i}.png`); applied++ } // the rest: plain paths in prefixed dirs
  }
  return { messages, applied, ignored: count - applied }
}
