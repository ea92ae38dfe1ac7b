import { createHash, type Hash } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { TornRead } from './errors.js'
import { changed, digest, type FileMeta } from './file-meta.js'
import type { OpenedFile } from './open-file.js'

/**
 * Streams bytes `start..end` of an open file into the answer, from the handle its ETag was taken
 * from (never by path again). The head already promised a Content-Length and an ETag: when the file
 * was rewritten in place meanwhile, the last chunk is withheld and the connection cut, so the
 * client sees an incomplete message (RFC 9112 §6.3: fewer bytes than Content-Length) rather than a
 * complete wrong one.
 */
export async function streamFile (res: ServerResponse, file: OpenedFile, meta: FileMeta, start: number, end: number): Promise<void> {
  const whole = start === 0 && end === meta.size - 1
  const check = new Consistent(file, end - start + 1, whole ? meta.hash : undefined)
  await pipeline(file.fh.createReadStream({ start, end, autoClose: false }), check, res)
}

/**
 * Passes the bytes through one chunk behind, and releases the last one only once the whole is
 * known to be what was promised: the byte count, the fstat size and mtime of the handle, and (for
 * the whole body) its hash. mtime alone misses rewrites within one clock tick; the hash does not.
 */
class Consistent extends Transform {
  private held: Buffer | undefined
  private bytes = 0
  private readonly hash: Hash | undefined

  constructor (private readonly file: OpenedFile, private readonly expected: number, private readonly etagHash: string | undefined) {
    super()
    this.hash = etagHash === undefined ? undefined : createHash('sha256')
  }

  override _transform (chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length
    this.hash?.update(chunk)
    const previous = this.held
    this.held = chunk
    cb(null, previous)
  }

  override _flush (cb: TransformCallback): void {
    this.file.fh.stat().then((now) => {
      const torn = this.bytes !== this.expected || changed(this.file.stat, now) ||
        (this.hash !== undefined && digest(this.hash) !== this.etagHash)
      if (torn) cb(new TornRead('the file changed while it was sent'))
      else cb(null, this.held)
    }, (err: unknown) => cb(err as Error))
  }
}
