import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, startServer, type Server } from './processes.js'

/**
 * nginx with one worker (one process per daemon, as for podside), configured in a temp prefix.
 * `accessLog`: its combined-format access log, buffered as operators run it, to a file in the
 * prefix (nginx cannot open a socketpair as /dev/stdout).
 */
async function nginx (server: string, extraHttp = '', accessLog = true): Promise<Server & { url: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'podside-bench-nginx-'))
  mkdirSync(join(dir, 'logs'))
  const port = await freePort()
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `${k}_temp_path ${dir}/${k};`).join(' ')
  writeFileSync(join(dir, 'nginx.conf'), `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/logs/error.log;
user root;
events { worker_connections 4096; }
http { access_log ${accessLog ? `${dir}/logs/access.log combined buffer=64k flush=1s` : 'off'}; sendfile on; tcp_nopush on; keepalive_requests 100000; ${temp} ${extraHttp}
  server { listen 127.0.0.1:${port}; ${server} } }
`)
  const s = await startServer('nginx', 'nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], port)
  return Object.assign(s, { url: `http://127.0.0.1:${port}` })
}

export async function nginxFiles (root: string, accessLog = true): Promise<Server & { url: string }> {
  return await nginx(`root ${root}; etag on;`, 'open_file_cache max=1000 inactive=60s; open_file_cache_valid 60s;', accessLog)
}

/** gzip_static for the .gz beside each file, gzip on (level 6, as podside) for the rest. Stock nginx has no brotli. */
export async function nginxCompressed (root: string): Promise<Server & { url: string }> {
  return await nginx(`root ${root}; etag on; gzip_static on; gzip on; gzip_comp_level 6; gzip_types application/json; gzip_vary on;`,
    'open_file_cache max=1000 inactive=60s; open_file_cache_valid 60s;')
}

export async function nginxProxy (origin: string, accessLog = true): Promise<Server & { url: string }> {
  const upstream = new URL(origin)
  return await nginx('location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }',
    `upstream app { server ${upstream.host}; keepalive 64; }`, accessLog)
}
