import { spawnSync } from 'node:child_process'

/**
 * The external tools the deploy tests run. A missing tool fails the test (never a skip) with the
 * Debian package that .ci/run installs for it.
 */
export const TOOLS = {
  promtool: 'prometheus',
  prometheus: 'prometheus',
  kubectl: 'kubernetes-client'
} as const

export function requireTool (tool: keyof typeof TOOLS): string {
  const found = spawnSync(tool, ['--version'], { encoding: 'utf8' })
  // kubectl has no --version; `kubectl version --client` is checked by its caller.
  if (found.error !== undefined) {
    throw new Error(`${tool} is not on the PATH: install the Debian package ${TOOLS[tool]} (apt-get install -y ${TOOLS[tool]}) or run .ci/run, which does.`)
  }
  return tool
}

/** Runs a tool to completion; throws with its output when it does not exit 0. */
export function run (tool: keyof typeof TOOLS, args: string[], cwd?: string): string {
  requireTool(tool)
  const r = spawnSync(tool, args, { encoding: 'utf8', cwd, maxBuffer: 64 * 1024 * 1024 })
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} exited with ${r.status}:\n${r.stdout}${r.stderr}`)
  return r.stdout
}
