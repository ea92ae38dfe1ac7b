import t from 'tap'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'
import { fileproxySettings } from '../../fileproxy/settings.js'
import { gatewaySettings } from '../../gateway/settings.js'
import { run, TOOLS } from './tools.js'

/**
 * `kubectl kustomize` renders the base, the example overlay and deploy/monitoring, and the objects
 * Kubernetes would receive are checked: images, ports, probes on the admin ports, the admin token
 * from a Secret, the NetworkPolicy, the security contexts.
 */
const deploy = fileURLToPath(new URL('../../deploy/', import.meta.url))

function kustomizeVersion (): string {
  const out = run('kubectl', ['version', '--client'])
  const v = /Kustomize Version: v?(\d+)\.(\d+)/.exec(out)
  // A directory under `resources:` and `labels:` need kustomize 4.1+, embedded in kubectl 1.21+
  // (which prints the line matched above). Debian 12's kubernetes-client is kubectl 1.20 with
  // kustomize 2.0.3: it cannot render these manifests.
  if (v === null || Number(v[1]) < 4 || (Number(v[1]) === 4 && Number(v[2]) < 1)) {
    throw new Error(`this kubectl embeds kustomize ${v === null ? 'older than 4 (no "Kustomize Version" line)' : `${v[1]}.${v[2]}`}; the manifests need kustomize 4.1+, i.e. kubectl 1.21+ ` +
      `(Debian 12's ${TOOLS.kubectl} is kubectl 1.20: install a current kubectl, e.g. from pkgs.k8s.io). kubectl says:\n${out}`)
  }
  return out
}
let checked: string | undefined
function render (dir: string): any[] {
  checked ??= kustomizeVersion()
  return parseAllDocuments(run('kubectl', ['kustomize', deploy + dir])).map((d) => d.toJS())
}
const byKind = (objs: any[], kind: string): any[] => objs.filter((o) => o.kind === kind)
const one = (objs: any[], kind: string, name?: string): any => {
  const found = byKind(objs, kind).filter((o) => name === undefined || o.metadata.name === name || o.metadata.name.startsWith(name + '-'))
  if (found.length !== 1) throw new Error(`expected one ${kind}${name === undefined ? '' : ' ' + name}, rendered ${found.length}`)
  return found[0]
}

t.test('kubectl is there with a kustomize that reads the manifests', async (t) => {
  t.doesNotThrow(kustomizeVersion)
})

for (const [dir, images] of [
  ['k8s/base', { app: 'example.org/your-app:latest', gateway: 'podside:latest', fileproxy: 'podside:latest' }],
  ['k8s/overlays/example', { app: 'registry.example.org/shop:2026.11.1', gateway: 'registry.example.org/podside:0.1.0', fileproxy: 'registry.example.org/podside:0.1.0' }]
] as const) {
  t.test(`kubectl kustomize ${dir}`, async (t) => {
    const objs = render(dir)
    const deployment = one(objs, 'Deployment', 'webapp')
    const pod = deployment.spec.template.spec
    const containers = Object.fromEntries(pod.containers.map((c: any) => [c.name, c]))
    t.same(Object.keys(containers).sort(), ['app', 'fileproxy', 'gateway'])
    for (const [name, image] of Object.entries(images)) t.equal(containers[name].image, image, `${name} image`)

    // Ports and probes: liveness /healthz and readiness /readyz on each sidecar's admin port, which
    // is where its PODSIDE_ADMIN_LISTEN binds, on every interface (the kubelet probes the pod IP).
    const configMap = one(objs, 'ConfigMap', 'podside-config')
    const envOf = (c: any, name: string): any => c.env?.find((e: any) => e.name === name) ?? (configMap.data[name] === undefined ? undefined : { value: configMap.data[name] })
    const expected = {
      gateway: { public: ['http', gatewaySettings.listen.default?.port], admin: ['gateway-admin', gatewaySettings.adminListen.default?.port] },
      fileproxy: { public: ['files', fileproxySettings.listen.default?.port], admin: ['files-admin', fileproxySettings.adminListen.default?.port] }
    } as const
    for (const [name, p] of Object.entries(expected)) {
      const c = containers[name]
      const portOf = (n: string): number => c.ports.find((x: any) => x.name === n)?.containerPort
      t.equal(portOf(p.public[0]), p.public[1], `${name} ${p.public[0]} port`)
      t.equal(portOf(p.admin[0]), p.admin[1], `${name} ${p.admin[0]} port`)
      t.equal(envOf(c, 'PODSIDE_ADMIN_LISTEN')?.value, `0.0.0.0:${p.admin[1]}`, `${name} admin listener on every interface, on the probed port`)
      t.same(c.livenessProbe.httpGet, { path: '/healthz', port: p.admin[0] }, `${name} liveness`)
      t.same(c.readinessProbe.httpGet, { path: '/readyz', port: p.admin[0] }, `${name} readiness`)

      // The admin token: from a Secret (never a literal), and in the overlay that Secret is rendered.
      const token = c.env.find((e: any) => e.name === 'PODSIDE_ADMIN_TOKEN')
      t.ok(token?.valueFrom?.secretKeyRef, `${name}: PODSIDE_ADMIN_TOKEN from a secretKeyRef`)
      t.equal(token?.value, undefined, `${name}: no literal token`)
      if (dir !== 'k8s/base') {
        const secret = one(objs, 'Secret', token.valueFrom.secretKeyRef.name)
        t.ok(secret.data[token.valueFrom.secretKeyRef.key], `${name}: the Secret ${secret.metadata.name} has the key ${token.valueFrom.secretKeyRef.key}`)
      }
    }
    const service = one(objs, 'Service', 'webapp')
    for (const sp of service.spec.ports) t.ok(pod.containers.some((c: any) => c.ports.some((p: any) => p.name === sp.targetPort)), `Service port ${sp.name} targets a named container port`)

    // Hardening, per container.
    t.equal(pod.securityContext.runAsNonRoot, true, 'pod runAsNonRoot')
    t.ok(pod.securityContext.runAsUser > 0, 'pod runs as a non-zero uid')
    t.equal(pod.securityContext.seccompProfile?.type, 'RuntimeDefault', 'pod seccomp')
    for (const c of pod.containers) {
      const sc = c.securityContext ?? {}
      t.equal(sc.allowPrivilegeEscalation, false, `${c.name} allowPrivilegeEscalation false`)
      t.equal(sc.readOnlyRootFilesystem, true, `${c.name} readOnlyRootFilesystem`)
      t.equal(sc.runAsNonRoot, true, `${c.name} runAsNonRoot`)
      t.same(sc.capabilities?.drop, ['ALL'], `${c.name} drops every capability`)
      t.notOk(sc.capabilities?.add, `${c.name} adds no capability`)
      t.equal(sc.seccompProfile?.type, 'RuntimeDefault', `${c.name} seccomp RuntimeDefault`)
      t.notOk(sc.privileged, `${c.name} not privileged`)
      const tmp = c.volumeMounts?.find((m: any) => m.mountPath === '/tmp')
      t.ok(tmp !== undefined && pod.volumes.find((v: any) => v.name === tmp.name)?.emptyDir !== undefined, `${c.name} has /tmp on an emptyDir`)
    }

    // The NetworkPolicy: public ports from anywhere; admin ports from the app's own pods and the
    // monitoring namespace only; nothing else (the app's port 3000 included).
    const policy = one(objs, 'NetworkPolicy', 'webapp')
    const podLabels = deployment.spec.template.metadata.labels
    for (const [k, v] of Object.entries(policy.spec.podSelector.matchLabels)) t.equal(podLabels[k], v, `the policy selects the pods (${k})`)
    t.same(policy.spec.policyTypes, ['Ingress'])
    const rules = policy.spec.ingress as any[]
    const portsOf = (r: any): Array<string | number> => r.ports.map((p: any) => p.port).sort()
    const open = rules.filter((r) => r.from === undefined)
    t.same(open.flatMap(portsOf).sort(), ['files', 'http'], 'only the public ports are open to everyone')
    const admin = rules.filter((r) => portsOf(r).includes('gateway-admin') || portsOf(r).includes('files-admin'))
    t.equal(admin.length, 1, 'one rule for the admin ports')
    t.same(portsOf(admin[0]), ['files-admin', 'gateway-admin'])
    t.same(admin[0].from, [
      { podSelector: { matchLabels: policy.spec.podSelector.matchLabels } },
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }
    ], 'admin ports: the app\'s own pods and the monitoring namespace')
    t.notOk(rules.some((r) => portsOf(r).includes('app') || portsOf(r).includes(3000)), 'the app\'s own port is not admitted')
    const named = new Set(pod.containers.flatMap((c: any) => c.ports.map((p: any) => p.name)))
    for (const r of rules) for (const p of r.ports) t.ok(named.has(p.port), `policy port ${p.port} is a named container port`)
  })
}

t.test('kubectl kustomize monitoring', async (t) => {
  const objs = render('monitoring')
  t.equal(one(objs, 'PodMonitor').spec.podMetricsEndpoints.length, 2)
  t.ok(one(objs, 'PrometheusRule').spec.groups.length > 0)
  const dashboard = one(objs, 'ConfigMap', 'podside-grafana-dashboard')
  t.equal(dashboard.metadata.labels.grafana_dashboard, '1')
  t.doesNotThrow(() => JSON.parse(dashboard.data['grafana-dashboard.json']))
})
