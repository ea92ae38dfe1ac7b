import { readFileSync } from 'node:fs'
import t from 'tap'
import * as common from '../../shared/common-errors.js'
import { errorName, PodsideError } from '../../shared/errors.js'
import * as gateway from '../../gateway/errors.js'
import * as fileproxy from '../../fileproxy/errors.js'
import * as tasks from '../../tasks/errors.js'
import * as schedules from '../../tasks/schedules/errors.js'

const catalogues = { common, gateway, fileproxy, tasks, schedules }
const entries = Object.entries(catalogues).flatMap(([catalogue, exports]) =>
  Object.entries(exports as Record<string, unknown>)
    .filter(([, v]) => typeof v === 'function' && typeof (v as { code?: unknown }).code === 'string')
    .map(([name, v]) => ({ catalogue, name, cls: v as { code: string } & (new () => PodsideError) })))

t.test('every catalogue entry has its own code, a name from it, and a status', async (t) => {
  const codes = entries.map((e) => e.cls.code)
  t.equal(new Set(codes).size, codes.length, 'no code twice')
  for (const { cls } of entries) {
    const config = cls === common.ConfigError as unknown
    const err = config ? new common.ConfigError(['x']) : new cls()
    t.equal(err.code, cls.code)
    t.equal(err.name, config ? 'ConfigError' : errorName(cls.code), `${cls.code} is a ${err.name}`)
    t.ok(err.statusCode >= 400 && err.statusCode < 600, `${cls.code} has an HTTP status`)
    t.ok(err instanceof PodsideError)
  }
})

t.test('error names read like undici\'s', async (t) => {
  t.equal(errorName('GW_ERR_UPSTREAM_TIMEOUT'), 'UpstreamTimeoutError')
  t.equal(errorName('FP_ERR_READ'), 'ReadError')
  t.equal(errorName('ERR_INTERNAL'), 'InternalError')
  t.equal(errorName('CFG_ERR_INVALID'), 'InvalidError')
})

t.test('the README lists every code', async (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  for (const { cls } of entries) t.match(readme, `\`${cls.code}\``, cls.code)
})
