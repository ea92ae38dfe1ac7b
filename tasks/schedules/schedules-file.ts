import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { parseSchedule, type Schedule } from './schedule.js'

/**
 * Reads `--schedules FILE`: YAML (JSON is YAML too) with one mapping, `schedules:`, of name →
 * schedule. Returns the schedules, or every problem, each naming the file and the field
 * (`--schedules s.yaml: schedules.nightly.every: expected …`), for the one exit-2 message.
 */
export function readSchedulesFile (path: string): Schedule[] | string[] {
  const where = `--schedules ${path}`
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    return [`${where}: cannot read the file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]
  }
  let doc: unknown
  try {
    doc = parseYaml(text, { uniqueKeys: true })
  } catch (err) {
    return [`${where}: not YAML or JSON: ${(err as Error).message.split('\n')[0]}`]
  }
  const top = doc as Record<string, unknown> | null
  if (top === null || typeof top !== 'object' || Array.isArray(top) || top.schedules === null ||
    typeof top.schedules !== 'object' || Array.isArray(top.schedules)) {
    return [`${where}: expected a mapping "schedules:" of name → schedule, e.g. {"schedules":{"count-uploads":{"every":"10s","task":{"name":"count-uploads"}}}}`]
  }
  const problems = Object.keys(top).filter((k) => k !== 'schedules').map((k) => `${where}: ${k}: unknown field (known: schedules)`)
  const schedules: Schedule[] = []
  for (const [name, raw] of Object.entries(top.schedules as Record<string, unknown>)) {
    const s = parseSchedule(name, raw, `schedules.${name}`)
    if (Array.isArray(s)) problems.push(...s.map((p) => `${where}: ${p}`))
    else schedules.push(s)
  }
  return problems.length > 0 ? problems : schedules
}
