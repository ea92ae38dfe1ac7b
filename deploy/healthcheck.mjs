// Container HEALTHCHECK: exit 0 when the daemon's admin /healthz answers 200.
const listen = process.env.PODSIDE_ADMIN_LISTEN
const candidates = listen ? [listen.replace(/^0\.0\.0\.0:|^:/, '127.0.0.1:')] : ['127.0.0.1:9901', '127.0.0.1:9902']
for (const hostPort of candidates) {
  try {
    const res = await fetch(`http://${hostPort}/healthz`, { signal: AbortSignal.timeout(2000) })
    if (res.ok) process.exit(0)
  } catch {}
}
process.exit(1)
