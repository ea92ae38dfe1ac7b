import t from 'tap'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'
import { envName } from '../../shared/load-config.js'
import { gatewaySettings } from '../../gateway/settings.js'
import { fileproxySettings } from '../../fileproxy/settings.js'
import { parseDuration, parseSize } from '../../shared/units.js'
import type { Schema } from '../../shared/setting-kinds.js'

/**
 * The deployment files checked against the code: every PODSIDE_* variable they set is a real
 * setting, ports and probe paths match the daemons' defaults, the YAML parses, the image runs as a
 * non-root user with node as PID 1.
 */
const deploy = fileURLToPath(new URL('../../deploy/', import.meta.url))
const files = (dir: string): string[] => readdirSync(dir).flatMap((n) => statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [join(dir, n)])
const yamlFiles = files(deploy).filter((f) => /\.ya?ml$/.test(f))

const variablesOf = (schema: Schema): Set<string> => new Set(Object.entries(schema).flatMap(([key, s]) => [envName(key), ...s.envFallback === undefined ? [] : [s.envFallback]]))
const gatewayVars = variablesOf(gatewaySettings)
const fileproxyVars = variablesOf(fileproxySettings)
const known = new Set([...gatewayVars, ...fileproxyVars])

function parse (file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true })
  for (const d of docs) if (d.errors.length > 0) throw new Error(`${relative(deploy, file)}: ${d.errors[0].message}`)
  return docs.map((d) => d.toJS({ maxAliasCount: 100 }))
}

/** Every {name, value} env entry and every key of an environment map, anywhere in a document. */
function envVars (node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) { for (const n of node) envVars(n, out); return out }
  if (node === null || typeof node !== 'object') return out
  for (const [k, v] of Object.entries(node)) {
    if (k === 'env' && Array.isArray(v)) for (const e of v) out.push((e as { name: string }).name)
    if (k === 'environment' && v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(...Object.keys(v))
    envVars(v, out)
  }
  return out
}

t.test('every YAML file parses', async (t) => {
  t.ok(yamlFiles.length >= 8, `${yamlFiles.length} YAML files`)
  for (const f of yamlFiles) t.doesNotThrow(() => parse(f), relative(deploy, f))
})

t.test('every PODSIDE_* variable in the manifests and the env file is a setting', async (t) => {
  const used = [
    ...yamlFiles.flatMap((f) => envVars(parse(f))),
    ...readFileSync(join(deploy, 'k8s/base/podside.env'), 'utf8').split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.split('=')[0])
  ].filter((v) => v.startsWith('PODSIDE_') || v === 'REDIS_URL')
  t.ok(used.length > 10)
  for (const v of new Set(used)) t.ok(known.has(v), `${v} is a setting`)
})

t.test('the sidecars: ports, probes and settings match the daemons', async (t) => {
  const [deployment] = parse(join(deploy, 'k8s/base/deployment.yaml')) as any[]
  const containers = deployment.spec.template.spec.containers as any[]
  const gw = containers.find((c) => c.name === 'gateway')
  const fp = containers.find((c) => c.name === 'fileproxy')
  const port = (c: any, name: string): number => c.ports.find((p: any) => p.name === name).containerPort
  t.same(gw.args, ['gateway'])
  t.same(fp.args, ['fileproxy'])
  t.equal(port(gw, 'http'), gatewaySettings.listen.default?.port)
  t.equal(port(gw, 'gateway-admin'), gatewaySettings.adminListen.default?.port)
  t.equal(port(fp, 'files'), fileproxySettings.listen.default?.port)
  t.equal(port(fp, 'files-admin'), fileproxySettings.adminListen.default?.port)
  for (const c of [gw, fp]) {
    t.equal(c.livenessProbe.httpGet.path, '/healthz', `${c.name} liveness`)
    t.equal(c.readinessProbe.httpGet.path, '/readyz', `${c.name} readiness`)
    t.ok(c.lifecycle.preStop, `${c.name} drains before SIGTERM`)
    t.ok(c.resources.limits.memory, `${c.name} has a memory limit`)
  }
  for (const e of fp.env) t.ok(fileproxyVars.has(e.name), `fileproxy env ${e.name} is a fileproxy setting`)
  for (const e of gw.env) t.ok(gatewayVars.has(e.name), `gateway env ${e.name} is a gateway setting`)
  t.equal(gw.env.find((e: any) => e.name === 'PODSIDE_SECRET').valueFrom.secretKeyRef.name, 'podside-session', 'the secret comes from a Secret')
  const mib = (q: string): number => Number(/^(\d+)Mi$/.exec(q)?.[1]) * 1024 * 1024
  const cache = parseSize(fp.env.find((e: any) => e.name === 'PODSIDE_CACHE_SIZE').value) as number
  t.ok(mib(fp.resources.limits.memory) > cache + 128 * 1024 * 1024, 'the fileproxy memory limit leaves room above --cache-size')
  const uploads = deployment.spec.template.spec.volumes.find((v: any) => v.name === 'uploads')
  const [pvc] = parse(join(deploy, 'k8s/base/uploads-pvc.yaml')) as any[]
  t.equal(uploads.persistentVolumeClaim.claimName, pvc.metadata.name)
  t.same(pvc.spec.accessModes, ['ReadWriteMany'])
})

t.test('a roll-out drops nothing: the app outlives the gateway\'s drain, the grace period outlives everything', async (t) => {
  const [deployment] = parse(join(deploy, 'k8s/base/deployment.yaml')) as any[]
  const pod = deployment.spec.template.spec
  const c = (name: string): any => pod.containers.find((x: any) => x.name === name)
  const preStop = (name: string): number => {
    const seconds = c(name).lifecycle?.preStop?.sleep?.seconds
    if (typeof seconds !== 'number') throw new Error(`${name}: no preStop sleep`)
    return seconds
  }
  const env = readFileSync(join(deploy, 'k8s/base/podside.env'), 'utf8')
  const shutdown = (parseDuration(/^PODSIDE_SHUTDOWN_TIMEOUT=(.+)$/m.exec(env)?.[1] ?? '') ?? NaN) / 1000
  t.ok(shutdown > 0, `--shutdown-timeout ${shutdown} s (podside.env)`)
  const grace = pod.terminationGracePeriodSeconds as number
  const app = preStop('app')
  const gateway = preStop('gateway')
  const fileproxy = preStop('fileproxy')
  t.ok(gateway > 0, 'the gateway waits for the endpoints to drop the pod before it stops accepting')
  t.ok(app > gateway, `the app's preStop (${app} s) outlasts the gateway's (${gateway} s): it is still serving when the gateway stops accepting`)
  t.ok(app > gateway + shutdown, `the app gets SIGTERM (${app} s) only after the gateway's drain ended (${gateway} + ${shutdown} s)`)
  t.ok(grace > gateway + shutdown, `grace ${grace} s > gateway preStop + --shutdown-timeout`)
  t.ok(grace > fileproxy + shutdown, `grace ${grace} s > fileproxy preStop + --shutdown-timeout`)
  t.ok(grace >= app + 10, `grace ${grace} s leaves the app at least 10 s after its preStop (${app} s) to exit`)
})

t.test('the image: multi-stage build of dist, Node LTS, non-root, healthcheck, node as PID 1 without a shell', async (t) => {
  const dockerfile = readFileSync(join(deploy, 'Dockerfile'), 'utf8')
  const stages = dockerfile.split(/^(?=FROM )/m).filter((s) => s.startsWith('FROM '))
  t.ok(stages.length >= 2, 'multi-stage')
  for (const s of stages) t.match(s, /^FROM node:(22|24)-[a-z]+-slim\b/, `a supported Node LTS, slim: ${s.split('\n')[0]}`)
  const [build, runtime] = [stages[0], stages[stages.length - 1]]
  t.match(build, /^FROM \S+ AS build$/m)
  t.match(build, /^RUN npm ci\b/m, 'the build stage installs every dependency')
  t.match(build, /\btsc -p tsconfig\.json\b/, 'the build stage compiles the TypeScript')
  t.match(build, /npm prune --omit=dev\b/, 'and drops the dev dependencies')
  const copies = [...runtime.matchAll(/^COPY (?:--from=(\S+) )?(\S+) (\S+)$/gm)].map((m) => ({ from: m[1], src: m[2] }))
  t.same(copies.filter((x) => x.from === 'build').map((x) => x.src).sort(), ['/src/dist', '/src/node_modules', '/src/package.json'], 'the runtime gets dist, the pruned node_modules and package.json from the build')
  t.same(copies.filter((x) => x.from === undefined).map((x) => x.src), ['deploy/healthcheck.mjs'], 'and nothing else (no sources)')
  t.notMatch(runtime, /^RUN /m, 'nothing runs in the runtime stage')
  t.match(runtime, /^USER 1000:1000$/m, 'a numeric non-root user (Kubernetes runAsNonRoot can verify it)')
  t.match(dockerfile, /^HEALTHCHECK .*CMD \["node", "\/app\/healthcheck\.mjs"\]$/m)
  t.match(dockerfile, /^ENTRYPOINT \["node", "\/app\/dist\/cli\.js"\]$/m, 'exec form: no shell in PID 1')
  const health = readFileSync(join(deploy, 'healthcheck.mjs'), 'utf8')
  t.match(health, String(gatewaySettings.adminListen.default?.port))
  t.match(health, String(fileproxySettings.adminListen.default?.port))
  t.match(health, '/healthz')
})

t.test('the kustomization lists files that exist', async (t) => {
  for (const dir of ['k8s/base', 'k8s/overlays/example']) {
    const [k] = parse(join(deploy, dir, 'kustomization.yaml')) as any[]
    for (const r of k.resources as string[]) t.ok(statSync(join(deploy, dir, r)), `${dir}: ${r}`)
  }
})
