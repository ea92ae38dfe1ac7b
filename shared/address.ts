/** A `host:port` listen address: `0.0.0.0:8080`, `[::1]:9901`, `:8080` (all interfaces). */
export interface ListenAddress {
  host: string
  port: number
}

export function parseListenAddress (text: string): ListenAddress | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(text)
  if (m === null) return undefined
  const port = Number(m[3])
  if (port > 65535) return undefined
  return { host: m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]), port }
}

/** The URL a person would type for a bound socket (brackets around IPv6). */
export function formatHostPort (host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}
