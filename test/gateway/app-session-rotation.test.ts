import t from 'tap'
import { Counter, Registry } from 'prom-client'
import { createResetWatch, rotatedAppSessionCookie } from '../../gateway/app-session-rotation.js'
import type { JarChange } from '../../gateway/jar.js'
import { capturingLogger } from '../helpers/log.js'

const names = new Set(['PHPSESSID', 'connect.sid'])
const set = (name: string, value: string): JarChange =>
  ({ op: 'set', cookie: { name, value, domain: 'a.test', path: '/', hostOnly: true, secure: false, httpOnly: true, expires: 0, created: 0, order: 0, sameSite: 'default' } })

t.test('a new value for an app session cookie the request carried is a rotation', async (t) => {
  t.equal(rotatedAppSessionCookie([set('PHPSESSID', 'new')], 'theme=dark; PHPSESSID=old', names), 'PHPSESSID')
  t.equal(rotatedAppSessionCookie([set('a', '1'), set('connect.sid', 's%3Anew')], 'connect.sid=s%3Aold', names), 'connect.sid')
})

t.test('not a rotation: the first session cookie, the same value again, another cookie, or the setting off', async (t) => {
  t.equal(rotatedAppSessionCookie([set('PHPSESSID', 'new')], 'theme=dark', names), undefined, 'not carried: a first session')
  t.equal(rotatedAppSessionCookie([set('PHPSESSID', 'same')], 'PHPSESSID=same', names), undefined, 'the same id set again')
  t.equal(rotatedAppSessionCookie([set('session', 'b')], 'session=a', names), undefined, 'not an app session cookie')
  t.equal(rotatedAppSessionCookie([{ op: 'delete', domain: 'a.test', path: '/', name: 'PHPSESSID' }], 'PHPSESSID=old', names), undefined, 'a logout')
  t.equal(rotatedAppSessionCookie([set('PHPSESSID', 'new')], 'PHPSESSID=old', new Set()), undefined, 'turned off')
})

t.test('a second rotation within the window counts a reset and warns once per interval, naming the cookie only', async (t) => {
  const registry = new Registry()
  const resets = new Counter({ name: 'resets', help: 'h', labelNames: ['cookie'], registers: [registry] })
  const { log, lines } = capturingLogger()
  const observe = createResetWatch({ log, resets, windowMs: 60_000, warnEveryMs: 60_000 })
  observe('PHPSESSID', 0, 1_000) // a first login: nothing to compare with
  observe('PHPSESSID', 1_000, 100_000) // long after: a second login
  t.equal((await resets.get()).values.length, 0)
  observe('PHPSESSID', 100_000, 101_000)
  observe('PHPSESSID', 101_000, 102_000)
  t.same((await resets.get()).values.map((v) => [v.labels.cookie, v.value]), [['PHPSESSID', 2]])
  const warns = lines.filter((l) => l.level === 40)
  t.equal(warns.length, 1, 'one warning per interval')
  t.equal(warns[0].cookie, 'PHPSESSID')
  observe('PHPSESSID', 160_000, 162_000)
  t.equal(lines.filter((l) => l.level === 40).length, 2, 'warned again after the interval')
})
