/**
 * Redis Cluster slots, and the shard channels that carry session invalidations under Cluster.
 *
 * Sharded pub/sub (`SPUBLISH`, Redis ≥ 7.0) delivers a message only to the subscribers on the shard
 * that owns the channel's slot, and a script may publish only to a channel in the slot of its keys.
 * So the invalidation of a session is published on a channel in the slot of the session's key, and
 * every gateway subscribes to those channels. One per slot would be 16,384 subscriptions per
 * gateway; instead new session ids are drawn so that their slot is a multiple of BUCKET_STRIDE
 * (1,024 "bucket" slots, evenly spread, so resharding by slot ranges keeps sessions balanced), and
 * each bucket slot has one channel. See docs/decisions.md ("Session cache under Cluster").
 */

export const SLOTS = 16384
/** Every this many slots, one holds sessions (4 bits of an id's 192 go to choosing it). */
export const BUCKET_STRIDE = 16
export const BUCKETS = SLOTS / BUCKET_STRIDE

const TABLE = crcTable()

/** CRC16-XMODEM of the key's hash tag (or whole key) mod 16384: `CLUSTER KEYSLOT`. */
export function keySlot (key: string): number {
  let tag = key
  const open = key.indexOf('{')
  if (open !== -1) {
    const close = key.indexOf('}', open + 1)
    if (close > open + 1) tag = key.slice(open + 1, close)
  }
  return crc16(Buffer.from(tag, 'utf8')) % SLOTS
}

/** The bucket of a slot, or -1 when sessions there have no invalidation channel (ids from before). */
export function bucketOfSlot (slot: number): number {
  return slot % BUCKET_STRIDE === 0 ? slot / BUCKET_STRIDE : -1
}

/** The bucket of a session id (its key's hash tag is the id), or -1. */
export function bucketOfId (id: string): number {
  return bucketOfSlot(crc16(Buffer.from(id, 'utf8')) % SLOTS)
}

let channels: string[] | undefined

/**
 * The shard channel of each bucket: `<prefix>inv:{<tag>}` where the tag is the smallest base-36
 * number whose slot is the bucket's slot. Every gateway computes the same table (~100k CRCs, once).
 */
export function bucketChannels (prefix = 'podside:'): string[] {
  if (channels === undefined) {
    const tags: string[] = new Array(BUCKETS)
    let found = 0
    for (let n = 0; found < BUCKETS; n++) {
      const tag = n.toString(36)
      const b = bucketOfSlot(crc16(Buffer.from(tag)) % SLOTS)
      if (b !== -1 && tags[b] === undefined) { tags[b] = tag; found++ }
    }
    channels = tags
  }
  return channels.map((tag) => `${prefix}inv:{${tag}}`)
}

function crc16 (buf: Buffer): number {
  let crc = 0
  for (const byte of buf) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ byte) & 0xff]
  return crc
}

function crcTable (): Uint16Array {
  const table = new Uint16Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i << 8
    for (let j = 0; j < 8; j++) c = (c & 0x8000) !== 0 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff
    table[i] = c
  }
  return table
}
