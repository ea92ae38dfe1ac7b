import { constants, existsSync, type Stats } from 'node:fs'
import { open, readlink, realpath, stat, type FileHandle } from 'node:fs/promises'
import { join, sep } from 'node:path'
import { PodsideError } from '../shared/errors.js'
import { Forbidden, NotFound, ReadFailed } from './errors.js'

/**
 * A regular file inside --root, open. Its bytes are only ever read through `fh` (never by path
 * again), so what was checked is what is sent. Shared by the requests of one load: each calls
 * `release()` once; the last one closes the handle.
 */
export interface OpenedFile {
  readonly fh: FileHandle
  /** fstat of the handle, taken right after opening. */
  readonly stat: Stats
  readonly realPath: string
  /** Hands the file to `users` holders in all (the opener included). */
  share (users: number): void
  release (): void
}

// POSIX open(): O_NONBLOCK makes opening a FIFO for reading return at once instead of waiting for
// a writer (which held a libuv fs thread forever); O_NOFOLLOW refuses a symlink swapped in as the
// last component after realpath.
const FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW
// Linux names the file an fd refers to in /proc/self/fd: the kernel's answer for the opened inode.
const PROC_FD = existsSync('/proc/self/fd') ? '/proc/self/fd/' : undefined

/**
 * The file-system calls the file proxy makes by path: a seam, so a test can make the volume fail
 * (EIO, ESTALE, EACCES) where a real file system will not on demand.
 */
export interface FsOps {
  realpath: (path: string) => Promise<string>
  stat: (path: string) => Promise<Stats>
  open: (path: string, flags: number) => Promise<FileHandle>
}
export const realFs: FsOps = { realpath, stat, open }

/** Opens files under `root` (its real path) only, checking the opened handle, not the path. */
export function createOpener (root: string, fs: FsOps = realFs) {
  const under = root.endsWith(sep) ? root : root + sep
  const inside = (real: string): boolean => real.startsWith(under)
  const dotted = (real: string): boolean => real.slice(under.length).split(sep).some((s) => s.startsWith('.'))

  /** The real path of a key, refused when it leaves the root (a symlink may point anywhere). */
  async function confine (key: string): Promise<string> {
    let real: string
    try { real = await fs.realpath(join(root, key)) } catch (err) { throw fsError(err) }
    if (!inside(real)) throw new Forbidden('path leaves the served root')
    if (dotted(real)) throw new NotFound('dotfiles are not served')
    return real
  }

  /**
   * Where the opened handle really is. A path can change between realpath and open (a directory
   * swapped for a symlink), so the check is made on the handle: the kernel's path of the fd, or,
   * without /proc, the path's inode compared with the handle's (narrower, not race-free).
   */
  async function openedInside (fh: FileHandle, real: string, st: Stats): Promise<boolean> {
    if (PROC_FD !== undefined) {
      // A file unlinked since it was opened (replaced by rename) reads "<path> (deleted)".
      const opened = (await readlink(PROC_FD + fh.fd)).replace(/ \(deleted\)$/, '')
      return inside(opened) && !dotted(opened)
    }
    const again = await fs.stat(real)
    return again.dev === st.dev && again.ino === st.ino && await fs.realpath(real) === real
  }

  async function openFile (key: string): Promise<OpenedFile> {
    const real = await confine(key)
    let fh: FileHandle
    try { fh = await fs.open(real, FLAGS) } catch (err) { throw fsError(err) }
    try {
      const st = await fh.stat()
      // Only regular files: a FIFO, socket, device or directory is not found, at once.
      if (!st.isFile()) throw new NotFound('not a regular file')
      if (!await openedInside(fh, real, st)) throw new Forbidden('path leaves the served root')
      return shared(fh, st, real)
    } catch (err) {
      await fh.close()
      throw err instanceof PodsideError ? err : fsError(err)
    }
  }

  return { confine, openFile }
}

function shared (fh: FileHandle, st: Stats, realPath: string): OpenedFile {
  let users = 1
  return {
    fh,
    stat: st,
    realPath,
    share (n) { users = n },
    release () { if (--users === 0) fh.close().catch(() => {}) }
  }
}

/** File-system failures as catalogue errors; the message never carries a file-system path. */
export function fsError (err: unknown): PodsideError {
  const code = (err as NodeJS.ErrnoException).code
  if (code !== undefined && GONE.has(code)) return new NotFound(undefined, { cause: err })
  if (code === 'EACCES' || code === 'EPERM') return new Forbidden(undefined, { cause: err })
  return new ReadFailed('the file could not be read', { cause: err })
}

// ENXIO: open() of a unix socket (Linux); ELOOP: O_NOFOLLOW met a symlink. The path names nothing servable.
const GONE = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'ELOOP', 'ENXIO', 'ENODEV'])

/**
 * Whether an error is the volume failing (EIO, ESTALE, ETIMEDOUT, EACCES…) rather than the file
 * being gone or refused by podside's own checks: only then may a cached copy be served stale.
 */
export function isVolumeFailure (err: unknown): boolean {
  const code = ((err instanceof PodsideError ? err.cause : err) as NodeJS.ErrnoException | undefined)?.code
  return typeof code === 'string' && !GONE.has(code)
}
