import { text, type Setting } from '../../shared/setting-kinds.js'
import type { Schedule } from './schedule.js'
import { readSchedulesFile } from './schedules-file.js'

/** `--schedules FILE`: a YAML or JSON file of schedules, put into the store at start. */
export function schedulesSetting (): Setting<string> {
  return { ...text('a YAML or JSON file of schedules ({"schedules":{"<name>":{"every":"30s","task":{"name":"…"}}}}), put into Redis at start'), kind: '<file>' }
}

const read = new Map<string, Schedule[]>()

/**
 * The settings check: reads and validates the file once, so a bad file stops the daemon at start
 * (exit 2) with each problem naming its field. The daemon then takes the same parsed schedules.
 */
export function checkSchedulesFile (path: string | undefined): string[] {
  if (path === undefined) return []
  const r = readSchedulesFile(path)
  if (r.length > 0 && typeof r[0] === 'string') return r as string[]
  read.set(path, r as Schedule[])
  return []
}

/** The schedules of a file the settings check accepted (read now if it was not checked). */
export function schedulesOf (path: string | undefined): Schedule[] {
  if (path === undefined) return []
  const known = read.get(path)
  if (known !== undefined) return known
  const problems = checkSchedulesFile(path)
  if (problems.length > 0) throw new Error(problems.join('; '))
  return read.get(path) as Schedule[]
}
